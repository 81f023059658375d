"""AppTest for the Run page findings of a new user's test (issue 7): one timeout per action with a
Timeout field, validation before running (values, JSON sizes, .npz keys, spec names), fix texts that
name the page's own controls, dims kept from the model, .pt2 dims labelled by role, previews."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

TIMEOUT = 180


def _path_script(model: str) -> None:
    """The Run page for a model given on the command line (``modellens MODEL``)."""
    from viewer import app_state, run_page

    app_state.init_session_state(model)
    run_page.run_page()


def _open(path: Path) -> AppTest:
    app = AppTest.from_function(_path_script, default_timeout=TIMEOUT, args=(str(path),))
    return app.run()


def _sample(name: str) -> AppTest:
    from viewer import app_state

    return _open(app_state.sample_models_dir() / name)


def _texts(app: AppTest) -> str:
    parts = [*app.markdown, *app.caption, *app.error, *app.success, *app.warning, *app.info]
    return "\n".join(str(e.value) for e in parts).replace("\\", "")


def _errors(app: AppTest) -> list[str]:
    return [str(e.value).replace("\\", "") for e in app.error]


def test_a_timed_out_run_is_not_run_again_for_shapes(tmp_path: Path, monkeypatch: Any) -> None:
    from runtime import engine
    from tests.runtime_models import build_endless_loop
    from viewer import run_page

    calls: list[str] = []
    real = engine.model_shapes
    monkeypatch.setattr(run_page, "model_shapes", lambda *a, **k: calls.append("shapes") or real(*a, **k))
    app = _open(build_endless_loop(tmp_path))
    app.number_input(key="run_timeout").set_value(2.0).run()
    app.button(key="run_button").click().run()
    assert not app.exception
    assert calls == []  # one timeout per click: the model is not run a second time for shapes
    errors = _errors(app)
    assert len(errors) == 1, errors
    assert "did not finish running within 2 s" in errors[0]
    assert "raise the timeout (Timeout (s) in the run settings, now 2 s)" in errors[0]
    assert "--" not in errors[0]
    assert "The last run failed: the message is below the inputs." in _texts(app)


def test_the_timeout_field_reaches_every_engine_call(monkeypatch: Any) -> None:
    from viewer import run_page

    seen: dict[str, Any] = {}

    def fake(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen[name] = kwargs.get("timeout_s")
            raise run_page.ModelLensError("stop here")

        return call

    for name in ("run_model", "model_shapes", "profile_model", "bench_model"):
        monkeypatch.setattr(run_page, name, fake(name))
    app = _sample("cnn_branches.onnx")
    app.number_input(key="run_timeout").set_value(7.0).run()
    for button in ("run_button", "shapes_button", "profile_button", "bench_button"):
        app.button(key=button).click().run()
    assert seen == {"run_model": 7.0, "model_shapes": 7.0, "profile_model": 7.0, "bench_model": 7.0}


def test_cli_and_api_name_their_own_timeout_control(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import modellens
    from converters.errors import ModelRunError
    from tests.runtime_models import build_endless_loop

    path = build_endless_loop(tmp_path)
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "modellens", "run", str(path), "--timeout", "2"],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
    )
    assert done.returncode == 2
    assert "did not finish running within 2 s" in done.stderr
    assert "raise the timeout (--timeout, now 2 s)" in done.stderr
    with pytest.raises(ModelRunError, match=r"raise the timeout \(timeout_s=\)"):
        modellens.run(path, timeout_s=2)


@pytest.mark.parametrize(
    ("data", "inputs", "needle"),
    [
        ({"random": {"uniform": {"min": 0, "max": 5000}}}, None, "input_ids: max 5000 is outside 0–999"),
        ({"constant": 1000}, None, "input_ids: the constant 1000 is outside 0–999"),
        (None, "array", "input_ids: the array's largest value 1200 is outside 0–999"),
    ],
)
def test_engine_refuses_ids_past_the_vocabulary(data: Any, inputs: Any, needle: str) -> None:
    """The same check for the CLI and the Python API, for generated and given values."""
    import numpy as np

    from converters.errors import InputSpecError
    from runtime.engine import run_model
    from viewer import app_state

    path = app_state.sample_models_dir() / "transformer_block.onnx"
    entry: dict[str, Any] = {"input_name": "input_ids", "shape": "1x16xsi64"}
    if data is not None:
        entry["data"] = data
    spec = {"inputs": [entry, {"input_name": "attention_mask", "shape": "1x16xsi64"}]}
    given = {"input_ids": np.full((1, 16), 1200, np.int64)} if inputs else None
    if given:
        spec["inputs"] = spec["inputs"][1:]
    with pytest.raises(InputSpecError) as caught:
        run_model(path, given, spec)
    assert needle in caught.value.message
    assert "vocabulary size of node_embedding (1000 rows)" in caught.value.message
    ok = run_model(path, {"input_ids": np.full((1, 16), 999, np.int64)}, {"inputs": spec["inputs"][-1:]})
    assert ok.outputs


def _framework_errors() -> list[tuple[str, str]]:
    """(what failed, the framework's own message) for values, memory and shape failures."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    found: list[tuple[str, str]] = []
    attempts = [
        ("values", lambda: torch.nn.functional.embedding(torch.tensor([5]), torch.zeros(3, 2))),
        ("memory", lambda: torch.empty(200000, 200000)),
        ("shapes", lambda: torch.zeros(2, 3) @ torch.zeros(4, 5)),
    ]
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["y"])],
        "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((3, 2), np.float32), "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString())
    attempts.append(("values", lambda: session.run(None, {"ids": np.array([0, 7], np.int64)})))
    for kind, attempt in attempts:
        try:
            attempt()
        except Exception as err:  # noqa: BLE001 - any framework error is the sample
            found.append((kind, str(err)))
    return found


