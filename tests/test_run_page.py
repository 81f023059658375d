"""AppTest for the Run page: every sample prefilled and run without typing, outputs equal to a bare
onnxruntime run, per-input validation messages, the failing node selected and shown on the Graph
page, node times, and the benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from converters import load_model
from viewer import app_state

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180


def _pages_script(cli_model: str | None = None) -> None:
    """The Run page, or the Graph page when the test sets ``_page`` (one session for both);
    ``cli_model`` opens a file as ``modellens FILE`` does."""
    import streamlit as st

    from viewer import app_state, pages, run_page

    app_state.init_session_state(cli_model)
    if st.session_state.get("_page") == "graph":
        pages.graph_page()
    else:
        run_page.run_page()


def _run_page(sample: str) -> AppTest:
    app = AppTest.from_function(_pages_script, default_timeout=TIMEOUT)
    app.query_params["model"] = f"sample:{sample}"
    return app.run()


def _run_file(path: Path) -> AppTest:
    return AppTest.from_function(_pages_script, default_timeout=TIMEOUT, args=(str(path),)).run()


def _frame(app: AppTest, column: str) -> Any:
    """The first dataframe on the page with ``column`` (AppTest does not expose their keys)."""
    return next(d.value for d in app.dataframe if column in d.value.columns)


def _texts(app: AppTest) -> str:
    parts = [*app.markdown, *app.caption, *app.error, *app.success]
    return "\n".join(str(e.value) for e in parts).replace("\\", "")


@pytest.mark.parametrize("sample", app_state.sample_names())
def test_every_sample_runs_without_typing(sample: str) -> None:
    app = _run_page(sample)
    assert not app.exception
    assert not app.error, [e.value for e in app.error]
    app.button(key="run_button").click().run()
    assert not app.exception
    assert not app.error, [e.value for e in app.error]
    result = app.session_state.run_result["result"]
    assert result.outputs and result.arrays
    assert "Ran on **cpu**" in app.success[0].value
    stats = _frame(app, "NaN")
    assert list(stats["output"]) == [o.name for o in result.outputs]


def test_torchscript_sample_uses_its_spec_file() -> None:
    app = _run_page("cnn_traced.torchscript")
    assert "inputs from cnn_traced.inputs.yaml" in _texts(app)
    assert app.text_input(key="run1_0_shape").value == "1, 3, 32, 32"


def test_outputs_equal_a_bare_onnxruntime_run() -> None:
    import onnxruntime as ort

    from runtime.data import generate_inputs
    from runtime.results import output_stats

    app = _run_page("transformer_block.onnx")
    assert app.number_input(key="run1_dim_batch").value == 1
    assert "0–999: vocabulary size of node_embedding" in _texts(app)
    app.number_input(key="run1_dim_batch").set_value(3).run()
    app.button(key="run_button").click().run()
    assert not app.exception
    record = app.session_state.run_result
    specs = app.session_state.run_base["specs"].with_dim("batch", 3)
    feeds = generate_inputs(specs, seed=0)
    assert feeds["input_ids"].shape == feeds["attention_mask"].shape == (3, 16)
    session = ort.InferenceSession(str(ROOT / "sample_models" / "transformer_block.onnx"))
    names = [o.name for o in session.get_outputs()]
    bare = dict(zip(names, session.run(None, feeds), strict=True))
    shown = _frame(app, "NaN")
    for name, array in bare.items():
        assert np.array_equal(record["result"].arrays[name], array)
        row = shown[shown["output"] == name].iloc[0]
        expected = output_stats(name, array)
        assert row["shape"] == "×".join(str(d) for d in array.shape)
        assert (row["min"], row["max"], row["mean"], row["std"]) == (
            expected.min,
            expected.max,
            expected.mean,
            expected.std,
        )


def test_second_run_reuses_the_loaded_worker() -> None:
    app = _run_page("cnn_branches.onnx")
    pool = app.session_state.run_base  # the page loaded the model when it opened
    assert pool["info"]["load_ms"] > 0
    app.button(key="run_button").click().run()
    app.button(key="run_button").click().run()
    assert len(app.session_state.run_result["walls"]) == 2
    assert "first run" in app.success[0].value


@pytest.mark.parametrize(
    ("shape", "needle"),
    [
        ("1, 3, 32", "image: expected rank 4 (batch, 3, 32, 32), got 3 (1x3x32)"),
        ("1, 4, 32, 32", "image: dim 1 must be 3, got 4"),
        ("1, 3, 32, height", "unknown dim name 'height'"),
        ("1, 3, 0, 32", "image: dim 2 is 0"),
    ],
)
def test_bad_spec_is_one_line_next_to_its_input(shape: str, needle: str) -> None:
    app = _run_page("cnn_branches.onnx")
    app.text_input(key="run1_0_shape").set_value(shape).run()
    assert not app.exception
    assert len(app.error) == 1 and needle in app.error[0].value.replace("\\", "")
    assert app.button(key="run_button").disabled


def test_shared_dim_disagreement_is_reported() -> None:
    app = _run_page("transformer_block.onnx")
    app.text_input(key="run1_1_shape").set_value("batch, 8").run()
    assert "seq is 16 in input_ids but 8 in attention_mask" in _texts(app)
    assert app.button(key="run_button").disabled


def test_token_ids_past_the_vocabulary_are_refused_before_running() -> None:
    app = _run_page("transformer_block.onnx")
    app.number_input(key="run1_0_high").set_value(5000).run()  # past the 1000-row embedding
    assert not app.exception
    assert app.button(key="run_button").disabled
    errors = [str(e.value) for e in app.error]
    assert errors == [
        "input_ids: max 5000 is outside 0–999, the vocabulary size of node_embedding (1000 rows) "
        "— set max to 999 or below"
    ]


def test_failing_node_is_selected_and_shown_on_the_graph(tmp_path: Path) -> None:
    from tests.runtime_models import build_reshape_onnx

    app = _run_file(build_reshape_onnx(tmp_path))
    app.number_input(key="run1_dim_batch").set_value(2).run()  # 2x4 cannot become 2x2
    app.button(key="run_button").click().run()
    assert not app.exception
    assert app.session_state.selection == {"kind": "node", "id": "bad_reshape"}
    text = _texts(app)
    assert "onnxruntime failed at node bad_reshape (Reshape) with inputs [2x4, 2]: " in text
    assert len(app.error) == 1  # one box names the node and carries the framework's message
    assert "failed with" not in text
    app.session_state["_page"] = "graph"
    app.run()
    assert not app.exception
    assert app.toggle(key="overlay_shapes").value is True
    assert any("The run fails here" in e.value for e in app.error)


def test_torchscript_failing_node_is_named() -> None:
    app = _run_page("cnn_traced.torchscript")
    app.text_input(key="run1_0_shape").set_value("1, 4, 32, 32").run()
    app.button(key="run_button").click().run()
    assert not app.exception
    assert app.session_state.selection == {"kind": "node", "id": "stem/_convolution"}
    assert "expected input[1, 4, 32, 32] to have 3 channels" in _texts(app)


def test_run_shapes_overlay_the_graph_canvas() -> None:
    app = _run_page("cnn_branches.onnx")
    app.number_input(key="run1_dim_batch").set_value(4).run()
    app.button(key="run_button").click().run()
    overlay = app.session_state.run_overlay
    assert overlay["nodes"]["node_conv2d"] == [[4, 8, 32, 32]] or overlay["nodes"]["node_conv2d"][0][0] == 4
    app.session_state["_page"] = "graph"
    app.session_state.selection = {"kind": "node", "id": "node_conv2d"}
    app.run()
    assert not app.exception
    assert "Spec shapes** (last run) 0: 4×" in _texts(app)


def test_profile_lists_slowest_nodes_and_heats_the_graph() -> None:
    app = _run_page("cnn_branches.onnx")
    app.button(key="profile_button").click().run()
    assert not app.exception
    frame = _frame(app, "on graph")
    assert len(frame) > 0 and frame["on graph"].all()
    heat = app.session_state.run_overlay["heat"]
    assert max(heat.values()) == 1.0 and set(heat) <= set(frame["node"]) | set(heat)


@pytest.mark.parametrize("sample", ["cnn_traced.torchscript", "cnn_dynamic_batch.pt2"])
def test_torch_node_times_heat_the_graph_nodes(sample: str) -> None:
    app = _run_page(sample)
    app.button(key="profile_button").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    frame = _frame(app, "on graph")
    assert len(frame) > 0 and frame["on graph"].all()
    graph = load_model(app_state.sample_models_dir() / sample)
    heat = app.session_state.run_overlay["heat"]
    assert heat and set(heat) <= set(graph) and max(heat.values()) == 1.0


def test_savedmodel_check_shapes_draws_every_node() -> None:
    pytest.importorskip("tensorflow")
    app = _run_page("savedmodel_cnn")
    app.button(key="shapes_button").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    overlay = app.session_state.run_overlay
    graph = load_model(app_state.sample_models_dir() / "savedmodel_cnn")
    ops = {n for n, d in graph.nodes(data=True) if d["kind"] == "op"}
    assert ops <= set(overlay["nodes"]) and overlay["failed"] is None


def test_benchmark_shows_latency_statistics() -> None:
    app = _run_page("cnn_branches.onnx")
    app.number_input(key="bench_iterations").set_value(15).run()
    app.number_input(key="bench_warmup").set_value(2).run()
    app.button(key="bench_button").click().run()
    assert not app.exception
    result = app.session_state.bench_result["result"]
    assert result.iterations == 15 and result.warmup == 2
    stats = _frame(app, "statistic")
    assert list(stats["statistic"]) == ["min", "mean", "p50", "p90", "p95", "p99", "max"]
    assert [m.label for m in app.metric] == ["p50", "p90", "p99", "Throughput", "Iterations"]
    assert "threads" in _texts(app)


def test_results_of_other_inputs_are_marked_stale(tmp_path: Path) -> None:
    from tests.runtime_models import build_reshape_onnx

    app = _run_file(build_reshape_onnx(tmp_path))
    app.number_input(key="run1_dim_batch").set_value(2).run()
    app.button(key="run_button").click().run()
    assert app.session_state.run_overlay["failed"] == "bad_reshape"
    app.number_input(key="run1_dim_batch").set_value(1).run()
    assert "The inputs changed since the last run" in app.info[0].value
    assert not app.error and "run_overlay" not in app.session_state
