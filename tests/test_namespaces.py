"""Where a node's module path comes from: exporter metadata first, then the node-name convention."""

from __future__ import annotations

import pytest

from converters.onnx_format import namespace_of


@pytest.mark.parametrize(
    ("name", "metadata", "expected"),
    [
        (
            "node_Conv_1",
            {"pkg.torch.onnx.name_scopes": "['', 'layer1', 'layer1.0', 'layer1.0.conv', 'conv2d']"},
            "layer1/layer1.0/layer1.0.conv",
        ),
        (
            "node_relu",
            {"namespace": ": __main__.M/layer1: torch.nn.Sequential/relu: aten.relu.default"},
            "layer1",
        ),
        ("/encoder/layer.0/attention/MatMul", {}, "encoder/layer.0/attention"),
        ("/MatMul", {}, ""),
        ("MatMul_3", {}, ""),
        ("stage67/branch2/MatMul_1622", {}, "stage67/branch2"),  # no leading "/"
        ("StatefulPartitionedCall/model/conv2d/Conv2D", {}, "StatefulPartitionedCall/model/conv2d"),
        ("a//b/Op", {}, "a/b"),
        ("Op/", {}, ""),
        ("x", {"pkg.torch.onnx.name_scopes": "['', 'a/b', 'op']"}, "a∕b"),
        ("/a/Op", {"pkg.torch.onnx.name_scopes": "not a list"}, "a"),
    ],
)
def test_namespace_sources(name: str, metadata: dict[str, str], expected: str) -> None:
    assert namespace_of(name, metadata) == expected
