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


def test_reload_keeps_model_and_selection(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model=sample:cnn_branches.onnx")
    _click_first_op(page)
    page.wait_for_url(re.compile(r"node="), timeout=TIMEOUT_MS)
    url = page.url
    page.reload()
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    page.get_by_text("Inputs", exact=True).wait_for(timeout=TIMEOUT_MS)
    assert page.url == url


def _drop(page: Any, *files: Path) -> None:
    """Drop files on the drop zone in the header's "Open…" popover."""
    page.get_by_role("button", name="Open…").click()
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files([str(f) for f in files])


def _uploader_list(page: Any) -> list[str]:
    names = page.locator("[data-testid='stFileUploaderFileName']")
    return [names.nth(i).inner_text() for i in range(names.count())]


def test_a_bad_drop_says_why_keeps_the_model_and_does_not_move_the_canvas(
    page: Any, app_url: str, tmp_path: Path
) -> None:
    _open(page, f"{app_url}/?model=sample:cnn_branches.onnx")
    before = page.locator(".ml-root").first.bounding_box()
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a model\n" * 10)
    _drop(page, bad)
    alert = page.get_by_role("alert").filter(has_text="text file")
    alert.wait_for(timeout=TIMEOUT_MS)
    assert "Fix:" in alert.inner_text()
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)  # the canvas is still there, with its graph
    assert page.locator(".ml-root").first.bounding_box() == before  # the banner floats over it
    assert "model=sample%3Acnn_branches.onnx" in page.url or "model=sample:cnn_branches.onnx" in page.url
    page.get_by_text("Open: cnn_branches.onnx").wait_for(timeout=TIMEOUT_MS)
    assert _uploader_list(page) == []  # the drop zone never lists a file that is not on screen


def test_dropping_a_second_model_replaces_the_first(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model=sample:cnn_branches.onnx")
    _drop(page, TRANSFORMER)
    page.wait_for_url(re.compile(r"model=upload"), timeout=TIMEOUT_MS)
    page.wait_for_function(  # the rerun that opened it has drawn the page (the tab names it)
        "() => document.title.startsWith('transformer_block.onnx')", timeout=TIMEOUT_MS
    )
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    page.wait_for_selector("[data-stale='true']", state="detached", timeout=TIMEOUT_MS)
    if not page.get_by_text("…or a bundled sample").last.is_visible():  # the Open… menu is closed
        page.get_by_role("button", name="Open…").click()
    page.get_by_text("Open: transformer_block.onnx").wait_for(timeout=TIMEOUT_MS)
    assert _uploader_list(page) == []


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
    menu = page.locator("[data-act='export']")  # the toolbar's Export menu, where there is one
    if menu.count():
        menu.click()
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        page.get_by_title(title).click()
    download = download_info.value
    assert download.suggested_filename.endswith(suffix)
    data = Path(download.path()).read_bytes()
    assert magic in data[:400]


def test_external_data_dropped_after_its_onnx_completes_that_model(
    page: Any, app_url: str, tmp_path: Path
) -> None:
    from tests.model_cases import build_external_data

    model = build_external_data(tmp_path)
    page.goto(app_url)
    page.wait_for_selector("input[type=file]:not([webkitdirectory])", state="attached", timeout=TIMEOUT_MS)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(model))
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    warnings = page.locator(".st-key-graph_header").get_by_text(re.compile(r"^\d+ warnings?$"))
    warnings.get_by_text("1 warning", exact=True).first.wait_for(timeout=TIMEOUT_MS)  # weights.bin missing
    first = page.url
    _drop(page, model.parent / "weights.bin")
    page.wait_for_url(lambda url: url != first, timeout=TIMEOUT_MS)
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    page.get_by_text("Open: model.onnx + weights.bin").wait_for(timeout=TIMEOUT_MS)  # the same menu open
    warnings.first.wait_for(state="detached", timeout=TIMEOUT_MS)
    assert not page.get_by_text("Interactive HTML (this view)").is_visible()  # not the Export menu


def test_a_file_dropped_beside_a_model_that_does_not_name_it_is_not_opened(
    page: Any, app_url: str, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("release notes\n")
    page.goto(app_url)
    page.wait_for_selector("input[type=file]:not([webkitdirectory])", state="attached", timeout=TIMEOUT_MS)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files([str(TRANSFORMER), str(notes)])
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    page.get_by_role("alert").filter(has_text="Not opened: notes.txt").wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Open…").click()
    page.get_by_text("Open: transformer_block.onnx", exact=True).wait_for(timeout=TIMEOUT_MS)
