"""Small models for the runtime tests, built in code with seeded random weights.

torch is imported inside the builders; onnx.helper models need only onnx and numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn


class ConvNet(nn.Module):
    """conv(3→8) → relu → global mean → linear(8→4): input (batch, 3, H, W) float32."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        y = y.mean(dim=(2, 3))
        return self.fc(y)


class TokenNet(nn.Module):
    """embedding(50×6) → mean over seq → linear(6→3), and a dict output: input (batch, seq) int64."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.embed(tokens)
        return self.head(hidden.mean(dim=1)), hidden


class ReshapeNet(nn.Module):
    """Reshapes its input to (-1, 12): fails for inputs whose size is not a multiple of 12."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 2.0
        y = y.view(-1, 12)
        return self.fc(y)


def _module(cls: type[nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    return cls().eval()


def build_scripted(tmp: Path, cls: type[nn.Module] = ConvNet) -> Path:
    path = tmp / f"{cls.__name__.lower()}_scripted.pt"
    torch.jit.save(torch.jit.script(_module(cls)), str(path))
    return path


def build_traced(tmp: Path, cls: type[nn.Module] = ConvNet, example: torch.Tensor | None = None) -> Path:
    path = tmp / f"{cls.__name__.lower()}_traced.pt"
    example = torch.randn(1, 3, 16, 16) if example is None else example
    torch.jit.save(torch.jit.trace(_module(cls), example), str(path))
    return path


def build_exported(tmp: Path, cls: type[nn.Module] = ConvNet, example: torch.Tensor | None = None) -> Path:
    path = tmp / f"{cls.__name__.lower()}.pt2"
    example = torch.randn(2, 3, 16, 16) if example is None else example
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(_module(cls), (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return path


def build_endless_loop(tmp: Path) -> Path:
    """An ONNX Loop with a huge trip count and a body that keeps going: never finishes in time."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1]),
        ],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "cond", "x"], ["y"], body=body)],
        "endless",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [
            numpy_helper.from_array(np.array(2**62, np.int64), "trips"),
            numpy_helper.from_array(np.array(True), "cond"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp / "endless_loop.onnx"
    onnx.save(model, str(path))
    return path


def build_reshape_onnx(tmp: Path) -> Path:
    """x (batch, 4) float → Relu → Reshape to (2, 2) (node ``bad_reshape``): fails unless batch is 1."""
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu"),
            helper.make_node("Reshape", ["r", "shape"], ["y"], name="bad_reshape"),
        ],
        "reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([2, 2], np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp / "reshape.onnx"
    onnx.save(model, str(path))
    return path


class IndexNet(nn.Module):
    """Picks rows of a (4, 3) table by index: indices past 3 fail inside the model."""

    def forward(self, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        doubled = table * 2
        return doubled.index_select(0, index)


def build_exported_index(tmp: Path) -> Path:
    path = tmp / "indexnet.pt2"
    program = torch.export.export(IndexNet(), (torch.zeros(4, 3), torch.zeros(2, dtype=torch.int64)))
    torch.export.save(program, str(path))
    return path
