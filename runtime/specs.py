"""Input specs: what to feed each model input, the input data schema file, and validation.

An ``InputSpec`` is one model input: ``name``, ``dtype`` (a numpy name such as ``float32``), a
concrete ``shape`` (positive ints), ``dim_names`` (the named dynamic dim of each axis, or None) and a
``DataSource``. ``InputSpecs`` holds them in model order; a named dim shared by several inputs is
set once with ``InputSpecs.with_dim(name, value)``.

The schema file (YAML, or JSON with the same structure) reads MAX Engine's input data schema::

    inputs:
      - input_name: input_ids
        shape: 1x128xsi64            # dims joined by x, then an MLIR dtype suffix
        compile_shape: ?x128xsi64    # optional: ? marks a dynamic dim
        data:
          random:
            uniform: {min: 0, max: 30521}
      - input_name: attention_mask
        shape: 1x128xsi64
        data: {constant: 1}

Dtype suffixes: f16 f32 f64 bf16 si8 si16 si32 si64 ui8 ui16 ui32 ui64 i1 (bool); ``i8``..``i64``
are read as signed. ModelLens' own additions, written only when used:

* ``data: {random: {normal: {mean: 0, std: 1}}}``: normal distribution;
* ``data: {file: x.npy}`` or ``data: {file: {path: inputs.npz, key: x}}``: values from a file
  (relative paths are relative to the spec file);
* ``data: {values: [[1, 2, 3]]}``: values typed in as JSON;
* ``data: {image: {path: cat.png, layout: NCHW, mean: [0.485, 0.456, 0.406], std: [...]}}``: a
  picture for a 4-D float input, resized to the spec's height and width, scaled to 0..1 and
  normalised per channel (ImageNet mean/std unless given), repeated over the batch;
* ``dim_names: [batch, seq]``: the named dim of each axis (``null`` for a fixed one); inputs sharing
  a name must agree on its value.

Errors are ``InputSpecError`` naming the line (YAML) or entry and the fix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
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
_SIGNLESS = {"i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64"}
DATA_KINDS = ("uniform", "normal", "constant", "file", "values", "image")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_FILE_FIX = "see the input spec format in runtime/specs.py or the README's Use section"


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
        return f"{text} ({self.origin})" if self.origin else text


@dataclass(frozen=True)
class InputSpec:
    """One model input: dtype (numpy name), concrete shape, named dims per axis, data source.

    ``guess`` is non-empty when the shape was proposed from the graph rather than read from the
    file (the text says what it was read from); the user should confirm it.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    dim_names: tuple[str | None, ...] = ()
    data: DataSource = field(default_factory=DataSource)
    guess: str = ""

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


@dataclass(frozen=True)
class ModelInput:
    """What a model declares for one input: dtype (numpy name or None when the format does not
    say), shape (ints, dim names, None for unknown; None for unknown rank)."""

    name: str
    dtype: str | None
    shape: tuple[int | str | None, ...] | None
    dim_ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)


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


def format_dims(shape: Iterable[int | str | None]) -> str:
    """``(1, 8, 4)`` -> ``1x8x4``."""
    return "x".join("?" if d is None else str(d) for d in shape)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --- schema files -----------------------------------------------------------------------------


def parse_shape(text: str, where: str) -> tuple[tuple[int | None, ...], str]:
    """``1x128xsi64`` -> ((1, 128), "int64"); ``?`` dims become None; a scalar is ``si64``."""
    parts = str(text).strip().split("x")
    suffix = parts[-1]
    dtype = MLIR_TO_NUMPY.get(suffix) or _SIGNLESS.get(suffix)
    if dtype is None:
        raise InputSpecError(
            f"{where}: shape {text!r} does not end in a dtype",
            f"end it with one of {' '.join(MLIR_TO_NUMPY)}, e.g. 1x3x224x224xf32",
        )
    dims: list[int | None] = []
    for part in parts[:-1]:
        if part == "?":
            dims.append(None)
        elif part.lstrip("-").isdigit():
            dims.append(int(part))
        else:
            raise InputSpecError(
                f"{where}: dim {part!r} in shape {text!r} is not a number",
                "write dims as integers joined by x (named dims go in dim_names)",
            )
    return tuple(dims), dtype


def format_shape_text(shape: Sequence[int | None], dtype: str) -> str:
    """((1, 128), "int64") -> ``1x128xsi64``."""
    suffix = NUMPY_TO_MLIR.get(dtype)
    if suffix is None:
        raise InputSpecError(
            f"dtype {dtype} has no input spec name", f"use one of {', '.join(NUMPY_TO_MLIR)}"
        )
    return "x".join([*("?" if d is None else str(d) for d in shape), suffix])


