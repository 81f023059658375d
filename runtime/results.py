"""What a run returns: output statistics, per-node timings and shapes, benchmark statistics.

Everything here is plain data (picklable, JSON-ready through ``to_json``) so the worker process can
send it back and the CLI, the Python API and the app read the same structures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PERCENTILES = (50, 90, 95, 99)
SLOWEST_NODES = 10


@dataclass(frozen=True)
class OutputStats:
    """One output: name (nested outputs flattened with dotted names), dtype (numpy name), shape,
    min/max/mean/std over finite values (None when there are none or the dtype is not numeric),
    NaN and Inf counts."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    nan_count: int = 0
    inf_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """The ``modellens run --json`` entry: name, dtype, shape, min, max, mean, std."""
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
        }


def output_stats(name: str, array: np.ndarray) -> OutputStats:
    """Statistics of one output array (computed in float64; NaN/Inf counted, then left out)."""
    import numpy as np

    shape = tuple(int(d) for d in array.shape)
    dtype_name = str(array.dtype)
    if array.dtype.kind == "V" and array.dtype.name.startswith(("bfloat16", "float8")):  # ml_dtypes
        array = array.astype(np.float32)
    if array.dtype.kind not in "biufc" or array.size == 0:
        return OutputStats(name, dtype_name, shape, None, None, None, None)
    values = np.asarray(array.real if array.dtype.kind == "c" else array, dtype=np.float64)
    nan = int(np.isnan(values).sum())
    inf = int(np.isinf(values).sum())
    finite = values[np.isfinite(values)] if nan or inf else values
    if finite.size == 0:
        return OutputStats(name, dtype_name, shape, None, None, None, None, nan, inf)
    return OutputStats(
        name,
        dtype_name,
        shape,
        float(finite.min()),
        float(finite.max()),
        float(finite.mean()),
        float(finite.std()),
        nan,
        inf,
    )


@dataclass(frozen=True)
class NodeTiming:
    """Time spent in one node (microseconds, summed within a profiled run); ``runs``: how many
    profiled runs it is the median of (see ``median_timings``)."""

    node: str
    op_type: str
    duration_us: float
    runs: int = 1


def median_timings(runs: Sequence[Sequence[NodeTiming]]) -> list[NodeTiming]:
    """Per (node, op type), the median of its time over ``runs`` (a node missing from a run counts
    0 µs there), in the order nodes first appear; each carries ``runs=len(runs)``."""
    import statistics

    order: dict[tuple[str, str], list[float]] = {}
    for index, timings in enumerate(runs):
        for timing in timings:
            times = order.setdefault((timing.node, timing.op_type), [0.0] * len(runs))
            times[index] += timing.duration_us
    return [
        NodeTiming(node, op_type, float(statistics.median(times)), len(runs))
        for (node, op_type), times in order.items()
    ]


@dataclass
class RunResult:
    """One inference: device asked for, provider that actually ran (e.g. the first of
    ``session.get_providers()``, or ``torch cpu``), latency of the call in milliseconds, output
    statistics in model order, and the arrays when they were asked for."""

    device: str
    provider: str
    latency_ms: float
    outputs: list[OutputStats]
    arrays: dict[str, np.ndarray] | None = None
    providers: list[str] = field(default_factory=list)
    load_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"device", "provider", "outputs": [...], "latency_ms"}`` (the CLI's JSON)."""
        return {
            "device": self.device,
            "provider": self.provider,
            "outputs": [o.to_json() for o in self.outputs],
            "latency_ms": self.latency_ms,
        }


def slowest(timings: Iterable[NodeTiming], count: int = SLOWEST_NODES) -> list[NodeTiming]:
    return sorted(timings, key=lambda t: t.duration_us, reverse=True)[:count]


@dataclass
class BenchResult:
    """Latencies (ms) of ``iterations`` timed runs after ``warmup`` untimed ones."""

    device: str
    provider: str
    threads: int
    warmup: int
    latencies_ms: list[float]

    @property
    def iterations(self) -> int:
        return len(self.latencies_ms)

    def stats(self) -> dict[str, float]:
        """min, mean, p50, p90, p95, p99, max in milliseconds."""
        return latency_stats(self.latencies_ms)

    @property
    def throughput_per_s(self) -> float:
        total = sum(self.latencies_ms)
        return self.iterations / (total / 1000.0) if total > 0 else math.inf

    def to_json(self) -> dict[str, Any]:
        """``{"device", "iterations", "latency_ms": {...}, "throughput_per_s"}`` (the CLI's JSON)."""
        return {
            "device": self.device,
            "iterations": self.iterations,
            "latency_ms": self.stats(),
            "throughput_per_s": self.throughput_per_s,
        }


def latency_stats(latencies_ms: Sequence[float]) -> dict[str, float]:
    """min, mean, p50, p90, p95, p99, max (linear-interpolated percentiles, numpy's default)."""
    import numpy as np

    if not latencies_ms:
        raise ValueError("no latencies")
    values = np.asarray(latencies_ms, dtype=np.float64)
    stats = {"min": float(values.min()), "mean": float(values.mean())}
    for p in PERCENTILES:
        stats[f"p{p}"] = float(np.percentile(values, p))
    stats["max"] = float(values.max())
    return stats


@dataclass
class FailedNode:
    """Where a run or shape propagation failed: graph node id, op type, input shapes, message."""

    node: str
    op_type: str
    input_shapes: list[list[int | str | None] | None]
    message: str
    source: str = ""  # "file.py:LINE" where the format records source locations (TorchScript)
    # (a size the inputs have, the most a constant upstream allows), e.g. (600, 128): see shapes.bound_hint
    bound: tuple[int, int] | None = None

    def inputs_text(self) -> str:
        """`` with inputs [2x4, 2]``; empty when the node has no tensor inputs."""
        if not self.input_shapes:
            return ""
        shapes = ", ".join(
            "?" if s is None else "x".join("?" if d is None else str(d) for d in s) or "scalar"
            for s in self.input_shapes
        )
        return f" with inputs [{shapes}]"

    def one_line(self) -> str:
        """``node N (Op) failed with inputs [2x4, 2]: message``."""
        return f"node {self.node} ({self.op_type}) failed{self.inputs_text()}: {self.message}"

    def where(self, message: str | None = None) -> str:
        """``node N (Op) with inputs [2x4, 2]: message`` (this node's message, or ``message``),
        to follow "Fails at"."""
        text = self.message if message is None else message
        return f"node {self.node} ({self.op_type}){self.inputs_text()}: {text}"


@dataclass
class ShapesResult:
    """Per node id, its output shapes for a spec; ``failed`` names the node where it broke
    (shapes are then known up to it); ``method`` says how the shapes were found."""

    nodes: dict[str, list[list[int | str | None] | None]]
    method: str
    failed: FailedNode | None = None
    dtypes: dict[str, list[str | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "nodes": self.nodes,
            "failed": None
            if self.failed is None
            else {
                "node": self.failed.node,
                "op_type": self.failed.op_type,
                "input_shapes": self.failed.input_shapes,
                "message": self.failed.message,
                "source": self.failed.source,
            },
        }
