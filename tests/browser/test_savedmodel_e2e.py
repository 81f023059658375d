"""A TensorFlow SavedModel in Debian's chromium: upload its zip, open a layer, inspect a Conv2D and
its kernel (values read from variables/ without TensorFlow)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ZIP = ROOT / "sample_models" / "savedmodel_cnn.zip"
NODE = "[data-id]"
CONV = "[data-id$='stem_conv_1/convolution']"
BN_GROUP = "stem_bn∕batchnorm"  # a layer's decomposed BatchNorm, named after the Keras layer
BN_OPS = "[data-id^='savedmodel_cnn_1/stem_bn_1/batchnorm/']"
TIMEOUT_MS = 60_000


def test_upload_savedmodel_zip_expand_a_layer_and_inspect_a_conv_kernel(page: Any, app_url: str) -> None:
    page.goto(app_url)
    page.wait_for_selector("input[type=file]:not([webkitdirectory])", state="attached", timeout=TIMEOUT_MS)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(SAMPLE_ZIP))
    page.wait_for_selector(CONV, timeout=TIMEOUT_MS)
    assert page.get_by_text("TensorFlow SavedModel, signature serving_default").first.is_visible()
    # the Keras model's own scope wraps everything, so it is lifted: its layers are the top level
    assert page.locator("[data-cluster-head='savedmodel_cnn_1']").count() == 0
    page.locator(f"[data-cluster-head='{BN_GROUP}']").click()  # close one layer
    page.wait_for_selector(f"[data-id='group:{BN_GROUP}']", timeout=TIMEOUT_MS)
    assert page.locator(BN_OPS).count() == 0
    page.locator(f"[data-id='group:{BN_GROUP}']").click()  # and open it again
    page.wait_for_selector(BN_OPS, timeout=TIMEOUT_MS)
    page.locator(CONV).click()
    page.wait_for_url(re.compile(r"node=.*convolution"), timeout=TIMEOUT_MS)
    page.get_by_text("Conv2D documentation").first.wait_for(timeout=TIMEOUT_MS)
    weight = page.get_by_text(re.compile(r"Weight stem_conv/kernel · float32 · 3×3×3×16"))
    weight.first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("values; first", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Download .npy").first.wait_for(timeout=TIMEOUT_MS)


def test_upload_a_savedmodel_folder(page: Any, app_url: str) -> None:
    page.goto(app_url)
    page.wait_for_selector("input[type=file][webkitdirectory]", state="attached", timeout=TIMEOUT_MS)
    page.locator("input[type=file][webkitdirectory]").set_input_files(
        str(ROOT / "sample_models" / "savedmodel_cnn")
    )
    page.wait_for_selector(CONV, timeout=TIMEOUT_MS)
    assert page.get_by_text("TensorFlow SavedModel, signature serving_default").first.is_visible()
