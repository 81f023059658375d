"""The canvas in a real browser (the standalone HTML export, which shares GraphCanvas with the
app): the first view, the legend, search counts, edge selection, exports and shortcuts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.payloads import make_payload
from viewer.render import render_html

pytestmark = pytest.mark.browser

CHAIN = 40
SAMPLES = Path(__file__).resolve().parents[2] / "sample_models"


def _wide_payload() -> dict[str, Any]:
    """An input feeding a 40-op chain, each op also fed by its own source-only Identity (tied
    weights, as exporters write them): dagre puts all 41 sources in one wide first rank, with
    the input at one end."""
    nodes = [("image", "Input", "")]
    nodes += [(f"/chain/Conv_{i}", "Conv", "") for i in range(CHAIN)]
    nodes += [(f"Identity_{i}", "Identity", "") for i in range(CHAIN)]
    edges = [(0, 1)] + [(i, i + 1) for i in range(1, CHAIN)]
    edges += [(1 + CHAIN + i, 1 + i) for i in range(CHAIN)]
    return make_payload(nodes, edges)


def _open(
    browser: Any, tmp_path: Path, payload: dict[str, Any], options: dict[str, Any], size: tuple[int, int]
) -> Any:
    html = tmp_path / "graph.html"
    html.write_text(render_html(payload, options), encoding="utf-8")
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, offline=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(html.as_uri())
    page.wait_for_selector("[data-id]")
    page.errors = errors
    return page


INSIDE = """(sel) => {
  const v = document.querySelector('.ml-svg').getBoundingClientRect();
  const inside = (e) => { const b = e.getBoundingClientRect();
    return b.left >= v.left && b.right <= v.right && b.top >= v.top && b.bottom <= v.bottom; };
  return {target: [...document.querySelectorAll(sel)].every(inside),
          shown: [...document.querySelectorAll('.ml-node')].filter(inside).length};
}"""


@pytest.fixture
def closing(browser: Any) -> Iterator[list[Any]]:
    pages: list[Any] = []
    yield pages
    for page in pages:
        page.context.close()


@pytest.mark.parametrize("size", [(1280, 720), (1600, 1000)])
@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_first_view_shows_the_inputs_of_a_wide_graph_at_a_readable_scale(
    browser: Any, tmp_path: Path, closing: list[Any], direction: str, size: tuple[int, int]
) -> None:
    page = _open(browser, tmp_path, _wide_payload(), {"direction": direction}, size)
    closing.append(page)
    found = re.search(r"scale\(([\d.]+)\)", page.get_attribute(".ml-scene", "transform") or "")
    assert found
    scale = float(found[1])
    seen = page.evaluate(INSIDE, "[data-id='image']")
    assert scale >= 0.8  # the smallest text (10 px) stays at least 8 px
    assert seen["target"], "the graph's input is off screen"
    assert seen["shown"] >= 5  # not an almost empty canvas
    assert page.errors == []


def test_first_view_fits_a_graph_that_stays_readable(
    browser: Any, tmp_path: Path, closing: list[Any]
) -> None:
    payload = make_payload([("x", "Input", ""), ("a", "Conv", ""), ("b", "Relu", "")], [(0, 1), (1, 2)])
    page = _open(browser, tmp_path, payload, {}, (1280, 720))
    closing.append(page)
    seen = page.evaluate(INSIDE, ".ml-node")
    assert seen == {"target": True, "shown": 3}


def _chain(n: int) -> dict[str, Any]:
    nodes = [("x", "Input", "")] + [(f"/stack/Conv_{i}", "Conv", "") for i in range(n)]
    return make_payload(nodes, [(i, i + 1) for i in range(n)])


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _export(page: Any, act: str) -> bytes:
    page.click("[data-act='export']")
    with page.expect_download() as download:
        page.click(f"[data-act='{act}']")
    return Path(download.value.path()).read_bytes()


@pytest.mark.parametrize("length", [130, 6])
def test_png_2x_is_twice_the_views_size(
    browser: Any, tmp_path: Path, closing: list[Any], length: int
) -> None:
    """A 130-op chain is ~9,000 px tall: 2× stays within the browser's canvas limits."""
    page = _open(browser, tmp_path, _chain(length), {}, (1280, 720))
    closing.append(page)
    svg = _export(page, "svg").decode()
    w, h = (int(re.search(rf'{k}="(\d+)"', svg)[1]) for k in ("width", "height"))  # type: ignore[index]
    page.click("[data-act='export']")
    assert page.locator("[data-act='png']").inner_text() == "PNG image (2×)"
    page.click("[data-act='export']")
    assert _png_size(_export(page, "png")) == (2 * w, 2 * h)


