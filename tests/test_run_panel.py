"""The Run page's pure helpers (viewer.run_panel) and the run overlay in the canvas payload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converters import load_model
from converters.errors import InputSpecError
from runtime.results import FailedNode, NodeTiming, ShapesResult
from runtime.spec_file import sidecar_spec
from runtime.specs import InputSpec, InputSpecs, ModelInput
from viewer import run_panel
from viewer.canvas_payload import build_payload

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"


@pytest.mark.parametrize(
    ("text", "shape", "names"),
    [
        ("batch, 3, 32, 32", (2, 3, 32, 32), ("batch", None, None, None)),
        ("1x3x32x32", (1, 3, 32, 32), ()),
        ("2 × seq", (2, 7), (None, "seq")),
        ("scalar", (), ()),
    ],
)
def test_shape_text_parses_numbers_and_named_dims(text: str, shape: tuple, names: tuple) -> None:
    assert run_panel.parse_shape_text(text, {"batch": 2, "seq": 7}, "x") == (shape, names)


@pytest.mark.parametrize(
    ("text", "needle"), [("1, h", "unknown dim name 'h'"), ("1, 3.5", "'3.5' is not a dim")]
)
def test_bad_shape_text_names_the_token(text: str, needle: str) -> None:
    with pytest.raises(InputSpecError, match=needle):
        run_panel.parse_shape_text(text, {"batch": 1}, "x")


def test_shape_text_round_trips_a_spec() -> None:
    spec = InputSpec("x", "float32", (4, 3, 8), ("batch", None, "seq"))
    assert run_panel.shape_text(spec) == "batch, 3, seq"
    assert run_panel.parse_shape_text("batch, 3, seq", {"batch": 4, "seq": 8}, "x") == (
        spec.shape,
        spec.dim_names,
    )


def test_row_errors_are_per_input_then_across_inputs() -> None:
    model = [ModelInput("a", "int64", ("batch", "seq")), ModelInput("b", "int64", ("batch", "seq"))]
    good = InputSpec("a", "int64", (1, 8), ("batch", "seq"))
    errors, overall = run_panel.row_errors(InputSpecs((good, InputSpec("b", "float32", (1, 8)))), model)
    assert errors == {
        "b": "b: dtype float32, but the model takes int64 — set the dtype to int64 (si64 in a spec file)"
    }
    errors, overall = run_panel.row_errors(InputSpecs((good, InputSpec("b", "int64", (1, 4)))), model)
    assert errors == {} and overall.startswith("seq is 8 in a but 4 in b")


def test_data_sources_from_fields() -> None:
    assert (
        run_panel.data_source("uniform", {"low": 0, "high": 9}, "vocab").describe() == "uniform 0–9 (vocab)"
    )
    assert run_panel.data_source("ones", {}).value == 1
    assert run_panel.data_source("values", {"json": "[[1, 2]]"}).values == [[1, 2]]
    with pytest.raises(InputSpecError, match="JSON values"):
        run_panel.data_source("values", {"json": "[1,"})


def test_preview_kinds_follow_the_shape() -> None:
    assert run_panel.preview_kinds((1, 10), "float32") == ["topk", "table"]
    assert run_panel.preview_kinds((64, 64), "float32") == ["heatmap", "table"]
    assert run_panel.preview_kinds((1, 3, 32, 32), "float32") == ["image", "table"]
    assert run_panel.preview_kinds((), "float32") == ["table"]


def test_top_k_with_labels() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]], dtype=np.float32)
    frame = run_panel.top_k(scores, 2, run_panel.parse_labels(b"cat\ndog\nbird\n"))
    assert frame[frame["batch"] == 0]["label"].tolist() == ["dog", "bird"]
    assert frame[frame["batch"] == 1]["class"].tolist() == [0, 2]
    assert run_panel.parse_labels(b'{"0": "a", "2": "c"}') == ["a", "", "c"]


def test_output_image_is_uint8_hwc() -> None:
    image = run_panel.output_image(np.random.default_rng(0).normal(size=(1, 3, 16, 12)).astype(np.float32))
    assert image.shape == (16, 12, 3) and image.dtype == np.uint8 and image.max() == 255


def test_uploaded_npz_loads_without_pickle() -> None:
    data = run_panel.npz_bytes({"x": np.arange(4.0)})
    assert run_panel.load_uploaded_arrays("in.npz", data)["x"].tolist() == [0, 1, 2, 3]
    with pytest.raises(InputSpecError, match=r"not a \.npy/\.npz"):
        run_panel.load_uploaded_arrays("in.npy", b"not numpy")


def test_overlay_maps_runtime_names_to_graph_nodes_and_draws_on_edges() -> None:
    graph = load_model(SAMPLES / "cnn_branches.onnx")
    result = ShapesResult(
        nodes={"node_conv2d": [[5, 8, 32, 32]], "image": [[5, 3, 32, 32]]},
        method="test",
        failed=FailedNode("node_conv2d", "Conv", [[5, 3, 32, 32]], "boom"),
    )
    overlay = run_panel.shape_overlay(graph, result)
    assert overlay["failed"] == "node_conv2d" and "input:image" in overlay["nodes"]
    heat = run_panel.heat_map(
        graph, [NodeTiming("node_conv2d", "Conv", 30.0), NodeTiming("node_Conv_42", "Conv", 15.0)]
    )
    assert heat == {"node_conv2d": 1.0, "node_Conv_42": 0.5}
    plain = build_payload(graph)
    payload = build_payload(graph, overlay=overlay["nodes"], heat=heat)
    ids = [n["id"] for n in payload["nodes"]]
    conv = ids.index("node_conv2d")
    shapes = {e[3] for e in payload["edges"] if e[0] == conv}
    assert shapes == {"5×8×32×32"}
    assert {e[3] for e in plain["edges"] if e[0] == conv} != shapes  # the file's own shapes stay
    assert payload["nodes"][conv]["heat"] == 1.0 and "heat" not in plain["nodes"][conv]
    assert "heat" not in graph.nodes["node_conv2d"]


def test_sidecar_spec_next_to_samples() -> None:
    assert sidecar_spec(SAMPLES / "cnn_traced.torchscript") == SAMPLES / "cnn_traced.inputs.yaml"
    assert sidecar_spec(SAMPLES / "savedmodel_cnn") == SAMPLES / "savedmodel_cnn.inputs.yaml"
    assert sidecar_spec(SAMPLES / "cnn_branches.onnx") is None
