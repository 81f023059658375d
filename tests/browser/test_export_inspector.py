"""The HTML export's inspector in a real browser (issue 9, retest items 8 and 14): attribute values
kept whole, Markdown docs without raw HTML, subgraph links with a breadcrumb back, names that wrap
at their separators."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converters import load_model
from tests.export_models import LN_NAME, inspector_model
from tests.payloads import make_payload
from viewer.canvas_payload import build_payload
from viewer.render import render_html

pytestmark = pytest.mark.browser

# The lines a block of text is laid out in, as the browser broke it.
_LINES = """el => {
  const range = document.createRange(); const lines = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    for (let i = 0; i < t.length; i++) {
      range.setStart(t, i); range.setEnd(t, i + 1);
      const r = range.getClientRects()[0]; if (!r) continue;
      const top = Math.round(r.top);
      if (!lines.length || Math.abs(lines[lines.length - 1].top - top) > 3) lines.push({top, text: ""});
      lines[lines.length - 1].text += t.data[i];
    }
  }
  return lines.map(l => l.text);
}"""


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return inspector_model(tmp_path_factory.mktemp("insp") / "inspector.onnx")


def _open(browser: Any, tmp: Path, payload: dict[str, Any], options: dict[str, Any]) -> Any:
    html = tmp / "export.html"
    html.write_text(render_html(payload, options), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(html.as_uri())
    page.wait_for_selector("[data-id]")
    return page


@pytest.fixture
def export(browser: Any, tmp_path: Path, model_path: Path) -> Iterator[Any]:
    payload = build_payload(load_model(model_path), details=True)
    page = _open(browser, tmp_path, payload, {"expand": "all", "selected": {"kind": "node", "id": LN_NAME}})
    yield page
    page.context.close()


def test_short_attribute_values_stay_on_one_line_and_names_wrap_at_separators(export: Any) -> None:
    panel = export.locator(".mls-panel")
    value = panel.locator(".mls-attr", has_text="epsilon").locator(".mls-v")
    assert value.inner_text() == "1e-12"
    assert value.evaluate(_LINES) == ["1e-12"]
    lines = panel.locator("h3").evaluate(_LINES)
    assert "".join(lines) == LN_NAME and len(lines) > 1
    assert all(line[-1] in "/._:" for line in lines[:-1]), lines  # never mid-token
    assert export.errors == []


def test_outputs_list_a_tensor_once_with_its_consumers(export: Any) -> None:
    outputs = export.locator(".mls-port", has_text="Y: ln")
    assert outputs.count() == 1
    assert outputs.locator("a[data-node]").all_inner_texts() == [
        "to /encoder/layer.0/act/Relu",
        "to /encoder/layer.0/act/Sigmoid",
    ]
    outputs.locator("a[data-node]").first.click()
    assert export.locator(".mls-panel h3").inner_text() == "/encoder/layer.0/act/Relu"


def test_docs_render_markdown_with_absolute_links(export: Any) -> None:
    _select(export, "/head/Add")
    doc = export.locator(".mls-doc")
    assert "**" not in doc.inner_text() and "```" not in doc.inner_text()
    assert doc.locator("strong").count() >= 1
    href = doc.locator("a", has_text="the doc").get_attribute("href")
    assert href == "https://github.com/onnx/onnx/blob/main/docs/Broadcasting.md"


def _select(page: Any, node_id: str) -> None:
    """Select a node through the search box (Enter focuses the first match)."""
    box = page.locator(".ml-search input")
    box.fill(node_id)
    box.press("Enter")
    page.wait_for_function(
        "id => (document.querySelector('.mls-panel h3') || {}).innerText === id",
        arg=node_id,
    )


def test_graph_attributes_open_the_body_and_the_breadcrumb_comes_back(export: Any) -> None:
    _select(export, "choose")
    export.locator("a[data-open='choose/else_branch']").click()
    export.wait_for_selector("[data-id='else_neg']")
    assert export.locator(".mls-crumbs").inner_text().split() == [
        "main",
        "graph",
        "›",
        "choose",
        "›",
        "else_branch",
    ]
    export.locator(".mls-crumbs a", has_text="choose").click()
    export.wait_for_selector(f"[data-id='{LN_NAME}']")
    assert export.locator(".mls-panel h3").inner_text() == "choose"
    assert export.locator(".mls-crumbs").inner_text() == ""
    assert export.errors == []


def test_group_panel_shows_parameters_and_each_crossing_tensor_once(
    browser: Any, tmp_path: Path, model_path: Path
) -> None:
    payload = build_payload(load_model(model_path), details=True)
    group = next(g["id"] for g in payload["groups"] if g["id"].endswith("act"))
    page = _open(browser, tmp_path, payload, {"expand": "all", "selected": {"kind": "group", "id": group}})
    text = page.locator(".mls-panel").inner_text()
    assert "TENSORS ENTERING (1)" in text.upper() and text.count("\nln ") == 1
    parent = next(g["id"] for g in payload["groups"] if g["info"]["parameters"])
    page.context.close()
    page = _open(browser, tmp_path, payload, {"expand": "all", "selected": {"kind": "group", "id": parent}})
    assert "8 parameters (32 B)" in page.locator(".mls-panel").inner_text()
    page.context.close()


def test_model_strings_never_become_html(browser: Any, tmp_path: Path) -> None:
    payload = make_payload([("<img src=x onerror=alert(1)>", "Evil", "")], [])
    payload["nodes"][0]["doc"] = "k"
    payload["nodes"][0]["attrs"] = [["<b>x</b>", "<script>alert(1)</script>", 0]]
    payload["docs"] = {
        "k": {"op": "Evil", "text": "<img src=x onerror=alert(2)> [x](javascript:alert(3)) **ok**"}
    }
    page = _open(
        browser, tmp_path, payload, {"selected": {"kind": "node", "id": "<img src=x onerror=alert(1)>"}}
    )
    panel = page.locator(".mls-panel")
    assert panel.locator("img, script").count() == 0 and panel.locator("strong").count() == 1
    assert panel.locator("a[href^='javascript']").count() == 0
    assert "<script>alert(1)</script>" in panel.inner_text() and "<b>x</b>" in panel.inner_text()
    page.context.close()


def _settled(page: Any) -> None:
    """Wait until Streamlit has no rerun running (its status widget is gone)."""
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget] button')", timeout=60_000
    )
    page.wait_for_timeout(400)


def test_app_html_export_opens_with_the_current_view_and_selection(
    page: Any, app_url: str, tmp_path: Path
) -> None:
    """Click a node, LR, Expand all, then Export > Interactive HTML: the file opens with exactly
    that expansion, direction and selection (retest item 9: it had the rerun before's view and never
    the selection)."""
    model = Path(__file__).resolve().parents[2] / "sample_models" / "transformer_block.onnx"
    groups = [g["id"] for g in build_payload(load_model(model))["groups"]]
    page.goto(f"{app_url}/?model=sample:transformer_block.onnx")
    page.wait_for_selector("[data-id]", timeout=60_000)
    _settled(page)
    node = page.locator(".ml-node[data-id^='node_']").first
    node_id = str(node.get_attribute("data-id"))
    node.click()
    page.wait_for_function("id => location.href.includes('node=' + id)", arg=node_id, timeout=60_000)
    _settled(page)
    page.locator("[data-act='direction']").click()
    _settled(page)
    page.locator("[data-act='expandAll']").click()  # the last thing done before the export
    _settled(page)
    page.get_by_role("button", name="Export", exact=True).click()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Interactive HTML (this view)").click()
    html = Path(download.value.path()).read_text(encoding="utf-8")
    options = json.loads(re.search(r'id="ml-options">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert sorted(options["expanded"]) == sorted(groups)
    assert options["direction"] == "LR" and options["selected"] == {"kind": "node", "id": node_id}
    exported = tmp_path / "exported.html"
    exported.write_text(html, encoding="utf-8")
    viewer = page.context.new_page()
    viewer.goto(exported.as_uri())
    viewer.wait_for_selector("[data-id]")
    assert viewer.locator(".mls-panel h3").inner_text() == node_id
    assert viewer.locator(f".ml-node.ml-sel[data-id='{node_id}']").count() == 1
    assert "0 groups collapsed" in viewer.locator(".ml-status").inner_text() or "collapsed" not in (
        viewer.locator(".ml-status").inner_text()
    )
    viewer.close()


def test_an_edge_click_describes_its_tensor_with_every_consumer(export: Any) -> None:
    """``ln`` feeds Relu and Sigmoid: clicking the Relu edge lists both consumers (retest item 14)."""
    index = export.evaluate(
        """() => [...document.querySelectorAll('.ml-edge title')]
             .findIndex(t => t.textContent.split(/\\s/)[0] === 'ln')"""
    )
    assert index >= 0
    point = (
        export.locator(".ml-edge")
        .nth(index)
        .locator(".ml-hit")
        .evaluate(
            """p => { const q = p.getPointAtLength(p.getTotalLength() / 2).matrixTransform(p.getScreenCTM());
                  return [q.x, q.y]; }"""
        )
    )
    export.mouse.click(point[0], point[1])
    panel = export.locator(".mls-panel")
    panel.locator("h3", has_text="1 tensor").wait_for()
    consumers = panel.locator("table.mls-t .mls-empty").inner_text()
    assert consumers == "/encoder/layer.0/act/Relu, /encoder/layer.0/act/Sigmoid"
    assert panel.locator("a[data-node]").all_inner_texts() == [
        f"from {LN_NAME}",
        "to /encoder/layer.0/act/Relu",
        "to /encoder/layer.0/act/Sigmoid",
    ]
    panel.locator("a[data-node]").last.click()
    assert export.locator(".mls-panel h3").inner_text() == "/encoder/layer.0/act/Sigmoid"
    assert export.errors == []


def _fenced_blocks(doc: str) -> list[str]:
    """The fenced code blocks of an ONNX schema doc, each as its dedented lines joined."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in doc.splitlines():
        if line.strip().startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(textwrap.dedent("\n".join(current)).strip())
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_indented_onnx_doc_fences_render_as_code_blocks(export: Any) -> None:
    """LayerNormalization's doc indents every line by 6 spaces, its ``` blocks included: the
    export ran each block into one line of inline code; the app (st.markdown dedents) shows
    code blocks. Expected blocks come from onnx's own schema text."""
    import onnx.defs

    expected = _fenced_blocks(onnx.defs.get_schema("LayerNormalization").doc)
    assert len(expected) >= 2
    doc = export.locator(".mls-doc")
    blocks = [text.strip() for text in doc.locator("pre code").all_inner_texts()]
    assert blocks == expected
    assert "```" not in doc.inner_text()
    assert doc.locator("p").first.inner_text().startswith("This is layer normalization")


