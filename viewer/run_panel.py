"""What the Run page shows, as pure functions (no Streamlit): editable spec rows, per-input
validation, output previews, the shape/time overlay for the graph canvas and benchmark tables.

Shapes are typed as ``batch, 3, 32, 32``: integers are fixed dims, names refer to the shared
named dims (set once for all inputs). The overlay handed to the Graph page is
``{"nodes": {node_id: [shape per output port]}, "failed": node_id | None, "heat": {node_id: 0..1}}``;
the graph itself is never changed.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from converters.errors import InputSpecError, ModelLensError
from converters.schema import ModelGraph
from runtime import arrays as runtime_arrays
from runtime.data import check_arrays_match_specs
from runtime.fixes import for_surface
from runtime.results import BenchResult, NodeTiming, ShapesResult
from runtime.specs import (
    DataSource,
    InputSpec,
    InputSpecs,
    ModelInput,
    check_index_values,
    rename_pairs,
    validate_specs,
)

if TYPE_CHECKING:
    import numpy as np

DTYPES = (
    "float32", "float16", "float64", "bfloat16", "int64", "int32", "int16", "int8",
    "uint8", "uint16", "uint32", "uint64", "bool",
)  # fmt: skip
SOURCES = {
    "uniform": "random uniform",
    "normal": "random normal",
    "constant": "constant",
    "zeros": "zeros",
    "ones": "ones",
    "file": "uploaded .npy/.npz",
    "values": "JSON values",
    "image": "image upload",
}
PREVIEW_ROWS = 200
TIMEOUT_LABEL = "Timeout (s)"
HEATMAP_CELLS = 4096
_NAME = re.compile(r"^[A-Za-z_][\w.]*$")


def source_key(data: DataSource) -> str:
    """The Run page's source choice for a DataSource (zeros and ones are constants 0 and 1)."""
    if data.kind == "constant" and data.value in (0, 1):
        return "zeros" if data.value == 0 else "ones"
    return data.kind


def sources_for(spec: InputSpec) -> list[str]:
    """Source choices for an input: an image upload only for 4-D float inputs."""
    image_ok = len(spec.shape) == 4 and spec.dtype.startswith(("float", "bfloat"))
    return [key for key in SOURCES if key != "image" or image_ok]


def shape_text(spec: InputSpec) -> str:
    """``batch, 3, 32, 32``: named dims by name, fixed dims as numbers; ``scalar`` for rank 0."""
    if not spec.shape:
        return "scalar"
    return ", ".join(spec.named(a) or str(size) for a, size in enumerate(spec.shape))


def dim_title(name: str, model_inputs: Sequence[ModelInput]) -> str:
    """The label of a named dim: its name, and for torch.export's symbols (``s77``: a .pt2 keeps
    no ``Dim`` names) its role and range, ``x dim 0 · s77: dynamic, 1–64``; a named dim with a
    range gets it too (``batch: 1–64``)."""
    from runtime.specs import is_torch_symbol

    low_high = next((m.dim_ranges[name] for m in model_inputs if name in m.dim_ranges), None)
    span = f"{low_high[0]}–{low_high[1]}" if low_high else ""
    if not is_torch_symbol(name):
        return f"{name}: {span}" if span else name
    role = next(
        (
            f"{m.name} dim {axis}"
            for m in model_inputs
            for axis, dim in enumerate(m.shape or ())
            if dim == name
        ),
        "",
    )
    what = f"{name}: dynamic, {span}" if span else f"{name}: dynamic"
    return f"{role} · {what}" if role else what


