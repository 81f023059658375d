"""The canvas as a Streamlit component in a real browser: select triggers, the host's selection
winning, height "fill" and wheel zoom (tests/browser/canvas_app.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import ROOT, chromium_path, free_port

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def canvas_app_url() -> Iterator[str]:
    chromium_path()
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "tests" / "browser" / "canvas_app.py")]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port)]
    command += ["--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def app(browser: Any, canvas_app_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(canvas_app_url)
    page.wait_for_selector("[data-id='/stem/Conv']", timeout=60_000)
    yield page
    context.close()


def _selected(page: Any) -> Any:
    text = page.get_by_text("selected=").inner_text()
    return json.loads(text.split("=", 1)[1])


def _wait_selected(page: Any, expected: Any) -> None:
    deadline = time.monotonic() + 20
    while _selected(page) != expected and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert _selected(page) == expected


def _outlined(page: Any) -> list[str]:
    return page.eval_on_selector_all(".ml-node.ml-sel", "els => els.map(e => e.getAttribute('data-id'))")


def test_clicks_trigger_one_selection_that_the_canvas_draws(app: Any) -> None:
    for node_id in ["/stem/Conv", "/head/Gemm", "/block/relu/Relu"]:
        app.click(f"[data-id='{node_id}']")
        _wait_selected(app, {"kind": "node", "id": node_id})
        app.wait_for_timeout(300)  # the rerun's options reach the canvas
        assert _outlined(app) == [node_id]
    app.click("[data-cluster-head='block'] text")
    _wait_selected(app, {"kind": "group", "id": "block"})
    app.wait_for_selector("[data-id='group:block'].ml-sel")
    assert _outlined(app) == ["group:block"]
    app.keyboard.press("Escape")
    _wait_selected(app, None)
    assert app.locator(".ml-sel").count() == 0


def test_the_hosts_selection_wins(app: Any) -> None:
    app.click("[data-id='/stem/Conv']")
    _wait_selected(app, {"kind": "node", "id": "/stem/Conv"})
    app.get_by_role("button", name="Select the head").click()
    _wait_selected(app, {"kind": "node", "id": "/head/Gemm"})
    app.wait_for_selector("[data-id='/head/Gemm'].ml-sel")
    assert _outlined(app) == ["/head/Gemm"]


def test_fill_height_follows_the_window_and_wheel_zooms_without_scrolling(app: Any) -> None:
    host = app.locator(".ml-host")  # inside the component's shadow root
    measure = "h => ({top: h.getBoundingClientRect().top, height: h.getBoundingClientRect().height})"
    first = host.evaluate(measure)
    assert abs(first["height"] - (800 - first["top"] - 12)) <= 2 and first["height"] > 500
    app.set_viewport_size({"width": 1280, "height": 700})
    app.wait_for_timeout(300)
    second = host.evaluate(measure)
    assert abs(second["height"] - (first["height"] - 100)) <= 2
    scrolled = "() => [...document.querySelectorAll('*')].reduce((s, e) => s + e.scrollTop, window.scrollY)"
    before = app.get_attribute(".ml-scene", "transform")
    box = app.locator(".ml-svg").bounding_box()
    app.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    app.mouse.wheel(0, 400)
    app.wait_for_timeout(200)
    assert app.get_attribute(".ml-scene", "transform") != before
    assert app.evaluate(scrolled) == 0


def test_shortcuts_work_when_focus_is_on_the_host_page(app: Any) -> None:
    """After a click on a Streamlit button (focus on the host page, not the canvas), "?" opens the
    shortcuts and Esc clears the host's selection through the canvas's select trigger."""
    app.get_by_role("button", name="Select the head").click()
    _wait_selected(app, {"kind": "node", "id": "/head/Gemm"})
    app.wait_for_selector("[data-id='/head/Gemm'].ml-sel")
    assert app.evaluate("() => !document.activeElement || !document.activeElement.shadowRoot")
    app.keyboard.press("?")
    app.wait_for_selector(".ml-help.ml-open")
    app.keyboard.press("Escape")
    app.wait_for_selector(".ml-help.ml-open", state="detached")
    app.keyboard.press("Escape")
    _wait_selected(app, None)
    assert app.locator(".ml-sel").count() == 0


APP_BACKGROUND = """() => {
  const m = /(\\d+), (\\d+), (\\d+)/.exec(getComputedStyle(document.querySelector('.stApp')).backgroundColor);
  return (0.2126 * m[1] + 0.7152 * m[2] + 0.0722 * m[3]) / 255;
}"""


def test_theme_switch_themes_the_whole_app_and_keeps_the_view(app: Any) -> None:
    """The canvas's theme switch sets Streamlit's own theme (the whole page), not only the canvas;
    the page reloads for it and the canvas comes back with the same zoom."""
    assert app.evaluate(APP_BACKGROUND) > 0.5
    app.click("[data-act='zoomIn']")
    zoomed = app.get_attribute(".ml-scene", "transform")
    with app.expect_navigation():
        app.click("[data-act='themeDark']")
    app.wait_for_selector(".ml-root[data-theme='dark'] [data-id='/stem/Conv']", timeout=60_000)
    assert app.evaluate(APP_BACKGROUND) < 0.5  # Streamlit's page, not only the canvas
    assert app.get_attribute("[data-act='themeDark']", "aria-pressed") == "true"
    assert app.get_attribute(".ml-scene", "transform") == zoomed
    with app.expect_navigation():
        app.click("[data-act='themeSystem']")  # headless chromium prefers light
    app.wait_for_selector(".ml-root[data-theme='light'] [data-id='/stem/Conv']", timeout=60_000)
    assert app.evaluate(APP_BACKGROUND) > 0.5
    assert app.get_attribute("[data-act='themeSystem']", "aria-pressed") == "true"
