"""A traced TorchScript model in Debian's chromium: upload, expand a module, inspect a conv and its
weight."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
TRACED = ROOT / "sample_models" / "cnn_traced.torchscript"
NODE = "[data-id]"
CONV = "layer1/conv1/_convolution"
TIMEOUT_MS = 60_000


def test_upload_traced_model_expand_module_inspect_conv_weight(page: Any, app_url: str) -> None:
    page.goto(app_url)
    page.wait_for_selector("input[type=file]:not([webkitdirectory])", state="attached", timeout=TIMEOUT_MS)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(TRACED))
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    page.get_by_text("TorchScript (traced)", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="2 warnings").click()  # the warnings open from the header
    page.get_by_text("frozen at the example input", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    page.keyboard.press("Escape")

    head = page.locator("[data-cluster-head='layer1']")  # collapse the module, then expand it again
    if head.count():
        head.first.click()
    group = page.locator("[data-id='group:layer1']")
    group.wait_for(timeout=TIMEOUT_MS)
    assert "Block" in (group.text_content() or "")  # labelled with the module's class
    group.click()
    conv = page.locator(f"[data-id='{CONV}']")
    conv.wait_for(timeout=TIMEOUT_MS)
    conv.click()

    page.wait_for_url(re.compile(r"node="), timeout=TIMEOUT_MS)
    page.get_by_text("aten::_convolution(Tensor input, Tensor weight", exact=False).first.wait_for(
        timeout=TIMEOUT_MS
    )
    page.get_by_text("Weight layer1.conv1.weight", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Download .npy").first.wait_for(timeout=TIMEOUT_MS)
    statistics = re.compile(r"min.+max.+mean.+std")
    stats = page.locator("[data-testid='stMarkdownContainer']").filter(has_text=statistics)
    stats.first.wait_for(timeout=TIMEOUT_MS)  # the weight's statistics line
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        page.get_by_text("Download .npy").first.click()
    data = Path(download_info.value.path()).read_bytes()
    assert data.startswith(b"\x93NUMPY")