def model_shape_text(model_input: ModelInput | None) -> str:
    """The model's declared shape for an input's caption: ``batch × 3 × 32 × 32``, torch symbols
    with their range (``s77 (1–64) × 3``), ``scalar`` for a rank-0 input or a scalar argument."""
    from runtime.specs import SCALAR_KINDS, is_torch_symbol

    if model_input is None:
        return "not an input of this model"
    if model_input.kind in SCALAR_KINDS:
        return f"a {model_input.kind} value"
    if model_input.shape is None:
        return "shape not declared"
    if not model_input.shape:
        return "scalar"
    parts = []
    for dim in model_input.shape:
        if dim is None:
            parts.append("?")
        elif isinstance(dim, str) and is_torch_symbol(dim) and dim in model_input.dim_ranges:
            low, high = model_input.dim_ranges[dim]
            parts.append(f"{dim} ({low}–{high})")
        else:
            parts.append(str(dim))
    return " × ".join(parts)


def _shape_tokens(text: str) -> list[str]:
    cleaned = text.strip()
    if cleaned in ("", "scalar", "()"):
        return []
    return [t.strip() for t in re.split(r"[,×]|\s+x\s+|(?<=\d)x(?=\d|[A-Za-z_])", cleaned) if t.strip()]


def shape_text_names(text: str) -> set[str]:
    """The dim names a shape text uses: ``1, seq`` → {"seq"}."""
    return {t for t in _shape_tokens(text) if not t.lstrip("-").isdigit() and _NAME.match(t)}


def parse_shape_text(
    text: str, dims: Mapping[str, int], where: str
) -> tuple[tuple[int, ...], tuple[str | None, ...]]:
    """``batch, 3, 32, 32`` → ((dims["batch"], 3, 32, 32), ("batch", None, None, None)).
    Also accepts ``x`` or ``×`` between dims. Raises InputSpecError naming the bad token."""
    tokens = _shape_tokens(text)
    if not tokens:
        return (), ()
    shape: list[int] = []
    names: list[str | None] = []
    for token in tokens:
        if token.lstrip("-").isdigit():
            shape.append(int(token))
            names.append(None)
        elif _NAME.match(token):
            if token not in dims:
                raise InputSpecError(
                    f"{where}: unknown dim name {token!r}",
                    f"type a number, or one of the named dims: {', '.join(dims) or 'none'}",
                )
            shape.append(dims[token])
            names.append(token)
        else:
            raise InputSpecError(
                f"{where}: {token!r} is not a dim", "write dims as numbers or names: 1, 3, 224, 224"
            )
    return tuple(shape), tuple(names) if any(names) else ()


def data_source(kind: str, values: Mapping[str, Any], origin: str = "") -> DataSource:
    """A DataSource from the page's fields (``low``/``high``, ``mean``/``std``, ``value``,
    ``path``/``key``, ``json`` text, ``layout``/``channel_mean``/``channel_std``)."""
    if kind == "uniform":
        return DataSource.uniform(float(values.get("low", 0.0)), float(values.get("high", 1.0)), origin)
    if kind == "normal":
        return DataSource.normal(float(values.get("mean", 0.0)), float(values.get("std", 1.0)))
    if kind == "constant":
        return DataSource.constant(float(values.get("value", 0.0)))
    if kind in ("zeros", "ones"):
        return DataSource.zeros() if kind == "zeros" else DataSource.ones()
    if kind == "values":
        text = str(values.get("json", "")).strip()
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError as err:
            raise InputSpecError(
                f"JSON values: {err.msg} at line {err.lineno}", "type a JSON number or nested list"
            ) from err
        if parsed is None:
            raise InputSpecError("no JSON values typed", "type a JSON number or nested list, e.g. [[1, 2]]")
        return DataSource("values", values=parsed)
    if kind == "file":
        return DataSource("file", path=str(values.get("path", "")), key=str(values.get("key", "")))
    if kind == "image":
        return DataSource.image(
            str(values.get("path", "")),
            str(values.get("layout", "NCHW")),
            tuple(values.get("channel_mean", DataSource().channel_mean)),
            tuple(values.get("channel_std", DataSource().channel_std)),
        )
    raise InputSpecError(f"unknown data source {kind!r}", f"pick one of {', '.join(SOURCES)}")


