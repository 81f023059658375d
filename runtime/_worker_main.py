"""The worker process: ``python -m runtime._worker_main FD`` (started by runtime.worker.Worker).

Requests arrive on the connection as tuples; every answer is ``("ok", value)``, ``("error",
class name, message, fix[, details])`` for a ModelLensError, or ``("bug", text)`` for anything else.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import traceback
import types
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any


def _light_converters_package() -> None:
    """Make ``converters`` importable without running its ``__init__`` (which loads networkx and
    every format module): the worker needs only ``converters.errors`` to start, and a cold start
    is on the critical path of every one-shot ``modellens run``. Submodules still import normally."""
    if "converters" in sys.modules:
        return
    spec = importlib.util.find_spec("converters")
    if spec is None or spec.submodule_search_locations is None:
        return
    package = types.ModuleType("converters")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["converters"] = package


_light_converters_package()

from converters.errors import ModelLensError  # noqa: E402
from runtime.data import generate_inputs  # noqa: E402
from runtime.fixes import failure_fix  # noqa: E402
from runtime.results import BenchResult, RunResult, ShapesResult, output_stats  # noqa: E402
from runtime.runners import Runner, make_runner  # noqa: E402
from runtime.specs import InputSpecs  # noqa: E402

# the framework each runner format runs on, as run failures name it ("torch failed: ...")
FRAMEWORKS = {
    "onnx": "onnxruntime",
    "torchscript": "torch",
    "exported_program": "torch",
    "savedmodel": "tensorflow",
}


class Session:
    """The loaded runner and the inputs of the last request (generated once per spec and seed)."""

    def __init__(self) -> None:
        self.runner: Runner | None = None
        self._feeds_key: Any = None
        self._feeds: dict[str, Any] = {}

    def load(self, path: str, fmt: str, device: str, signature: str | None, threads: int) -> dict[str, Any]:
        self.runner = make_runner(path, device, signature, threads, fmt)
        return {
            "format": self.runner.format,
            "inputs": self.runner.inputs,
            "output_names": self.runner.output_names,
            "provider": self.runner.provider,
            "providers": self.runner.providers,
            "load_ms": self.runner.load_ms,
            "threads": self.runner.threads or os.cpu_count() or 1,
        }

    def feeds(self, specs: InputSpecs, provided: Mapping[str, Any], seed: int) -> dict[str, Any]:
        key = (specs, tuple(sorted((k, id(v)) for k, v in provided.items())), seed)
        if key != self._feeds_key or provided:
            self._feeds = generate_inputs(specs, seed, provided)
            self._feeds_key = key
        return self._feeds

    @property
    def loaded(self) -> Runner:
        assert self.runner is not None, "load first"
        return self.runner

    def run(self, specs: InputSpecs, provided: Mapping[str, Any], seed: int, want_arrays: bool) -> RunResult:
        runner = self.loaded
        outputs, latency = runner.run(self.feeds(specs, provided, seed))
        return RunResult(
            device=runner.device,
            provider=runner.provider,
            latency_ms=latency,
            outputs=[output_stats(name, array) for name, array in outputs],
            arrays=dict(outputs) if want_arrays else None,
            providers=runner.providers,
            load_ms=runner.load_ms,
        )

    def bench(
        self,
        specs: InputSpecs,
        provided: Mapping[str, Any],
        seed: int,
        iterations: int,
        warmup: int,
        budget_s: float,
    ) -> BenchResult:
        runner = self.loaded
        feeds = self.feeds(specs, provided, seed)
        runner.check(feeds)
        for _ in range(warmup):
            runner.infer(feeds)
        latencies: list[float] = []
        clock = time.perf_counter
        deadline = clock() + budget_s if budget_s > 0 else None
        while len(latencies) < iterations or (
            deadline is not None and clock() < deadline and iterations <= 0
        ):
            start = clock()
            runner.infer(feeds)
            latencies.append((clock() - start) * 1000.0)
            if deadline is not None and clock() >= deadline:
                break
        threads = runner.threads or os.cpu_count() or 1
        return BenchResult(runner.device, runner.provider, threads, warmup, latencies)

    def profile(self, specs: InputSpecs, provided: Mapping[str, Any], seed: int) -> Any:
        from converters.errors import ModelLensError, ModelRunError
        from runtime.runners import first_line
        from runtime.torch_runners import torch_message

        runner = self.loaded
        feeds = self.feeds(specs, provided, seed)
        runner.check(feeds)
        try:
            from runtime.profiling import profile_median

            return profile_median(runner, feeds)
        except ModelLensError:
            raise
        except Exception as err:  # the model fails for these inputs: a user error, as in ``run``
            framework = FRAMEWORKS.get(runner.format, runner.format)
            text = torch_message(err) if framework == "torch" else first_line(err)
            raise ModelRunError(
                f"{framework} failed: {text}",
                failure_fix(str(err)),
            ) from err

    def shapes(self, specs: InputSpecs, provided: Mapping[str, Any], seed: int) -> ShapesResult:
        from runtime.shapes import propagate

        return propagate(self.loaded, self.feeds(specs, provided, seed))


def fault(kind: str) -> None:
    """Test hook: make this worker crash or exit the way a broken model or runtime would."""
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)
    elif kind == "exit":
        os._exit(3)


def serve(conn: Connection) -> None:
    session = Session()
    handlers: dict[str, Callable[..., Any]] = {
        "load": session.load,
        "run": session.run,
        "bench": session.bench,
        "profile": session.profile,
        "shapes": session.shapes,
        "fault": fault,
    }
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        command, *args = message
        if command == "exit":
            return
        try:
            reply: tuple[Any, ...] = ("ok", handlers[command](*args))
        except ModelLensError as err:
            reply = ("error", type(err).__name__, err.message, err.fix, getattr(err, "details", None))
        except MemoryError:
            reply = ("error", "ModelRunError", "the model ran out of memory", "use smaller inputs")
        except Exception:  # noqa: BLE001 - reported to the caller as our bug, with the traceback
            reply = ("bug", traceback.format_exc(limit=8))
        try:
            conn.send(reply)
        except (OSError, ValueError) as err:  # e.g. an output too large to pickle
            conn.send(("bug", f"cannot send the answer back: {err}"))


def main() -> None:
    conn = Connection(int(sys.argv[1]))
    serve(conn)


if __name__ == "__main__":
    main()
