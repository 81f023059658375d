"""The engine the CLI, the Python API and the app share: pick specs, validate, run in a worker.

    result = run_model("model.onnx")                              # RunResult
    bench = bench_model("model.onnx", iterations=100, warmup=10)  # BenchResult
    shapes = model_shapes("model.onnx", spec="inputs.yaml")       # ShapesResult
    timings = profile_model("model.onnx")                         # [NodeTiming], slowest first
    info, specs = propose_for("model.onnx", graph)                # a run panel's starting point

``spec`` is an InputSpecs, a path to a spec file, or None (propose from the file). ``inputs`` is a
mapping of arrays or a path to .npz/.npy/.json; it may hold some inputs, the spec makes the rest.
Every function takes a ``pool`` (a WorkerPool the app keeps in st.cache_resource); without one the
process-wide ``default_pool()`` is used. A page would hold ``WorkerPool(max_workers=2)`` in
``st.cache_resource``, call ``propose_for`` when a model opens, let the user edit the InputSpecs
(``with_dim`` sets a shared named dim once), then ``run_model(..., want_arrays=True)``,
``model_shapes`` (overlay per node id; ``failed`` to highlight) and ``bench_model(progress=...)``.
Errors: InputSpecError (spec/inputs, before anything
runs), ModelLoadError, ModelRunError (the model failed, crashed or timed out).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters.errors import InputSpecError, ModelLensError, ModelRunError
from runtime.data import check_arrays_match_specs, check_provided, load_arrays
from runtime.fixes import iterations_fixes, node_failure_fix, spec_needed_fixes, with_fixes
from runtime.propose import index_limits, propose_specs
from runtime.results import BenchResult, FailedNode, NodeTiming, RunResult, ShapesResult
from runtime.spec_file import dumps_spec, load_spec_file, loads_spec, sidecar_spec
from runtime.specs import InputSpec, InputSpecs, ModelInput, check_index_values, validate_specs
from runtime.worker import RUN_TIMEOUT_S, Worker, WorkerPool, WorkerStoppedError, check_memory, default_pool

if TYPE_CHECKING:
    import numpy as np

    from converters.schema import ModelGraph

SpecArg = InputSpecs | str | Path | None
InputsArg = Mapping[str, "np.ndarray"] | str | Path | None


class SpecNeededError(InputSpecError):
    """The file declares no input shapes: ``template`` is the spec file to write (YAML)."""

    def __init__(self, message: str, fix: str, template: str) -> None:
        super().__init__(message, fix)
        self.template = template


class NodeRunError(ModelRunError):
    """The model failed while running, at a node found by propagating shapes with the same inputs:
    ``failed`` (node, op, input shapes, the framework's message), ``shapes`` (every node's shapes up
    to it, for drawing on the graph). The message reads
    ``torch failed at node c/conv2d (aten::conv2d) with inputs [1x5x16x16, 8x3x3x3]: Given groups…``."""

    def __init__(self, message: str, fix: str, failed: FailedNode, shapes: ShapesResult) -> None:
        super().__init__(message, fix)
        self.failed, self.shapes = failed, shapes


@dataclass
class Prepared:
    """A worker with the model loaded, and the checked specs and arrays for one request."""

    worker: Worker
    specs: InputSpecs
    provided: dict[str, Any]
    reused: bool


def model_graph(path: str | Path) -> ModelGraph | None:
    """The converted graph, or None when no converter reads this format (proposals degrade).
    The last few are kept by path and modification time (read-only: a graph is never changed)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return None
    return _model_graph(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _model_graph(path: str, mtime_ns: int, size: int) -> ModelGraph | None:
    from converters import load_model

    try:
        return load_model(path)
    except ModelLensError:
        return None


def suggest_specs(
    path: str | Path, model_inputs: list[ModelInput], graph: ModelGraph | None = None
) -> InputSpecs:
    """Specs proposed from the declared inputs, reading the graph only when it can add something
    (an input without a full shape, or an integer input whose range an embedding may bound). For
    an ONNX file whose only question is the integer ranges, the embedding tables are read from
    the file's structure (``converters.onnx_tables``) instead of converting the whole graph."""
    shapes_unknown = any(
        (m.shape is None and not m.optional) or (m.shape is not None and any(d is None for d in m.shape))
        for m in model_inputs
    )
    integers = [m.name for m in model_inputs if (m.dtype or "").startswith(("int", "uint"))]
    if graph is None and integers and not shapes_unknown:
        tables = _onnx_tables(path, integers)
        if tables is not None:
            return propose_specs(model_inputs, None, tables)
    if graph is None and (shapes_unknown or integers):
        graph = model_graph(path)
    return propose_specs(model_inputs, graph)


def _onnx_tables(path: str | Path, names: list[str]) -> dict[str, tuple[int, str]] | None:
    """Embedding tables of a plain ONNX file's integer inputs without converting it; None for
    other files (other formats, zips, text forms) or a file the light reader cannot parse (the
    full conversion then decides)."""
    from runtime.runners import looks_like_model_proto

    path = Path(path)
    if not path.is_file() or not looks_like_model_proto(path):
        return None
    from converters.onnx_lazy import WireFormatError
    from converters.onnx_tables import gather_tables

    try:
        return gather_tables(path, names)
    except (WireFormatError, OSError, ValueError):
        return None


def propose_for(
    path: str | Path,
    graph: ModelGraph | None = None,
    device: str = "cpu",
    pool: WorkerPool | None = None,
    signature: str | None = None,
) -> tuple[dict[str, Any], InputSpecs]:
    """What a run panel starts from: the loaded model's description (worker ``info``: format,
    inputs, output names, provider) and the proposed specs (guesses marked in ``InputSpec.guess``).
    Pass the page's ``graph`` to skip converting the file again. Starts (or reuses) the worker."""
    pool = pool if pool is not None else default_pool()
    worker, _ = pool.get(path, device, signature)
    try:
        info = worker.info
    except ModelLensError:
        pool.drop(worker)
        raise
    return info, suggest_specs(path, info["inputs"], graph)


def prepare(
    path: str | Path,
    spec: SpecArg = None,
    inputs: InputsArg = None,
    device: str = "cpu",
    pool: WorkerPool | None = None,
    signature: str | None = None,
    threads: int = 0,
) -> Prepared:
    """Load (or reuse) the worker and resolve the specs: validated, memory-checked, ready to run."""
    path = Path(path)
    if not path.exists():
        raise InputSpecError(f"No such model: {path}", "check the path")
    check_threads(threads)
    pool = pool if pool is not None else default_pool()
    worker, reused = pool.get(path, device, signature, threads)  # loads while we read the spec
    check_signature(worker, signature)
    specs_given = _spec_arg(spec)
    try:
        model_inputs: list[ModelInput] = worker.info["inputs"]
    except ModelLensError:
        pool.drop(worker)
        raise
    provided, origin = _provided(inputs, model_inputs)
    check_provided(provided, model_inputs, origin)
    shipped = sidecar_spec(path) if specs_given is None else None  # the schema the model ships
    if shipped is not None:  # in the proposal's place: the given arrays still set the dims
        specs = resolve_declared(path, load_spec_file(shipped), model_inputs)
        specs = _dims_from_arrays(specs, model_inputs, provided)
    elif specs_given is None:
        specs = _dims_from_arrays(suggest_specs(path, model_inputs), model_inputs, provided)
        _refuse_guesses(path, specs, model_inputs, provided, worker.info["format"])
    else:
        specs = resolve_declared(path, specs_given, model_inputs)
        check_arrays_match_specs(specs, provided, origin)  # an array never overrides a dim set
    specs = InputSpecs(tuple(s for s in specs if s.name not in provided))
    given = tuple(InputSpec(name, str(a.dtype), tuple(a.shape)) for name, a in provided.items())
    validate_specs(InputSpecs(specs.inputs + given), model_inputs, provided=list(provided))
    check_values(path, specs, provided, model_inputs)
    needed = specs.nbytes + sum(int(a.nbytes) for a in provided.values())
    check_memory(needed, "the inputs")
    return Prepared(worker, specs, provided, reused)


def check_values(
    path: Path,
    specs: InputSpecs,
    provided: Mapping[str, Any],
    model_inputs: list[ModelInput],
    graph: ModelGraph | None = None,
) -> None:
    """Integer inputs that index an embedding/Gather table stay below its rows (the range the
    proposal shows): InputSpecError naming the table, for generated and provided values alike.
    Only for models with integer inputs: a plain ONNX file's tables are read from its structure
    (``converters.onnx_tables``), other models' from the graph (``graph``, else the file's, cached)."""
    integers = [m.name for m in model_inputs if (m.dtype or "").startswith(("int", "uint"))]
    if not integers:
        return
    limits = _onnx_tables(path, integers) if graph is None else None
    if limits is None:
        graph = graph if graph is not None else model_graph(path)
        if graph is None:
            return
        limits = index_limits(model_inputs, graph)
    for name, (rows, table) in limits.items():
        spec = specs.get(name)
        if name in provided:
            check_index_values(InputSpec(name, "int64", ()), rows, table, provided[name])
        elif spec is not None:
            check_index_values(spec, rows, table)


def check_signature(worker: Worker, signature: str | None) -> None:
    """A signature key only means something for a SavedModel: InputSpecError for other formats."""
    if signature and worker.format != "savedmodel":
        raise InputSpecError(
            f"--signature {signature} is for SavedModels, and {worker.path.name} is {worker.format}",
            "leave out --signature",
        )


def check_seed(seed: Any) -> int:
    """A seed for generated inputs: an integer 0..2**64-1 (numpy's range), else InputSpecError."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise InputSpecError(f"seed {seed!r} is not a valid seed", "use an integer from 0 to 2**64-1")
    return seed


def check_threads(threads: Any) -> int:
    """A thread count: 0 (the backend's default) or a positive integer, else InputSpecError."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise InputSpecError(
            f"threads {threads!r} is not a thread count",
            "use 0 (the backend's default) or a positive integer",
        )
    return threads


def _spec_arg(spec: Any) -> InputSpecs | None:
    """A spec argument as InputSpecs: a file path, a dict in the schema file's structure, or
    InputSpecs; anything else is an InputSpecError."""
    if spec is None or isinstance(spec, InputSpecs):
        return spec
    if isinstance(spec, (str, Path)):
        return load_spec_file(spec)
    if isinstance(spec, Mapping):
        import json

        try:
            text = json.dumps(spec)
        except (TypeError, ValueError) as err:
            raise InputSpecError(f"the spec dict cannot be read: {err}", 'e.g. {"inputs": [...]}') from err
        return loads_spec(text, name="spec")
    raise InputSpecError(
        f"spec is a {type(spec).__name__}",
        "pass a spec file path, a dict like the spec file, or runtime.specs.InputSpecs",
    )


def _provided(inputs: Any, model_inputs: list[ModelInput]) -> tuple[dict[str, Any], str]:
    """The user's arrays: from a file, or a mapping whose values are arrays or plain (nested)
    lists of numbers, read with ``numpy.asarray`` in the model's dtype when it declares one."""
    if inputs is None:
        return {}, "inputs"
    if isinstance(inputs, (str, Path)):
        return cast_lossless(load_arrays(inputs), model_inputs, Path(inputs).name), Path(inputs).name
    if not isinstance(inputs, Mapping):
        raise InputSpecError(
            f"inputs is a {type(inputs).__name__}",
            "pass {input name: array or list} or a .npz/.npy/.json path",
        )
    import numpy as np

    arrays: dict[str, Any] = {}
    lists: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, np.ndarray):
            arrays[str(name)] = value
            continue
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as err:
            raise InputSpecError(f"inputs[{name!r}] is not an array: {err}", "pass numbers") from err
        if array.dtype.kind not in "biuf":
            raise InputSpecError(
                f"inputs[{name!r}] is not an array of numbers ({type(value).__name__})",
                "pass a numpy array or a (nested) list of numbers",
            )
        lists[str(name)] = array
    return {**arrays, **cast_lossless(lists, model_inputs, "inputs")}, "inputs"