def parse_floats(text: str, count: int, where: str) -> tuple[float, ...]:
    """``0.485, 0.456, 0.406`` → three floats; one number is repeated ``count`` times."""
    try:
        numbers = tuple(float(t) for t in re.split(r"[,\s]+", text.strip()) if t)
    except ValueError as err:
        raise InputSpecError(
            f"{where}: {text!r} is not a list of numbers", "e.g. 0.485, 0.456, 0.406"
        ) from err
    if len(numbers) == 1:
        numbers = numbers * count
    if len(numbers) != count:
        raise InputSpecError(f"{where}: {len(numbers)} numbers, {count} channels", f"give {count} numbers")
    return numbers


def row_errors(
    specs: InputSpecs, model_inputs: Sequence[ModelInput], provided: Iterable[str] = ()
) -> tuple[dict[str, str], str]:
    """Per input, the engine's validation message (one line with its fix), and a message for
    what concerns several inputs (a named dim that disagrees, an input with no row)."""
    known = {m.name: m for m in model_inputs}
    given = set(provided)
    errors: dict[str, str] = {}
    unknown = [s.name for s in specs if s.name not in known]
    missing = [m.name for m in model_inputs if m.name not in specs.names() and not m.optional]
    for spec in specs:
        model_input = known.get(spec.name)
        if model_input is None:
            errors[spec.name] = unknown_input_message(spec.name, unknown, missing, list(known))
            continue
        try:
            validate_specs(
                InputSpecs((spec,)), [model_input], provided=[spec.name] if spec.name in given else []
            )
        except ModelLensError as err:
            errors[spec.name] = one_line(err)
    overall = ""
    if not errors:
        try:
            validate_specs(specs, model_inputs, provided=given)
        except ModelLensError as err:
            overall = one_line(err)
    return errors, overall


def upload_errors(specs: InputSpecs, provided: Mapping[str, Any]) -> dict[str, str]:
    """Per input with an uploaded array, a message when the array's shape is not the row's (the
    Dimensions and shape fields are what runs; an upload never overrides them silently)."""
    errors: dict[str, str] = {}
    for spec in specs:
        if spec.name not in provided:
            continue
        origin = Path(spec.data.path).name if spec.data.path else "the uploaded file"
        try:
            check_arrays_match_specs(InputSpecs((spec,)), provided, origin)
        except ModelLensError as err:
            errors[spec.name] = one_line(err)
    return errors


def unknown_input_message(
    name: str, unknown: Sequence[str], missing: Sequence[str], inputs: Sequence[str]
) -> str:
    """A row whose name the model lacks: the model's inputs, and the missing input to use the row
    for (picked in the row's input box), as ``runtime.specs.rename_fix`` pairs them."""
    pairs = rename_pairs(unknown, missing)
    problem = f"{name}: the model has no input by this name (its inputs: {', '.join(inputs)})"
    if name in pairs:
        return f"{problem} — {pairs[name]} has no row: pick {pairs[name]} in this row's input box"
    return f"{problem} — every input has a row: this one is not used; load a schema file without it"


def value_errors(
    specs: InputSpecs, provided: Mapping[str, Any], limits: Mapping[str, tuple[int, str]]
) -> dict[str, str]:
    """Per integer input that indexes a table (``limits``: name → (rows, node), from
    ``runtime.propose.index_limits``), the message when its values leave the table's range."""
    errors: dict[str, str] = {}
    for name, (rows, table) in limits.items():
        spec = specs.get(name)
        if spec is None:
            continue
        try:
            check_index_values(spec, rows, table, provided.get(name))
        except ModelLensError as err:
            errors[name] = one_line(err)
    return errors


def one_line(err: ModelLensError) -> str:
    """``message — fix`` for the page; a timed-out worker's fix names the page's Timeout field."""
    from runtime.worker import WorkerStoppedError

    if isinstance(err, WorkerStoppedError):
        err = err.naming(f"{TIMEOUT_LABEL} in the run settings, now {err.timeout_s:g} s")
    err = for_surface(err, "app")
    return f"{err.message} — {err.fix}" if err.fix else err.message


