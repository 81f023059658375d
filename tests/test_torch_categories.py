"""One colouring for PyTorch operators: TorchScript (``aten::conv2d``) and ExportedProgram
(``aten.conv2d.default``) files of the same model give each operator the same category."""

from __future__ import annotations

from pathlib import Path

import pytest

from converters.aten_catalog import torch_op_category

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("torchscript", "exported", "category"),
    [
        ("aten::_convolution", "aten.conv2d.default", "layer"),
        ("aten::linear", "aten.linear.default", "layer"),
        ("aten::relu_", "aten.relu_.default", "activation"),
        ("aten::max_pool2d", "aten.max_pool2d.default", "pool"),
        ("aten::batch_norm", "aten._native_batch_norm_legit_no_training.default", "normalization"),
        ("aten::full", "aten.full.default", "constant"),
        ("aten::zeros_like", "aten.zeros_like.default", "constant"),
        ("aten::cumsum", "aten.cumsum.default", "tensor"),
        ("aten::view", "aten.view.default", "shape"),
        ("aten::upsample_bilinear2d", "aten._upsample_bilinear2d_aa.default", "tensor"),
        ("aten::cudnn_convolution", "aten.mkldnn_convolution.default", "layer"),
        ("torchvision::nms", "torchvision.nms.default", "custom"),
    ],
)
def test_same_category_in_both_spellings(torchscript: str, exported: str, category: str) -> None:
    assert torch_op_category(torchscript) == category
    assert torch_op_category(exported) == category


@pytest.mark.parametrize(
    ("op", "category"),
    [
        ("prim::ListConstruct", "tensor"),
        ("prim::If", "control"),
        ("prim::NumToTensor", "shape"),
        ("higher_order.cond", "control"),
        ("operator.getitem", "other"),
    ],
)
def test_torchscript_and_fx_structural_ops(op: str, category: str) -> None:
    assert torch_op_category(op) == category


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(2)
        self.norm = torch.nn.LayerNorm(8)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(torch.relu(self.bn(self.conv(x))))
        y = y.flatten(2).transpose(1, 2)
        y = torch.nn.functional.gelu(self.norm(y))
        y = torch.cat([y, torch.zeros_like(y)], dim=1)
        return torch.softmax(self.fc(y), dim=-1).cumsum(-1)


def _categories(path: Path) -> dict[str, str]:
    import modellens

    graph = modellens.load(path)
    found: dict[str, str] = {}
    for _, data in graph.nodes(data=True):
        op = str(data.get("op_type", ""))
        if op.startswith("aten"):
            base = op.replace("::", ".").split(".")[1].rstrip("_")
            found[base] = data["category"]
    return found


def test_traced_and_exported_model_colour_shared_ops_alike(tmp_path: Path) -> None:
    net = _Net().eval()
    example = (torch.randn(1, 3, 8, 8),)
    traced = tmp_path / "net.torchscript"
    torch.jit.trace(net, example).save(str(traced))
    exported = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(net, example), str(exported))
    from_ts, from_pt2 = _categories(traced), _categories(exported)
    shared = sorted(set(from_ts) & set(from_pt2))
    assert {"relu", "gelu", "softmax", "cat", "zeros_like", "cumsum", "linear"} <= set(shared)
    assert {op: from_ts[op] for op in shared} == {op: from_pt2[op] for op in shared}