def cast_lossless(arrays: Mapping[str, Any], model_inputs: list[ModelInput], origin: str) -> dict[str, Any]:
    """Arrays read from a format without dtypes (JSON, Python lists) in the model's dtype, when the
    values survive the cast unchanged (ints to float, float64 to float32 within its range and
    rounding); a lossy cast is left for ``check_provided`` to report. .npy/.npz arrays keep theirs."""
    import numpy as np

    declared = {m.name: m.dtype for m in model_inputs}
    result = dict(arrays)
    if not origin.lower().endswith(".json") and origin != "inputs":
        return result
    for name, array in arrays.items():
        dtype = declared.get(name)
        if not dtype or dtype == "object" or str(array.dtype) == dtype:
            continue
        try:
            target = _numpy_dtype(dtype)
            with np.errstate(all="ignore"):
                cast = array.astype(target)
        except (TypeError, ValueError, OverflowError):
            continue
        if target.kind in "fV" and array.dtype.kind in "biuf":  # V: ml_dtypes bfloat16 / float8
            same = np.array_equal(cast.astype(np.float64), array.astype(np.float64), equal_nan=True) or (
                array.dtype.kind == "f" and bool(np.all(np.isfinite(cast) == np.isfinite(array)))
            )
        else:
            same = np.array_equal(cast.astype(array.dtype), array)
        if same:
            result[name] = cast
    return result