def test_png_scale_limit_is_said_not_silent(browser: Any, tmp_path: Path, closing: list[Any]) -> None:
    """Past the canvas limit (32,767 px a side) the menu names the scale it will use."""
    page = _open(browser, tmp_path, _chain(260), {}, (1280, 720))
    closing.append(page)
    svg = _export(page, "svg").decode()
    h = int(re.search(r'height="(\d+)"', svg)[1])  # type: ignore[index]
    page.click("[data-act='export']")
    label = page.locator("[data-act='png']").inner_text()
    assert re.fullmatch(r"PNG image \(1\.\d\d×, size limit\)", label), label
    page.click("[data-act='export']")
    _width, height = _png_size(_export(page, "png"))
    assert 32000 < height <= 32767 and height < 2 * h


HEAD_HITS = """() => {
  const heads = [...document.querySelectorAll('.ml-chead')].map((h) => {
    const b = [...h.querySelectorAll('text,path')].map((t) => t.getBBox());
    return {x0: Math.min(...b.map((r) => r.x)), x1: Math.max(...b.map((r) => r.x + r.width)),
            y0: Math.min(...b.map((r) => r.y)), y1: Math.max(...b.map((r) => r.y + r.height))};
  });
  let hits = 0;
  for (const path of document.querySelectorAll('.ml-edge .ml-line')) {
    const len = path.getTotalLength();
    for (let s = 0; s <= len; s += 1) {
      const p = path.getPointAtLength(s);
      for (const b of heads) if (p.x > b.x0 && p.x < b.x1 && p.y > b.y0 && p.y < b.y1) hits += 1;
    }
  }
  return {heads: heads.length, hits};
}"""


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_no_edge_crosses_a_group_title_in_a_nested_model(
    browser: Any, tmp_path: Path, closing: list[Any], direction: str
) -> None:
    """transformer_block expanded: edges entering nested groups (self › query/key/value) and
    edges passing beside groups stay clear of every title (the canvas and the SVG/PNG exports
    draw the same scene)."""
    from converters import load_model
    from viewer.canvas_payload import build_payload

    payload = build_payload(load_model(SAMPLES / "transformer_block.onnx"))
    page = _open(browser, tmp_path, payload, {"expand": "all", "direction": direction}, (1280, 800))
    closing.append(page)
    result = page.evaluate(HEAD_HITS)
    assert result["heads"] > 20 and result["hits"] == 0


def test_search_counts_every_match(browser: Any, tmp_path: Path, closing: list[Any]) -> None:
    """620 Relu in 4 groups: the count is the true one (was "500+ found"), stepping says "1 / 620"."""
    nodes = [("x", "Input", "")] + [(f"g{i % 4}/Relu_{i}", "Relu", f"g{i % 4}") for i in range(620)]
    payload = make_payload(nodes, [(i, i + 1) for i in range(620)], [(f"g{k}", "") for k in range(4)])
    page = _open(browser, tmp_path, payload, {"expand": "none"}, (1280, 720))
    closing.append(page)
    page.fill(".ml-search input", "relu")
    page.wait_for_function("() => document.querySelector('.ml-count').textContent === '620 found'")
    page.press(".ml-search input", "Enter")
    page.wait_for_function("() => document.querySelector('.ml-count').textContent === '1 / 620'")
    assert "+420 more" in page.locator(".ml-results").inner_text()  # the list stays bounded (200 rows)


def test_clicking_one_edge_of_a_tensor_selects_all_its_edges(
    browser: Any, tmp_path: Path, closing: list[Any]
) -> None:
    """conv's output feeds relu and add: both edges carry one tensor, one selection draws both."""
    payload = make_payload(
        [("x", "Input", ""), ("conv", "Conv", ""), ("relu", "Relu", ""), ("add", "Add", "")],
        [(0, 1), (1, 2), (1, 3), (2, 3)],
    )
    for edge in payload["edges"][1:3]:
        edge[2] = "conv_out"
    page = _open(browser, tmp_path, payload, {}, (1280, 720))
    closing.append(page)
    point = page.evaluate("""() => {
      const path = document.querySelector("[data-edges='1'] .ml-line");
      const p = path.getPointAtLength(path.getTotalLength() / 2).matrixTransform(path.getScreenCTM());
      return [p.x, p.y];
    }""")
    page.mouse.click(*point)
    selected = page.eval_on_selector_all(
        ".ml-edge.ml-sel", "els => els.map(e => e.getAttribute('data-edges'))"
    )
    assert sorted(selected) == ["1", "2"]


