"""Per-node profiles are the median of several profiled runs after a warm-up run, for every
backend, and the page says how many. Expected medians from numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from runtime.engine import profile_model
from runtime.profiling import PROFILE_RUNS, profile_median
from runtime.results import NodeTiming, median_timings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"


class _Noisy:
    """A runner whose profiled runs are noisy: one outlier per node, and a node only some runs see."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.times = {"conv": [100.0, 5000.0, 110.0, 90.0, 105.0], "linear": [20.0, 22.0, 9000.0, 21.0, 19.0]}

    def infer(self, feeds: Any) -> None:
        self.calls.append("infer")

    def profile(self, feeds: Any) -> list[NodeTiming]:
        index = sum(c == "profile" for c in self.calls)
        self.calls.append("profile")
        timings = [NodeTiming(node, "Op", times[index]) for node, times in self.times.items()]
        return timings + ([NodeTiming("rare", "Op", 50.0)] if index == 0 else [])


def test_profile_warms_up_then_takes_the_median_per_node() -> None:
    runner = _Noisy()
    timings = profile_median(runner, {})  # type: ignore[arg-type]
    assert runner.calls == ["infer"] + ["profile"] * PROFILE_RUNS
    got = {t.node: t.duration_us for t in timings}
    for node, times in runner.times.items():
        assert got[node] == float(np.median(times))
    assert got["rare"] == float(np.median([50.0] + [0.0] * (PROFILE_RUNS - 1)))
    assert {t.runs for t in timings} == {PROFILE_RUNS}


def test_median_timings_sums_a_node_within_a_run() -> None:
    runs = [[NodeTiming("a", "Add", 1.0), NodeTiming("a", "Add", 2.0)], [NodeTiming("a", "Add", 5.0)]]
    assert median_timings(runs) == [NodeTiming("a", "Add", float(np.median([3.0, 5.0])), 2)]


@pytest.mark.parametrize("sample", ["cnn_branches.onnx", "cnn_dynamic_batch.pt2", "cnn_traced.torchscript"])
def test_every_backend_profiles_several_runs(sample: str) -> None:
    spec = SAMPLES / sample.replace(Path(sample).suffix, ".inputs.yaml")
    timings = profile_model(SAMPLES / sample, spec=spec if spec.exists() else None)
    assert timings and {t.runs for t in timings} == {PROFILE_RUNS}


def _path_script(model: str) -> None:
    from viewer import app_state, run_page

    app_state.init_session_state(model)
    run_page.run_page()


def test_the_page_says_how_many_runs_the_profile_is_the_median_of() -> None:
    app = AppTest.from_function(
        _path_script, default_timeout=180, args=(str(SAMPLES / "cnn_branches.onnx"),)
    ).run()
    app.button(key="profile_button").click().run()
    assert not app.exception
    text = "\n".join(str(m.value) for m in app.markdown)
    assert f"median of {PROFILE_RUNS} profiled runs after a warm-up run" in text
