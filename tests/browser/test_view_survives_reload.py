"""The view survives a page switch and a reload, in Debian's chromium: the URL holds the open
model, subgraph and selection on every page (a reload, F5 or the theme switch, brings them back),
and the page's UI preferences (the inspector toggle) come back too."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser

TRANSFORMER = "sample:transformer_block.onnx"
NODE_ID = "node_layer_norm"
TIMEOUT_MS = 60_000


def _settled(page: Any) -> None:
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=TIMEOUT_MS
    )
    page.wait_for_timeout(600)


def _query(page: Any) -> dict[str, str]:
    """``location.href``'s query (Playwright's ``page.url`` can lag behind the history API)."""
    query = parse_qs(urlparse(page.evaluate("() => location.href")).query)
    return {name: values[0] for name, values in query.items()}


def _graph_ready(page: Any) -> None:
    page.wait_for_selector("[data-id]", timeout=TIMEOUT_MS)
    _settled(page)


def _go(page: Any, title: str) -> None:
    """Switch page with the top navigation, as a user does."""
    page.locator("[data-testid=stTopNavLink]").filter(has_text=title).first.click()
    _settled(page)


def _shows_node(page: Any, node_id: str) -> None:
    """Canvas outline, inspector and URL all on ``node_id``."""
    page.locator("[class*='st-key-inspector-']").get_by_text(node_id, exact=True).first.wait_for(
        timeout=TIMEOUT_MS
    )
    _settled(page)
    marked = page.locator("[data-id].ml-sel")
    assert [marked.nth(i).get_attribute("data-id") for i in range(marked.count())] == [node_id]
    assert _query(page).get("node") == node_id


@pytest.mark.parametrize("away", ["Summary", "Run"])
def test_the_url_keeps_the_selection_on_every_page_and_a_reload_brings_it_back(
    page: Any, app_url: str, away: str
) -> None:
    page.goto(f"{app_url}/?model={TRANSFORMER}&node={NODE_ID}")
    _graph_ready(page)
    _shows_node(page, NODE_ID)
    _go(page, away)
    page.wait_for_function("() => new URLSearchParams(location.search).has('model')", timeout=TIMEOUT_MS)
    assert _query(page) == {"model": TRANSFORMER, "node": NODE_ID}
    page.reload()  # F5 on the other page: its view is the same
    _settled(page)
    assert _query(page) == {"model": TRANSFORMER, "node": NODE_ID}
    _go(page, "Graph")
    _graph_ready(page)
    _shows_node(page, NODE_ID)
    page.reload()  # what the theme switch does
    _graph_ready(page)
    _shows_node(page, NODE_ID)


def _clickable_node(page: Any, besides: str) -> str:
    """An operator node other than ``besides`` whose centre is on screen and not covered."""
    nodes = page.locator("[data-id^='node_']")
    for i in range(nodes.count()):
        node, box = nodes.nth(i), nodes.nth(i).bounding_box()
        node_id = str(node.get_attribute("data-id"))
        if node_id == besides or not box:
            continue
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        hit = page.evaluate(
            "([x, y]) => { let e = document.elementFromPoint(x, y); while (e && e.shadowRoot) {"
            " const inner = e.shadowRoot.elementFromPoint(x, y); if (!inner || inner === e) break;"
            " e = inner; } const g = e && e.closest('[data-id]'); return g && g.getAttribute('data-id'); }",
            [x, y],
        )
        if hit == node_id:
            return node_id
    raise AssertionError("no operator node can be clicked")


def _inspector_shown(page: Any) -> bool:
    return page.locator("[class*='st-key-inspector-']").count() > 0


def test_the_theme_switch_and_a_reload_keep_the_inspector_hidden(page: Any, app_url: str) -> None:
    page.goto(f"{app_url}/?model={TRANSFORMER}&node={NODE_ID}")
    _graph_ready(page)
    assert _inspector_shown(page)
    page.locator(".st-key-show_inspector label").click()
    page.wait_for_function(
        "() => !document.querySelector(\"[class*='st-key-inspector-']\")", timeout=TIMEOUT_MS
    )
    _settled(page)
    with page.expect_navigation(timeout=TIMEOUT_MS):  # the theme switch reloads the page
        page.click("[data-act='themeDark']")
    page.wait_for_selector(".ml-root[data-theme='dark'] .ml-node.ml-sel", timeout=TIMEOUT_MS)
    _settled(page)
    assert not _inspector_shown(page)
    assert _query(page).get("node") == NODE_ID
    page.reload()  # F5
    _graph_ready(page)
    assert not _inspector_shown(page)
    _go(page, "Summary")  # the preference holds across pages
    _go(page, "Graph")
    _graph_ready(page)
    assert not _inspector_shown(page)
    page.locator(".st-key-show_inspector label").click()  # and turns back on
    page.locator("[class*='st-key-inspector-']").first.wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    page.reload()
    _graph_ready(page)
    assert _inspector_shown(page)
    assert "inspector" not in _query(page)  # a default leaves no parameter behind


def test_back_brings_back_the_inspector_with_the_view_it_was_hidden_in(page: Any, app_url: str) -> None:
    """Hiding the inspector is one history entry: Back shows it again, Forward hides it."""
    page.goto(f"{app_url}/?model={TRANSFORMER}&node={NODE_ID}")
    _graph_ready(page)
    page.locator(".st-key-show_inspector label").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('inspector') === 'off'")
    _settled(page)
    page.evaluate("() => history.back()")
    page.locator("[class*='st-key-inspector-']").first.wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    assert _query(page) == {"model": TRANSFORMER, "node": NODE_ID}
    assert page.locator(".st-key-show_inspector input").is_checked()
    page.evaluate("() => history.forward()")
    page.wait_for_function(
        "() => !document.querySelector(\"[class*='st-key-inspector-']\")", timeout=TIMEOUT_MS
    )
    _settled(page)
    assert not page.locator(".st-key-show_inspector input").is_checked()
    assert _query(page).get("inspector") == "off"
    page.evaluate("() => history.back()")  # again, then a click: the inspector stays shown
    page.locator("[class*='st-key-inspector-']").first.wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    other = _clickable_node(page, NODE_ID)
    page.locator(f"[data-id='{other}']").click()
    page.wait_for_function("n => new URLSearchParams(location.search).get('node') === n", arg=other)
    _settled(page)
    assert page.locator(".st-key-show_inspector input").is_checked()
    assert _inspector_shown(page)


def _toolbar(page: Any) -> dict[str, str]:
    return {act: page.locator(f"[data-act='{act}']").inner_text().strip() for act in ("direction", "labels")}


def test_a_reload_keeps_the_canvas_toggles_and_zoom(page: Any, app_url: str) -> None:
    """F5 keeps what the theme switch keeps: direction, labels, open groups and zoom."""
    page.goto(f"{app_url}/?model={TRANSFORMER}&node={NODE_ID}")
    _graph_ready(page)
    assert _toolbar(page) == {"direction": "TB", "labels": "Op"}
    page.click("[data-act='direction']")
    page.click("[data-act='labels']")
    page.click("[data-act='zoomOut']")
    _settled(page)
    assert _toolbar(page) == {"direction": "LR", "labels": "Name"}
    transform = page.locator(".ml-root svg g").first.get_attribute("transform")
    page.reload()
    _graph_ready(page)
    _shows_node(page, NODE_ID)
    assert _toolbar(page) == {"direction": "LR", "labels": "Name"}
    assert page.locator(".ml-root svg g").first.get_attribute("transform") == transform
    page.goto(f"{app_url}/?model={TRANSFORMER}&node=node_embedding")  # a new link is no reload
    _graph_ready(page)
    assert _toolbar(page) == {"direction": "TB", "labels": "Op"}
    _shows_node(page, "node_embedding")


def _header_choice(page: Any) -> str:
    return page.locator(".st-key-graph_choice_menu button p").first.inner_text().strip()


def _signature_menu_shows(page: Any, signature: str) -> None:
    """The header names ``signature`` and its menu's box shows it."""
    assert _header_choice(page) == f"Signature: {signature}"
    page.locator(".st-key-graph_choice_menu button").first.click()
    assert page.get_by_role("combobox").first.input_value() == signature
    page.keyboard.press("Escape")


def test_a_picked_signature_survives_a_reload_and_back_restores_the_menu(page: Any, app_url: str) -> None:
    page.goto(f"{app_url}/?model=sample:savedmodel_cnn")
    _graph_ready(page)
    assert _header_choice(page) == "Signature: serving_default"
    page.locator(".st-key-graph_choice_menu button").first.click()
    page.get_by_role("combobox").first.click()
    page.get_by_role("option", name="serve", exact=True).click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('signature') === 'serve'")
    _settled(page)
    page.keyboard.press("Escape")
    page.evaluate("() => history.back()")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('signature')")
    _settled(page)
    _signature_menu_shows(page, "serving_default")
    page.evaluate("() => history.forward()")
    page.wait_for_function("() => new URLSearchParams(location.search).get('signature') === 'serve'")
    _settled(page)
    _signature_menu_shows(page, "serve")
    page.reload()
    _graph_ready(page)
    _signature_menu_shows(page, "serve")
