"""Operator categories (for colours and the legend) and operator documentation (from onnx.defs)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
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
    dtype_attributes: frozenset[str] = frozenset()  # INT attributes holding a TensorProto.DataType


ONNX_DOCS_URL = "https://github.com/onnx/onnx/blob/main/docs/"
_RELATIVE_LINK = re.compile(r"\]\((?![a-zA-Z][a-zA-Z0-9+.-]*:|#|/)([^)\s]+)\)")


def absolute_doc_links(text: str) -> str:
    """Markdown links of the ONNX docs that are relative to the onnx repository's docs folder
    (``[the doc](Broadcasting.md)``) made absolute, so they work outside that folder."""
    return _RELATIVE_LINK.sub(lambda m: f"]({ONNX_DOCS_URL}{m.group(1).removeprefix('./')})", text)


@functools.lru_cache(maxsize=512)
def onnx_op_doc(op_type: str, domain: str = "", opset: int | None = None) -> OpDoc | None:
    """Documentation of an ONNX operator from ``onnx.defs``; None for unknown ops."""
    import onnx.defs

    from converters.onnx_attributes import attribute_value

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
    dtypes = set()
    for name, attribute in schema.attributes.items():
        docs[name] = absolute_doc_links(" ".join(attribute.description.split()))
        if _holds_dtype(name, attribute):
            dtypes.add(name)
        if attribute.default_value is not None and attribute.default_value.type:
            defaults[name] = attribute_value(attribute.default_value)
    anchor = op_type if not schema_domain else f"{schema_domain}.{op_type}"
    return OpDoc(
        op_type=op_type,
        domain=schema_domain or "ai.onnx",
        since_version=schema.since_version,
        doc=absolute_doc_links(schema.doc or ""),
        attribute_defaults={k: _json_safe(v) for k, v in defaults.items()},
        attribute_docs=docs,
        inputs=tuple(p.name for p in schema.inputs),
        outputs=tuple(p.name for p in schema.outputs),
        url=f"https://onnx.ai/onnx/operators/onnx__{anchor.replace('.', '_')}.html",
        dtype_attributes=frozenset(dtypes),
    )


_DTYPE_WORDS = re.compile(r"TensorProto|DataType|data type|precision", re.IGNORECASE)
_DTYPE_NAMES = ("to", "dtype", "output_dtype", "output_datatype", "stash_type", "softmax_precision")


def _holds_dtype(name: str, attribute: Any) -> bool:
    """Whether an operator attribute is a TensorProto.DataType enum (Cast ``to``, RandomNormal
    ``dtype``, LayerNormalization ``stash_type`` ...): an INT attribute so named, or one whose
    description says it holds a data type."""
    import onnx.defs

    if attribute.type != onnx.defs.OpSchema.AttrType.INT:
        return False
    return name in _DTYPE_NAMES or bool(_DTYPE_WORDS.search(attribute.description) and "type" in name)


def dtype_enum_text(value: Any) -> str:
    """``BOOL (9)``: a TensorProto.DataType value by its name, the number kept; values that name
    no data type as ``99 (not a TensorProto data type)``."""
    import onnx

    if not isinstance(value, int) or isinstance(value, bool):
        return str(value)
    try:
        return f"{onnx.TensorProto.DataType.Name(value)} ({value})"
    except ValueError:
        return f"{value} (not a TensorProto data type)"


def onnx_doc_in(op_type: str, domain: str, opsets: Mapping[str, int]) -> OpDoc | None:
    """The documentation of ``op_type`` at the version ``opsets`` (a graph's ``G.graph["opsets"]``:
    domain → version, ``ai.onnx`` for the default domain) import for its domain; the newest when
    the graph imports none."""
    key = "ai.onnx" if domain in ("", "ai.onnx") else domain
    return onnx_op_doc(op_type, domain, opsets.get(key))


def _json_safe(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


# ---------------------------------------------------------------- TensorFlow ops

_TF_CATEGORY_OPS: dict[str, tuple[str, ...]] = {
    "layer": (
        "Conv2D",
        "Conv3D",
        "Conv1D",
        "DepthwiseConv2dNative",
        "Conv2DBackpropInput",
        "Conv3DBackpropInputV2",
        "MatMul",
        "BatchMatMul",
        "BatchMatMulV2",
        "BatchMatMulV3",
        "Einsum",
        "_FusedConv2D",
        "_FusedMatMul",
        "ResourceGather",
        "CudnnRNNV3",
    ),
    "activation": (
        "Relu",
        "Relu6",
        "LeakyRelu",
        "Elu",
        "Selu",
        "Sigmoid",
        "Tanh",
        "Softmax",
        "LogSoftmax",
        "Softplus",
        "Softsign",
        "Gelu",
    ),
    "pool": ("MaxPool", "MaxPoolV2", "AvgPool", "MaxPool3D", "AvgPool3D"),
    "normalization": ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "LRN", "Rsqrt"),
    "shape": (
        "Reshape",
        "Squeeze",
        "ExpandDims",
        "Transpose",
        "Shape",
        "ShapeN",
        "Size",
        "Rank",
        "Cast",
        "BroadcastTo",
        "DepthToSpace",
        "SpaceToDepth",
    ),
    "tensor": (
        "ConcatV2",
        "Concat",
        "Split",
        "SplitV",
        "Slice",
        "StridedSlice",
        "GatherV2",
        "GatherNd",
        "Pad",
        "PadV2",
        "MirrorPad",
        "Tile",
        "Pack",
        "Unpack",
        "Fill",
        "Range",
        "Select",
        "SelectV2",
        "OneHot",
        "ResizeBilinear",
        "ResizeNearestNeighbor",
        "ZerosLike",
        "OnesLike",
        "TopKV2",
        "TensorListFromTensor",
        "TensorListGetItem",
        "TensorListSetItem",
        "TensorListStack",
        "TensorListReserve",
    ),
    "control": ("While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase"),
    "constant": ("Const", "RandomUniform", "RandomStandardNormal"),
}
_TF_CATEGORY_BY_OP = {op: category for category, ops in _TF_CATEGORY_OPS.items() for op in ops}

_TF_DOCS: dict[str, str] = {
    "Conv2D": "2-D convolution of a 4-D input with a 4-D filter [height, width, in, out].",
    "DepthwiseConv2dNative": "Depthwise 2-D convolution: each input channel gets its own filters "
    "[height, width, in, multiplier].",
    "Conv2DBackpropInput": "Transposed 2-D convolution (the gradient of Conv2D with respect to its input).",
    "MatMul": "Matrix product a·b (optionally transposing either).",
    "BatchMatMulV2": "Batched matrix product with broadcasting batch dimensions.",
    "Einsum": "Tensor contraction written in Einstein summation notation.",
    "BiasAdd": "Adds a 1-D bias to the channel dimension of value (per data_format).",
    "FusedBatchNormV3": "Batch normalization: (x - mean) / sqrt(variance + epsilon) · scale + offset.",
    "Relu": "max(features, 0).",
    "Relu6": "min(max(features, 0), 6).",
    "LeakyRelu": "features if features > 0 else alpha · features.",
    "Sigmoid": "1 / (1 + exp(-x)), element-wise.",
    "Tanh": "Hyperbolic tangent, element-wise.",
    "Softmax": "exp(logits) / sum(exp(logits)) along the last dimension.",
    "MaxPool": "Max pooling over windows of ksize moving by strides.",
    "AvgPool": "Average pooling over windows of ksize moving by strides.",
    "Mean": "Mean of the input along the axes in reduction_indices.",
    "Sum": "Sum of the input along the axes in reduction_indices.",
    "Max": "Maximum of the input along the axes in reduction_indices.",
    "AddV2": "x + y, element-wise with broadcasting.",
    "Sub": "x - y, element-wise with broadcasting.",
    "Mul": "x · y, element-wise with broadcasting.",
    "RealDiv": "x / y, element-wise with broadcasting.",
    "Rsqrt": "1 / sqrt(x), element-wise.",
    "Reshape": "The tensor with a new shape (one dimension may be -1, inferred).",
    "Squeeze": "Removes dimensions of size 1 (those in squeeze_dims, or all).",
    "ExpandDims": "Inserts a dimension of size 1 at axis.",
    "Transpose": "Permutes dimensions by perm.",
    "ConcatV2": "Concatenates the values along axis.",
    "Pad": "Pads with zeros by paddings [[before, after], ...] per dimension.",
    "StridedSlice": "A strided slice of the input (begin, end, strides with masks).",
    "GatherV2": "Gathers slices of params along axis at indices.",
    "Cast": "Converts x to DstT.",
    "Identity": "Returns the input unchanged.",
    "Placeholder": "A value the caller feeds.",
    "Const": "A constant tensor stored in the graph.",
    "StatelessWhile": "Loops body while cond holds (no side effects); bodies are subgraphs.",
    "While": "Loops body while cond holds; bodies are subgraphs.",
    "StatelessIf": "Runs then_branch or else_branch depending on cond (no side effects).",
    "If": "Runs then_branch or else_branch depending on cond.",
    "Case": "Runs branches[branch_index].",
    "AssignVariableOp": "Writes a new value into a variable.",
    "ResourceGather": "Gathers rows of a variable (an embedding lookup).",
}


def tf_category_of(op_type: str) -> str:
    """Category of a TensorFlow op for colours and the legend (``other`` when unlisted)."""
    return _TF_CATEGORY_BY_OP.get(op_type, "other")


def tf_op_doc(
    op_type: str,
    inputs: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (),
    attribute_defaults: dict[str, Any] | None = None,
) -> OpDoc:
    """An OpDoc for a TensorFlow op: formal names and defaults from the model's OpDef, text from a table."""
    return OpDoc(
        op_type=op_type,
        domain="tensorflow",
        since_version=0,
        doc=_TF_DOCS.get(op_type, ""),
        attribute_defaults={k: _json_safe(v) for k, v in (attribute_defaults or {}).items()},
        attribute_docs={},
        inputs=inputs,
        outputs=outputs,
        url=f"https://www.tensorflow.org/api_docs/python/tf/raw_ops/{op_type}",
    )
