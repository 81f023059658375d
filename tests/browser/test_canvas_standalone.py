"""The standalone HTML viewer in a real browser (Debian's chromium through Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.payloads import make_payload
from viewer.render import render_html

pytestmark = pytest.mark.browser


def _payload() -> dict[str, Any]:
    """input -> stem conv -> block (4 ops, collapsed at first) -> head."""
    nodes = [
        ("input", "Input", ""),
        ("/stem/Conv", "Conv", ""),
        ("/block/conv/Conv", "Conv", "block"),
        ("/block/relu/Relu", "Relu", "block"),
        ("/block/conv2/Conv", "Conv", "block"),
        ("/block/Add", "Add", "block"),
        ("/head/Gemm", "Gemm", ""),
    ]
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (1, 5), (5, 6)]
    conv_weights = {nid: [["W", "64×64×3×3"]] for nid, op, _ in nodes if op == "Conv"}
    payload = make_payload(nodes, edges, [("block", "")], weights=conv_weights)
    for node in payload["nodes"]:
        del node["name"]  # as build_payload writes it: name = id
    return payload


@pytest.fixture(scope="module")
def canvas(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The exported HTML opened offline (``browser`` skips without chromium; fails under CI=true)."""
    html = tmp_path_factory.mktemp("canvas") / "graph.html"
    html.write_text(render_html(_payload(), {"expand": "none"}), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1200, "height": 800}, offline=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(Path(html).as_uri())
    pg.wait_for_selector("[data-id]")
    pg.errors = errors
    yield pg
    context.close()


def test_page_loads_offline_and_draws_nodes(canvas: Any) -> None:
    ids = canvas.eval_on_selector_all("[data-id]", "els => els.map(e => e.getAttribute('data-id'))")
    assert ids == ["input", "/stem/Conv", "group:block", "/head/Gemm"]
    assert canvas.locator(".ml-legend").inner_text().count("Layer") == 1
    assert canvas.errors == []


def test_clicking_a_collapsed_group_expands_it(canvas: Any) -> None:
    canvas.click("[data-id='group:block']")
    canvas.wait_for_selector("[data-cluster-head='block']")
    ids = canvas.eval_on_selector_all("[data-id]", "els => els.map(e => e.getAttribute('data-id'))")
    assert "/block/relu/Relu" in ids and "group:block" not in ids
    canvas.click("[data-cluster-head='block'] text")
    canvas.wait_for_selector("[data-id='group:block']")
    assert canvas.errors == []


def test_clicking_a_node_shows_details(canvas: Any) -> None:
    canvas.click("[data-id='/stem/Conv']")
    assert "64×64×3×3" in canvas.locator(".mls-panel").inner_text()
    assert canvas.locator("[data-id='/stem/Conv'].ml-sel").count() == 1


def test_wheel_zoom_changes_transform(canvas: Any) -> None:
    before = canvas.get_attribute(".ml-scene", "transform")
    box = canvas.locator(".ml-svg").bounding_box()
    canvas.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    canvas.mouse.wheel(0, -300)
    canvas.wait_for_function(
        "before => document.querySelector('.ml-scene').getAttribute('transform') !== before", arg=before
    )
    assert canvas.get_attribute(".ml-scene", "transform") != before


def test_search_enter_focuses_a_match_inside_a_collapsed_group(canvas: Any) -> None:
    canvas.keyboard.press("Escape")
    canvas.click(".ml-svg")
    canvas.keyboard.press("c")  # collapse all
    canvas.wait_for_selector("[data-id='group:block']")
    canvas.fill(".ml-search input", "relu")
    canvas.press(".ml-search input", "Enter")
    canvas.wait_for_selector("[data-id='/block/relu/Relu'].ml-sel")
    assert canvas.locator(".ml-count").inner_text() == "1 / 1"
    canvas.fill(".ml-search input", "")


def _ids(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('data-id'))")