def load_spec_file(path: str | Path) -> InputSpecs:
    """Read a YAML or JSON input spec file; raises InputSpecError naming the line or entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputSpecError(f"Cannot read input spec {path}: {err}", "check the path") from err
    return loads_spec(text, base_dir=path.parent, name=path.name)


def loads_spec(text: str, base_dir: Path | None = None, name: str = "input spec") -> InputSpecs:
    """Parse spec text (YAML; JSON is YAML too). Relative file paths resolve against ``base_dir``."""
    import yaml

    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{name} line {mark.line + 1}" if mark is not None else name
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputSpecError(f"{where}: not valid YAML/JSON ({problem})", _FILE_FIX) from err
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), list):
        raise InputSpecError(f"{name} has no `inputs:` list", f"start the file with `inputs:`; {_FILE_FIX}")
    lines = _entry_lines(document)
    specs: list[InputSpec] = []
    for index, entry in enumerate(data["inputs"]):
        line = f" line {lines[index]}" if index < len(lines) else ""
        where = f"{name}{line} (inputs[{index}])"
        specs.append(_parse_entry(entry, where, base_dir))
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise InputSpecError(f"{name}: input {spec.name!r} is listed twice", "keep one entry per input")
        seen.add(spec.name)
    result = InputSpecs(tuple(specs))
    check_consistent(result)
    return result


def _entry_lines(document: Any) -> list[int]:
    """1-based line of each ``inputs`` entry, from PyYAML's node tree."""
    import yaml

    if not isinstance(document, yaml.MappingNode):
        return []
    for key, value in document.value:
        if key.value == "inputs" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _parse_entry(entry: Any, where: str, base_dir: Path | None) -> InputSpec:
    if not isinstance(entry, dict):
        raise InputSpecError(
            f"{where}: an entry must be a mapping", "write `- input_name: NAME` and `shape: ...`"
        )
    name = entry.get("input_name", entry.get("name"))
    if not isinstance(name, str) or not name:
        raise InputSpecError(f"{where}: no input_name", "add `input_name: NAME` to the entry")
    where = f"{where[:-1]} {name})"
    if "shape" not in entry:
        raise InputSpecError(f"{where}: no shape", "add e.g. `shape: 1x3x224x224xf32`")
    dims, dtype = parse_shape(entry["shape"], where)
    if any(d is None for d in dims):
        raise InputSpecError(
            f"{where}: shape {entry['shape']!r} has a ?", "give every dim a value in `shape`"
        )
    shape = tuple(int(d) for d in dims if d is not None)
    for axis, size in enumerate(shape):
        if size <= 0:
            raise InputSpecError(f"{where}: dim {axis} is {size}", "every dim must be a positive integer")
    if "compile_shape" in entry:
        _check_compile_shape(entry["compile_shape"], shape, dtype, where)
    dim_names = _dim_names(entry, shape, where)
    data = _parse_data(entry.get("data"), where, base_dir)
    return InputSpec(name=name, dtype=dtype, shape=shape, dim_names=dim_names, data=data)


def _check_compile_shape(text: Any, shape: tuple[int, ...], dtype: str, where: str) -> None:
    """MAX's compile_shape: same rank and dtype as shape; its fixed dims equal shape's."""
    dims, compile_dtype = parse_shape(text, where)
    example = "?x" + format_shape_text(shape[1:], dtype)
    fix = f"write compile_shape as shape with ? for the dynamic dims, e.g. {example}"
    if compile_dtype != dtype or len(dims) != len(shape):
        raise InputSpecError(
            f"{where}: compile_shape {text!r} does not match shape {format_shape_text(shape, dtype)}", fix
        )
    for axis, (fixed, size) in enumerate(zip(dims, shape, strict=True)):
        if fixed is not None and fixed != size:
            raise InputSpecError(
                f"{where}: compile_shape fixes dim {axis} to {fixed}, but shape has {size}", fix
            )


def _dim_names(entry: dict[str, Any], shape: tuple[int, ...], where: str) -> tuple[str | None, ...]:
    names = entry.get("dim_names")
    if names is None:
        return ()
    if not isinstance(names, list) or len(names) != len(shape):
        raise InputSpecError(
            f"{where}: dim_names must list one name (or null) per dim, {len(shape)} in all",
            f"e.g. dim_names: [batch{', null' * (len(shape) - 1)}]",
        )
    for value in names:
        if value is not None and not (isinstance(value, str) and _NAME_RE.match(value)):
            raise InputSpecError(f"{where}: dim name {value!r} is not a name", "use letters, digits and _")
    return tuple(names)