@pytest.mark.parametrize(
    ("text", "code", "in_list"),
    [
        # every line indented (as ONNX schemas write docs), then stripped
        (
            "Intro line.\n      More text.\n      ```\n      y = f(x)\n      ```\n      After.",
            "y = f(x)",
            False,
        ),
        # a fence indented by spaces under flush prose
        (
            "Intro line.\nMore text.\n      ```\n      a = b\n        c = d\n      ```\nAfter.",
            "a = b\n  c = d",
            False,
        ),
        # a fence indented inside a list item stays in the item
        ("Steps:\n\n* first step\n        ```\n        z = g(y)\n        ```\n* second", "z = g(y)", True),
    ],
)
def test_doc_fences_indented_by_spaces_render_as_code_blocks(
    browser: Any, tmp_path: Path, text: str, code: str, in_list: bool
) -> None:
    payload = make_payload([("x", "Input", ""), ("op", "Relu", "")], [(0, 1)])
    payload["nodes"][1]["doc"] = "ai.onnx.Relu.14"
    payload["docs"] = {"ai.onnx.Relu.14": {"op": "Relu", "text": text, "url": "", "since": 14, "attrs": {}}}
    page = _open(browser, tmp_path, payload, {"selected": {"kind": "node", "id": "op"}})
    try:
        doc = page.locator(".mls-doc")
        assert [t.rstrip("\n") for t in doc.locator("pre code").all_inner_texts()] == [code]
        assert "```" not in doc.inner_text()
        assert doc.locator("li pre").count() == (1 if in_list else 0)
    finally:
        page.context.close()
