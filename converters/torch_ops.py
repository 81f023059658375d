"""PyTorch helpers shared by the PyTorch formats: operator categories, dtype names, JSON-safe
constants and a tensor store the inspector reads weight values from.

Nothing here imports torch at module import time; functions that need it import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from converters.errors import ModelLoadError

if TYPE_CHECKING:
    import numpy as np
    import torch

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

_SCALAR_TYPE_NAMES = {
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


def dtype_of_torch(dtype: Any) -> str:
    """``torch.float32`` -> ``float32``."""
    return str(dtype).removeprefix("torch.")


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
        return f"tensor {dtype_of_torch(value.dtype)} {list(value.shape)}"
    if depth > 4:
        return str(value)[:200]
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value[:256]]
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in list(value.items())[:256]}
    return str(value)[:200]


@dataclass
class TorchTensorStore:
    """Weight values by qualified name (``layer1.0.conv1.weight``), kept from the loaded module; the
    inspector's statistics, histogram and .npy download read them through ``array``."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    # checks the file's tensor records once, before the first values are shown (TorchScript: the
    # zip CRC-32s, which torch does not check); raises ModelLoadError for damaged data
    verify: Callable[[], None] | None = None
    _verified: ModelLoadError | bool = False

    def names(self) -> list[str]:
        return list(self.tensors)

    def add(self, name: str, tensor: torch.Tensor) -> None:
        self.tensors.setdefault(name, tensor)

    def array(self, name: str) -> np.ndarray:
        """The tensor's values as numpy (bfloat16/float8 widened to float32, quantized dequantized);
        ModelLoadError for an unknown name."""
        import torch

        tensor = self.tensors.get(name)
        if tensor is None:
            raise ModelLoadError(f"No stored tensor named {name!r}", "pick a weight listed by the node")
        self._check_once()
        tensor = tensor.detach()
        if tensor.is_quantized:
            tensor = tensor.dequantize()
        if tensor.dtype in (torch.bfloat16, *_float8_dtypes(torch)):
            tensor = tensor.to(torch.float32)
        try:
            return tensor.cpu().numpy()
        except (TypeError, RuntimeError) as err:
            raise ModelLoadError(
                f"The values of {name!r} ({dtype_of_torch(tensor.dtype)}) cannot be shown", "none needed"
            ) from err

    def _check_once(self) -> None:
        if self.verify is not None and self._verified is False:
            try:
                self.verify()
            except ModelLoadError as err:
                self._verified = err
            else:
                self._verified = True
        if isinstance(self._verified, ModelLoadError):
            raise self._verified


def _float8_dtypes(torch: Any) -> tuple[Any, ...]:
    names = ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")
    return tuple(getattr(torch, n) for n in names if hasattr(torch, n))
