"""Input specs: what to feed each model input, and their validation against the model.

An ``InputSpec`` is one model input: ``name``, ``dtype`` (a numpy name such as ``float32``), a
concrete ``shape`` (positive ints), ``dim_names`` (the named dynamic dim of each axis, or None) and a
``DataSource``. ``InputSpecs`` holds them in model order; a named dim shared by several inputs is
set once with ``InputSpecs.with_dim(name, value)``. ``ModelInput`` is what a model declares.
``validate_specs`` checks specs against it before anything runs. The schema file (MAX-compatible
YAML or JSON) is read and written by ``runtime.spec_file``.

Errors are ``InputSpecError`` naming the input and the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from converters.errors import InputSpecError

MLIR_TO_NUMPY: dict[str, str] = {
    "f16": "float16",
    "f32": "float32",
    "f64": "float64",
    "bf16": "bfloat16",
    "si8": "int8",
    "si16": "int16",
    "si32": "int32",
    "si64": "int64",
    "ui8": "uint8",
    "ui16": "uint16",
    "ui32": "uint32",
    "ui64": "uint64",
    "i1": "bool",
}
NUMPY_TO_MLIR: dict[str, str] = {v: k for k, v in MLIR_TO_NUMPY.items()}
DATA_KINDS = ("uniform", "normal", "constant", "file", "values", "image")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataSource:
    """Where an input's values come from.

    kind: ``uniform`` (low..high; inclusive for integers), ``normal`` (mean, std), ``constant``
    (value; zeros and ones are constants), ``file`` (path to .npy/.npz, key for .npz) or
    ``values`` (nested lists) or ``image`` (path, layout NCHW/NHWC, channel_mean, channel_std).
    ``origin`` says why a proposed range was chosen.
    """

    kind: str = "uniform"
    low: float = 0.0
    high: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    value: float = 0.0
    path: str = ""
    key: str = ""
    values: Any = None
    origin: str = ""
    layout: str = "NCHW"
    channel_mean: tuple[float, ...] = IMAGENET_MEAN
    channel_std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def image(
        cls,
        path: str,
        layout: str = "NCHW",
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> DataSource:
        return cls("image", path=path, layout=layout, channel_mean=tuple(mean), channel_std=tuple(std))

    @classmethod
    def uniform(cls, low: float, high: float, origin: str = "") -> DataSource:
        return cls("uniform", low=low, high=high, origin=origin)

    @classmethod
    def normal(cls, mean: float = 0.0, std: float = 1.0) -> DataSource:
        return cls("normal", mean=mean, std=std)

    @classmethod
    def constant(cls, value: float) -> DataSource:
        return cls("constant", value=value)

    @classmethod
    def zeros(cls) -> DataSource:
        return cls("constant", value=0)

    @classmethod
    def ones(cls) -> DataSource:
        return cls("constant", value=1)

    def describe(self) -> str:
        """One line for tables: ``uniform 0–30521 (vocabulary size of ...)``."""
        text = {
            "uniform": f"uniform {_num(self.low)}–{_num(self.high)}",
            "normal": f"normal mean {_num(self.mean)} std {_num(self.std)}",
            "constant": f"constant {_num(self.value)}",
            "file": f"file {self.path}" + (f" [{self.key}]" if self.key else ""),
            "values": "typed values",
            "image": f"image {self.path} ({self.layout})",
        }[self.kind]
        if (
            self.origin
            and self.kind == "uniform"
            and self.origin.startswith(text.removeprefix("uniform ") + ":")
        ):
            return f"uniform {self.origin}"  # the origin already says the range
        return f"{text} ({self.origin})" if self.origin else text


@dataclass(frozen=True)
class InputSpec:
    """One model input: dtype (numpy name), concrete shape, named dims per axis, data source.

    ``guess`` is non-empty when the shape was proposed from the graph rather than read from the
    file (the text says what it was read from); the user should confirm it. ``declared`` marks an
    entry that names only the input (MAX's ``- input_name: x``): its dtype and shape are the
    model's own, filled in by ``runtime.engine`` once the model is loaded (``resolve_declared``);
    ``declared_data`` says the entry gave no ``data`` either (the proposal's range is used).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    dim_names: tuple[str | None, ...] = ()
    data: DataSource = field(default_factory=DataSource)
    guess: str = ""
    declared: bool = False
    declared_data: bool = False

    def named(self, axis: int) -> str | None:
        return self.dim_names[axis] if axis < len(self.dim_names) else None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * itemsize(self.dtype)


@dataclass(frozen=True)
class InputSpecs:
    """The specs of all inputs, in model order (a tuple so it hashes and pickles cheaply)."""

    inputs: tuple[InputSpec, ...] = ()

    def __iter__(self) -> Any:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def get(self, name: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def dims(self) -> dict[str, int]:
        """Named dim -> value (the first input using it decides; ``check_consistent`` finds conflicts)."""
        values: dict[str, int] = {}
        for spec in self.inputs:
            for axis, size in enumerate(spec.shape):
                name = spec.named(axis)
                if name:
                    values.setdefault(name, size)
        return values

    def with_dim(self, dim: str, value: int) -> InputSpecs:
        """Set a named dim once: every axis of every input named ``dim`` becomes ``value``."""
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputSpecError(f"{dim} = {value!r} is not a valid size", f"set {dim} to a positive integer")
        updated = []
        for spec in self.inputs:
            shape = tuple(value if spec.named(a) == dim else s for a, s in enumerate(spec.shape))
            updated.append(replace(spec, shape=shape))
        return InputSpecs(tuple(updated))

    def replaced(self, spec: InputSpec) -> InputSpecs:
        return InputSpecs(tuple(spec if s.name == spec.name else s for s in self.inputs))

    @property
    def nbytes(self) -> int:
        return sum(spec.nbytes for spec in self.inputs)


SCALAR_KINDS = {"float": "float32", "int": "int64", "bool": "bool"}


@dataclass(frozen=True)
class ModelInput:
    """What a model declares for one input: dtype (numpy name or None when the format does not
    say), shape (ints, dim names, None for unknown; None for unknown rank).

    ``kind``: ``tensor``, or for a TorchScript argument that is not a tensor ``float``, ``int``,
    ``bool`` (a 0-d spec or ``value:`` feeds it; any numeric dtype is accepted) or ``other``.
    ``optional``: the argument has a default (``scale: float = 2.0``, ``mask: Optional[Tensor] =
    None``), so a spec may leave it out and the model uses its default.
    """

    name: str
    dtype: str | None
    shape: tuple[int | str | None, ...] | None
    dim_ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    kind: str = "tensor"
    optional: bool = False
    default: Any = None


_ITEMSIZES = {"bool": 1, "int8": 1, "uint8": 1, "float16": 2, "bfloat16": 2, "int16": 2, "uint16": 2}
_ITEMSIZES.update({"float32": 4, "int32": 4, "uint32": 4, "float64": 8, "int64": 8, "uint64": 8})


def itemsize(dtype: str) -> int:
    """Bytes per element of a numpy dtype name (bfloat16 is 2); the common ones without numpy,
    which a one-shot ``modellens run`` does not otherwise need in the calling process."""
    if dtype in _ITEMSIZES:
        return _ITEMSIZES[dtype]
    import numpy as np

    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError as err:
        raise InputSpecError(
            f"{dtype!r} is not a dtype", f"use one of {', '.join(MLIR_TO_NUMPY.values())}"
        ) from err


_SYMPY_DIM = re.compile(r"^s\d+$")


def is_torch_symbol(name: str) -> bool:
    """torch.export's symbol for a dynamic dim (``s77``): a .pt2 keeps no ``Dim`` names."""
    return bool(_SYMPY_DIM.match(name))


def dim_label(name: str) -> str:
    """A named dim for messages: torch.export's symbols (``s45``: the user's ``Dim`` name is not
    kept in a .pt2) are called ``s45 (a dynamic dim)``."""
    return f"{name} (a dynamic dim)" if _SYMPY_DIM.match(name) else name


def check_rank(name: str, declared: Sequence[int | str | None], got: Sequence[int], fix: str) -> None:
    """InputSpecError (with ``fix``) when ``got`` has not as many dims as the model ``declared``
    for input ``name``."""
    if len(got) != len(declared):
        wanted = ", ".join("?" if d is None else str(d) for d in declared)
        raise InputSpecError(
            f"{name}: expected rank {len(declared)} ({wanted}), got {len(got)} ({format_dims(got)})", fix
        )


def format_dims(shape: Iterable[int | str | None]) -> str:
    """``(1, 8, 4)`` -> ``1x8x4``."""
    return "x".join("?" if d is None else str(d) for d in shape)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_range(low: float, high: float, where: str) -> None:
    """A uniform range must be finite numbers with min <= max."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputSpecError(f"{where}: range {low}..{high} is not finite", "use finite min and max")
    if low > high:
        raise InputSpecError(
            f"{where}: range min {_num(low)} is above max {_num(high)}", "swap them so that min <= max"
        )


# --- validation -------------------------------------------------------------------------------


def check_index_values(spec: InputSpec, rows: int, table: str, array: Any = None) -> None:
    """An integer input that indexes a table of ``rows`` rows (node ``table``, an embedding or
    Gather) must hold values in 0..rows-1 (a Gather also takes -rows..-1): InputSpecError naming the
    range's origin, for a generated range or constant, typed JSON values or an uploaded ``array``."""
    bounds = _value_bounds(spec, array)
    if bounds is None:
        return
    low, high, (low_what, high_what, fix) = bounds
    origin = f"0–{rows - 1}, the vocabulary size of {table} ({rows} rows)"
    if high > rows - 1:
        raise InputSpecError(
            f"{spec.name}: {high_what} {_num(high)} is outside {origin}", fix.format(f"{rows - 1} or below")
        )
    if low < -rows:
        raise InputSpecError(
            f"{spec.name}: {low_what} {_num(low)} is outside {origin}", fix.format("0 or above")
        )


def _value_bounds(spec: InputSpec, array: Any) -> tuple[float, float, tuple[str, str, str]] | None:
    """(lowest, highest value the input will hold, (what to call each, fix template)), or None
    when the values are not known before running (random normal, an image)."""
    import numpy as np

    data = spec.data
    if array is None and data.kind == "uniform":
        return data.low, data.high, ("min", "max", "set max to {}")
    if array is None and data.kind == "constant":
        return data.value, data.value, ("the constant", "the constant", "set the constant to {}")
    if array is None and data.kind == "values" and data.values is not None:
        try:
            array = np.asarray(data.values, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        words = ("the smallest typed value", "the largest typed value", "type values of {}")
    else:
        words = ("the array's smallest value", "the array's largest value", "use values of {}")
    if array is None:
        return None
    values = np.asarray(array)
    if values.size == 0 or values.dtype.kind not in "biuf":
        return None
    return float(values.min()), float(values.max()), words


def check_consistent(specs: InputSpecs) -> None:
    """Named dims shared by several inputs must agree: ``seq is 128 in a but 64 in b``."""
    seen: dict[str, tuple[int, str]] = {}
    for spec in specs:
        for axis, size in enumerate(spec.shape):
            name = spec.named(axis)
            if not name:
                continue
            if name in seen and seen[name][0] != size:
                first, where = seen[name]
                raise InputSpecError(
                    f"{dim_label(name)} is {first} in {where} but {size} in {spec.name}",
                    f"give {name} one value in every input",
                )
            seen.setdefault(name, (size, spec.name))


def validate_specs(
    specs: InputSpecs, model_inputs: Sequence[ModelInput], provided: Iterable[str] = ()
) -> None:
    """Check specs against what the model declares, before anything runs.

    ``provided`` names inputs whose arrays the caller supplies: their specs (describing the arrays)
    may have zero-size dims, which a typed spec may not. Raises InputSpecError for unknown or
    missing inputs, wrong dtype, rank or fixed dim, non-positive dims and named dims that disagree
    across inputs.
    """
    known = {m.name: m for m in model_inputs}
    unknown = [name for name in specs.names() if name not in known]
    if unknown:
        missing = [m.name for m in model_inputs if m.name not in specs.names() and not m.optional]
        raise InputSpecError(
            f"the spec names {', '.join(unknown)}, which the model does not take "
            f"(its inputs: {', '.join(known)})",
            rename_fix(unknown, missing),
        )
    arrays = set(provided)
    for spec in specs:
        _validate_one(spec, known[spec.name], allow_empty=spec.name in arrays)
    check_consistent(_with_model_dim_names(specs, known))
    supplied = set(specs.names()) | set(provided)
    missing = [m.name for m in model_inputs if m.name not in supplied and not m.optional]
    if missing:
        raise InputSpecError(
            f"the spec omits {'an input' if len(missing) == 1 else 'inputs'} the model needs: "
            f"{', '.join(missing)}",
            "add an entry for each, or give their arrays",
        )


def rename_pairs(unknown: Sequence[str], missing: Sequence[str]) -> dict[str, str]:
    """Each unknown entry name → the missing input it most resembles (``input_idz`` →
    ``input_ids``), while missing inputs are left; entries past them map to nothing."""
    import difflib

    left = list(missing)
    pairs: dict[str, str] = {}
    for name in unknown:
        close = difflib.get_close_matches(name, left, n=1, cutoff=0.0) if left else []
        if close:
            left.remove(close[0])
            pairs[name] = close[0]
    return pairs


def rename_fix(unknown: Sequence[str], missing: Sequence[str]) -> str:
    """How to fix entries whose names the model lacks: rename each to the missing input it most
    resembles, else remove it."""
    pairs = rename_pairs(unknown, missing)
    return "; ".join(
        f"rename {name} to {pairs[name]}, the input the spec now misses"
        if name in pairs
        else f"remove the entry {name}"
        for name in unknown
    )


def _validate_one(spec: InputSpec, model: ModelInput, allow_empty: bool = False) -> None:
    for axis, size in enumerate(spec.shape):
        if size < 0 or (size == 0 and not allow_empty):
            raise InputSpecError(f"{spec.name}: dim {axis} is {size}", "every dim must be a positive integer")
    if model.kind in SCALAR_KINDS and spec.shape != ():
        raise InputSpecError(
            f"{spec.name}: the model takes a {model.kind}, not a {format_dims(spec.shape)} tensor",
            f"write `value: ...` (or `shape: {NUMPY_TO_MLIR[SCALAR_KINDS[model.kind]]}`) for {spec.name}",
        )
    if model.dtype and spec.dtype != model.dtype:
        raise InputSpecError(
            f"{spec.name}: dtype {spec.dtype}, but the model takes {model.dtype}",
            f"set the dtype to {model.dtype} ({NUMPY_TO_MLIR.get(model.dtype, model.dtype)} in a spec file)",
        )
    if model.shape is not None:
        check_rank(spec.name, model.shape, spec.shape, f"give {spec.name} {len(model.shape)} dims")
        for axis, (want, got) in enumerate(zip(model.shape, spec.shape, strict=True)):
            if isinstance(want, int) and want != got:
                raise InputSpecError(
                    f"{spec.name}: dim {axis} must be {want}, got {got}", f"set dim {axis} to {want}"
                )
            if isinstance(want, str) and want in model.dim_ranges:
                low, high = model.dim_ranges[want]
                if not low <= got <= high:
                    what = f"dim {axis} ({want}, dynamic)" if is_torch_symbol(want) else want
                    raise InputSpecError(
                        f"{spec.name}: {what} = {got} is outside the model's range {low}..{high}",
                        f"pick {spec.name} dim {axis} between {low} and {high}"
                        if is_torch_symbol(want)
                        else f"pick {want} between {low} and {high}",
                    )
    if spec.data.kind == "uniform":
        check_range(spec.data.low, spec.data.high, spec.name)


def _with_model_dim_names(specs: InputSpecs, known: Mapping[str, ModelInput]) -> InputSpecs:
    """Specs whose axes carry the model's dim names, so shared dims are compared across inputs."""
    named = []
    for spec in specs:
        model_shape = known[spec.name].shape
        if model_shape is None or len(model_shape) != len(spec.shape):
            named.append(spec)
            continue
        names = tuple(d if isinstance(d, str) else spec.named(a) for a, d in enumerate(model_shape))
        named.append(replace(spec, dim_names=names))
    return InputSpecs(tuple(named))
