"""ModelLens: view, inspect and run machine-learning models in the browser.

Python API::

    import modellens
    graph = modellens.load("model.onnx")      # a ModelGraph (networkx.MultiDiGraph)
    info = modellens.summarize(graph)         # the `modellens info --json` dict
    result = modellens.run("model.onnx", spec="inputs.yaml")   # the `modellens run --json` dict
    stats = modellens.bench("model.onnx", iterations=50)       # the `modellens bench --json` dict
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from converters import ModelGraph
    from converters.errors import ModelLensError

# nothing heavy at import: `python -m modellens run` imports this package first, and networkx,
# onnx and the format modules cost ~0.3 s that a run of an ONNX file does not need


def __getattr__(name: str) -> Any:
    """``__version__`` is read lazily: importlib.metadata costs ~0.1 s at start-up."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("modellens")
        except PackageNotFoundError:  # a source checkout that was never installed
            return "0.0.0+source"
    raise AttributeError(name)


def load(path: str | Path, settings: dict[str, Any] | None = None) -> ModelGraph:
    """Open a model by path (format detected from content)."""
    from converters import load_model

    return load_model(path, settings)


def summarize(graph: ModelGraph) -> dict[str, Any]:
    """The model summary: see ``viewer.summary.model_summary``."""
    from viewer.summary import model_summary

    return model_summary(graph)


def run(
    path: str | Path,
    inputs: Any = None,
    spec: Any = None,
    device: str = "cpu",
    *,
    seed: int = 0,
    signature: str | None = None,
    timeout_s: float = 120.0,
) -> dict[str, Any]:
    """Run the model once in a worker process; returns the ``modellens run --json`` dict.

    ``inputs``: {input name: numpy array} or a .npz/.npy/.json path (may hold some inputs);
    ``spec``: a spec file path or ``runtime.specs.InputSpecs`` (None: proposed from the file).
    ``timeout_s``: seconds before the worker is stopped (ModelRunError naming ``timeout_s``).
    Raises InputSpecError, ModelLoadError, ModelRunError (all ModelLensError with a ``fix``); a
    model that fails at a node raises ``runtime.engine.NodeRunError`` (a ModelRunError) whose
    ``failed`` names the node, its op and input shapes, as ``modellens shapes`` does.
    """
    from converters.errors import ModelLensError
    from runtime.engine import run_model

    try:
        return run_model(
            path, inputs, spec, device, seed=seed, signature=signature, timeout_s=timeout_s
        ).to_json()
    except ModelLensError as err:
        raise _with_timeout_fix(err, "timeout_s=") from None


def bench(
    path: str | Path,
    inputs: Any = None,
    spec: Any = None,
    device: str = "cpu",
    *,
    iterations: int = 100,
    warmup: int = 10,
    seed: int = 0,
    signature: str | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Benchmark in a worker process; returns the ``modellens bench --json`` dict (latency in ms).
    ``timeout_s`` (None: from the iteration count) stops a benchmark that takes longer."""
    from converters.errors import ModelLensError
    from runtime.engine import bench_model

    try:
        result = bench_model(
            path,
            inputs,
            spec,
            device,
            iterations=iterations,
            warmup=warmup,
            seed=seed,
            signature=signature,
            timeout_s=timeout_s,
        )
    except ModelLensError as err:
        raise _with_timeout_fix(err, "timeout_s=") from None
    return result.to_json()


def _with_timeout_fix(err: ModelLensError, control: str) -> ModelLensError:
    """The error worded for this API: a timed-out worker's fix names the ``timeout_s`` argument,
    other fixes the API's arguments (``spec=``, ``iterations=``), never a CLI flag."""
    from runtime.fixes import for_surface
    from runtime.worker import WorkerStoppedError

    return err.naming(control) if isinstance(err, WorkerStoppedError) else for_surface(err, "api")


__all__ = ["__version__", "bench", "load", "run", "summarize"]
