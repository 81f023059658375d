"""The standalone HTML viewer in a real browser (Debian's chromium through Playwright)."""

from __future__ import annotations

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
    return make_payload(nodes, edges, [("block", "")], weights=conv_weights)


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
    canvas.fill(".mls-search input", "relu")
    canvas.press(".mls-search input", "Enter")
    canvas.wait_for_selector("[data-id='/block/relu/Relu'].ml-sel")
    assert "1 / 1" in canvas.locator(".mls-count").inner_text()