def _numpy_dtype(name: str) -> Any:
    """numpy's dtype for ``name``; bfloat16 and float8 names through ml_dtypes."""
    import numpy as np

    if name.startswith(("bfloat16", "float8")):
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def resolve_declared(path: Path, specs: InputSpecs, model_inputs: list[ModelInput]) -> InputSpecs:
    """Entries that name only the input (MAX's ``- input_name: x``) take the model's declared
    dtype and shape (dynamic dims filled as proposed); InputSpecError when the model declares none."""
    if not any(s.declared for s in specs):
        return specs
    known = {m.name: m for m in model_inputs}
    proposal = suggest_specs(path, [known[s.name] for s in specs if s.declared and s.name in known])
    resolved = []
    for spec in specs:
        model = known.get(spec.name)
        if not spec.declared or model is None:
            resolved.append(spec)
            continue
        if model.shape is None or model.dtype is None:
            raise InputSpecError(
                f"{spec.name}: the spec gives no shape and the model does not declare one",
                f"add `shape:` to the {spec.name} entry, e.g. 1x3x224x224xf32",
            )
        proposed = proposal.get(spec.name)
        assert proposed is not None
        resolved.append(replace(proposed, data=proposed.data if spec.declared_data else spec.data, guess=""))
    return InputSpecs(tuple(resolved))


