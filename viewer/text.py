"""Showing model-provided text (names, file names, messages) literally in Streamlit's markdown."""

from __future__ import annotations

import html
import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$])")


def literal(text: str) -> str:
    """``text`` escaped so markdown renders it as written: no links, emphasis, HTML or LaTeX."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def literal_with_code(text: str) -> str:
    """``text`` escaped as ``literal`` does, except that its `code` spans (our own messages quote
    code that way) show as inline code."""
    parts = _CODE_SPAN.split(str(text))
    return "".join(literal(part) if i % 2 == 0 else f"`{part}`" for i, part in enumerate(parts))


def html_text(text: str) -> str:
    """``text`` escaped for HTML we build ourselves (unsafe_allow_html chips)."""
    return html.escape(str(text), quote=True)


_SEPARATOR = re.compile(r"(\\?[/._:])")


def breakable(text: str) -> str:
    """``text`` escaped as ``literal`` does, with a break opportunity (``<wbr>``) after each
    ``/ . _ :`` so a long name wraps between its parts instead of mid-token (it copies without
    extra characters). For ``st.markdown(..., unsafe_allow_html=True)``: the escaping keeps every
    ``<`` of the text literal, so only our ``<wbr>`` is HTML."""
    return _SEPARATOR.sub(r"\1<wbr>", literal(text))
