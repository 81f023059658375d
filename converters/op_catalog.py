"""Operator categories (for colours and the legend) and operator documentation (from onnx.defs)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

ONNX_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training")

_CATEGORY_OPS: dict[str, tuple[str, ...]] = {
    "layer": (
        "Conv",
        "ConvTranspose",
        "ConvInteger",
        "QLinearConv",
        "Gemm",
        "MatMul",
        "MatMulInteger",
        "QLinearMatMul",
        "LSTM",
        "GRU",
        "RNN",
        "Attention",
        "MultiHeadAttention",
        "Einsum",
        "DeformConv",
        "FusedConv",
        "FusedMatMul",
        "Embedding",
    ),
    "activation": (
        "Relu",
        "LeakyRelu",
        "PRelu",
        "Sigmoid",
        "Tanh",
        "Elu",
        "Selu",
        "Celu",
        "Softmax",
        "LogSoftmax",
        "Hardmax",
        "HardSigmoid",
        "HardSwish",
        "Gelu",
        "FastGelu",
        "BiasGelu",
        "Softplus",
        "Softsign",
        "Mish",
        "ThresholdedRelu",
        "Swish",
        "QuickGelu",
    ),
    "pool": (
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "LpPool",
        "GlobalLpPool",
        "MaxRoiPool",
        "RoiAlign",
        "MaxUnpool",
    ),
    "normalization": (
        "BatchNormalization",
        "InstanceNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "LRN",
        "MeanVarianceNormalization",
        "RMSNormalization",
        "SimplifiedLayerNormalization",
        "SkipLayerNormalization",
        "SkipSimplifiedLayerNormalization",
        "LpNormalization",
        "Dropout",
    ),
    "shape": (
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Transpose",
        "Shape",
        "Size",
        "DepthToSpace",
        "SpaceToDepth",
        "Identity",
        "Cast",
        "CastLike",
    ),
    "tensor": (
        "Concat",
        "Split",
        "SplitToSequence",
        "Slice",
        "Gather",
        "GatherElements",
        "GatherND",
        "Scatter",
        "ScatterElements",
        "ScatterND",
        "Pad",
        "Tile",
        "Expand",
        "Where",
        "Resize",
        "Upsample",
        "Compress",
        "OneHot",
        "Range",
        "TopK",
        "NonZero",
        "Unique",
        "Trilu",
        "SequenceConstruct",
        "SequenceAt",
        "SequenceInsert",
        "SequenceEmpty",
        "ConcatFromSequence",
    ),
    "control": ("If", "Loop", "Scan"),
    "constant": ("Constant", "ConstantOfShape", "EyeLike", "RandomNormal", "RandomUniform"),
}
_CATEGORY_BY_OP = {op: category for category, ops in _CATEGORY_OPS.items() for op in ops}


def category_of(op_type: str, domain: str = "") -> str:
    """Netron-like category of an ONNX op; ops of unknown domains are ``custom``."""
    category = _CATEGORY_BY_OP.get(op_type)
    if category is not None:
        return category
    if domain not in ONNX_DOMAINS and domain != "com.microsoft":
        return "custom"
    return "other"


@dataclass(frozen=True)
class OpDoc:
    """An operator's documentation: text, version, attribute defaults and formal IO names."""

    op_type: str
    domain: str
    since_version: int
    doc: str
    attribute_defaults: dict[str, Any]
    attribute_docs: dict[str, str]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    url: str


@functools.lru_cache(maxsize=512)
def onnx_op_doc(op_type: str, domain: str = "", opset: int | None = None) -> OpDoc | None:
    """Documentation of an ONNX operator from ``onnx.defs``; None for unknown ops."""
    import onnx.defs

    from converters.onnx_tensors import attribute_value

    schema_domain = "" if domain == "ai.onnx" else domain
    try:
        if opset is None:
            schema = onnx.defs.get_schema(op_type, domain=schema_domain)
        else:
            schema = onnx.defs.get_schema(op_type, opset, schema_domain)
    except onnx.defs.SchemaError:
        return None
    defaults: dict[str, Any] = {}
    docs: dict[str, str] = {}
    for name, attribute in schema.attributes.items():
        docs[name] = " ".join(attribute.description.split())
        if attribute.default_value is not None and attribute.default_value.type:
            defaults[name] = attribute_value(attribute.default_value)
    anchor = op_type if not schema_domain else f"{schema_domain}.{op_type}"
    return OpDoc(
        op_type=op_type,
        domain=schema_domain or "ai.onnx",
        since_version=schema.since_version,
        doc=schema.doc or "",
        attribute_defaults={k: _json_safe(v) for k, v in defaults.items()},
        attribute_docs=docs,
        inputs=tuple(p.name for p in schema.inputs),
        outputs=tuple(p.name for p in schema.outputs),
        url=f"https://onnx.ai/onnx/operators/onnx__{anchor.replace('.', '_')}.html",
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
