"""The Run page at a laptop's 1280x720: Run is visible without scrolling, and replacing an uploaded
array in the same box shows the new file's message, not a stale one. Screenshots go to
$MODELLENS_SCREENSHOTS when it is set."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.app_helpers import save_screenshot

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000


@pytest.fixture
def laptop(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    yield page
    context.close()


_shot = save_screenshot


def test_run_is_above_the_fold_at_1280x720(laptop: Any, app_url: str) -> None:
    page = laptop
    page.goto(f"{app_url}/run?model=sample:transformer_block.onnx")
    page.get_by_text("Run transformer_block.onnx").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("0–999: vocabulary size of node_embedding").wait_for(timeout=TIMEOUT_MS)
    run = page.get_by_role("button", name="Run", exact=True)
    box = run.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 720, box
    assert page.evaluate("window.scrollY") == 0
    _shot(page, "run-1280x720")


def _npy(shape: tuple[int, ...]) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.zeros(shape, np.float32))
    return buffer.getvalue()


def test_replacing_an_upload_shows_the_new_files_message(laptop: Any, app_url: str) -> None:
    page = laptop
    page.goto(f"{app_url}/run?model=sample:cnn_branches.onnx")
    page.get_by_text("Run cnn_branches.onnx").wait_for(timeout=TIMEOUT_MS)
    page.get_by_label("data", exact=True).first.click()
    page.get_by_role("option", name="uploaded .npy/.npz").click()
    page.get_by_text("array (.npy/.npz)").wait_for(timeout=TIMEOUT_MS)
    files = page.locator("input[type='file']").last
    files.set_input_files({"name": "bad.npy", "mimeType": "application/octet-stream", "buffer": b"not numpy"})
    page.wait_for_timeout(3000)
    _shot(page, "run-upload-bad")
    page.get_by_text("bad.npy is not a .npy/.npz array file").wait_for(timeout=TIMEOUT_MS)
    files.set_input_files(
        {"name": "wrong_shape.npy", "mimeType": "application/octet-stream", "buffer": _npy((1, 3, 16, 16))}
    )
    page.get_by_text("image: dim 2 must be 32, got 16").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)
    _shot(page, "run-reupload")
    assert page.get_by_text("no file uploaded yet").count() == 0
    assert page.get_by_text("bad.npy is not").count() == 0
