"""PyTorch helpers for TorchScript: operator categories, TorchScript value types and JSON-safe
constants (dtype names and the tensor store live in ``converters.torch_tensors``).

Nothing here imports torch at module import time; functions that need it import it.
"""

from __future__ import annotations

import re
from typing import Any

from converters.torch_tensors import dtype_name

TORCH_EXTRA_FIX = 'pip install "modellens[torch]"'

_CATEGORY_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "layer",
        r"(conv\w*|linear|matmul|mm|bmm|addmm|baddbmm|einsum|lstm\w*|gru\w*|rnn_\w+|embedding\w*"
        r"|scaled_dot_product_attention|_native_multi_head_attention|bilinear|_convolution\w*|cudnn_conv\w*)",
    ),
    (
        "activation",
        r"(relu\w*|leaky_relu\w*|prelu|gelu\w*|silu\w*|sigmoid\w*|tanh\w*|elu\w*|selu\w*|celu\w*"
        r"|softmax|log_softmax|_softmax|hardswish\w*|hardsigmoid\w*|hardtanh\w*|mish\w*|softplus|glu"
        r"|threshold\w*|relu6)",
    ),
    ("pool", r"(\w*pool\w*)"),
    (
        "normalization",
        r"(batch_norm\w*|layer_norm\w*|group_norm\w*|instance_norm\w*|rms_norm\w*"
        r"|native_batch_norm\w*|native_layer_norm\w*|_native_batch_norm\w*|dropout\w*|feature_dropout\w*"
        r"|alpha_dropout\w*|local_response_norm|normalize)",
    ),
    (
        "shape",
        r"(view|reshape|flatten|unflatten|squeeze\w*|unsqueeze\w*|permute|transpose\w*|t|contiguous"
        r"|size|dim|numel|expand\w*|_reshape_alias|view_as|reshape_as|to|type_as|detach|clone|_to_copy"
        r"|pixel_shuffle|pixel_unshuffle|movedim|swapaxes|__getitem__|len|Int|Float|Bool|ScalarImplicit"
        r"|NumToTensor|ImplicitTensorToNum|device|dtype)",
    ),
    (
        "tensor",
        r"(cat|concat|stack|split\w*|chunk|slice|select|index\w*|gather|scatter\w*|narrow|pad"
        r"|constant_pad_nd|repeat\w*|tile|where|masked_fill\w*|interpolate|upsample\w*|roll|flip|topk|sort"
        r"|argsort|unbind|embedding_bag|zeros\w*|ones\w*|full\w*|arange|empty\w*|tensor|as_tensor|new_\w+"
        r"|ListConstruct|TupleConstruct|DictConstruct|ListUnpack|TupleUnpack|TupleIndex|ListIndex"
        r"|tril|triu|nonzero|one_hot|cumsum)",
    ),
    (
        "control",
        r"(If|Loop|CallMethod|CallFunction|RaiseException|Uninitialized|unchecked_cast"
        r"|isinstance|__is__|__isnot__|__not__|Print|warn)",
    ),
)
_CATEGORY_RULES = tuple((category, re.compile(rf"^{pattern}_?$")) for category, pattern in _CATEGORY_PATTERNS)
# operator namespaces PyTorch itself defines: an unknown operator there is not a missing library
CORE_NAMESPACES = ("aten", "prim", "quantized", "_caffe2", "onnx", "profiler", "cuda", "_quantized", "prims")
_BUILTIN_NAMESPACES = CORE_NAMESPACES

# torch's ScalarType names (``Float``; also the ``FloatStorage`` prefix) -> dtype names
REAL_SCALAR_TYPE_NAMES = {
    "Float": "float32",
    "Double": "float64",
    "Half": "float16",
    "BFloat16": "bfloat16",
    "Long": "int64",
    "Int": "int32",
    "Short": "int16",
    "Char": "int8",
    "Byte": "uint8",
    "Bool": "bool",
}
_SCALAR_TYPE_NAMES = {
    **REAL_SCALAR_TYPE_NAMES,
    "ComplexFloat": "complex64",
    "ComplexDouble": "complex128",
    "ComplexHalf": "complex32",
}
_SCALAR_KIND_NAMES = {"IntType": "int64", "FloatType": "float64", "BoolType": "bool", "StringType": "str"}


def category_of_op(qualified: str) -> str:
    """Category of a PyTorch operator (``aten::conv2d``, ``aten.conv2d.default``, ``prim::If``);
    operators of unknown namespaces (``torchvision::nms``) are ``custom``."""
    namespace, name = split_op(qualified)
    if namespace and namespace not in _BUILTIN_NAMESPACES:
        return "custom"
    base = name.split(".", 1)[0]
    for category, rule in _CATEGORY_RULES:
        if rule.match(base):
            return category
    return "other"


def split_op(qualified: str) -> tuple[str, str]:
    """``aten::conv2d`` / ``aten.conv2d.default`` -> (``aten``, ``conv2d``)."""
    if "::" in qualified:
        namespace, _, name = qualified.partition("::")
        return namespace, name
    if "." in qualified:
        namespace, _, rest = qualified.partition(".")
        return namespace, rest
    return "", qualified


def describe_jit_type(jit_type: Any) -> tuple[str | None, tuple[int | None, ...] | None]:
    """(dtype, shape) of a TorchScript value type. A Tensor gives its recorded dtype/sizes (usually
    unknown: None); ``int``/``float``/``bool``/``str`` are scalars (``int64``, ``float64``,
    shape ``()``); containers give their annotation (``List[Tensor]``, ``Optional[Tensor]``)."""
    kind = jit_type.kind()
    if kind == "TensorType":
        scalar = jit_type.scalarType()
        sizes = jit_type.varyingSizes()
        shape = None if sizes is None else tuple(None if d is None else int(d) for d in sizes)
        return (_SCALAR_TYPE_NAMES.get(scalar, scalar.lower()) if scalar else None), shape
    if kind in _SCALAR_KIND_NAMES:
        return _SCALAR_KIND_NAMES[kind], ()
    if kind == "NoneType":
        return "None", None
    return str(jit_type.annotation_str), None


def json_safe(value: Any, depth: int = 0) -> Any:
    """A constant as JSON: scalars as is, sequences as lists, dicts as dicts, anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "dtype") and hasattr(value, "shape"):  # a tensor held in a list or tuple
        return f"tensor {dtype_name(value.dtype)} {list(value.shape)}"
    if depth > 4:
        return str(value)[:200]
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value[:256]]
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in list(value.items())[:256]}
    return str(value)[:200]
