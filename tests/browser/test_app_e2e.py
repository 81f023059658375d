"""The app in Debian's chromium: upload, canvas, inspector, groups, search, reload."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
TRANSFORMER = ROOT / "sample_models" / "transformer_block.onnx"
NODE = "[data-id]"
OP_NODE = "[data-id]:not([data-id^='group:']):not([data-id^='input:']):not([data-id^='output:'])"
GROUP = "[data-id^='group:']"
TIMEOUT_MS = 60_000


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)


def _click_first_op(page: Any) -> str:
    node = page.locator(OP_NODE).first
    node_id = node.get_attribute("data-id")
    node.click()
    return str(node_id)


def test_upload_a_model_then_click_a_node(page: Any, app_url: str) -> None:
    page.goto(app_url)
    page.wait_for_selector("input[type=file]:not([webkitdirectory])", state="attached", timeout=TIMEOUT_MS)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(TRANSFORMER))
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    assert page.get_by_text("transformer_block.onnx").first.is_visible()
    node_id = _click_first_op(page)
    page.wait_for_url(re.compile(r"node="), timeout=TIMEOUT_MS)
    page.get_by_text("Inputs", exact=True).wait_for(timeout=TIMEOUT_MS)
    assert parse_qs(urlparse(page.url).query)["node"] == [node_id]


def test_clicking_a_group_collapses_and_expands_it(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model=sample:transformer_block.onnx")
    expanded_count = page.locator(NODE).count()
    page.locator("[data-cluster-head]").first.click()
    page.wait_for_selector(GROUP, timeout=TIMEOUT_MS)
    before = page.locator(NODE).count()
    assert before < expanded_count
    group = page.locator(GROUP).first
    group_id = group.get_attribute("data-id")
    group.click()
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length !== n", arg=[NODE, before], timeout=TIMEOUT_MS
    )
    assert page.locator(f"[data-id='{group_id}']").count() == 0
    assert page.locator(NODE).count() > before


def test_search_lists_matches_and_jumps_to_one(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model=sample:transformer_block.onnx")
    search = page.get_by_placeholder("node name, op type or tensor")
    search.fill("Softmax")
    search.press("Enter")
    page.locator("[data-testid='stMain'] [data-testid='stSelectbox']").first.click(timeout=TIMEOUT_MS)
    page.get_by_role("option").first.click()
    page.wait_for_url(re.compile(r"node="), timeout=TIMEOUT_MS)
    page.get_by_text("Softmax documentation", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    selected = re.search(r"node=([^&]+)", page.url)
    assert selected is not None
    page.wait_for_selector(".ml-node.ml-sel, [data-id].ml-sel, .ml-sel", timeout=TIMEOUT_MS)


def test_reload_keeps_model_and_selection(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model=sample:cnn_branches.onnx")
    _click_first_op(page)
    page.wait_for_url(re.compile(r"node="), timeout=TIMEOUT_MS)
    url = page.url
    page.reload()
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    page.get_by_text("Inputs", exact=True).wait_for(timeout=TIMEOUT_MS)
    assert page.url == url


def test_a_bad_upload_shows_one_error_and_keeps_the_model(page: Any, app_url: str, tmp_path: Path) -> None:
    _open(page, f"{app_url}/?model=sample:cnn_branches.onnx")
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a model\n" * 10)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(bad))
    alert = page.get_by_role("alert").filter(has_text="text file")
    alert.wait_for(timeout=TIMEOUT_MS)
    assert "Fix:" in alert.inner_text()
    assert page.get_by_text("cnn_branches.onnx").first.is_visible()
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)  # the canvas is still there, with its graph


@pytest.mark.parametrize(
    ("title", "suffix", "magic"),
    [
        ("Download the current view as SVG", ".svg", b"<svg"),
        ("Download the current view as PNG (2×)", ".png", b"\x89PNG"),
        ("Download the current view as Graphviz DOT", ".dot", b"digraph"),
    ],
)
def test_canvas_exports_the_current_view(
    page: Any, app_url: str, title: str, suffix: str, magic: bytes
) -> None:
    _open(page, f"{app_url}/?model=sample:cnn_branches.onnx")
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        page.get_by_title(title).click()
    download = download_info.value
    assert download.suggested_filename.endswith(suffix)
    data = Path(download.path()).read_bytes()
    assert magic in data[:400]