def _dims_from_arrays(
    specs: InputSpecs, model_inputs: list[ModelInput], provided: Mapping[str, Any]
) -> InputSpecs:
    """Proposed named dims take the values of the arrays the user gave (seq from input_ids, ...)."""
    for model_input in model_inputs:
        array = provided.get(model_input.name)
        if array is None or model_input.shape is None or len(model_input.shape) != array.ndim:
            continue
        for dim, size in zip(model_input.shape, array.shape, strict=True):
            if isinstance(dim, str) and size > 0:
                specs = specs.with_dim(dim, int(size))
    return specs


def _refuse_guesses(
    path: Path, specs: InputSpecs, model_inputs: list[ModelInput], provided: Mapping[str, Any], fmt: str
) -> None:
    """An input whose rank the file does not give runs only from a spec the user confirmed (the
    proposal is the template); unnamed dynamic dims of a known rank just take their defaults."""
    unknown_rank = {m.name for m in model_inputs if m.shape is None or m.kind != "tensor"}
    guessed = [s for s in specs if s.guess and s.name in unknown_rank and s.name not in provided]
    if not guessed:
        return
    template_specs = InputSpecs(tuple(replace(s, guess="") for s in specs))
    template = dumps_spec(template_specs)
    spec_name = f"{path.stem}.inputs.yaml"
    what = "declares no input shapes" if fmt == "torchscript" else "does not say every input shape"
    reasons = "; ".join(f"{s.name}: {s.guess}" for s in guessed)
    fixes = spec_needed_fixes(spec_name)
    raise with_fixes(SpecNeededError(f"{path.name} {what} ({reasons})", fixes["api"], template), fixes)


def run_model(
    path: str | Path,
    inputs: InputsArg = None,
    spec: SpecArg = None,
    device: str = "cpu",
    *,
    seed: int = 0,
    pool: WorkerPool | None = None,
    signature: str | None = None,
    want_arrays: bool = False,
    timeout_s: float = RUN_TIMEOUT_S,
) -> RunResult:
    """One inference in the worker; ``want_arrays`` brings the output arrays back too."""
    check_seed(seed)
    prepared = prepare(path, spec, inputs, device, pool, signature)
    message = ("run", prepared.specs, prepared.provided, seed, want_arrays)
    return _locating(path, prepared, message, timeout_s, "running", pool, seed)


