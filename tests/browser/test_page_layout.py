"""The graph page in Debian's chromium: one selection drawn by canvas, inspector and URL after every
click; the canvas owning most of the window; the inspector scrolling on its own and showing all
it holds; the tab naming the model."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser

CNN = "sample:cnn_branches.onnx"
TRANSFORMER = "sample:transformer_block.onnx"
NODE = "[data-id]"
OP_NODE = "[data-id]:not([data-id^='group:']):not([data-id^='input:']):not([data-id^='output:'])"
TIMEOUT_MS = 60_000


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(NODE, timeout=TIMEOUT_MS)


def _settled(page: Any) -> None:
    """Wait until no rerun is running (Streamlit's status widget is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=TIMEOUT_MS
    )
    page.wait_for_timeout(300)  # the canvas applies the rerun's options after it renders


def _query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def _outlined(page: Any) -> list[str]:
    marked = page.locator("[data-id].ml-sel")
    return [str(marked.nth(i).get_attribute("data-id")) for i in range(marked.count())]


def _visible_ops(page: Any, selector: str = OP_NODE) -> list[str]:
    """Operator nodes (or what ``selector`` picks) drawn wholly inside the canvas, top to bottom."""
    frame = page.locator(".ml-root").first.bounding_box()
    ops, found = page.locator(selector), []
    for i in range(ops.count()):
        box = ops.nth(i).bounding_box()
        if (
            box
            and frame["y"] + 60 < box["y"]
            and box["y"] + box["height"] < frame["y"] + frame["height"] - 40
        ):
            found.append((box["y"], str(ops.nth(i).get_attribute("data-id"))))
    return [node_id for _, node_id in sorted(found)]


def _inspector(page: Any) -> Any:
    return page.locator("[class*='st-key-inspector-']")