def test_shortcuts_work_without_canvas_focus_but_not_while_typing(
    browser: Any, tmp_path: Path, closing: list[Any]
) -> None:
    page = _open(browser, tmp_path, _chain(3), {}, (1280, 720))
    closing.append(page)
    page.click("[data-id='/stack/Conv_1']")
    page.evaluate("() => { document.activeElement.blur(); document.body.focus(); }")
    assert page.evaluate("() => document.activeElement === document.body")
    page.keyboard.press("?")
    assert page.locator(".ml-help").is_visible()
    page.keyboard.press("Escape")  # closes the list first
    assert not page.locator(".ml-help").is_visible()
    assert page.locator(".ml-node.ml-sel").count() == 1
    page.keyboard.press("Escape")  # then clears the selection (and tells the host)
    assert page.locator(".ml-node.ml-sel").count() == 0
    assert "Nothing selected" in page.locator(".mls-panel").inner_text()
    page.keyboard.press("Control+f")
    assert page.evaluate("() => document.activeElement.matches('.ml-search input')")
    # A text field of the host page keeps its keys.
    page.evaluate("""() => { const i = document.createElement('input'); i.id = 'host-field';
      document.body.appendChild(i); }""")
    page.click("#host-field")
    page.keyboard.type("?e/")
    assert page.input_value("#host-field") == "?e/"
    assert not page.locator(".ml-help").is_visible()


def _tall_grouped() -> dict[str, Any]:
    """An input feeding 12 stacked groups of 20 chained ops: fitting it all expanded needs a
    scale far below readable at any window size."""
    nodes = [("x", "Input", "")]
    for g in range(12):
        nodes += [(f"stage{g}/Conv_{i}", "Conv", f"stage{g}") for i in range(20)]
    edges = [(i, i + 1) for i in range(len(nodes) - 1)]
    return make_payload(nodes, edges, [(f"stage{g}", "") for g in range(12)])


SCALE = """() => Number(/scale\\(([\\d.]+)\\)/.exec(
  document.querySelector('.ml-scene').getAttribute('transform'))[1])"""


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_expand_and_collapse_all_keep_a_readable_scale_on_the_selection(
    browser: Any, tmp_path: Path, closing: list[Any], direction: str
) -> None:
    """E / ⊞ used to fit the whole tall graph (scale 0.04, nodes 3×2 px, the selection lost):
    Expand all and Collapse all keep a readable scale and keep the selected node (else the
    graph's input) on screen."""
    page = _open(browser, tmp_path, _tall_grouped(), {"expand": "none", "direction": direction}, (1280, 720))
    closing.append(page)
    page.keyboard.press("e")
    page.wait_for_selector("[data-id='stage5/Conv_7']")
    assert page.evaluate(SCALE) >= 0.8
    assert page.evaluate(INSIDE, "[data-id='x']")["target"], "nothing selected: the start is shown"
    page.fill(".ml-search input", "stage5/Conv_7")
    page.press(".ml-search input", "Enter")  # selects and centres the match
    page.evaluate("() => document.activeElement.blur()")
    assert page.locator(".ml-node.ml-sel").count() == 1
    page.keyboard.press("c")  # collapse all: the selection's group stands in for it
    page.wait_for_selector("[data-id='stage5/Conv_7']", state="detached")
    assert page.evaluate(SCALE) >= 0.8
    page.click(".ml-btn[data-act='expandAll']")
    page.wait_for_selector("[data-id='stage5/Conv_7']")
    assert page.evaluate(SCALE) >= 0.8
    seen = page.evaluate(INSIDE, "[data-id='stage5/Conv_7']")
    assert seen["target"] and seen["shown"] >= 5
    assert page.errors == []


