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
from typing import Any

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


def _group_in_view(page: Any) -> tuple[str, float, float] | None:
    """A collapsed group whose centre lies inside the canvas (so a click reaches it)."""
    frame = page.locator(NODE).first.evaluate(
        "el => { const r = el.ownerSVGElement.getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom]; }"
    )
    groups = page.locator(GROUP)
    for k in range(groups.count()):
        box = groups.nth(k).bounding_box()
        if box is None:
            continue
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        if frame[0] + 20 < x < frame[2] - 20 and frame[1] + 60 < y < frame[3] - 60:
            return str(groups.nth(k).get_attribute("data-id")), x, y
    return None


def first_view_and_expand(browser: Any, model: Path, expansions: int = 3) -> tuple[float, list[float], int]:
    """Seconds to the first painted view, seconds per group expansion, nodes visible at the end."""
    process, url = start_streamlit("--model", str(model))
    try:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(NODE, timeout=120_000)
        first_view = time.perf_counter() - start
        page.get_by_title("Fit to screen (F)").click()
        expand_times = []
        for _ in range(expansions):
            page.wait_for_timeout(300)
            pick = _group_in_view(page)
            if pick is None:
                break
            group_id, x, y = pick
            start = time.perf_counter()
            page.mouse.click(x, y)
            page.wait_for_selector(f"[data-id='{group_id}']", state="detached", timeout=60_000)
            expand_times.append(time.perf_counter() - start)
        visible = page.locator(NODE).count()
        page.close()
        return first_view, expand_times, visible
    finally:
        process.terminate()
        process.wait(timeout=30)


def server_peak(browser: Any, *app_args: str) -> int:
    process, url = start_streamlit(*app_args)
    try:
        page = browser.new_page()
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
        for label, model in (("50k-node synthetic", synthetic), ("BERT-base-like", bert)):
            first_view, expand_times, visible = first_view_and_expand(browser, model)
            expands = ", ".join(f"{t:.2f}" for t in expand_times)
            print(
                f"{label}: first view {first_view:.2f} s (target < 5); group expansions {expands} s "
                f"(target < 1); {visible} nodes visible after"
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
