"""Per-node profiles that do not hinge on one noisy run: a warm-up run, then the median per node
of several profiled runs (runs inside the worker, for every backend's ``Runner.profile``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runtime.results import NodeTiming, median_timings

if TYPE_CHECKING:
    from runtime.runners import Runner

PROFILE_RUNS = 5  # profiled runs per request, after one warm-up run; the median per node is kept
PROFILE_BUDGET_S = 10.0  # no further profiled run starts after this long (at least one runs)


def profile_median(runner: Runner, feeds: Mapping[str, Any]) -> list[NodeTiming]:
    """Per-node times: one warm-up inference (first-run allocations, lazy initialisation), then
    up to ``PROFILE_RUNS`` profiled runs within ``PROFILE_BUDGET_S``; the median per node, each
    timing saying how many runs it is the median of."""
    runner.infer(feeds)
    runs: list[list[NodeTiming]] = []
    start = time.perf_counter()
    while len(runs) < PROFILE_RUNS and (not runs or time.perf_counter() - start < PROFILE_BUDGET_S):
        runs.append(runner.profile(feeds))
    return median_timings(runs) if any(runs) else []
