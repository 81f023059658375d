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


def _visible_ops(page: Any) -> list[str]:
    """Operator nodes drawn wholly inside the canvas (clear of its toolbar and legend)."""
    frame = page.locator(".ml-root").first.bounding_box()
    ops, found = page.locator(OP_NODE), []
    for i in range(ops.count()):
        box = ops.nth(i).bounding_box()
        if not box:
            continue
        inside_x = frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
        inside_y = frame["y"] + 60 < box["y"] and box["y"] + box["height"] < frame["y"] + frame["height"] - 40
        if inside_x and inside_y:
            found.append(str(ops.nth(i).get_attribute("data-id")))
    return found


def _history_length(page: Any) -> int:
    return int(page.evaluate("() => history.length"))


def test_back_and_forward_bring_back_the_selection(page: Any, app_url: str) -> None:
    _open(page, f"{app_url}/?model={TRANSFORMER}")
    picks = _visible_ops(page)[:3]
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
    other = next(n for n in _visible_ops(page) if n != picks[0])  # Back may have moved the view
    page.locator(f"[data-id='{other}']").click()  # a click after Back starts a new branch
    _assert_in_step(page, other)
    page.evaluate("() => history.back()")
    _assert_in_step(page, picks[0])


HEADER_CONTROLS = """() => [...document.querySelectorAll(
  '.st-key-graph_header :is(button, label, [data-testid=stMarkdownContainer] :is(p, span))')]
  .filter(e => e.getBoundingClientRect().width > 0)
  .map(e => {
    const b = e.getBoundingClientRect();
    const points = [[b.left + 2, b.top + 2], [b.right - 2, b.top + 2], [b.left + 2, b.bottom - 2],
                    [b.right - 2, b.bottom - 2], [b.left + b.width / 2, b.top + b.height / 2]];
    const covered = points.filter(([x, y]) => {
      const hit = document.elementFromPoint(x, y);
      const owner = e.closest('button, label') || e;  // a label's own parts are not in the way
      return !hit || !(owner.contains(hit) || hit.contains(e));
    });
    return {text: e.innerText.replace(/\\s+/g, ' ').trim(), covered: covered.length,
            cut: [e, ...e.querySelectorAll('*')].some(
              x => x.scrollWidth > x.clientWidth + 1 && getComputedStyle(x).overflowX !== 'visible'
                && x.clientWidth > 2 && (x.innerText || '').trim() !== ''),
            top: b.top, bottom: b.bottom, right: b.right, button: e.tagName === 'BUTTON'};
  })"""


def _sized(browser: Any, width: int, height: int) -> Any:
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


@pytest.mark.parametrize(
    ("model", "width", "height"),
    [
        ("savedmodel_cnn", 1280, 720),  # with the signature menu
        ("cnn_traced.torchscript", 1280, 720),  # with the warnings menu
        ("control_flow_if_loop.onnx", 1280, 720),  # the longest counts line
        (TRANSFORMER.partition(":")[2], 1600, 1000),
    ],
)
def test_every_header_control_is_whole_and_clickable(
    browser: Any, app_url: str, model: str, width: int, height: int
) -> None:
    page = _sized(browser, width, height)
    try:
        _open(page, f"{app_url}/?model=sample:{model}")
        _assert_header_whole(page, width, height, model)
        title = page.locator(".ml-title-line.ml-counts")
        assert "parameters" in str(title.get_attribute("title"))  # the full text on hover too
    finally:
        page.context.close()


def _assert_header_whole(page: Any, width: int, height: int, model: str) -> None:
    controls = page.evaluate(HEADER_CONTROLS)
    texts = " | ".join(c["text"] for c in controls)
    assert "Open…" in texts and "Export" in texts and "Inspector" in texts and model in texts
    for control in controls:
        assert control["covered"] == 0, control  # nothing (Streamlit's top bar) lies over it
        assert not control["cut"], control  # its whole text shows
        assert control["right"] <= width and control["bottom"] <= height
    middles = [(c["top"] + c["bottom"]) / 2 for c in controls if c["button"]]
    assert max(middles) - min(middles) <= 4, controls  # one row
    canvas = page.locator(".ml-root").first.bounding_box()
    assert max(c["bottom"] for c in controls) <= canvas["y"]


