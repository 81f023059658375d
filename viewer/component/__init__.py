"""The interactive graph canvas: a Streamlit custom component (v2) around the engine bundle.

``graph_canvas(payload, options, key=...)`` mounts the canvas (pan/zoom, toolbar, expand/collapse,
selection) and returns what the user did: the expanded group ids, the view toggles, and the last
clicked node or edge (a trigger: set for one rerun only). The payload and options follow
``CONTRACT.md`` next to this file. This module and the pages are the only importers of streamlit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from viewer.render import bundle_source

if TYPE_CHECKING:
    from streamlit.components.v2.types import ComponentRenderer

__all__ = ["COMPONENT_NAME", "CanvasResult", "bundle_js", "graph_canvas"]

COMPONENT_NAME = "modellens.graph_canvas"


@dataclass(frozen=True)
class CanvasResult:
    """What the canvas reported. ``select`` is set only on the rerun right after a click."""

    expanded: list[str] | None
    view: dict[str, Any] | None
    select: dict[str, Any] | None


@functools.lru_cache(maxsize=1)
def bundle_js() -> str:
    """The bundle as an ES module whose default export is the Streamlit component function."""
    return f"{bundle_source()}\nexport default ModelLensGraph.component;\n"


@functools.lru_cache(maxsize=1)
def _renderer() -> ComponentRenderer:
    import streamlit as st

    return st.components.v2.component(COMPONENT_NAME, js=bundle_js(), isolate_styles=True)


def _ignore() -> None:
    """State callbacks must exist for Streamlit to accept the state keys; nothing to do here."""


def graph_canvas(
    payload: dict[str, Any],
    options: dict[str, Any],
    *,
    key: str,
    height: int | Literal["fill"] = 640,
) -> CanvasResult:
    """Mount the graph canvas and return the expanded groups, view toggles and last selection.

    ``height`` is in px, or ``"fill"``: the canvas takes the browser window's height below its
    top edge (less a 12 px margin, at least 320 px) and follows the window as it resizes.
    ``select`` is ``{"kind": "node", "id"}``, ``{"kind": "edge", "edges": [payload edge
    indices]}``, ``{"kind": "group", "id"}`` or ``{"kind": "none"}`` (Escape / background click).
    """
    result = _renderer()(
        key=key,
        data={"payload": payload, "options": options, "key": key, "height": height},
        height="content" if height == "fill" else height,
        on_expanded_change=_ignore,
        on_view_change=_ignore,
        on_select_change=_ignore,
    )
    return CanvasResult(
        expanded=result.get("expanded"),
        view=result.get("view"),
        select=result.get("select"),
    )