def test_clicks_a_then_b_then_c_keep_outline_inspector_and_url_together(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={CNN}")
    ids = _visible_ops(page)[:3]
    assert len(set(ids)) == 3
    for node_id in ids:
        page.locator(f"[data-id='{node_id}']").click()
        page.wait_for_url(lambda url, n=node_id: parse_qs(urlparse(url).query).get("node") == [n])
        _inspector(page).get_by_text(node_id, exact=True).first.wait_for(timeout=TIMEOUT_MS)
        _settled(page)
        assert _outlined(page) == [node_id]
        assert _query(page)["node"] == [node_id]
        assert not page.locator(".ml-edge.ml-sel").count()


def test_an_edge_click_selects_the_edge_alone(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={CNN}")
    page.locator(OP_NODE).first.click()
    page.wait_for_url(lambda url: "node=" in url)
    _settled(page)
    edge = page.locator("[data-edges]").nth(2)
    edges = str(edge.get_attribute("data-edges"))
    box = edge.locator(".ml-hit").bounding_box() or edge.bounding_box()
    edge.locator(".ml-hit").dispatch_event(
        "pointerdown", {"button": 0, "clientX": box["x"], "clientY": box["y"]}
    )
    edge.locator(".ml-hit").dispatch_event(
        "pointerup", {"button": 0, "clientX": box["x"], "clientY": box["y"]}
    )
    page.wait_for_url(lambda url: "edge=" in url)
    _inspector(page).get_by_text("Tensor").first.wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    assert _query(page)["edge"] == [edges]
    assert "node" not in _query(page)
    assert _outlined(page) == []
    # The clicked edge and any other edge of the same tensor (its other consumers), nothing else.
    tensor = edge.evaluate("e => e.querySelector('title').textContent").split()[0]
    selected = page.eval_on_selector_all(".ml-edge.ml-sel title", "els => els.map(e => e.textContent)")
    assert edges in page.eval_on_selector_all(".ml-edge.ml-sel", "els => els.map(e => e.dataset.edges)")
    assert selected and {text.split()[0] for text in selected} == {tensor}


def test_escape_clears_outline_inspector_and_url(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={CNN}")
    page.locator(OP_NODE).first.click()
    page.wait_for_url(lambda url: "node=" in url)
    _settled(page)
    page.keyboard.press("Escape")
    page.wait_for_url(lambda url: "node=" not in url)
    _inspector(page).get_by_text("Click a node").wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    assert _outlined(page) == []


def test_a_group_in_the_inspector_path_shows_its_details(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={TRANSFORMER}&node=node_layer_norm")
    _inspector(page).get_by_role("button", name="embeddings").click()
    page.wait_for_url(lambda url: "group=embeddings" in url)
    for text in ("operator nodes", "Op mix", "Tensors entering", "Tensors leaving"):
        _inspector(page).get_by_text(text).first.wait_for(timeout=TIMEOUT_MS)
    assert "node" not in _query(page)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1440, 900), (1600, 1000)])
def test_the_canvas_owns_the_window_and_the_page_does_not_scroll(
    browser: Any, app_url: str, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        # a node with documentation, attributes and two weights: the inspector is longer than the window
        _open(page, f"{app_url}/?model={TRANSFORMER}&node=node_layer_norm")
        _inspector(page).get_by_text("Inputs", exact=True).wait_for(timeout=TIMEOUT_MS)
        _settled(page)
        box = page.locator(".ml-root").first.bounding_box()
        frame = page.locator("[data-testid=stElementContainer][class*='st-key-canvas_']").bounding_box()
        assert frame["y"] + frame["height"] >= box["y"] + box["height"] - 1  # not clipped by Streamlit
        assert box["width"] >= 0.6 * width, box
        assert box["height"] >= 0.75 * height, box
        assert box["y"] + box["height"] <= height  # all of it on screen
        scroll = page.evaluate(
            "() => { const m = document.querySelector('[data-testid=stMain]');"
            " const d = document.documentElement;"
            " return [m.scrollHeight - m.clientHeight, d.scrollHeight - innerHeight]; }"
        )
        assert scroll == [0, 0]  # the page itself does not scroll
        panel = page.locator("[class*='st-key-inspector-']").evaluate(
            "e => ({overflow: getComputedStyle(e).overflowY, scroll: e.scrollHeight, client: e.clientHeight,"
            " bottom: e.getBoundingClientRect().bottom})"
        )
        assert panel["overflow"] == "auto" and panel["scroll"] > panel["client"]  # it scrolls on its own
        assert panel["bottom"] <= height
    finally:
        context.close()


@pytest.mark.parametrize(
    "query",
    [
        "?model=sample:control_flow_if_loop.onnx&sub=refine/body",  # with the breadcrumb
        "?model=sample:control_flow_if_loop.onnx&node=choose_activation",
    ],
)
def test_nothing_pushes_the_page_into_scrolling(browser: Any, app_url: str, query: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        _open(page, f"{app_url}/{query}")
        _settled(page)
        box = page.locator(".ml-root").first.bounding_box()
        panel = page.locator("[class*='st-key-inspector-']").bounding_box()
        assert box["y"] + box["height"] <= 800 and panel["y"] + panel["height"] <= 800
        assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight") <= 800
    finally:
        context.close()


def test_everything_in_the_inspector_is_readable_in_full(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={TRANSFORMER}&node=node_layer_norm")
    panel = _inspector(page)
    panel.get_by_text("Inputs", exact=True).wait_for(timeout=TIMEOUT_MS)
    panel.locator("summary").first.click()  # the documentation with its code blocks
    _settled(page)
    cut = panel.evaluate(
        """panel => [...panel.querySelectorAll('p, code, pre, button, summary, td, th, span')]
            .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1
                     && !['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
            .map(e => e.tagName + ': ' + e.textContent.slice(0, 60))"""
    )
    assert cut == []
    assert panel.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    ellipsised = panel.evaluate(
        "panel => [...panel.querySelectorAll('*')]"
        ".filter(e => getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1)"
        ".map(e => e.textContent.slice(0, 60))"
    )
    assert ellipsised == []
    assert "1e-12" in panel.inner_text()  # LayerNormalization's epsilon, as stored


def test_the_browser_tab_names_the_model(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={CNN}")
    page.wait_for_function("() => document.title.includes('cnn_branches.onnx')", timeout=TIMEOUT_MS)


def test_a_new_selection_is_read_from_its_top(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={TRANSFORMER}&node=node_layer_norm")
    _inspector(page).get_by_text("Inputs", exact=True).wait_for(timeout=TIMEOUT_MS)
    _inspector(page).evaluate("e => { e.scrollTop = e.scrollHeight; }")
    assert _inspector(page).evaluate("e => e.scrollTop") > 0
    _inspector(page).get_by_role("button", name="to node_MatMul_55").click()  # also a long panel
    page.wait_for_url(lambda url: "node=node_MatMul_55" in url)
    _inspector(page).get_by_text("node_MatMul_55", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    assert _inspector(page).evaluate("e => e.scrollHeight > e.clientHeight")
    assert _inspector(page).evaluate("e => e.scrollTop") == 0


def test_a_collapsed_inspector_gives_the_canvas_the_whole_width(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={CNN}&node=node_conv2d")
    before = page.locator(".ml-root").first.bounding_box()
    page.get_by_text("Inspector", exact=True).click()
    _inspector(page).wait_for(state="detached", timeout=TIMEOUT_MS)
    _settled(page)
    after = page.locator(".ml-root").first.bounding_box()
    viewport = page.viewport_size
    assert after["width"] > before["width"] and after["width"] >= 0.95 * viewport["width"]


def test_a_click_on_a_collapsed_group_shows_its_details(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={TRANSFORMER}")
    page.get_by_title("Collapse all groups (C)").click()
    page.wait_for_selector("[data-id^='group:']", timeout=TIMEOUT_MS)
    _settled(page)
    node_id = _visible_ops(page, "[data-id^='group:']")[0]
    group_id = node_id.removeprefix("group:")
    page.locator(f"[data-id='{node_id}']").click()
    page.wait_for_url(lambda url: parse_qs(urlparse(url).query).get("group") == [group_id])
    for text in ("operator nodes", "Op mix", "Tensors entering"):
        _inspector(page).get_by_text(text).first.wait_for(timeout=TIMEOUT_MS)
    assert "node" not in _query(page)
