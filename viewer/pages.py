"""The Streamlit pages: the graph (canvas, search, inspector, exports) and the model summary.

UI only: model logic lives in converters/ and viewer's pure modules; session state and loading in
viewer.app_state; the inspector panel in viewer.inspector.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from converters.schema import ModelGraph
from viewer import tables
from viewer.app_state import (
    apply_canvas_event,
    current_model,
    open_subgraph,
    sample_names,
    select_node,
    show_load_error,
    switch_model,
)
from viewer.colors import CATEGORY_STYLES
from viewer.inspector import inspector
from viewer.model_view import MAIN_GRAPH, OpenModel
from viewer.summary import human_bytes
from viewer.text import literal


def _model_or_welcome() -> OpenModel | None:
    """The open model; with none, the welcome screen. Load errors show above either."""
    model = current_model()
    show_load_error()
    if model is None:
        _welcome()
    return model


def graph_page() -> None:
    model = _model_or_welcome()
    if model is None:
        return
    sub_id = st.session_state.subgraph if model.has_subgraph(st.session_state.subgraph) else MAIN_GRAPH
    graph = model.graph_for(sub_id)
    _header(model, sub_id)
    highlight = _search_box(graph)
    canvas_col, inspector_col = st.columns([5, 2], gap="medium")
    with canvas_col:
        _canvas(model, sub_id, highlight)
    with inspector_col:
        inspector(model, sub_id)
    _exports(model, sub_id)


def _welcome() -> None:
    st.title("ModelLens")
    st.markdown(
        "Drop a model file in the sidebar, or pick a bundled sample, to see its graph, inspect every "
        "operator and tensor, and export the view."
    )
    samples = sample_names()
    if samples:
        cols = st.columns(len(samples))
        for col, name in zip(cols, samples, strict=True):
            col.button(
                name,
                key=f"welcome_{name}",
                on_click=switch_model,
                args=(f"sample:{name}",),
                width="stretch",
            )


def _header(model: OpenModel, sub_id: str) -> None:
    summary = model.summary
    st.markdown(f"#### {literal(model.name)}")
    st.caption(
        f"{summary['format_label']} · {summary['producer'] or 'unknown producer'} · "
        f"{summary['nodes']:,} nodes · {summary['parameters']:,} parameters"
    )
    for warning in summary["warnings"][:3]:
        st.warning(literal(warning), icon=":material/warning:")
    if sub_id != MAIN_GRAPH:
        crumbs = st.columns([1, 6])
        crumbs[0].button("⬅ main graph", key="crumb_main", on_click=open_subgraph, args=(MAIN_GRAPH,))
        crumbs[1].markdown(f"**main › {' › '.join(literal(part) for part in sub_id.split('/'))}**")


def _search_box(graph: ModelGraph) -> list[str]:
    left, right = st.columns([2, 3])
    query = left.text_input(
        "Search", key="search", placeholder="node name, op type or tensor", label_visibility="collapsed"
    )
    hits = tables.search_nodes(graph, query) if query else []
    if query:
        labels = {hit.node_id: hit.label for hit in hits}
        right.selectbox(
            f"{len(hits)}{'+' if len(hits) >= tables.SEARCH_LIMIT else ''} matches",
            list(labels),
            index=None,
            format_func=lambda node_id: labels[node_id],
            placeholder=f"{len(hits)} match(es) — pick one to jump to it" if hits else "no matches",
            key=f"search_pick_{query}",
            on_change=_on_search_pick,
            args=(f"search_pick_{query}",),
            label_visibility="collapsed",
        )
    return [hit.node_id for hit in hits]


def _on_search_pick(widget_key: str) -> None:
    node_id = st.session_state.get(widget_key)
    if node_id:
        select_node(node_id)


def _canvas(model: OpenModel, sub_id: str, highlight: list[str]) -> None:
    from viewer.component import graph_canvas

    options = {
        "selected": st.session_state.selected,
        "focus": st.session_state.focus,
        "highlight": highlight,
        "theme": _theme(),
    }
    result = graph_canvas(model.payload(sub_id), options, key=f"canvas_{model.key}_{sub_id}", height=680)
    st.session_state.canvas_view = {"expanded": result.expanded, **(result.view or {})}
    apply_canvas_event(result.select)


def _theme() -> str:
    try:
        return "dark" if st.context.theme.type == "dark" else "light"
    except AttributeError:
        return "light"


# ---------------------------------------------------------------- exports


def _exports(model: OpenModel, sub_id: str) -> None:
    from viewer import render

    view = st.session_state.get("canvas_view") or {}
    left, middle, right = st.columns(3)
    stem = Path(model.name).stem
    options = {k: v for k, v in view.items() if v is not None}
    payload = model.payload(sub_id)
    left.download_button(
        "Interactive HTML (this view)",
        lambda: render.render_html(payload, options),
        file_name=f"{stem}.html",
        mime="text/html",
        on_click="ignore",
        key="dl_html",
    )
    with middle:
        _node_table_download(model, sub_id, key="dl_csv")
    right.caption("SVG, PNG and DOT of the current view: the ⤓ buttons in the canvas toolbar.")


# ---------------------------------------------------------------- summary page


def summary_page() -> None:
    model = _model_or_welcome()
    if model is None:
        return
    summary, graph = model.summary, model.graph
    st.markdown(f"#### {literal(model.name)}")
    cols = st.columns(4)
    cols[0].metric("Format", summary["format_label"].split(",")[0], help=summary["format_label"])
    cols[1].metric("Nodes", f"{summary['nodes']:,}")
    cols[2].metric("Parameters", f"{summary['parameters']:,}")
    cols[3].metric("Weights size", human_bytes(summary["parameter_bytes"]))
    facts = {
        "Format": summary["format_label"],
        "Producer": summary["producer"] or "–",
        "IR version": summary["ir_version"] if summary["ir_version"] is not None else "–",
        "Opsets": ", ".join(f"{k} {v}" for k, v in (summary["opsets"] or {}).items()) or "–",
        "Edges": f"{summary['edges']:,}",
        "Subgraphs": summary["subgraphs"],
        "sha256": summary["sha256"],
    }
    st.dataframe(
        pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]}),
        hide_index=True,
        width="stretch",
    )
    for warning in summary["warnings"]:
        st.warning(literal(warning), icon=":material/warning:")
    left, right = st.columns(2)
    left.markdown("**Inputs**")
    left.dataframe(tables.io_table(graph, "inputs"), hide_index=True, width="stretch")
    right.markdown("**Outputs**")
    right.dataframe(tables.io_table(graph, "outputs"), hide_index=True, width="stretch")
    signatures = tables.signature_table(graph)
    if len(signatures) > 1:
        st.markdown("**Signatures** (pick one in the sidebar)")
        st.dataframe(signatures, hide_index=True, width="stretch")
    metadata = tables.metadata_table(graph)
    if not metadata.empty:
        st.markdown("**Metadata**")
        st.dataframe(metadata, hide_index=True, width="stretch")
    st.markdown("**Operators**")
    histogram = tables.op_histogram(graph)
    domain = list(CATEGORY_STYLES)
    chart = (
        alt.Chart(histogram)
        .mark_bar()
        .encode(
            x=alt.X("count:Q"),
            y=alt.Y("op_type:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=320)),
            color=alt.Color(
                "category:N",
                scale=alt.Scale(domain=domain, range=[CATEGORY_STYLES[c]["fill"] for c in domain]),
            ),
            tooltip=["op_type", "category", "count"],
        )
        .properties(height=max(120, 22 * len(histogram)))
    )
    st.altair_chart(chart, width="stretch")
    _node_table_download(model, MAIN_GRAPH, key="dl_csv_summary")


def _node_table_download(model: OpenModel, sub_id: str, *, key: str) -> None:
    """The node table as CSV, built only when the button is clicked."""
    st.download_button(
        "Node table (CSV)",
        lambda: model.node_table(sub_id).to_csv(index=False),
        file_name=f"{Path(model.name).stem}-nodes.csv",
        mime="text/csv",
        on_click="ignore",
        key=key,
    )