def _reset(page: Any, expand: str = "c") -> None:
    """Nothing selected, no search, groups collapsed ("c") or expanded ("e")."""
    page.fill(".ml-search input", "")
    page.click(".ml-svg", position={"x": 5, "y": 5})
    page.keyboard.press("Escape")
    page.keyboard.press(expand)
    page.wait_for_selector("[data-id='group:block']" if expand == "c" else "[data-cluster-head='block']")


def test_one_selection_node_then_edge_then_escape(canvas: Any) -> None:
    _reset(canvas)
    canvas.click("[data-id='/stem/Conv']")
    assert _ids(canvas, ".ml-node.ml-sel") == ["/stem/Conv"]
    hit = canvas.locator(".ml-edge[data-edges='0'] .ml-hit")
    hit.dispatch_event("pointerdown", {"button": 0, "pointerId": 1})
    hit.dispatch_event("pointerup", {"button": 0, "pointerId": 1})
    canvas.wait_for_selector(".ml-edge.ml-sel[data-edges='0']")
    assert _ids(canvas, ".ml-node.ml-sel") == []  # the node's outline went with its selection
    assert "t0_1" in canvas.locator(".mls-panel").inner_text()
    canvas.keyboard.press("Escape")
    assert canvas.locator(".ml-sel").count() == 0
    assert "Nothing selected" in canvas.locator(".mls-panel").inner_text()


def test_clicking_a_group_expands_and_selects_it(canvas: Any) -> None:
    _reset(canvas)
    canvas.click("[data-id='group:block']")
    canvas.wait_for_selector("[data-cluster-head='block'].ml-sel")
    assert canvas.locator(".ml-cbox.ml-sel[data-cluster='block']").count() == 1
    panel = canvas.locator(".mls-panel").inner_text().lower()
    assert "op mix\nconv\t2\nadd\t1\nrelu\t1" in panel
    entering, leaving = panel.split("entering")[1].split("leaving")
    assert "t1_2" in entering and "t1_5" in entering and "t5_6" in leaving  # tensors in and out
    canvas.click("[data-cluster-head='block'] text")  # an open group's title collapses it, still selected
    canvas.wait_for_selector("[data-id='group:block'].ml-sel")
    assert canvas.locator(".ml-sel").count() == 1


def test_edges_have_a_hover_state(canvas: Any) -> None:
    _reset(canvas, "e")
    line = canvas.locator(".ml-edge[data-edges='0'] .ml-line")
    before = line.evaluate("e => getComputedStyle(e).strokeWidth")
    canvas.locator(".ml-edge[data-edges='0'] .ml-hit").hover(force=True)
    after = line.evaluate("e => getComputedStyle(e).strokeWidth")
    assert (before, after) == ("1.1px", "2.4px")


def test_name_labels_show_node_names(canvas: Any) -> None:
    _reset(canvas, "e")
    titles = "els => els.map(e => e.textContent)"
    assert "/block/relu/Relu" not in canvas.eval_on_selector_all(".ml-node .ml-title", titles)
    canvas.click("[data-act='labels']")
    names = canvas.eval_on_selector_all(".ml-node .ml-title", titles)
    canvas.click("[data-act='labels']")
    assert "/block/relu/Relu" in names and "/stem/Conv" in names and "Relu" not in names


@pytest.mark.parametrize("act", ["direction", "labels"])
def test_toggles_keep_the_selected_node_in_view(canvas: Any, act: str) -> None:
    _reset(canvas, "e")
    canvas.click("[data-id='/block/conv2/Conv']")
    scale = re.compile(r"scale\(([\d.]+)\)")
    before = canvas.locator("[data-id='/block/conv2/Conv']").bounding_box()
    k_before = scale.search(canvas.get_attribute(".ml-scene", "transform") or "")
    canvas.click(f"[data-act='{act}']")
    after = canvas.locator("[data-id='/block/conv2/Conv']").bounding_box()
    k_after = scale.search(canvas.get_attribute(".ml-scene", "transform") or "")
    canvas.click(f"[data-act='{act}']")
    assert k_before and k_after and k_before.group(1) == k_after.group(1)  # no "fit all"
    top_centre = (before["x"] + before["width"] / 2, before["y"])
    assert abs(after["x"] + after["width"] / 2 - top_centre[0]) < 2 and abs(after["y"] - top_centre[1]) < 2


