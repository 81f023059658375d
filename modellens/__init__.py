"""ModelLens: view, inspect and run machine-learning models in the browser.

Python API::

    import modellens
    graph = modellens.load("model.onnx")      # a ModelGraph (networkx.MultiDiGraph)
    info = modellens.summarize(graph)         # the `modellens info --json` dict
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converters import ModelGraph, load_model
from viewer.summary import model_summary


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
    return load_model(path, settings)


def summarize(graph: ModelGraph) -> dict[str, Any]:
    """The model summary: see ``viewer.summary.model_summary``."""
    return model_summary(graph)


__all__ = ["__version__", "load", "summarize"]
