"""Categories of PyTorch operators for colours and the legend, one table for TorchScript
(``aten::conv2d``, ``prim::ListConstruct``) and ExportedProgram (``aten.conv2d.default``,
``higher_order.cond``), so the same operator has the same colour in both formats.

An operator is looked up by its base name (no namespace, overload or trailing ``_``) in the table;
names the table lacks fall back to family patterns (``cudnn_convolution`` is a layer,
``fractional_max_pool2d`` a pool).
"""

from __future__ import annotations

import re

_CATEGORY_OPS: dict[str, tuple[str, ...]] = {
    "layer": (
        "conv1d",
        "conv2d",
        "conv3d",
        "convolution",
        "_convolution",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "linear",
        "addmm",
        "mm",
        "bmm",
        "matmul",
        "baddbmm",
        "einsum",
        "embedding",
        "embedding_bag",
        "lstm",
        "gru",
        "rnn_tanh",
        "rnn_relu",
        "scaled_dot_product_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_flash_attention",
        "_native_multi_head_attention",
    ),
    "activation": (
        "relu",
        "relu6",
        "leaky_relu",
        "prelu",
        "_prelu_kernel",
        "gelu",
        "silu",
        "sigmoid",
        "tanh",
        "elu",
        "selu",
        "celu",
        "softmax",
        "_softmax",
        "log_softmax",
        "_log_softmax",
        "hardtanh",
        "hardsigmoid",
        "hardswish",
        "mish",
        "softplus",
        "glu",
        "threshold",
    ),
    "pool": (
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "max_pool1d_with_indices",
        "max_pool2d_with_indices",
        "max_pool3d_with_indices",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
        "adaptive_avg_pool1d",
        "adaptive_avg_pool2d",
        "adaptive_avg_pool3d",
        "_adaptive_avg_pool2d",
        "adaptive_max_pool1d",
        "adaptive_max_pool2d",
        "adaptive_max_pool3d",
    ),
    "normalization": (
        "batch_norm",
        "native_batch_norm",
        "_native_batch_norm_legit",
        "_native_batch_norm_legit_no_training",
        "_native_batch_norm_legit_functional",
        "layer_norm",
        "native_layer_norm",
        "group_norm",
        "native_group_norm",
        "instance_norm",
        "rms_norm",
        "_fused_rms_norm",
        "dropout",
        "native_dropout",
        "feature_dropout",
        "alpha_dropout",
    ),
    "shape": (
        "view",
        "_unsafe_view",
        "reshape",
        "flatten",
        "unflatten",
        "permute",
        "transpose",
        "t",
        "squeeze",
        "unsqueeze",
        "expand",
        "expand_as",
        "contiguous",
        "sym_size",
        "size",
        "dim",
        "movedim",
        "view_as",
        "to",
        "_to_copy",
        "type_as",
        "clone",
        "alias",
        "detach",
        "lift_fresh_copy",
        "reshape_as",
        "_reshape_alias",
        "squeeze_copy",
        "unsqueeze_copy",
        "view_copy",
        "pixel_unshuffle",
        "swapaxes",
        "numel",
        "__getitem__",
        "len",
        "Int",
        "Float",
        "Bool",
        "ScalarImplicit",
        "NumToTensor",
        "ImplicitTensorToNum",
        "device",
        "dtype",
    ),
    "tensor": (
        "cat",
        "concat",
        "stack",
        "split",
        "split_with_sizes",
        "chunk",
        "unbind",
        "slice",
        "select",
        "narrow",
        "index",
        "index_select",
        "gather",
        "scatter",
        "index_put",
        "masked_fill",
        "where",
        "pad",
        "constant_pad_nd",
        "repeat",
        "tile",
        "roll",
        "flip",
        "topk",
        "sort",
        "argsort",
        "nonzero",
        "unique",
        "tril",
        "triu",
        "upsample_nearest2d",
        "upsample_bilinear2d",
        "interpolate",
        "one_hot",
        "pixel_shuffle",
        "index_add",
        "index_copy",
        "index_fill",
        "scatter_add",
        "scatter_reduce",
        "masked_scatter",
        "masked_select",
        "cumsum",
        "embedding_dense_backward",
        "ListConstruct",
        "TupleConstruct",
        "DictConstruct",
        "ListUnpack",
        "TupleUnpack",
        "TupleIndex",
        "ListIndex",
        "as_tensor",
    ),
    "control": (
        "cond",
        "while_loop",
        "map",
        "map_impl",
        "scan",
        "associative_scan",
        "If",
        "Loop",
        "CallMethod",
        "CallFunction",
        "RaiseException",
        "Uninitialized",
        "unchecked_cast",
        "isinstance",
        "__is__",
        "__isnot__",
        "__not__",
        "Print",
        "warn",
    ),
    "constant": (
        "full",
        "zeros",
        "ones",
        "arange",
        "empty",
        "zeros_like",
        "ones_like",
        "full_like",
        "empty_like",
        "rand",
        "randn",
        "randint",
        "scalar_tensor",
        "tensor",
        "Constant",
    ),
}
_CATEGORY_BY_OP = {op: category for category, ops in _CATEGORY_OPS.items() for op in ops}
# families of operators the table does not list by name (regular expressions over the base name)
_FAMILY_PATTERNS: tuple[tuple[str, str], ...] = (
    ("tensor", r"(\w*upsample\w*|\w*interpolate\w*)"),
    ("layer", r"(\w*conv\w*|\w*linear\w*|\w*lstm\w*|\w*gru\w*|rnn_\w+|embedding\w*|\w*attention\w*)"),
    ("pool", r"(\w*pool\w*)"),
    ("normalization", r"(\w*_norm\w*|\w*dropout\w*|normalize)"),
    (
        "activation",
        r"(\w*relu\w*|\w*gelu\w*|\w*silu\w*|\w*sigmoid\w*|\w*tanh\w*|\w*elu|\w*softmax\w*|hardswish\w*"
        r"|mish\w*|threshold\w*)",
    ),
    ("shape", r"(\w*view\w*|\w*reshape\w*|\w*squeeze\w*|transpose\w*|expand\w*|permute\w*)"),
    ("tensor", r"(split\w*|index\w*|scatter\w*|gather\w*|upsample\w*|repeat\w*|new_\w+|slice\w*|select\w*)"),
    ("constant", r"(zeros\w*|ones\w*|full\w*|empty\w*|rand\w*)"),
)
_FAMILY_RULES = tuple((category, re.compile(rf"^{pattern}$")) for category, pattern in _FAMILY_PATTERNS)
# operator namespaces PyTorch itself defines: operators elsewhere come from a library (``custom``)
BUILTIN_NAMESPACES = frozenset(
    {
        "aten",
        "prims",
        "prim",
        "higher_order",
        "python",
        "operator",
        "_operator",
        "quantized",
        "_quantized",
        "_caffe2",
        "onnx",
        "profiler",
        "cuda",
    }
)


def torch_op_category(qualified_name: str) -> str:
    """Category of ``aten.conv2d.default`` / ``aten::relu_`` / ``prim::ListConstruct`` /
    ``higher_order.cond`` / ``operator.mul``: one of the viewer's categories (``layer``,
    ``activation``, ``pool``, ``normalization``, ``shape``, ``tensor``, ``control``, ``constant``,
    ``custom``, ``other``).

    Operators of a library namespace (``torchvision::nms``, ``my_ops.fused.default``) are ``custom``.
    """
    namespace, base = _split(qualified_name)
    if namespace and namespace not in BUILTIN_NAMESPACES:
        return "custom"
    category = _CATEGORY_BY_OP.get(base) or _CATEGORY_BY_OP.get(base.rstrip("_"))
    if category is not None:
        return category
    stripped = base.rstrip("_")
    for family, rule in _FAMILY_RULES:
        if rule.match(stripped):
            return family
    return "other"


def _split(qualified_name: str) -> tuple[str, str]:
    if "::" in qualified_name:
        namespace, _, rest = qualified_name.partition("::")
        return namespace, rest.split(".", 1)[0]
    parts = qualified_name.split(".")
    if len(parts) >= 2:
        return parts[0], parts[1]
    return "", parts[0]
