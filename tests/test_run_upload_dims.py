"""An uploaded (or given) array never silently overrides the dims the user set: the Run page
shows a live error naming the dim and both fixes, and the engine (CLI, API) refuses a spec whose
shape the array contradicts. Shapes from numpy."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from converters import InputSpecError
from runtime.engine import run_model
from runtime.spec_file import loads_spec

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_models" / "cnn_branches.onnx"
TIMEOUT = 180


def _path_script(model: str) -> None:
    from viewer import app_state, run_page

    app_state.init_session_state(model)
    run_page.run_page()


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _errors(app: AppTest) -> list[str]:
    return [str(e.value).replace("\\", "") for e in app.error]


def test_an_upload_with_another_batch_is_a_live_error_not_an_override() -> None:
    app = AppTest.from_function(_path_script, default_timeout=TIMEOUT, args=(str(SAMPLE),)).run()
    app.number_input(key="run1_dim_batch").set_value(4).run()
    app.selectbox(key="run1_0_source").set_value("file").run()
    image = np.zeros((1, 3, 32, 32), np.float32)
    app.file_uploader(key="run1_0_npy").upload("good.npz", _npz(image=image)).run()
    assert not app.exception
    assert _errors(app) == [
        "image has batch = 1 in good.npz (1×3×32×32), but batch is 4 — set batch to 1, or give an array "
        "with batch = 4"
    ]
    assert app.button(key="run_button").disabled
    app.number_input(key="run1_dim_batch").set_value(1).run()
    assert not _errors(app) and not app.button(key="run_button").disabled


def test_an_upload_against_the_models_fixed_dims_names_the_models_dim() -> None:
    app = AppTest.from_function(_path_script, default_timeout=TIMEOUT, args=(str(SAMPLE),)).run()
    app.selectbox(key="run1_0_source").set_value("file").run()
    app.file_uploader(key="run1_0_npy").upload(
        "small.npz", _npz(image=np.zeros((1, 3, 16, 16), np.float32))
    ).run()
    assert not app.exception
    errors = _errors(app)
    # the model fixes dim 2 at 32: that is what is said (not "set the row's shape to 1, 3, 16, 16")
    assert len(errors) == 1 and errors[0].startswith("image: dim 2 must be 32, got 16")
    assert app.button(key="run_button").disabled


def test_the_engine_refuses_an_array_that_contradicts_the_spec() -> None:
    spec = loads_spec("inputs:\n  - input_name: image\n    shape: 4x3x32x32xf32\n")
    with pytest.raises(InputSpecError) as caught:
        run_model(SAMPLE, inputs={"image": np.zeros((1, 3, 32, 32), np.float32)}, spec=spec)
    assert (
        caught.value.message == "image has dim 0 = 1 in inputs (1×3×32×32), but its spec row says 4×3×32×32"
    )
    result = run_model(SAMPLE, inputs={"image": np.zeros((4, 3, 32, 32), np.float32)}, spec=spec)
    assert result.outputs[0].shape[0] == 4
