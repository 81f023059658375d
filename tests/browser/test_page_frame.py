"""The page around the canvas in Debian's chromium: browser history (one entry per selection; Back
and Forward bring the selection back, with URL, canvas and inspector in step), the header (every
control whole and clickable), warnings that never move the canvas, a load error that can be closed
and never covers the canvas."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser

TRANSFORMER = "sample:transformer_block.onnx"
NODE = "[data-id]"
OP_NODE = "[data-id]:not([data-id^='group:']):not([data-id^='input:']):not([data-id^='output:'])"
TIMEOUT_MS = 60_000


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)
    _settled(page)


def _settled(page: Any) -> None:
    """Wait until no rerun is running (Streamlit's status widget is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=TIMEOUT_MS
    )
    page.wait_for_timeout(400)  # the canvas applies the rerun's options after it renders


def _selected_in_url(page: Any) -> str | None:
    """``node=`` of ``location.href`` (Playwright's ``page.url`` can lag behind the history API)."""
    query = parse_qs(urlparse(page.evaluate("() => location.href")).query)
    return query["node"][0] if "node" in query else None


def _wait_url_node(page: Any, node_id: str | None) -> None:
    check = "p.get('node') === n" if node_id else "!p.has('node')"
    page.wait_for_function(
        f"n => {{ const p = new URLSearchParams(location.search); return {check}; }}",
        arg=node_id,
        timeout=TIMEOUT_MS,
    )


def _outlined(page: Any) -> list[str]:
    marked = page.locator("[data-id].ml-sel")
    return [str(marked.nth(i).get_attribute("data-id")) for i in range(marked.count())]


def _inspector(page: Any) -> Any:
    return page.locator("[class*='st-key-inspector-']")


def _assert_in_step(page: Any, node_id: str | None) -> None:
    """URL, canvas outline and inspector all show ``node_id`` (None: nothing selected)."""
    _wait_url_node(page, node_id)
    if node_id is None:
        _inspector(page).get_by_text("Click a node").wait_for(timeout=TIMEOUT_MS)
    else:
        _inspector(page).get_by_text(node_id, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    assert _selected_in_url(page) == node_id
    assert _outlined(page) == ([node_id] if node_id else [])


def _history_length(page: Any) -> int:
    return int(page.evaluate("() => history.length"))


def test_back_and_forward_bring_back_the_selection(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={TRANSFORMER}")
    ops = page.locator(OP_NODE)
    picks = [str(ops.nth(i).get_attribute("data-id")) for i in (0, 2, 4)]
    assert len(set(picks)) == 3
    start = _history_length(page)
    for count, node_id in enumerate(picks, start=1):
        page.locator(f"[data-id='{node_id}']").click()
        _assert_in_step(page, node_id)
        assert _history_length(page) == start + count  # one entry per selection
    for expected in (picks[1], picks[0], None):
        page.evaluate("() => history.back()")
        _assert_in_step(page, expected)
    page.evaluate("() => history.forward()")
    _assert_in_step(page, picks[0])
    page.locator(f"[data-id='{picks[2]}']").click()  # a click after Back starts a new branch
    _assert_in_step(page, picks[2])
    page.evaluate("() => history.back()")
    _assert_in_step(page, picks[0])
