"""A small ONNX model (built in code) for the inspector tests of the app and the HTML export:
a LayerNormalization with epsilon 1e-12 and a long module-path name, one tensor read by two
consumers inside a group, a Cast to BOOL, an Add (whose doc links to Broadcasting.md), an If and a
Loop whose bodies hold an Identity (opset 18: Identity-16 applies there, not the newest)."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

OPSET = 18
LN_NAME = "/encoder/layer.0/output/LayerNorm/LayerNormalization_with_a_long_name"


def inspector_model(path: Path) -> Path:
    """Write the model to ``path`` and return it."""
    f = TensorProto.FLOAT
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["a"], ["t_out"], name="then_identity")],
        "then_body",
        [],
        [helper.make_tensor_value_info("t_out", f, [2, 4])],
    )
    else_g = helper.make_graph(
        [
            helper.make_node("Neg", ["a"], ["e_neg"], name="else_neg"),
            helper.make_node("Sigmoid", ["e_neg"], ["e_out"], name="else_sigmoid"),
        ],
        "else_body",
        [],
        [helper.make_tensor_value_info("e_out", f, [2, 4])],
    )
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
            helper.make_node("Identity", ["v"], ["v_out"], name="body_identity"),
        ],
        "loop_body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", f, [2, 4]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", f, [2, 4]),
        ],
    )
    nodes = [
        helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["ln"], name=LN_NAME, epsilon=1e-12),
        helper.make_node("Relu", ["ln"], ["r1"], name="/encoder/layer.0/act/Relu"),
        helper.make_node("Sigmoid", ["ln"], ["s1"], name="/encoder/layer.0/act/Sigmoid"),
        helper.make_node("Add", ["r1", "s1"], ["a"], name="/head/Add"),
        helper.make_node("Cast", ["a"], ["mask"], name="/head/Cast", to=TensorProto.BOOL),
        helper.make_node("If", ["cond"], ["branch"], name="choose", then_branch=then_g, else_branch=else_g),
        helper.make_node("Loop", ["trip", "", "branch"], ["final"], name="refine", body=body),
    ]
    graph = helper.make_graph(
        nodes,
        "inspector",
        [
            helper.make_tensor_value_info("x", f, [2, 4]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("trip", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("mask", TensorProto.BOOL, [2, 4]),
            helper.make_tensor_value_info("final", f, [2, 4]),
        ],
        [
            helper.make_tensor("scale", f, [4], [1.0] * 4),
            helper.make_tensor("bias", f, [4], [0.0] * 4),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
