"""Smaller Run page / CLI points of the issue 7 retest: the status line names the action that
failed, tables format numbers sensibly, a bad spec file says the previous inputs are kept, and a
missing file's message does not repeat its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"
TIMEOUT = 180


def _path_script(model: str) -> None:
    from viewer import app_state, run_page

    app_state.init_session_state(model)
    run_page.run_page()


def _open(path: Path) -> AppTest:
    return AppTest.from_function(_path_script, default_timeout=TIMEOUT, args=(str(path),)).run()


def _captions(app: AppTest) -> list[str]:
    return [str(c.value) for c in app.caption]


def test_a_timed_out_shape_check_is_named_in_the_status_line(tmp_path: Path) -> None:
    from tests.runtime_models import build_endless_loop

    app = _open(build_endless_loop(tmp_path))
    app.number_input(key="run_timeout").set_value(2.0).run()
    app.button(key="shapes_button").click().run()
    assert not app.exception
    assert ":red[The last shape check failed: the message is below the inputs.]" in _captions(app)


def test_tables_format_statistics_and_shares() -> None:
    app = _open(SAMPLES / "cnn_branches.onnx")
    app.button(key="run_button").click().run()
    app.button(key="profile_button").click().run()
    assert not app.exception
    configs = [json.loads(d.proto.columns or "{}") for d in app.dataframe]
    stats = next(c for c in configs if "mean" in c)
    assert {stats[k]["type_config"]["format"] for k in ("min", "max", "mean", "std")} == {"%.5g"}
    slowest = next(c for c in configs if "share %" in c)
    assert slowest["share %"]["type_config"]["format"] == "%.1f"
    assert slowest["ms"]["type_config"]["format"] == "%.3f"


def test_a_bad_spec_file_says_the_inputs_are_unchanged() -> None:
    app = _open(SAMPLES / "transformer_block.onnx")
    app.file_uploader(key="spec_upload").upload(
        "bad.yaml", b"inputs:\n  - input_name: [\n", "application/x-yaml"
    ).run()
    assert not app.exception
    errors = [str(e.value) for e in app.error]
    assert any(
        "Nothing was loaded from bad.yaml: the inputs below are still the ones proposed from the file" in e
        for e in errors
    ), errors


def test_a_missing_file_is_named_once(tmp_path: Path) -> None:
    missing = tmp_path / "x.yaml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "modellens",
            "run",
            str(SAMPLES / "cnn_branches.onnx"),
            "--input-spec",
            str(missing),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=TIMEOUT,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: Cannot read input spec {missing}: No such file or directory. Fix: check the path"
    )


def test_dims_no_shape_uses_any_more_leave_the_dimensions_panel(tmp_path: Path) -> None:
    from tests.runtime_models import build_scripted

    app = _open(build_scripted(tmp_path))
    dims = [n.key for n in app.number_input if "_dim_" in str(n.key)]
    assert dims, "the proposal names dims (batch, height, width)"
    app.text_input(key="run1_0_shape").set_value("1, 3, 16, 16").run()
    assert not app.exception
    assert [n.key for n in app.number_input if "_dim_" in str(n.key)] == []
    app.text_input(key="run1_0_shape").set_value("batch, 3, 16, 16").run()
    assert [n.key for n in app.number_input if "_dim_" in str(n.key)] == ["run1_dim_batch"]
    assert not app.error


UNKNOWN = """inputs:
  - input_name: input_idz
    shape: 1x8xsi64
    data: {constant: 1}
  - input_name: attention_mask
    shape: 1x8xsi64
    data: {constant: 1}
"""


def test_a_repointed_spec_row_takes_the_models_dim_names() -> None:
    app = _open(SAMPLES / "transformer_block.onnx")
    app.file_uploader(key="spec_upload").upload("unknown.yaml", UNKNOWN.encode(), "application/x-yaml").run()
    app.selectbox(key="run2_0_rename").set_value("input_ids").run()
    assert not app.exception
    assert app.text_input(key="run2_0_shape").value == "batch, seq"
    app.number_input(key="run2_dim_batch").set_value(3).run()
    assert not app.exception
    assert not app.error, [e.value for e in app.error]
    assert not app.button(key="run_button").disabled