def test_shortcuts_work_after_a_host_checkbox_or_button_took_focus(
    browser: Any, tmp_path: Path, closing: list[Any]
) -> None:
    """The app's Inspector toggle is a checkbox: once clicked it kept focus and every shortcut
    was ignored. Only text entry blocks shortcuts."""
    page = _open(browser, tmp_path, _chain(3), {}, (1280, 720))
    closing.append(page)
    page.evaluate("""() => { for (const [tag, type] of [['input', 'checkbox'], ['input', 'radio'],
        ['button', ''], ['input', 'search'], ['div', '']]) {
        const el = document.createElement(tag); if (type) el.type = type;
        el.id = 'host-' + (type || tag); if (tag === 'div') { el.setAttribute('role', 'textbox');
        el.tabIndex = 0; } el.textContent = tag === 'button' ? 'b' : '';
        document.body.appendChild(el); } }""")
    for control in ["checkbox", "radio", "button"]:
        page.focus(f"#host-{control}")
        page.keyboard.press("?")
        assert page.locator(".ml-help").is_visible(), control
        page.keyboard.press("Escape")
        assert not page.locator(".ml-help").is_visible(), control
    for field in ["search", "div"]:
        page.focus(f"#host-{field}")
        page.keyboard.press("?")
        assert not page.locator(".ml-help").is_visible(), field


# A GraphCanvas of its own over the export's page, reporting each selection to window.__sel.
OWN_CANVAS = """([payload, options]) => {
  const host = document.createElement('div');
  host.style.cssText = 'position:fixed;inset:0;z-index:99;background:#fff;display:flex';
  document.body.appendChild(host);
  window.__sel = null;
  const canvas = new ModelLensGraph.GraphCanvas(host, {onSelect: (s) => { window.__sel = s; }});
  canvas.update(payload, options, 'own');
}"""

# Each drawn edge's midpoint, with the edges whose lines pass within 1.5 px of it, where the
# topmost thing there is an edge (not a node or a label) and it is on screen.
EDGE_MIDPOINTS = """() => {
  const host = document.body.lastElementChild;
  const v = host.querySelector('.ml-svg').getBoundingClientRect();
  const groups = [...host.querySelectorAll('.ml-edge[data-edges]')];
  const near = (g, q) => { const p = g.querySelector('.ml-line');  // within 1.5 px of p's line
    const local = new DOMPoint(q.x, q.y).matrixTransform(p.getScreenCTM().inverse());
    const pt = p.ownerSVGElement.createSVGPoint(); pt.x = local.x; pt.y = local.y;
    const saved = p.style.strokeWidth; p.style.strokeWidth = String(3 / p.getScreenCTM().a);
    const inside = p.isPointInStroke(pt); p.style.strokeWidth = saved; return inside; };
  const out = [];
  for (const g of groups) {
    const p = g.querySelector('.ml-line');
    const q = p.getPointAtLength(p.getTotalLength() / 2).matrixTransform(p.getScreenCTM());
    if (q.x < v.left + 5 || q.x > v.right - 5 || q.y < v.top + 40 || q.y > v.bottom - 40) continue;
    const top = document.elementFromPoint(q.x, q.y);
    if (!top || !top.closest('.ml-edge')) continue;
    const boxed = groups.filter((o) => { const b = o.querySelector('.ml-line').getBoundingClientRect();
      return q.x >= b.left - 2 && q.x <= b.right + 2 && q.y >= b.top - 2 && q.y <= b.bottom + 2; });
    const close = boxed.filter((o) => near(o, q))
      .flatMap((o) => o.getAttribute('data-edges').split(',').map(Number));
    out.push({edges: g.getAttribute('data-edges').split(',').map(Number), x: q.x, y: q.y, close});
  }
  return out;
}"""


def test_an_edge_click_names_the_edge_under_the_pointer(
    browser: Any, tmp_path: Path, closing: list[Any]
) -> None:
    """transformer_block expanded: edge 10's midpoint lies under edge 11's 10 px hit area (drawn
    later), so a click on edge 10 selected edge 11 (and wrote edge=11 to the app's URL). A click
    names the edge whose line passes nearest (all of them where stacked lines coincide)."""
    from converters import load_model
    from viewer.canvas_payload import build_payload

    payload = build_payload(load_model(SAMPLES / "transformer_block.onnx"))
    page = _open(browser, tmp_path, payload, {}, (1600, 3000))  # the whole expanded graph at 100%
    closing.append(page)
    page.evaluate(OWN_CANVAS, [payload, {"expand": "all"}])
    points = page.evaluate(EDGE_MIDPOINTS)
    assert len(points) >= 8
    for point in points:
        page.mouse.click(point["x"], point["y"])
        selected = page.evaluate("() => window.__sel")
        assert selected["kind"] == "edge"
        assert set(point["edges"]) <= set(selected["edges"]) <= set(point["close"]), point
    assert page.errors == []


