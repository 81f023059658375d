"""The canvas/SVG legend lists only the categories of the operator nodes drawn: the graph's
input/output pills (category "other" in the graph) never add "Math / other"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from converters import load_model
from viewer.canvas_payload import build_payload
from viewer.colors import CATEGORY_STYLES
from viewer.render import render_svg

SAMPLES = Path(__file__).resolve().parents[1] / "sample_models"


def _legend(svg: str) -> list[str]:
    block = re.search(r'<g class="ml-legend"[^>]*>(.*?)</g>', svg, re.S)
    assert block
    return re.findall(r"<text[^>]*>([^<]*)</text>", block[1])


CASES = ["control_flow_if_loop.onnx", "transformer_block.onnx", "cnn_branches.onnx", "cnn_traced.torchscript"]


@pytest.mark.parametrize("name", CASES)
def test_legend_lists_the_operator_categories_drawn_and_nothing_else(name: str) -> None:
    graph = load_model(SAMPLES / name)
    ops = [data for _, data in graph.nodes(data=True) if data["kind"] in ("op", "constant")]
    present = {data["category"] for data in ops}
    expected = [style["label"] for key, style in CATEGORY_STYLES.items() if key in present]
    assert _legend(render_svg(build_payload(graph), {"expand": "all"})) == expected


def test_io_pills_alone_add_no_category() -> None:
    graph = load_model(SAMPLES / "control_flow_if_loop.onnx")
    pills = [data["category"] for _, data in graph.nodes(data=True) if data["kind"] in ("input", "output")]
    assert "other" in pills  # what made the legend list "Math / other"
    assert "Math / other" not in _legend(render_svg(build_payload(graph), {"expand": "all"}))