def _parse_data(data: Any, where: str, base_dir: Path | None) -> DataSource:
    if data is None:
        return DataSource()
    if not isinstance(data, dict) or len(data) != 1:
        raise InputSpecError(
            f"{where}: data must be one of random, constant, file, values", "e.g. `data: {constant: 1}`"
        )
    ((kind, body),) = data.items()
    if kind == "constant":
        return DataSource.constant(_number(body, f"{where}: constant"))
    if kind == "random":
        return _parse_random(body, where)
    if kind == "file":
        return _parse_file(body, where, base_dir)
    if kind == "image":
        return _parse_image(body, where, base_dir)
    if kind == "values":
        if not isinstance(body, (list, int, float, bool)):
            raise InputSpecError(
                f"{where}: values must be a (nested) list of numbers", "e.g. values: [[1, 2]]"
            )
        return DataSource("values", values=body)
    raise InputSpecError(f"{where}: unknown data kind {kind!r}", "use random, constant, file or values")


def _parse_random(body: Any, where: str) -> DataSource:
    if not isinstance(body, dict) or len(body) != 1:
        raise InputSpecError(
            f"{where}: random needs uniform or normal", "e.g. random: {uniform: {min: 0, max: 1}}"
        )
    ((dist, params),) = body.items()
    if not isinstance(params, dict):
        params = {}
    if dist == "uniform":
        if set(params) != {"min", "max"}:
            raise InputSpecError(f"{where}: uniform needs min and max", "e.g. uniform: {min: 0, max: 1}")
        low = _number(params["min"], f"{where}: uniform min")
        high = _number(params["max"], f"{where}: uniform max")
        check_range(low, high, where)
        return DataSource.uniform(low, high)
    if dist == "normal":
        if set(params) != {"mean", "std"}:
            raise InputSpecError(f"{where}: normal needs mean and std", "e.g. normal: {mean: 0, std: 1}")
        std = _number(params["std"], f"{where}: normal std")
        if std < 0:
            raise InputSpecError(f"{where}: normal std {std} is negative", "use a std >= 0")
        return DataSource.normal(_number(params["mean"], f"{where}: normal mean"), std)
    raise InputSpecError(f"{where}: unknown distribution {dist!r}", "use uniform or normal")