def bench_model(
    path: str | Path,
    inputs: InputsArg = None,
    spec: SpecArg = None,
    device: str = "cpu",
    *,
    iterations: int = 100,
    warmup: int = 10,
    time_budget_s: float = 0.0,
    seed: int = 0,
    pool: WorkerPool | None = None,
    signature: str | None = None,
    threads: int = 0,
    timeout_s: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> BenchResult:
    """Warm-up runs, then ``iterations`` timed runs (or as many as fit in ``time_budget_s`` when
    iterations is 0). Latencies are measured inside the worker around the backend call only.
    ``progress(fraction)`` (0..1, e.g. a progress bar) makes the worker report in ~20 chunks.
    ``timeout_s`` limits each request to the worker (plus the time budget); None: from the
    iteration count."""
    if iterations < 0 or warmup < 0 or (iterations == 0 and time_budget_s <= 0):
        fixes = iterations_fixes()
        problem = "iterations and warm-up must be >= 0, with iterations or a time budget"
        raise with_fixes(InputSpecError(problem, fixes["api"]), fixes)
    check_seed(seed)
    prepared = prepare(path, spec, inputs, device, pool, signature, threads)
    limit = (
        timeout_s + time_budget_s
        if timeout_s is not None
        else RUN_TIMEOUT_S + time_budget_s + 60.0 * (1 + (iterations + warmup) // 50)
    )
    if progress is None:
        message = ("bench", prepared.specs, prepared.provided, seed, iterations, warmup, time_budget_s)
        return _locating(path, prepared, message, limit, "benchmarking", pool, seed)
    try:
        return _bench_in_chunks(prepared, pool, seed, iterations, warmup, time_budget_s, limit, progress)
    except ModelRunError as err:
        raise _located(path, prepared, err, pool, seed, limit) from err.__cause__


def _bench_in_chunks(
    prepared: Prepared,
    pool: WorkerPool | None,
    seed: int,
    iterations: int,
    warmup: int,
    budget_s: float,
    limit: float,
    progress: Callable[[float], None],
) -> BenchResult:
    chunks = 20
    merged: BenchResult | None = None
    start = time.monotonic()
    for index in range(chunks):
        if iterations > 0:
            count = iterations * (index + 1) // chunks - iterations * index // chunks
            if count == 0:
                continue
            message = (
                "bench",
                prepared.specs,
                prepared.provided,
                seed,
                count,
                warmup if merged is None else 0,  # the first chunk that runs warms up
                0.0,
            )
        else:
            message = (
                "bench",
                prepared.specs,
                prepared.provided,
                seed,
                0,
                warmup if merged is None else 0,  # the first chunk that runs warms up
                budget_s / chunks,
            )
        part: BenchResult = _request(prepared, message, limit, "benchmarking", pool)
        if merged is None:
            merged = part
        else:
            merged.latencies_ms.extend(part.latencies_ms)
        done = (index + 1) / chunks if iterations > 0 else min(1.0, (time.monotonic() - start) / budget_s)
        progress(done)
    assert merged is not None
    return merged


def model_shapes(
    path: str | Path,
    inputs: InputsArg = None,
    spec: SpecArg = None,
    device: str = "cpu",
    *,
    seed: int = 0,
    pool: WorkerPool | None = None,
    signature: str | None = None,
    timeout_s: float = RUN_TIMEOUT_S,
) -> ShapesResult:
    """Per-node output shapes for these inputs; ``failed`` names the node where the model broke."""
    check_seed(seed)
    prepared = prepare(path, spec, inputs, device, pool, signature)
    return _shapes(path, prepared, seed, timeout_s, pool)


def _shapes(
    path: str | Path, prepared: Prepared, seed: int, timeout_s: float, pool: WorkerPool | None
) -> ShapesResult:
    message = ("shapes", prepared.specs, prepared.provided, seed)
    result: ShapesResult = _request(prepared, message, timeout_s, "propagating shapes", pool)
    failed = result.failed
    if failed is not None and failed.bound is not None:  # name the dim a constant bounds
        size = failed.bound[0]
        dims = [name for name, value in prepared.specs.dims().items() if value == size]
        if dims:
            failed.message = failed.message.replace(
                "that input size may be at most", f"{' or '.join(dims)} (now {size}) may be at most"
            )
    if failed is not None and failed.source and "@" in failed.node:  # not a converter node id
        graph = model_graph(path)
        if graph is not None and failed.node not in graph:
            failed.node = node_at_source(graph, failed.source, failed.op_type) or failed.node
    return result


def _locating(
    path: str | Path,
    prepared: Prepared,
    message: tuple[Any, ...],
    timeout_s: float,
    doing: str,
    pool: WorkerPool | None,
    seed: int,
) -> Any:
    """``_request``; a model failure becomes a NodeRunError naming the failing node."""
    try:
        return _request(prepared, message, timeout_s, doing, pool)
    except ModelRunError as err:
        raise _located(path, prepared, err, pool, seed, timeout_s) from err.__cause__


def _located(
    path: str | Path,
    prepared: Prepared,
    err: ModelRunError,
    pool: WorkerPool | None,
    seed: int,
    timeout_s: float,
) -> ModelRunError:
    """``err`` naming the node where the model fails, found as ``model_shapes`` finds it (the same
    inputs, recorded node by node); ``err`` itself when the worker stopped (a timeout or crash is
    not run again), shapes find no failing node, or finding it fails."""
    if isinstance(err, WorkerStoppedError) or not prepared.worker.alive:
        return err
    try:
        shapes = _shapes(path, prepared, seed, timeout_s, pool)
    except ModelLensError:
        return err
    failed = shapes.failed
    if failed is None:
        return err
    framework, _, text = err.message.partition(" failed: ")
    if not text:
        framework, text = "the model", err.message
    text = failed.message or text  # the framework's message, as ``modellens shapes`` shows it
    fix = node_failure_fix(text, failed.input_shapes)
    if failed.bound is not None:
        fix = f"use {failed.bound[1]} or less where the inputs now have {failed.bound[0]}"
        dims = [name for name, value in prepared.specs.dims().items() if value == failed.bound[0]]
        if dims:
            fix = f"set {' or '.join(dims)} to {failed.bound[1]} or less"
    located = NodeRunError(
        f"{framework} failed at {failed.where(text)}",
        fix,
        failed,
        shapes,
    )
    return located


def node_at_source(graph: ModelGraph, source: str, op_type: str = "") -> str | None:
    """The graph node whose ``source`` ("file.py:LINE", as the TorchScript converter sets it) is
    ``source``; among several, the one with ``op_type``."""
    matches = []
    for node, data in graph.nodes(data=True):
        own = str(data.get("source") or "")
        if own and (own.endswith(source) or source.endswith(own)):
            matches.append(str(node))
    exact = [node for node in matches if graph.nodes[node].get("op_type") == op_type]
    found = exact or matches
    return found[0] if found else None


def _request(
    prepared: Prepared, message: tuple[Any, ...], timeout_s: float, doing: str, pool: WorkerPool | None
) -> Any:
    worker = prepared.worker
    try:
        return worker.request(message, timeout_s, doing)
    finally:
        if not worker.alive:
            (pool if pool is not None else default_pool()).drop(worker)


def profile_model(
    path: str | Path,
    inputs: InputsArg = None,
    spec: SpecArg = None,
    device: str = "cpu",
    *,
    seed: int = 0,
    pool: WorkerPool | None = None,
    signature: str | None = None,
    timeout_s: float = RUN_TIMEOUT_S,
) -> list[NodeTiming]:
    """Per-node times, slowest first: after one warm-up run, the median per node of up to 5
    profiled runs (``NodeTiming.runs`` says how many; fewer when they take over 10 s):
    onnxruntime profiling (node names as in the graph) or the torch profiler (converter node
    ids, else aten ops); empty for backends that report none."""
    prepared = prepare(path, spec, inputs, device, pool, signature)
    message = ("profile", prepared.specs, prepared.provided, seed)
    timings: list[NodeTiming] = _locating(path, prepared, message, timeout_s, "profiling", pool, seed)
    return sorted(timings, key=lambda t: t.duration_us, reverse=True)