@pytest.mark.slow
def test_the_header_of_a_savedmodel_with_tag_sets_is_whole(browser: Any, tmp_path: Any) -> None:
    """The longest header: a tag-set and signature menu beside the counts."""
    pytest.importorskip("tensorflow")
    from tests.browser.conftest import start_streamlit
    from tests.test_savedmodel_cases import tf1_two_tag_sets

    path = tf1_two_tag_sets(tmp_path / "two_tags")
    process, url = start_streamlit("--model", str(path))
    page = _sized(browser, 1280, 720)
    try:
        _open(page, url)
        page.get_by_text("Tags serve").first.wait_for(timeout=TIMEOUT_MS)
        _assert_header_whole(page, 1280, 720, "two_tags")
    finally:
        page.context.close()
        process.terminate()
        process.wait(timeout=20)


def test_opening_the_warnings_neither_moves_the_canvas_nor_scrolls_the_page(
    browser: Any, app_url: str
) -> None:
    page = _sized(browser, 1280, 720)
    try:
        _open(page, f"{app_url}/?model=sample:cnn_traced.torchscript")
        before = page.locator(".ml-root").first.bounding_box()
        page.get_by_role("button", name="2 warnings").click()
        shown = page.get_by_text("2 warnings while opening the model")
        shown.wait_for(timeout=TIMEOUT_MS)
        code = page.locator("[data-testid=stPopoverBody] code").filter(has_text="torch.jit.script(model)")
        code.first.wait_for(timeout=TIMEOUT_MS)  # the quoted code is code, not `backticks`
        assert "`" not in page.locator("[data-testid=stPopoverBody]").inner_text()
        page.wait_for_timeout(500)
        assert page.locator(".ml-root").first.bounding_box() == before
        scroll = page.evaluate(
            "() => { const m = document.querySelector('[data-testid=stMain]');"
            " return [m.scrollHeight - m.clientHeight, m.scrollTop]; }"
        )
        assert scroll == [0, 0]
    finally:
        page.context.close()


@pytest.mark.parametrize("inspector_shown", [True, False])
def test_a_load_error_can_be_closed_and_never_covers_the_canvas(
    browser: Any, app_url: str, tmp_path: Any, inspector_shown: bool
) -> None:
    page = _sized(browser, 1280, 720)
    try:
        _open(page, f"{app_url}/?model=sample:cnn_branches.onnx")
        if not inspector_shown:
            page.get_by_text("Inspector", exact=True).click()
            page.locator("[class*='st-key-inspector-']").wait_for(state="detached", timeout=TIMEOUT_MS)
            _settled(page)
        bad = tmp_path / "notes.txt"
        bad.write_text("this is not a model\n" * 10)
        page.get_by_role("button", name="Open…").click()
        page.locator("input[type=file]:not([webkitdirectory])").set_input_files([str(bad)])
        alert = page.get_by_role("alert").filter(has_text="text file")
        alert.wait_for(timeout=TIMEOUT_MS)
        page.keyboard.press("Escape")  # close the Open… menu
        _settled(page)
        canvas = page.locator(".ml-root").first.bounding_box()
        box = alert.bounding_box()
        assert box["x"] >= canvas["x"] + canvas["width"] or box["y"] >= canvas["y"] + canvas["height"]
        page.locator(".st-key-dismiss_load_error button").first.click()
        alert.wait_for(state="detached", timeout=TIMEOUT_MS)
        _settled(page)
        assert page.locator(".ml-root").first.bounding_box()["x"] == canvas["x"]
        assert "model=sample" in page.evaluate("() => location.href")  # the model stayed
    finally:
        page.context.close()