def adopt_model_dims(specs: InputSpecs, model_inputs: Sequence[ModelInput]) -> InputSpecs:
    """A loaded spec's fixed dims that sit where the model names a dynamic dim (``2x8`` for
    ``batch × seq``) take the model's names with the loaded values, so the Dimensions panel sets
    them once again. A name whose loaded values disagree stays fixed (validation reports it)."""
    known = {m.name: m for m in model_inputs}
    seen: dict[str, set[int]] = {}
    for spec in specs:
        model = known.get(spec.name)
        if model is None or model.shape is None or len(model.shape) != len(spec.shape):
            continue
        for axis, want in enumerate(model.shape):
            if isinstance(want, str) and want and spec.named(axis) in (None, want):
                seen.setdefault(want, set()).add(spec.shape[axis])
    agreed = {name for name, values in seen.items() if len(values) == 1}
    adopted = []
    for spec in specs:
        model = known.get(spec.name)
        if model is None or model.shape is None or len(model.shape) != len(spec.shape):
            adopted.append(spec)
            continue
        names = tuple(
            want
            if isinstance(want, str) and want in agreed and spec.named(axis) is None
            else spec.named(axis)
            for axis, want in enumerate(model.shape)
        )
        adopted.append(replace(spec, dim_names=names if any(names) else ()))
    return InputSpecs(tuple(adopted))


def fill_missing(
    specs: InputSpecs, model_inputs: Sequence[ModelInput], proposed: InputSpecs, file_name: str
) -> tuple[InputSpecs, str]:
    """A loaded schema file that omits required inputs gets their ``proposed`` rows (the page
    has no way to add a row), and a note naming them; entries the model lacks stay (the page
    offers to use them for a missing input)."""
    named = set(specs.names())
    unknown = [name for name in specs.names() if name not in {m.name for m in model_inputs}]
    missing = [m.name for m in model_inputs if m.name not in named and not m.optional]
    if not missing:
        return specs, ""
    taken = set(rename_pairs(unknown, missing).values())
    added = InputSpecs(tuple(p for p in proposed if p.name in missing and p.name not in taken))
    if not added:
        return specs, ""
    for dim, value in specs.dims().items():  # the file's batch and seq, not the proposal's
        added = added.with_dim(dim, value)
    names = ", ".join(p.name for p in added)
    rows = "its row is" if len(added) == 1 else "their rows are"
    return (
        InputSpecs(specs.inputs + added.inputs),
        f"{file_name} has no entry for {names}: {rows} the proposed one{'s' if len(added) > 1 else ''}",
    )


def with_guesses_confirmed(specs: InputSpecs) -> InputSpecs:
    return InputSpecs(tuple(replace(s, guess="") for s in specs))


# ---------------------------------------------------------------- outputs


def load_text(load_ms: float | None, open_s: float | None, already_loaded: bool) -> str:
    """What loading cost, said once: the load this page waited for (with the worker's start), or
    that the model was already loaded (by an earlier page or another session) and when."""
    load = f"{load_ms or 0:.0f} ms"
    if already_loaded:
        return (
            f"the model was already loaded in a worker (its load took {load} earlier), "
            "so this page did not wait for it"
        )
    text = f"loading the model took {load} once, when this page opened"
    return text + (f" ({open_s:.2f} s with the worker's start)" if open_s is not None else "")


def preview_kinds(shape: Sequence[int], dtype: str) -> list[str]:
    """Which previews fit an output: ``topk`` (1-D, or batch×classes), ``image`` (NCHW or NHWC
    with 1/3/4 channels, see ``image_layout``), ``heatmap`` (2-D), always ``table``."""
    kinds: list[str] = []
    numeric = dtype not in ("object", "str") and not dtype.startswith(("<U", "|S"))
    if not numeric or not shape:
        return ["table"]
    dims = [int(d) for d in shape]
    if (len(dims) == 1 and dims[0] > 1) or (len(dims) == 2 and dims[0] <= 16 and dims[1] > 1):
        kinds.append("topk")
    if image_layout(dims) is not None:
        kinds.append("image")
    if len(dims) == 2 and dims[0] > 1 and dims[1] > 1:
        kinds.append("heatmap")
    return [*kinds, "table"]


