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
) -> dict[str, Any]:
    """Run the model once in a worker process; returns the ``modellens run --json`` dict.

    ``inputs``: {input name: numpy array} or a .npz/.npy/.json path (may hold some inputs);
    ``spec``: a spec file path or ``runtime.specs.InputSpecs`` (None: proposed from the file).
    Raises InputSpecError, ModelLoadError, ModelRunError (all ModelLensError with a ``fix``).
    """
    from runtime.engine import run_model

    return run_model(path, inputs, spec, device, seed=seed, signature=signature).to_json()


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
) -> dict[str, Any]:
    """Benchmark in a worker process; returns the ``modellens bench --json`` dict (latency in ms)."""
    from runtime.engine import bench_model

    result = bench_model(
        path, inputs, spec, device, iterations=iterations, warmup=warmup, seed=seed, signature=signature
    )
    return result.to_json()


__all__ = ["__version__", "bench", "load", "run", "summarize"]