def test_a_failing_model_gets_the_fix_of_its_kind() -> None:
    from runtime.fixes import MEMORY_FIX, SHAPES_FIX, VALUES_FIX, failure_fix

    fixes = {"values": VALUES_FIX, "memory": MEMORY_FIX, "shapes": SHAPES_FIX}
    errors = _framework_errors()
    assert [kind for kind, _ in errors] == ["values", "memory", "shapes", "values"]
    for kind, message in errors:
        assert failure_fix(message) == fixes[kind], message
        assert "modellens" not in failure_fix(message) and "--" not in failure_fix(message)


def _npz(**arrays: Any) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_typed_json_values_of_the_wrong_size_are_caught_while_typing() -> None:
    app = _sample("cnn_branches.onnx")
    app.selectbox(key="run1_0_source").set_value("values").run()
    app.text_area(key="run1_0_json").set_value("[1, 2, 3]").run()
    assert not app.exception
    assert _errors(app) == [
        "image: typed values holds shape 3, the spec says 1x3x32x32 — make the shapes agree"
    ]
    assert app.button(key="run_button").disabled


def test_an_npz_without_the_input_name_is_not_used_silently() -> None:
    import numpy as np

    image = np.zeros((1, 3, 32, 32), np.float32)
    app = _sample("cnn_branches.onnx")
    app.selectbox(key="run1_0_source").set_value("file").run()
    app.file_uploader(key="run1_0_npy").upload("two.npz", _npz(foo=image, bar=image)).run()
    assert not app.exception
    assert _errors(app) == [
        "image: two.npz has no array named image (it holds foo, bar) — pick the array for image in the "
        "array box, or save it under the key image"
    ]
    assert app.button(key="run_button").disabled
    app.selectbox(key="run1_0_npz_key").set_value("bar").run()
    assert not _errors(app) and not app.button(key="run_button").disabled

    one = _sample("cnn_branches.onnx")
    one.selectbox(key="run1_0_source").set_value("file").run()
    one.file_uploader(key="run1_0_npy").upload("one.npz", _npz(pixels=image)).run()
    assert not _errors(one) and not one.button(key="run_button").disabled
    assert "image is not in one.npz: using its only array, pixels" in _texts(one)


def _upload_spec(app: AppTest, name: str, text: str) -> AppTest:
    return app.file_uploader(key="spec_upload").upload(name, text.encode(), "application/x-yaml").run()


UNKNOWN = """inputs:
  - input_name: input_idz
    shape: 1x8xsi64
    data: {constant: 1}
  - input_name: attention_mask
    shape: 1x8xsi64
    data: {constant: 1}
"""