def image_layout(shape: Sequence[int]) -> str | None:
    """``CHW`` (NCHW) or ``HWC`` (NHWC) for image-shaped outputs, else None: rank 4 only (a rank-3
    output such as batch × seq × hidden is not a picture), 1, 3 or 4 channels, and a plausible
    picture: both sides at least 8 and at most 4 times as long as the other."""
    dims = list(shape)
    if len(dims) != 4 or dims[0] < 1:
        return None
    dims = dims[1:]

    def plausible(height: int, width: int) -> bool:
        return min(height, width) >= 8 and max(height, width) <= 4 * min(height, width)

    if dims[0] in (1, 3, 4) and plausible(dims[1], dims[2]):
        return "CHW"
    if dims[2] in (1, 3, 4) and plausible(dims[0], dims[1]):
        return "HWC"
    return None


def output_image(array: np.ndarray) -> np.ndarray:
    """An image-shaped output as H×W×C uint8 (first batch item), scaled min..max to 0..255."""
    import numpy as np

    layout = image_layout(array.shape)
    if layout is None:
        raise ValueError(f"shape {array.shape} is not image-shaped")
    values = np.asarray(array[0], dtype=np.float64)
    if layout == "CHW":
        values = values.transpose(1, 2, 0)
    values = np.nan_to_num(values)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    image = (scaled * 255).round().astype(np.uint8)
    return image[..., 0] if image.shape[2] == 1 else image[..., :3]


def top_k(array: np.ndarray, k: int = 5, labels: Sequence[str] = ()) -> pd.DataFrame:
    """The ``k`` largest scores per row (1-D: one row; 2-D: one per batch item): batch, rank,
    class index, label (from ``labels`` when given), score."""
    import numpy as np

    rows2d = np.asarray(array, dtype=np.float64).reshape(-1 if array.ndim == 2 else 1, array.shape[-1])
    records = []
    for batch, row in enumerate(rows2d):
        order = np.argsort(-np.nan_to_num(row, nan=-np.inf), kind="stable")[:k]
        for rank, index in enumerate(order, start=1):
            label = labels[index] if index < len(labels) else ""
            records.append(
                {
                    "batch": batch,
                    "rank": rank,
                    "class": int(index),
                    "label": label,
                    "score": float(row[index]),
                }
            )
    return pd.DataFrame.from_records(records, columns=["batch", "rank", "class", "label", "score"])


def parse_labels(data: bytes) -> list[str]:
    """A labels file: a JSON list (or {index: label} object), else one label per line."""
    text = data.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return [line.strip() for line in text.splitlines()]
    if isinstance(parsed, list):
        return [str(v) for v in parsed]
    if isinstance(parsed, dict):
        indexed = {int(k): str(v) for k, v in parsed.items() if str(k).lstrip("-").isdigit()}
        return [indexed.get(i, "") for i in range(max(indexed, default=-1) + 1)]
    raise InputSpecError("the labels file is neither a JSON list nor lines", "one label per line")


def heatmap_frame(array: np.ndarray) -> pd.DataFrame:
    """A 2-D output as long rows (row, col, value), strided down to at most ~4096 cells."""
    import numpy as np

    rows, cols = array.shape
    step = max(1, int(np.ceil(np.sqrt(rows * cols / HEATMAP_CELLS))))
    sampled = np.asarray(array[::step, ::step], dtype=np.float64)
    r, c = np.meshgrid(np.arange(0, rows, step), np.arange(0, cols, step), indexing="ij")
    return pd.DataFrame({"row": r.ravel(), "col": c.ravel(), "value": sampled.ravel()})


