"""Input data schema files: load and save specs as YAML (MAX Engine-compatible) or JSON.

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
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from converters.errors import InputSpecError
from runtime.specs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MLIR_TO_NUMPY,
    NUMPY_TO_MLIR,
    DataSource,
    InputSpec,
    InputSpecs,
    check_consistent,
    check_range,
)

_SIGNLESS = {"i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_FILE_FIX = (
    "write it as `inputs:` then one entry per input: `- input_name: x`, `shape: 1x3x224x224xf32`, "
    "optional `data:` (the README's Use section has a full example)"
)
ENTRY_KEYS = ("input_name", "shape", "compile_shape", "data", "dim_names", "value")
_VALUE_DTYPES = ((bool, "bool"), (int, "int64"), (float, "float64"))
# YAML 1.2's float (what JSON and most people write): PyYAML's YAML 1.1 resolver wants a dot and a
# signed exponent, so ``1e-3``, ``1e3`` and ``1E+5`` would otherwise load as strings
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


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
    except OSError as err:
        reason = err.strerror or type(err).__name__  # not str(err): it repeats the path
        raise InputSpecError(f"Cannot read input spec {path}: {reason}", "check the path") from err
    except UnicodeDecodeError as err:
        raise InputSpecError(
            f"Cannot read input spec {path}: it is not UTF-8 text ({err.reason} at byte {err.start})",
            "save the spec file as UTF-8 YAML or JSON",
        ) from err
    return loads_spec(text, base_dir=path.parent, name=path.name)


def spec_loader() -> Any:
    """PyYAML's SafeLoader with YAML 1.2 floats (``1e-3``, ``1e3``, ``2E+5`` are numbers)."""
    import yaml

    class SpecLoader(yaml.SafeLoader):
        pass

    SpecLoader.yaml_implicit_resolvers = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))
    return SpecLoader


def loads_spec(text: str, base_dir: Path | None = None, name: str = "input spec") -> InputSpecs:
    """Parse spec text: JSON (text starting with ``{``) with ``json``, else YAML with YAML 1.2
    numbers. Relative file paths resolve against ``base_dir``."""
    import yaml

    loader = spec_loader()
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputSpecError(f"{name} line {err.lineno}: not valid JSON ({err.msg})", _FILE_FIX) from err
        try:
            document = yaml.compose(text, Loader=loader)  # only for the line of each entry
        except yaml.YAMLError:
            document = None
    else:
        try:
            document = yaml.compose(text, Loader=loader)
            data = yaml.load(text, Loader=loader)
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
    unknown = [str(key) for key in entry if key not in ENTRY_KEYS and key != "name"]
    if unknown:
        raise InputSpecError(
            f"{where}: unknown key {unknown[0]!r}", f"an entry takes only {', '.join(ENTRY_KEYS)}"
        )
    if "value" in entry:
        return _scalar_entry(entry, name, where)
    if "shape" not in entry:
        if "compile_shape" in entry or "dim_names" in entry:
            raise InputSpecError(f"{where}: no shape", "add e.g. `shape: 1x3x224x224xf32`")
        data = _parse_data(entry.get("data"), where, base_dir)
        return InputSpec(name, "", (), data=data, declared=True, declared_data="data" not in entry)
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


def _scalar_entry(entry: dict[str, Any], name: str, where: str) -> InputSpec:
    """``value: 2.5``: a scalar argument (TorchScript float/int/bool), fed as a 0-d array."""
    others = [key for key in ("shape", "data", "compile_shape", "dim_names") if key in entry]
    if others:
        raise InputSpecError(
            f"{where}: value and {others[0]} together", "give either `value:` or `shape:` and `data:`"
        )
    value = entry["value"]
    if isinstance(value, str):
        value = _number(value, f"{where}: value")
    dtype = next((d for kind, d in _VALUE_DTYPES if isinstance(value, kind)), None)
    if dtype is None:
        raise InputSpecError(f"{where}: value {value!r} is not a number or bool", "e.g. value: 2.5")
    return InputSpec(name, dtype, (), data=DataSource.constant(value))


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
    expected = {"uniform": ("min", "max"), "normal": ("mean", "std")}.get(str(dist))
    extra = [str(key) for key in params if expected and key not in expected]
    if expected and extra:
        raise InputSpecError(
            f"{where}: {dist} takes {' and '.join(expected)}, not {extra[0]!r}",
            f"e.g. {dist}: {{{expected[0]}: 0, {expected[1]}: 1}}",
        )
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
    if isinstance(value, str):  # e.g. a quoted "1e-3"
        try:
            return float(value)
        except ValueError:
            pass
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
    if spec.declared:  # shape and dtype come from the model
        return {"input_name": spec.name, **({} if spec.declared_data else {"data": _data_entry(spec.data)})}
    entry: dict[str, Any] = {"input_name": spec.name, "shape": format_shape_text(spec.shape, spec.dtype)}
    if any(spec.dim_names):
        dynamic = [None if spec.named(a) else d for a, d in enumerate(spec.shape)]
        entry["compile_shape"] = format_shape_text(dynamic, spec.dtype)
        entry["dim_names"] = list(spec.dim_names)
    entry["data"] = _data_entry(spec.data)
    return entry


def _data_entry(source: DataSource) -> dict[str, Any]:
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
    result: dict[str, Any] = makers[source.kind]()
    return result


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def sidecar_spec(path: str | Path) -> Path | None:
    """The input data schema a model ships beside it: ``<stem>.inputs.yaml`` (``.yml``,
    ``.json``) next to a model file, or ``<folder>.inputs.yaml`` next to a SavedModel folder;
    None when there is none. The app, the CLI and the Python API start from it when no spec is given."""
    path = Path(path)
    stem = path.name if path.is_dir() else path.stem
    for suffix in (".inputs.yaml", ".inputs.yml", ".inputs.json"):
        candidate = path.parent / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None
