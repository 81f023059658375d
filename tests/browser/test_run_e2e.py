"""The Run page in Debian's chromium: type a batch size, run, read the output statistics, see the
failing node highlighted on the graph for a wrong spec, run a short benchmark. Screenshots at
1280x800 go to $MODELLENS_SCREENSHOTS when it is set."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.app_helpers import save_screenshot

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000


@pytest.fixture
def small_page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


_shot = save_screenshot


def _number(page: Any, label: str, value: str, nth: int = 0) -> None:
    box = page.get_by_label(label, exact=True).nth(nth)
    box.fill(value)
    box.press("Enter")


def test_run_fail_on_the_graph_and_benchmark(small_page: Any, app_url: str) -> None:
    page = small_page
    page.goto(f"{app_url}/run?model=sample:transformer_block.onnx")
    page.get_by_text("Run transformer_block.onnx").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("0–999: vocabulary size of node_embedding").wait_for(timeout=TIMEOUT_MS)
    _number(page, "batch", "3")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Run", exact=True).click()
    success = page.get_by_text("Ran on cpu with CPUExecutionProvider")
    success.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Outputs", exact=True).wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Preview last_hidden_state · float32 3×16×64").wait_for(timeout=TIMEOUT_MS)
    _shot(page, "run-outputs")

    _number(page, "max", "5000")  # token ids past the 1000-row embedding: refused before running
    page.get_by_text("input_ids: max 5000 is outside 0–999, the vocabulary size of node_embedding").wait_for(
        timeout=TIMEOUT_MS
    )
    assert page.get_by_role("button", name="Run", exact=True).is_disabled()
    _number(page, "max", "999")

    page.goto(f"{app_url}/run?model=sample:cnn_traced.torchscript")
    page.get_by_text("Run cnn_traced.torchscript").wait_for(timeout=TIMEOUT_MS)
    shape = page.get_by_label("shape", exact=True).first
    shape.fill("1, 4, 32, 32")  # the convolution wants 3 channels: the model fails inside
    shape.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("torch failed at node stem/_convolution").wait_for(timeout=TIMEOUT_MS)
    _shot(page, "run-failure")
    page.get_by_role("button", name="Show the failing node on the graph").click()
    failed = page.locator("[data-id='stem/_convolution'].ml-sel.ml-hl")
    failed.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("The run fails here").first.wait_for(timeout=TIMEOUT_MS)
    _shot(page, "graph-failing-node")

    page.get_by_role("link", name="Run").click()
    page.get_by_text("Run cnn_traced.torchscript").wait_for(timeout=TIMEOUT_MS)
    shape = page.get_by_label("shape", exact=True).first
    shape.fill("1, 3, 32, 32")
    shape.press("Enter")
    _number(page, "Iterations", "30")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Benchmark", exact=True).click()
    page.get_by_text("Throughput").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text(re.compile(r"\d+ threads · 10 warm-up runs")).wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Throughput").scroll_into_view_if_needed()
    _shot(page, "run-benchmark")