def test_a_spec_entry_with_an_unknown_name_can_be_used_for_the_missing_input() -> None:
    app = _upload_spec(_sample("transformer_block.onnx"), "unknown.yaml", UNKNOWN)
    assert not app.exception
    assert _errors(app) == [
        "input_idz: the model has no input by this name (its inputs: input_ids, attention_mask) — "
        "input_ids has no row: pick input_ids in this row's input box"
    ]
    box = app.selectbox(key="run2_0_rename")
    assert box.options == ["input_idz (not an input: unused)", "input_ids"]
    box.set_value("input_ids").run()
    assert not app.exception and not _errors(app)
    assert not app.button(key="run_button").disabled


def test_engine_names_the_rename_for_an_unknown_entry() -> None:
    from converters.errors import InputSpecError
    from runtime.engine import run_model
    from viewer import app_state

    with pytest.raises(InputSpecError) as caught:
        run_model(app_state.sample_models_dir() / "transformer_block.onnx", spec=_spec_file(UNKNOWN))
    assert caught.value.message == (
        "the spec names input_idz, which the model does not take (its inputs: input_ids, attention_mask)"
    )
    assert caught.value.fix == "rename input_idz to input_ids, the input the spec now misses"


def _spec_file(text: str) -> Any:
    from runtime.spec_file import loads_spec

    return loads_spec(text, name="spec.yaml")


@pytest.mark.parametrize(
    ("name", "text", "kind", "needle"),
    [
        (
            "missing.yaml",
            "inputs:\n  - input_name: input_ids\n    shape: 1x8xsi64\n    data: {constant: 1}\n",
            "info",
            "missing.yaml has no entry for attention_mask: its row is the proposed one",
        ),
        ("malformed.yaml", "inputs:\n  - input_name: [\n", "error", "write it as `inputs:`"),
    ],
)
def test_spec_file_messages_name_no_cli_flag_or_source_file(
    name: str, text: str, kind: str, needle: str
) -> None:
    app = _upload_spec(_sample("transformer_block.onnx"), name, text)
    assert not app.exception
    shown = [str(e.value) for e in getattr(app, kind)]
    assert any(needle in line for line in shown), shown
    everything = _texts(app)
    for forbidden in ("--inputs", "--input-spec", "modellens shapes", "spec_file.py"):
        assert forbidden not in everything
    if kind == "info":
        assert not _errors(app) and not app.button(key="run_button").disabled


def test_a_max_yaml_without_dim_names_keeps_the_models_dimensions() -> None:
    text = (
        "inputs:\n  - input_name: input_ids\n    shape: 2x8xsi64\n    compile_shape: ?x8xsi64\n"
        "    data: {random: {uniform: {min: 0, max: 999}}}\n"
        "  - input_name: attention_mask\n    shape: 2x8xsi64\n    data: {constant: 1}\n"
    )
    app = _upload_spec(_sample("transformer_block.onnx"), "max.yaml", text)
    assert not app.exception and not _errors(app)
    assert app.number_input(key="run2_dim_batch").value == 2
    assert app.number_input(key="run2_dim_seq").value == 8
    assert app.text_input(key="run2_0_shape").value == "batch, seq"
    app.number_input(key="run2_dim_batch").set_value(3).run()
    app.button(key="run_button").click().run()
    assert not app.exception and not _errors(app)
    shapes = {o.name: o.shape for o in app.session_state.run_result["result"].outputs}
    assert shapes["last_hidden_state"][:2] == (3, 8)


def test_loaded_dims_that_disagree_stay_fixed() -> None:
    from runtime.specs import InputSpec, InputSpecs, ModelInput
    from viewer.run_panel import adopt_model_dims

    model = [ModelInput("a", "int64", ("batch", "seq")), ModelInput("b", "int64", ("batch", "seq"))]
    loaded = InputSpecs((InputSpec("a", "int64", (2, 8)), InputSpec("b", "int64", (2, 9))))
    adopted = adopt_model_dims(loaded, model)
    assert [s.dim_names for s in adopted] == [("batch", None), ("batch", None)]
    assert adopted.dims() == {"batch": 2}


