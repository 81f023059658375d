"""The canvas inside the real app (``app_url`` runs what `modellens` starts): shortcuts without
canvas focus reach the inspector and the URL, and the theme switch themes all of Streamlit."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

OP_NODE = "[data-id]:not([data-id^='group:']):not([data-id^='input:']):not([data-id^='output:'])"
TIMEOUT_MS = 60_000
HREF = "() => location.href"  # page.url lags behind history.replaceState
APP_LUMINANCE = """() => {
  const m = /(\\d+), (\\d+), (\\d+)/.exec(getComputedStyle(document.querySelector('.stApp')).backgroundColor);
  return (0.2126 * m[1] + 0.7152 * m[2] + 0.0722 * m[3]) / 255;
}"""


def _open_and_select(page: Any, app_url: str) -> str:
    page.goto(f"{app_url}/?model=sample:cnn_branches.onnx")
    page.wait_for_selector(OP_NODE, timeout=TIMEOUT_MS)
    node = page.locator(OP_NODE).first
    node_id = str(node.get_attribute("data-id"))
    node.click()
    page.wait_for_function("() => location.href.includes('node=')", timeout=TIMEOUT_MS)
    return node_id


def test_escape_with_focus_outside_the_canvas_clears_inspector_and_url(page: Any, app_url: str) -> None:
    _open_and_select(page, app_url)
    page.get_by_text("Inputs", exact=True).wait_for(timeout=TIMEOUT_MS)
    page.evaluate("""() => { const a = document.activeElement;
      ((a && a.shadowRoot && a.shadowRoot.activeElement) || a).blur(); }""")  # focus leaves the canvas
    assert page.evaluate("() => document.activeElement === document.body")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !location.href.includes('node=')", timeout=TIMEOUT_MS)
    page.get_by_text("Inputs", exact=True).wait_for(state="detached", timeout=TIMEOUT_MS)
    assert page.locator(".ml-node.ml-sel").count() == 0


def test_theme_switch_themes_the_app_and_keeps_model_and_selection(page: Any, app_url: str) -> None:
    _open_and_select(page, app_url)
    href = page.evaluate(HREF)
    assert page.evaluate(APP_LUMINANCE) > 0.5
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.click("[data-act='themeDark']")
    page.wait_for_selector(".ml-root[data-theme='dark'] .ml-node.ml-sel", timeout=TIMEOUT_MS)
    assert page.evaluate(APP_LUMINANCE) < 0.5  # all of Streamlit, not the canvas alone
    assert page.evaluate(HREF) == href  # the same model and selection
    page.get_by_text("Inputs", exact=True).wait_for(timeout=TIMEOUT_MS)
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.click("[data-act='themeLight']")
    page.wait_for_selector(".ml-root[data-theme='light'] .ml-node.ml-sel", timeout=TIMEOUT_MS)
    assert page.evaluate(APP_LUMINANCE) > 0.5
