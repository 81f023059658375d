"""Model-provided names are shown literally, never interpreted as markdown or HTML."""

from __future__ import annotations

import pytest

from viewer.text import html_text, literal


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("/encoder/layer.0/MatMul", "/encoder/layer\\.0/MatMul"),
        ("[click](javascript:alert(1))", "\\[click\\]\\(javascript\\:alert\\(1\\)\\)"),
        ("**bold** _it_ `code` $x$", "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\$x\\$"),
        ("<script>", "\\<script\\>"),
    ],
)
def test_literal_escapes_markdown(raw: str, escaped: str) -> None:
    assert literal(raw) == escaped


def test_html_text_escapes_markup() -> None:
    assert html_text('<b a="1">&') == "&lt;b a=&quot;1&quot;&gt;&amp;"