def test_search_as_you_type_lists_highlights_and_steps(canvas: Any) -> None:
    _reset(canvas)
    canvas.click(".ml-search input")
    canvas.keyboard.type("conv")
    canvas.wait_for_selector(".ml-results.ml-open .ml-hit-row")
    rows = canvas.locator(".ml-hit-row").all_inner_texts()
    assert len(rows) == 3 and canvas.locator(".ml-count").inner_text() == "3 found"
    paths = canvas.eval_on_selector_all(".ml-hit-path", "els => els.map(e => e.textContent)")
    assert paths == ["", "block", "block"]
    assert sorted(_ids(canvas, ".ml-node.ml-hl")) == ["/stem/Conv", "group:block"]  # before any Enter
    canvas.keyboard.press("Enter")
    assert canvas.locator(".ml-count").inner_text() == "1 / 3"
    canvas.keyboard.press("Enter")
    canvas.wait_for_selector("[data-id='/block/conv/Conv'].ml-sel")
    assert canvas.locator(".ml-count").inner_text() == "2 / 3"
    assert sorted(_ids(canvas, ".ml-node.ml-hl")) == ["/block/conv/Conv", "/block/conv2/Conv", "/stem/Conv"]
    canvas.keyboard.press("Shift+Enter")
    assert canvas.locator(".ml-count").inner_text() == "1 / 3"
    assert _ids(canvas, ".ml-node.ml-sel") == ["/stem/Conv"]
    canvas.locator(".ml-hit-row").nth(2).dispatch_event("mousedown")
    assert _ids(canvas, ".ml-node.ml-sel") == ["/block/conv2/Conv"]
    assert "/block/conv2/Conv" in canvas.locator(".mls-panel").inner_text()


def test_legend_and_status_sit_below_the_graph(canvas: Any) -> None:
    _reset(canvas)
    legend = canvas.locator(".ml-legend").bounding_box()
    stage = canvas.locator(".ml-svg").bounding_box()
    assert legend["y"] >= stage["y"] + stage["height"] - 0.5  # never over the drawing
    assert canvas.locator(".ml-legend").inner_text().split("\n") == ["Layer", "Collapsed group"]
    assert canvas.locator(".ml-status").inner_text() == "2 of 6 operator nodes shown · 1 group collapsed"


def test_question_mark_lists_the_shortcuts(canvas: Any) -> None:
    _reset(canvas)
    canvas.keyboard.press("?")
    assert canvas.locator(".ml-help").is_visible()
    assert "Fit the graph" in canvas.locator(".ml-help").inner_text()
    canvas.keyboard.press("Escape")
    assert not canvas.locator(".ml-help").is_visible()


def test_theme_switch(canvas: Any) -> None:
    canvas.click("[data-act='themeDark']")
    assert canvas.get_attribute(".ml-root", "data-theme") == "dark"
    assert canvas.get_attribute(".mls", "data-theme") == "dark"
    assert canvas.get_attribute("[data-act='themeDark']", "aria-pressed") == "true"
    canvas.click("[data-act='themeLight']")
    assert canvas.get_attribute(".mls", "data-theme") == "light"
    canvas.click("[data-act='themeSystem']")  # headless chromium prefers light
    assert canvas.get_attribute(".ml-root", "data-theme") == "light"
    assert canvas.errors == []


# Every edge into a group whose title spans the whole top border: the ports sit under the title.
TITLED = make_payload(
    [
        ("x", "Input", ""),
        ("x2", "Input", ""),
        ("very_long_group_title/a", "Relu", "very_long_group_title"),
        ("very_long_group_title/b", "Relu", "very_long_group_title"),
        ("very_long_group_title/inner/c", "Conv", "very_long_group_title/inner"),
        ("y", "Conv", ""),
    ],
    [(0, 2), (1, 3), (0, 4), (2, 5), (3, 5), (4, 5)],
    [("very_long_group_title", ""), ("very_long_group_title/inner", "very_long_group_title")],
)