def check_range(low: float, high: float, where: str) -> None:
    """A uniform range must be finite numbers with min <= max."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputSpecError(f"{where}: range {low}..{high} is not finite", "use finite min and max")
    if low > high:
        raise InputSpecError(
            f"{where}: range min {_num(low)} is above max {_num(high)}", "swap them so that min <= max"
        )


def _parse_file(body: Any, where: str, base_dir: Path | None) -> DataSource:
    path, key = (body, "") if isinstance(body, str) else ("", "")
    if isinstance(body, dict):
        path, key = str(body.get("path", "")), str(body.get("key", "") or "")
    if not path:
        raise InputSpecError(
            f"{where}: file needs a path", "e.g. file: x.npy or file: {path: in.npz, key: x}"
        )
    full = Path(path)
    if base_dir is not None and not full.is_absolute():
        full = base_dir / full
    return DataSource("file", path=str(full), key=key)


def _parse_image(body: Any, where: str, base_dir: Path | None) -> DataSource:
    example = "image: {path: cat.png, layout: NCHW}"
    if isinstance(body, str):
        body = {"path": body}
    if not isinstance(body, dict) or not body.get("path"):
        raise InputSpecError(f"{where}: image needs a path", f"e.g. {example}")
    layout = str(body.get("layout", "NCHW")).upper()
    if layout not in ("NCHW", "NHWC"):
        raise InputSpecError(f"{where}: image layout {layout!r} is not NCHW or NHWC", f"e.g. {example}")
    stats = {}
    for key, default in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
        value = body.get(key, list(default))
        if not isinstance(value, list) or len(value) != 3:
            raise InputSpecError(
                f"{where}: image {key} must list 3 numbers (R, G, B)", f"e.g. {key}: {list(default)}"
            )
        stats[key] = tuple(_number(v, f"{where}: image {key}") for v in value)
    if any(v <= 0 for v in stats["std"]):
        raise InputSpecError(f"{where}: image std must be positive", "e.g. std: [0.229, 0.224, 0.225]")
    path = Path(str(body["path"]))
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    return DataSource.image(str(path), layout, stats["mean"], stats["std"])


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputSpecError(f"{where} {value!r} is not a number", "write a number such as 0 or 1.5")
    return value


def dumps_spec(specs: InputSpecs, fmt: str = "yaml") -> str:
    """The schema file text (``yaml`` or ``json``); additions appear only where used."""
    document = {"inputs": [_entry(spec) for spec in specs]}
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    import yaml

    return str(yaml.safe_dump(document, sort_keys=False, default_flow_style=None))


def save_spec_file(specs: InputSpecs, path: str | Path) -> None:
    """Write the schema file; ``.json`` writes JSON, anything else YAML."""
    path = Path(path)
    path.write_text(dumps_spec(specs, "json" if path.suffix.lower() == ".json" else "yaml"), encoding="utf-8")


def _entry(spec: InputSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {"input_name": spec.name, "shape": format_shape_text(spec.shape, spec.dtype)}
    if any(spec.dim_names):
        dynamic = [None if spec.named(a) else d for a, d in enumerate(spec.shape)]
        entry["compile_shape"] = format_shape_text(dynamic, spec.dtype)
        entry["dim_names"] = list(spec.dim_names)
    source = spec.data
    makers: dict[str, Any] = {
        "uniform": lambda: {"random": {"uniform": {"min": _plain(source.low), "max": _plain(source.high)}}},
        "normal": lambda: {"random": {"normal": {"mean": _plain(source.mean), "std": _plain(source.std)}}},
        "constant": lambda: {"constant": _plain(source.value)},
        "file": lambda: {"file": {"path": source.path, "key": source.key} if source.key else source.path},
        "values": lambda: {"values": source.values},
        "image": lambda: {
            "image": {
                "path": source.path,
                "layout": source.layout,
                "mean": [_plain(v) for v in source.channel_mean],
                "std": [_plain(v) for v in source.channel_std],
            }
        },
    }
    entry["data"] = makers[source.kind]()
    return entry


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


# --- validation -------------------------------------------------------------------------------


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
                    f"{name} is {first} in {where} but {size} in {spec.name}",
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
        raise InputSpecError(
            f"the spec names {', '.join(unknown)}, which the model does not take",
            f"the model's inputs are: {', '.join(known)}",
        )
    arrays = set(provided)
    for spec in specs:
        _validate_one(spec, known[spec.name], allow_empty=spec.name in arrays)
    check_consistent(_with_model_dim_names(specs, known))
    supplied = set(specs.names()) | set(provided)
    missing = [m.name for m in model_inputs if m.name not in supplied]
    if missing:
        raise InputSpecError(
            f"the spec omits {'an input' if len(missing) == 1 else 'inputs'} the model needs: "
            f"{', '.join(missing)}",
            "add an entry for each (or pass their arrays with --inputs)",
        )


def _validate_one(spec: InputSpec, model: ModelInput, allow_empty: bool = False) -> None:
    for axis, size in enumerate(spec.shape):
        if size < 0 or (size == 0 and not allow_empty):
            raise InputSpecError(f"{spec.name}: dim {axis} is {size}", "every dim must be a positive integer")
    if model.dtype and spec.dtype != model.dtype:
        raise InputSpecError(
            f"{spec.name}: dtype {spec.dtype}, but the model takes {model.dtype}",
            f"set the dtype to {model.dtype} ({NUMPY_TO_MLIR.get(model.dtype, model.dtype)} in a spec file)",
        )
    if model.shape is not None:
        if len(spec.shape) != len(model.shape):
            wanted = ", ".join("?" if d is None else str(d) for d in model.shape)
            raise InputSpecError(
                f"{spec.name}: expected rank {len(model.shape)} ({wanted}), "
                f"got {len(spec.shape)} ({format_dims(spec.shape)})",
                f"give {spec.name} {len(model.shape)} dims",
            )
        for axis, (want, got) in enumerate(zip(model.shape, spec.shape, strict=True)):
            if isinstance(want, int) and want != got:
                raise InputSpecError(
                    f"{spec.name}: dim {axis} must be {want}, got {got}", f"set dim {axis} to {want}"
                )
            if isinstance(want, str) and want in model.dim_ranges:
                low, high = model.dim_ranges[want]
                if not low <= got <= high:
                    raise InputSpecError(
                        f"{spec.name}: {want} = {got} is outside the model's range {low}..{high}",
                        f"pick {want} between {low} and {high}",
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