def test_pt2_dims_are_labelled_by_role_and_range(tmp_path: Path) -> None:
    import torch

    from tests.runtime_models import ConvNet

    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(
        ConvNet().eval(), (torch.randn(2, 3, 16, 16),), dynamic_shapes={"x": {0: batch}}
    )
    path = tmp_path / "dyn.pt2"
    torch.export.save(program, str(path))
    loaded = torch.export.load(str(path))
    (symbol,) = [str(s) for s in loaded.range_constraints]  # the Dim's name is not kept: s77 or so
    constraint = next(iter(loaded.range_constraints.values()))
    low, high = int(constraint.lower), int(constraint.upper)
    app = _open(path)
    assert not app.exception
    (dim,) = [n for n in app.number_input if n.key.endswith(f"_dim_{symbol}")]
    assert dim.label == f"x dim 0 · {symbol}: dynamic, {low}–{high}"
    assert f"model: {symbol} ({low}–{high}) × 3 × 16 × 16" in _texts(app)
    dim.set_value(high + 36).run()
    assert _errors(app) == [
        f"x: dim 0 ({symbol}, dynamic) = {high + 36} is outside the model's range {low}..{high} — "
        f"pick x dim 0 between {low} and {high}"
    ]


@pytest.mark.parametrize(
    ("shape", "image"),
    [
        ((3, 16, 64), False),  # batch × seq × hidden: a hidden state, not a picture
        ((1, 3, 16, 64), True),  # NCHW, 1:4
        ((1, 3, 8, 64), False),  # 1:8 is a feature map, not a picture
        ((2, 32, 32, 3), True),  # NHWC
        ((1, 2, 32, 32), False),  # 2 channels
        ((1, 4, 4, 4), False),  # too small
    ],
)
def test_only_image_shaped_outputs_get_an_image_preview(shape: tuple[int, ...], image: bool) -> None:
    from viewer.run_panel import preview_kinds

    assert ("image" in preview_kinds(shape, "float32")) is image


def test_hidden_state_preview_opens_on_its_table() -> None:
    app = _sample("transformer_block.onnx")
    app.number_input(key="run1_dim_batch").set_value(3).run()
    app.button(key="run_button").click().run()
    assert not app.exception
    assert [t.label for t in app.tabs][:1] == ["Table"]  # last_hidden_state 3×16×64


def test_load_text_does_not_contradict_itself(monkeypatch: Any) -> None:
    from runtime.worker import WorkerPool
    from viewer import run_page

    pool = WorkerPool(max_workers=2, idle_timeout_s=60)
    monkeypatch.setattr(run_page, "worker_pool", lambda: pool)
    try:
        first = _sample("cnn_branches.onnx")  # this session waits for the load
        first.button(key="run_button").click().run()
        assert "loading the model took" in first.success[0].value
        second = _sample("cnn_branches.onnx")  # another session: the worker is loaded already
        second.button(key="run_button").click().run()
        text = second.success[0].value
        assert "the model was already loaded in a worker" in text and "when this page opened" not in text
    finally:
        pool.close()


def test_a_file_that_is_not_numpy_is_named_without_pickle_talk() -> None:
    from converters.errors import InputSpecError
    from viewer.run_panel import load_uploaded_arrays

    with pytest.raises(InputSpecError) as caught:
        load_uploaded_arrays("bad.npy", b"not a numpy file")
    assert "pickle" not in caught.value.message
    assert (
        caught.value.message
        == "bad.npy is not a .npy/.npz array file (it does not start with numpy's header)"
    )


@pytest.mark.parametrize("sample", ["control_flow_if_loop.onnx", "control_flow_scripted.torchscript"])
def test_no_input_caption_is_left_empty(sample: str) -> None:
    app = _sample(sample)
    assert not app.exception
    captions = [str(c.value) for c in app.caption if str(c.value).startswith("model:")]
    assert captions and all(c.strip() != "model:" for c in captions), captions


@pytest.mark.parametrize("build", ["build_scripted", "build_traced"])
def test_a_torchscript_failure_draws_the_shapes_up_to_the_failing_node(tmp_path: Path, build: str) -> None:
    import torch

    from runtime.engine import model_shapes
    from runtime.specs import InputSpec, InputSpecs
    from tests import runtime_models

    path = getattr(runtime_models, build)(tmp_path)
    spec = InputSpecs((InputSpec("x", "float32", (1, 5, 16, 16)),))
    result = model_shapes(path, spec=spec)
    assert result.failed is not None
    expected = list(torch.zeros(1, 5, 16, 16).shape)  # what reached the convolution
    assert result.failed.input_shapes[0] == expected
    assert result.nodes["input:x"] == [expected]  # the edge into the failing node is labelled