CROSSINGS = """() => {
  const boxes = [...document.querySelectorAll('.ml-chead')].map((h) => {
    const b = [...h.querySelectorAll('text')].map((t) => t.getBBox());
    return {x0: Math.min(...b.map((r) => r.x)), x1: Math.max(...b.map((r) => r.x + r.width)),
            y0: Math.min(...b.map((r) => r.y)), y1: Math.max(...b.map((r) => r.y + r.height))};
  });
  const hits = [];
  for (const path of document.querySelectorAll('.ml-edge .ml-line')) {
    const len = path.getTotalLength();
    for (let s = 0; s <= len; s += 1) {
      const p = path.getPointAtLength(s);
      for (const b of boxes) if (p.x > b.x0 && p.x < b.x1 && p.y > b.y0 && p.y < b.y1) hits.push([p.x, p.y]);
    }
  }
  return {heads: boxes.length, edges: document.querySelectorAll('.ml-edge').length, hits: hits.length};
}"""


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_edges_do_not_cross_group_titles(browser: Any, tmp_path: Path, direction: str) -> None:
    """The drawing the SVG/PNG exports share: no edge passes over an open group's title."""
    html = tmp_path / "titled.html"
    html.write_text(render_html(TITLED, {"expand": "all", "direction": direction}), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    pg = context.new_page()
    pg.goto(html.as_uri())
    pg.wait_for_selector(".ml-chead")
    result = pg.evaluate(CROSSINGS)
    context.close()
    assert result == {"heads": 2, "edges": 6, "hits": 0}


def test_export_inspector_shows_attributes_and_docs(browser: Any, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from converters import load_model
    from viewer.canvas_payload import build_payload

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/enc/stem/conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/enc/stem/relu"),
        helper.make_node("Relu", ["r"], ["s"], name="/enc/head/relu"),
        helper.make_node("Relu", ["s"], ["t"], name="/enc/head/relu2"),
        helper.make_node("Relu", ["t"], ["y"], name="/final"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 108)],
    )
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    html = tmp_path / "conv.html"
    payload = build_payload(load_model(path), details=True)
    html.write_text(render_html(payload, {"expand": "all"}), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    pg = context.new_page()
    pg.goto(html.as_uri())
    pg.click("[data-id='/enc/stem/conv']")
    panel = pg.locator(".mls-panel").inner_text()
    accent = pg.locator("[data-id='/enc/stem/conv'] .ml-outline").evaluate("e => getComputedStyle(e).stroke")
    context.close()
    assert "pads\n" in panel and "[1, 1, 1, 1]" in panel  # attribute and value
    assert re.search(r"auto_pad\s+NOTSET\s+\(default\)", panel)  # name, value, default
    assert "The convolution operator consumes an input tensor" in panel
    assert "/enc/stem/conv\n" in panel and "Group\nenc › stem\n" in panel  # no repeated group paths
    assert accent == "rgb(31, 111, 235)"  # the app's canvas uses the same selection colour


def test_export_menu_downloads_the_current_view(canvas: Any) -> None:
    _reset(canvas, "e")
    canvas.click("[data-id='/block/relu/Relu']")
    canvas.click("[data-act='export']")
    with canvas.expect_download() as download:
        canvas.click("[data-act='svg']")
    svg = Path(download.value.path()).read_text(encoding="utf-8")
    assert not canvas.locator(".ml-menu").is_visible()  # the menu closes after a pick
    assert svg.startswith("<svg") and 'data-cluster-head="block"' in svg
    assert re.findall(r'class="ml-node[^"]*ml-sel[^"]*" data-id="([^"]*)"', svg) == ["/block/relu/Relu"]