# Edge labels farther than `gap` px from their own drawn line: TB labels sit beside the line
# (their left or right middle is the anchor), LR labels above or below it (bottom or top middle).
FAR_LABELS = """([gap, lr]) => {
  const far = [];
  for (const g of document.querySelectorAll('.ml-edge')) {
    const text = g.querySelector('.ml-elabel');
    if (!text) continue;
    const b = text.getBBox();
    const line = g.querySelector('.ml-line');
    const ends = lr ? [[b.x + b.width / 2, b.y + b.height], [b.x + b.width / 2, b.y]]
      : [[b.x, b.y + b.height / 2], [b.x + b.width, b.y + b.height / 2]];
    const saved = line.style.strokeWidth; line.style.strokeWidth = String(2 * gap);
    const near = ends.some(([x, y]) => { const pt = line.ownerSVGElement.createSVGPoint();
      pt.x = x; pt.y = y; return line.isPointInStroke(pt); });
    if (!near) far.push([g.getAttribute('data-edges'), text.textContent]);
    line.style.strokeWidth = saved;
  }
  const spots = [...document.querySelectorAll('.ml-elabel')].map((t) =>
    `${t.textContent}@${t.getAttribute('x')},${t.getAttribute('y')}`);
  return {far, total: spots.length, stacked: spots.length - new Set(spots).size};
}"""


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_edge_labels_sit_beside_their_own_line(
    browser: Any, tmp_path: Path, closing: list[Any], direction: str
) -> None:
    """transformer_block expanded: a long edge bending sideways (Shape → Squeeze) had its "1"
    label at dagre's dummy point, 100+ px from the curve drawn through it. Every label sits
    within 10 px of its own edge's line, and a tensor read by several consumers has its label
    drawn once, not stacked at one spot (21 stacked copies before)."""
    from converters import load_model
    from viewer.canvas_payload import build_payload

    payload = build_payload(load_model(SAMPLES / "transformer_block.onnx"))
    page = _open(browser, tmp_path, payload, {"expand": "all", "direction": direction}, (1280, 800))
    closing.append(page)
    result = page.evaluate(FAR_LABELS, [10, direction == "LR"])
    assert result["total"] > 100
    assert result["far"] == []
    assert result["stacked"] == 0


def _stacked_stages() -> dict[str, Any]:
    """x → stage0 (three collapsed branches in a chain) → stage1 (the same): the groups' titles
    make each stage wider than its branches, so the branches sit off the stage's centre."""
    nodes = [("x", "Input", "")]
    groups: list[tuple[str, str]] = []
    for s in range(2):
        groups.append((f"stage{s}", ""))
        for b in range(1, 4):
            groups.append((f"stage{s}/branch{b}", f"stage{s}"))
            nodes += [(f"stage{s}/branch{b}/MatMul_{i}", "MatMul", f"stage{s}/branch{b}") for i in range(3)]
    return make_payload(nodes, [(i, i + 1) for i in range(len(nodes) - 1)], groups)


def test_a_straight_edge_between_stacked_groups_has_no_kink(
    browser: Any, tmp_path: Path, closing: list[Any]
) -> None:
    """synth10k stage0 → stage1: the edge left stage0 and entered stage1 at the same x, but went
    through the stages' centre line between them (an S-kink of ~14 px). It runs straight."""
    payload = _stacked_stages()
    page = _open(browser, tmp_path, payload, {"expanded": ["stage0", "stage1"]}, (1280, 1000))
    closing.append(page)
    crossing = page.evaluate("""() => {
      const heads = new Map([...document.querySelectorAll('[data-id^="group:"]')]
        .map((n) => [n.getAttribute('data-id'), n.getBoundingClientRect()]));
      const out = heads.get('group:stage0/branch3'), into = heads.get('group:stage1/branch1');
      for (const g of document.querySelectorAll('.ml-edge')) {
        const b = g.querySelector('.ml-line').getBoundingClientRect();
        if (Math.abs(b.top - out.bottom) < 3 && Math.abs(b.bottom - into.top) < 3)
          return {width: b.width, dx: Math.abs((out.left + out.right) / 2 - (into.left + into.right) / 2)};
      }
      return null;
    }""")
    assert crossing is not None
    assert crossing["dx"] < 1  # both ends at one x ...
    assert crossing["width"] < 2  # ... and the line between them straight