def table_frame(array: np.ndarray) -> pd.DataFrame:
    """At most 200 rows: a 2-D view (the last axis as columns, leading axes flattened)."""
    import numpy as np

    values = np.asarray(array)
    if values.ndim == 0:
        return pd.DataFrame({"value": [values.item()]})
    flat = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values.reshape(-1, 1)
    frame = pd.DataFrame(flat[:PREVIEW_ROWS, :64])
    frame.columns = [str(c) for c in frame.columns]
    return frame


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The outputs download: ``runtime.arrays.npz_bytes`` (bfloat16 etc. as float32, with the
    original dtypes in a ``__dtypes__`` entry)."""
    return runtime_arrays.npz_bytes(arrays)


def check_typed_values(spec: InputSpec) -> None:
    """Typed JSON values must fill the input's shape (or be one number): the run's own check
    (``runtime.data.make_array``), made while typing. InputSpecError naming both shapes."""
    from runtime.data import make_array

    make_array(spec)


def npz_key_for(name: str, file_name: str, keys: Sequence[str]) -> tuple[str | None, str]:
    """Which array of an uploaded file feeds input ``name``: the key ``name``; else the only array,
    with a note saying so; else None (the user picks), with the message naming the keys."""
    if name in keys:
        return name, ""
    if file_name.lower().endswith(".npy"):
        return keys[0], ""  # a .npy holds one unnamed array
    if len(keys) == 1:
        return keys[0], f"{name} is not in {file_name}: using its only array, {keys[0]}"
    return None, f"{name}: {file_name} has no array named {name} (it holds {', '.join(keys)})"


def load_uploaded_arrays(name: str, data: bytes) -> dict[str, np.ndarray]:
    """An uploaded ``.npy`` (key: its file stem) or ``.npz``; never unpickles objects."""
    import numpy as np

    if not data.startswith((b"\x93NUMPY", b"PK")):
        raise InputSpecError(
            f"{name} is not a .npy/.npz array file (it does not start with numpy's header)",
            "save it with numpy.save (.npy) or numpy.savez (.npz)",
        )
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InputSpecError(
            f"{name} is not a .npy/.npz array file ({err})", "save it with numpy.save or numpy.savez"
        ) from err
    if isinstance(loaded, np.ndarray):
        return {Path(name).stem: loaded}
    with loaded:
        return {key: loaded[key] for key in loaded.files}


# ---------------------------------------------------------------- overlay on the graph


def graph_node_id(graph: ModelGraph, node: str) -> str | None:
    """The graph node a runtime node name means: the id itself, ``input:NAME``, or a TorchScript
    probe label ``op_N@file.py:LINE`` through its source location."""
    if node in graph:
        return node
    if f"input:{node}" in graph:
        return f"input:{node}"
    if "@" in node:
        from runtime.engine import node_at_source

        op, _, location = node.partition("@")
        return node_at_source(graph, location, f"aten::{op.rsplit('_', 1)[0]}")
    by_name = {str(d.get("name")): str(n) for n, d in graph.nodes(data=True) if d.get("name")}
    return by_name.get(node)


# number formats of the Run page's tables (printf style, as st.column_config takes them):
# output statistics keep 5 significant digits (1.2346e-10, not 0.0000000001), times 3 decimals
VALUE_FORMAT = "%.5g"
MS_FORMAT = "%.3f"
SHARE_FORMAT = "%.1f"


def shape_overlay(graph: ModelGraph, result: ShapesResult) -> dict[str, Any]:
    """``{"nodes": {node_id: [shape per output port]}, "failed": node_id | None, "method", "message"}``
    for the Graph page (node ids of ``graph``; runtime names that match no node are dropped)."""
    nodes: dict[str, list[Any]] = {}
    for name, shapes in result.nodes.items():
        node_id = graph_node_id(graph, name)
        if node_id is not None and node_id not in nodes:
            nodes[node_id] = list(shapes)
    failed = result.failed
    failed_id = graph_node_id(graph, failed.node) if failed is not None else None
    return {
        "nodes": nodes,
        "failed": failed_id,
        "failed_inputs": list(failed.input_shapes) if failed is not None else [],
        "method": result.method,
        "message": failed.where() if failed is not None else "",
    }


def run_port_shapes(
    graph: ModelGraph, overlay: Mapping[str, Any] | None, node_id: str
) -> tuple[dict[int, Any], dict[int, Any]]:
    """The last run's shapes of ``node_id``'s ports from a ``shape_overlay``: (input port → shape
    of the producer's output, or the failing node's recorded inputs; output port → shape). Ports
    the run did not reach (None) are left out."""
    if not overlay or node_id not in graph:
        return {}, {}
    nodes = overlay.get("nodes") or {}
    inputs: dict[int, Any] = {}
    for src, _, data in graph.in_edges(node_id, data=True):
        produced = nodes.get(src) or []
        port = int(data.get("src_port") or 0)
        if port < len(produced) and produced[port] is not None:
            inputs[int(data.get("dst_port") or 0)] = produced[port]
    if overlay.get("failed") == node_id:
        recorded = graph.nodes[node_id].get("input_names") or []
        for port, shape in enumerate(overlay.get("failed_inputs") or []):
            if shape is not None and (port < len(recorded) or not recorded):
                inputs[port] = shape
    outputs = {port: shape for port, shape in enumerate(nodes.get(node_id) or []) if shape is not None}
    return inputs, outputs


def timing_rows(graph: ModelGraph, timings: Sequence[NodeTiming], count: int = 15) -> pd.DataFrame:
    """The slowest nodes: node (graph id, or the backend's name when none matches), op type,
    time in ms, share of the total in percent."""
    total = sum(t.duration_us for t in timings) or 1.0
    records = []
    for timing in list(timings)[:count]:
        node_id = graph_node_id(graph, timing.node)
        records.append(
            {
                "node": node_id or timing.node,
                "op_type": timing.op_type,
                "ms": timing.duration_us / 1000.0,
                "share %": 100.0 * timing.duration_us / total,
                "on graph": node_id is not None,
            }
        )
    return pd.DataFrame.from_records(records, columns=["node", "op_type", "ms", "share %", "on graph"])


def heat_map(graph: ModelGraph, timings: Iterable[NodeTiming]) -> dict[str, float]:
    """Node id → its time relative to the slowest node (0..1), for nodes of ``graph``."""
    summed: dict[str, float] = {}
    for timing in timings:
        node_id = graph_node_id(graph, timing.node)
        if node_id is not None:
            summed[node_id] = summed.get(node_id, 0.0) + timing.duration_us
    top = max(summed.values(), default=0.0)
    return {node: round(value / top, 3) for node, value in summed.items()} if top > 0 else {}


# ---------------------------------------------------------------- benchmark


def bench_record(result: BenchResult, model: str) -> dict[str, Any]:
    """The benchmark as JSON: model, device, provider, threads, warm-up, iterations, latency
    statistics (ms), throughput (runs per second) and every latency."""
    return {
        "model": model,
        "device": result.device,
        "provider": result.provider,
        "threads": result.threads,
        "warmup": result.warmup,
        "iterations": result.iterations,
        "latency_ms": result.stats(),
        "throughput_per_s": result.throughput_per_s,
        "latencies_ms": list(result.latencies_ms),
    }


def bench_stats_frame(result: BenchResult) -> pd.DataFrame:
    stats = result.stats()
    return pd.DataFrame({"statistic": list(stats), "latency ms": list(stats.values())})


def bench_csv(result: BenchResult) -> str:
    """One row per timed iteration, with device, provider and threads on each row."""
    frame = pd.DataFrame(
        {
            "iteration": range(1, result.iterations + 1),
            "latency_ms": result.latencies_ms,
            "device": result.device,
            "provider": result.provider,
            "threads": result.threads,
        }
    )
    return str(frame.to_csv(index=False))
