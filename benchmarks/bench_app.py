"""The app in headless chromium: first view and group expansion on a 50,000-node model, and the
server's peak memory when viewing a ~400 MB model opened by path.

    .venv/bin/python benchmarks/bench_app.py [--keep DIR]

Targets: first view painted < 5 s after the page is opened; expanding a group < 1 s; peak memory
raised by at most 2x the file size (measured against the same server showing no model).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import model_cases  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS, start_streamlit  # noqa: E402

NODE = "[data-id]"
GROUP = "[data-id^='group:']"


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found")


def first_view_and_expand(browser: object, model: Path) -> tuple[float, float, int]:
    process, url = start_streamlit("--model", str(model))
    try:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})  # type: ignore[attr-defined]
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(NODE, timeout=120_000)
        first_view = time.perf_counter() - start
        before = page.locator(NODE).count()
        group = page.locator(GROUP).first
        start = time.perf_counter()
        group.click()
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length !== n", arg=[NODE, before], timeout=60_000
        )
        expand = time.perf_counter() - start
        visible = page.locator(NODE).count()
        page.close()
        return first_view, expand, visible
    finally:
        process.terminate()
        process.wait(timeout=30)


def server_peak(browser: object, *app_args: str) -> int:
    process, url = start_streamlit(*app_args)
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(url)
        page.wait_for_selector(NODE if app_args else "text=ModelLens", timeout=180_000)
        time.sleep(1)
        peak = peak_rss_bytes(process.pid)
        page.close()
        return peak
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="build models here and keep them")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="modellens-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed (apt-get install -y chromium)")
        return 2
    from playwright.sync_api import sync_playwright

    synthetic = model_cases.make_synthetic(workdir, 50_000)
    bert = model_cases.make_bert_base_like(workdir)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        first_view, expand, visible = first_view_and_expand(browser, synthetic)
        print(
            f"50k-node model: first view {first_view:.2f} s (target < 5), "
            f"expand a group {expand:.2f} s (target < 1), {visible} nodes visible after"
        )
        base = server_peak(browser)
        with_model = server_peak(browser, "--model", str(bert))
        size = bert.stat().st_size
        ratio = (with_model - base) / size
        print(
            f"{size / 1e6:.0f} MB model: server peak {with_model / 1e6:.0f} MB vs {base / 1e6:.0f} MB "
            f"without a model: +{(with_model - base) / 1e6:.0f} MB = {ratio:.2f}x the file (target <= 2)"
        )
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
