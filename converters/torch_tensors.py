"""PyTorch tensors for the inspector: dtype names, shapes with symbolic dims, and a tensor store that
hands a weight's values to the inspector as NumPy (statistics, histogram, .npy download).

Nothing here imports torch at module import time; the functions receive torch objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from converters import schema
from converters.errors import ModelLoadError

if TYPE_CHECKING:
    import numpy as np
    import torch

_NUMPY_LESS = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")


def dtype_name(dtype: Any) -> str:
    """``torch.float32`` -> ``float32`` (NumPy names where NumPy has the type, else torch's)."""
    return str(dtype).removeprefix("torch.")


def dim_value(dim: Any) -> schema.Dim:
    """An int for a concrete size; the symbol or expression text (``s0``, ``2*s0``) for a symbolic one."""
    if isinstance(dim, int):
        return dim
    expr = getattr(getattr(dim, "node", None), "expr", None)
    if expr is not None and getattr(expr, "is_number", False):
        return int(expr)
    return str(dim)


def tensor_description(value: Any) -> tuple[str | None, schema.Shape]:
    """(dtype, shape) of a (fake) tensor or a Python/symbolic scalar; (None, None) otherwise."""
    import torch

    if isinstance(value, torch.Tensor):
        return dtype_name(value.dtype), tuple(dim_value(d) for d in value.shape)
    if isinstance(value, bool | torch.SymBool):
        return "bool", ()
    if isinstance(value, int | torch.SymInt):
        return "int64", ()
    if isinstance(value, float | torch.SymFloat):
        return "float64", ()
    return None, None


def stored_nbytes(tensor: torch.Tensor) -> int:
    return int(tensor.numel()) * int(tensor.element_size())


@dataclass
class TorchTensorStore:
    """Stored tensors by name (parameter/buffer fully-qualified names, ``layer1.0.conv1.weight``),
    kept from the loaded model; the inspector's statistics, histogram and .npy download read their
    values on demand as NumPy through ``array``. Serves TorchScript and ExportedProgram alike."""

    tensors: dict[str, Any] = field(default_factory=dict)
    # checks the file's tensor records once, before the first values are shown (TorchScript: the
    # zip CRC-32s, which torch does not check); raises ModelLoadError for damaged data
    verify: Callable[[], None] | None = None
    _verified: ModelLoadError | bool = False

    def names(self) -> list[str]:
        return list(self.tensors)

    def add(self, name: str, tensor: Any) -> None:
        """Keep ``tensor`` under ``name`` unless that name already holds one."""
        self.tensors.setdefault(name, tensor)

    def array(self, name: str) -> np.ndarray:
        """The tensor's values as a NumPy array (bfloat16/float8 widened to float32, quantized
        tensors dequantized); ModelLoadError for unknown names, damaged data (``verify``) and
        values NumPy cannot hold."""
        import torch

        tensor = self.tensors.get(name)
        if tensor is None:
            raise ModelLoadError(f"No stored tensor named {name!r}", "pick a weight listed by the node")
        if not isinstance(tensor, torch.Tensor):
            raise ModelLoadError(
                f"{name!r} is a {type(tensor).__name__}, not a tensor: it has no values to show",
                "inspect the tensors of the nodes that use it instead",
            )
        self._check_once()
        try:
            values = tensor.detach().cpu()
            if values.is_quantized:
                values = values.dequantize()
            if dtype_name(values.dtype) in _NUMPY_LESS:
                values = values.float()
            return values.resolve_conj().resolve_neg().numpy()
        except (RuntimeError, TypeError) as err:
            raise ModelLoadError(
                f"The values of {name!r} ({dtype_name(tensor.dtype)}) cannot be shown ({err})",
                "inspect its shape and dtype instead",
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
