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
