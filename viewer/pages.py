"""The Streamlit pages: the graph (canvas and inspector side by side) and the model summary.

UI only: model logic lives in converters/ and viewer's pure modules; session state, loading and
the one selection in viewer.app_state; the inspector panel in viewer.inspector. Pages are listed
in app.py's top navigation, where further pages (a Run panel) join.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from viewer import export_view, tables
from viewer.app_state import (
    canvas_key,
    current_model,
    drop_invalid_selection,
    graph_choice_label,
    graph_choice_selectors,
    has_load_error,
    model_picker,
    open_subgraph,
    preference,
    remember_preference,
    sample_names,
    select_node,
    show_load_error,
    switch_model,
    sync_url,
    take_canvas_event,
    toggle_value,
)
from viewer.colors import CATEGORY_STYLES
from viewer.inspector import inspector
from viewer.model_view import MAIN_GRAPH, OpenModel
from viewer.summary import human_bytes
from viewer.text import html_text, literal, literal_with_code

# The graph page fits the window: the canvas fills the rest of it (options.height = "fill") and
# the inspector beside it scrolls on its own, so the page itself never scrolls while exploring.
# Everything in the inspector wraps inside it instead of being cut. The header row starts below
# Streamlit's 3.75rem top bar, so all of every control in it can be seen and clicked; the model's
# name and counts are two lines, each shortened with its full text on hover. A load error opens
# at the top of the inspector (elsewhere it floats at the bottom right) and has a close button;
# warnings open from the header: neither moves nor covers the canvas.
PAGE_CSS = """
<style>
[data-testid="stMainBlockContainer"] {
  padding: 4rem 1rem 0.5rem 1rem; max-width: none;
}
.st-key-graph_header [data-testid="stMarkdownContainer"] p { margin-bottom: 0; line-height: 1.25; }
.st-key-graph_header .ml-title-line {
  display: block; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.st-key-graph_header .ml-title-line.ml-counts { font-size: 0.8rem; opacity: 0.8; }
.st-key-graph_header button p { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
[data-testid="stElementContainer"][class*="st-key-canvas_"],
[data-testid="stElementContainer"][class*="st-key-canvas_"] .stBidiComponent,
[data-testid="stElementContainer"][class*="st-key-canvas_"] [data-testid="stBidiComponentIsolated"] {
  height: auto !important; min-height: 0 !important; flex: 0 0 auto !important; overflow: visible !important;
}
[class*="st-key-inspector-"] {
  max-height: calc(100vh - 8.2rem); overflow-y: auto; overflow-x: hidden; padding-right: 0.4rem;
  scrollbar-gutter: stable;
}
[class*="st-key-inspector-"] :is(p, li, span, summary, code, td, th) { overflow-wrap: anywhere; }
[class*="st-key-inspector-"] pre, [class*="st-key-inspector-"] pre code { white-space: pre-wrap !important; }
[class*="st-key-inspector-"] [data-testid="stMarkdownContainer"] p,
[class*="st-key-inspector-"] [data-testid="stMarkdownContainer"] li { font-size: 0.875rem; }
[class*="st-key-inspector-"] button { justify-content: flex-start; min-height: 2rem; padding: 0.2rem 0.6rem; }
[class*="st-key-inspector-"] button > div, [class*="st-key-inspector-"] button > div > span {
  width: 100%; text-align: left; justify-content: flex-start;
}
[class*="st-key-inspector-"] button p {
  white-space: normal; text-align: left; overflow-wrap: anywhere; font-size: 0.85rem;
}
[class*="st-key-inspector-"] table { table-layout: fixed; width: 100%; }
div:has(> .st-key-load_error) {
  position: fixed; bottom: 1.2rem; right: 1.2rem; z-index: 999990; width: min(38rem, 90vw);
}
.st-key-load_error { box-shadow: 0 6px 24px rgba(0, 0, 0, 0.25); border-radius: 0.5rem; }
.st-key-load_error, .st-key-load_error_panel { position: relative; }
:is(.st-key-load_error, .st-key-load_error_panel) .st-key-dismiss_load_error {
  position: absolute; top: 0.35rem; right: 0.35rem; width: auto; z-index: 1;
}
:is(.st-key-load_error, .st-key-load_error_panel) [data-testid="stAlertContainer"] { padding-right: 2.6rem; }
</style>
"""


def model_or_welcome(error_here: bool = True) -> OpenModel | None:
    """The open model, named in the browser tab; with none, the welcome screen. A load error
    floats at the bottom right unless ``error_here`` is False and a model is open (the caller
    shows it, see ``_load_error_panel``)."""
    model = current_model()
    if error_here or model is None:
        with st.container(key="load_error"):
            show_load_error()
    if model is None:
        _welcome()
    else:
        st.set_page_config(page_title=f"{model.name} · ModelLens")
    return model


def graph_page() -> None:
    model = model_or_welcome(error_here=False)
    if model is None:
        return
    sub_id = st.session_state.subgraph if model.has_subgraph(st.session_state.subgraph) else MAIN_GRAPH
    key = canvas_key(model, sub_id)
    take_canvas_event(key)  # this rerun's click first: every view below draws from it
    drop_invalid_selection(model, sub_id)
    sync_url()  # one history entry per new selection; Back brings it back (app_state.follow_history)
    st.html(PAGE_CSS)
    _header(model, sub_id)
    show_inspector = preference("show_inspector")
    if show_inspector or has_load_error():  # a load error opens in the side panel, beside the canvas
        canvas_col, inspector_col = st.columns([7, 3], gap="small")
    else:  # collapsed: the canvas takes the whole width
        canvas_col, inspector_col = st.container(), None
    overlay = run_overlay(model, sub_id)
    with canvas_col:
        if sub_id != MAIN_GRAPH:
            _breadcrumb(model, sub_id)
        if overlay is not None:
            _overlay_bar(overlay)
        _canvas(model, sub_id, key, overlay if preference("overlay_shapes") else None)
    if inspector_col is not None:
        with inspector_col, st.container(key=_inspector_key()):
            _load_error_panel()
            if show_inspector:
                inspector(model, sub_id)


def _load_error_panel() -> None:
    """A load error (a bad drop) at the top of the inspector: beside the canvas, not over it."""
    if has_load_error():
        with st.container(key="load_error_panel"):
            show_load_error()


def _inspector_key() -> str:
    """One inspector element per selection, so a new selection starts reading at its top."""
    selection = json.dumps(st.session_state.selection, sort_keys=True)
    return f"inspector-{hashlib.sha1(selection.encode()).hexdigest()[:12]}"


def _welcome() -> None:
    st.title("ModelLens")
    st.markdown(
        "Drop a model file here, or pick a bundled sample, to see its graph, inspect every "
        "operator and tensor, and export the view."
    )
    model_picker("welcome", None)
    samples = sample_names()
    if samples:
        st.markdown("**Bundled samples**")
        cols = st.columns(len(samples))
        for col, name in zip(cols, samples, strict=True):
            col.button(
                name, key=f"welcome_{name}", on_click=switch_model, args=(f"sample:{name}",), width="stretch"
            )


def _header(model: OpenModel, sub_id: str) -> None:
    """One row: the model and what its numbers count (two lines), the graph shown (a SavedModel's
    signature and tag set, when it has several), the warnings met while opening, and the Open /
    Export menus. Its height never changes, so the inspector beside the canvas always starts at
    the same place; menus open over the page, so the canvas never moves."""
    choice = graph_choice_label(model)
    warnings = model.summary["warnings"]
    with st.container(key="graph_header"):
        menu_widths = ([3.0] if choice else []) + ([1.4] if warnings else [])
        widths = [4.8 if choice else 5.4, *menu_widths, 1.5, 1.1, 1.1]
        title, *menus, panel, opener, exporter = st.columns(widths, vertical_alignment="center", wrap=False)
        title.markdown(_title(model), unsafe_allow_html=True)
        # keyed menus: one left open across a rerun that opens another model (with other menus
        # beside it) stays that menu
        if choice:
            with menus.pop(0).popover(literal(choice), width="stretch", help=choice, key="graph_choice_menu"):
                graph_choice_selectors(model)
        if warnings:
            _warnings(menus.pop(0), warnings)
        panel.toggle(
            "Inspector",
            value=toggle_value("show_inspector"),
            key="show_inspector",
            on_change=remember_preference,
            args=("show_inspector",),
            help="Show or hide the side panel",
        )
        with opener.popover("Open…", width="stretch", key="open_menu"):
            model_picker("header", model)
        with exporter.popover("Export", width="stretch", key="export_menu"):
            _exports(model, sub_id)


def _warnings(column: Any, warnings: list[str]) -> None:
    """The problems met while opening, in a menu that opens over the page (the canvas stays put);
    the code they quote shows as code."""
    label = f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    with column.popover(
        label, icon=":material/warning:", width="stretch", help="Met while opening", key="warnings_menu"
    ):
        st.markdown(f"**{label} while opening the model**")
        for warning in warnings:
            st.markdown(f"- {literal_with_code(warning)}")


def _title(model: OpenModel) -> str:
    """The model's name over what its numbers count, each line shortened to the header's width
    with its full text on hover."""
    lines = [(model.name, "ml-name", f"**{literal(model.name)}**"), (_counts(model), "ml-counts", None)]
    return "".join(
        f'<span class="ml-title-line {css}" title="{html_text(text)}">{shown or literal(text)}</span>'
        for text, css, shown in lines
    )


def _counts(model: OpenModel) -> str:
    """What each number counts: operator nodes (constants included) of the main graph and of its
    control-flow bodies and functions; the canvas says how many of them it shows."""
    summary = model.summary
    inner = summary.get("subgraph_nodes", 0)
    bodies = f" (+{inner:,} in {summary['subgraphs']} subgraphs)" if summary["subgraphs"] else ""
    return (
        f"{summary['format_label']} · {summary['nodes']:,} operator nodes{bodies} · "
        f"{summary['parameters']:,} parameters"
    )


def _breadcrumb(model: OpenModel, sub_id: str) -> None:
    """main graph › owner node › body …: every item but the last opens its graph (and selects the
    node that owns the next body)."""
    trail = tables.subgraph_trail(model.graph.graph["subgraphs"], sub_id)
    row = st.container(horizontal=True, key="breadcrumb", gap="small")
    row.button("main graph", key="crumb_main", on_click=open_subgraph, args=(MAIN_GRAPH,), type="tertiary")
    parent = MAIN_GRAPH
    for i, (body, owner) in enumerate(trail):
        if owner:
            row.button(
                f"› {literal(owner)}",
                key=f"crumb_owner_{i}",
                on_click=_open_at,
                args=(parent, owner),
                type="tertiary",
            )
        rest = body[len(parent) + 1 :] if parent else body
        label = rest[len(owner) + 1 :] if owner else rest
        row.button(
            f"› {literal(label)}",
            key=f"crumb_body_{i}",
            on_click=open_subgraph,
            args=(body,),
            type="tertiary",
            disabled=body == sub_id,
        )
        parent = body


def _open_at(sub_id: str, node_id: str) -> None:
    open_subgraph(sub_id)
    select_node(node_id)


def run_overlay(model: OpenModel, sub_id: str) -> dict[str, Any] | None:
    """The Run page's last shapes/times for this model (viewer.run_page), main graph only."""
    overlay = st.session_state.get("run_overlay")
    if not overlay or overlay.get("model_key") != model.key or sub_id != MAIN_GRAPH:
        return None
    return dict(overlay)


def _overlay_bar(overlay: dict[str, Any]) -> None:
    """The toggle between the run's (spec) shapes and the file's, and where the run failed."""
    row = st.columns([1.6, 6], vertical_alignment="center")
    row[0].toggle(
        "Spec shapes",
        value=toggle_value("overlay_shapes"),
        key="overlay_shapes",
        on_change=remember_preference,
        args=("overlay_shapes",),
        help="On: shapes (and node times) of the last run on the Run page; off: the file's own shapes",
    )
    if overlay.get("failed"):
        row[1].error(literal(overlay["message"]), icon=":material/error:")
    else:
        timed = " and node times (tinted)" if overlay.get("heat") else ""
        row[1].caption(
            f"{len(overlay['nodes'])} node shapes{timed} from the last run ({literal(overlay['method'])})"
        )


def _canvas(model: OpenModel, sub_id: str, key: str, overlay: dict[str, Any] | None = None) -> None:
    from viewer.component import graph_canvas

    options = {
        "selected": st.session_state.selection,
        "focus": st.session_state.focus,
        "theme": _theme(),
        "height": "fill",
    }
    payload = model.payload(sub_id)
    if overlay is not None:
        payload = model.overlay_payload(
            sub_id, overlay.get("token", ""), overlay["nodes"], overlay.get("heat") or {}
        )
        if overlay.get("failed"):
            options["highlight"] = [overlay["failed"]]
    result = graph_canvas(payload, options, key=key, height="fill")
    latest = st.session_state.setdefault("export_view", {})  # read by the HTML export's download
    export_view.remember(latest, key, result.expanded, result.view, options)


def _theme() -> str:
    try:
        return "dark" if st.context.theme.type == "dark" else "light"
    except AttributeError:
        return "light"


# ---------------------------------------------------------------- exports


def _exports(model: OpenModel, sub_id: str) -> None:
    from viewer import render

    stem = Path(model.name).stem
    # the view as of the download (drawn after this menu; see viewer.export_view)
    latest, key = st.session_state.setdefault("export_view", {}), canvas_key(model, sub_id)
    # read now (the HTML is built when downloaded, outside this run): attribute references in a
    # function body resolve through the calls the user took, as in the inspector
    caller, callers = st.session_state.get("caller"), st.session_state.get("callers")
    st.download_button(
        "Interactive HTML (this view)",
        lambda: render.render_html(
            model.export_payload(sub_id, caller, callers), export_view.options_for(latest, key)
        ),
        file_name=f"{stem}.html",
        mime="text/html",
        on_click="ignore",
        key="dl_html",
        width="stretch",
    )
    _node_table_download(model, sub_id, key="dl_csv")
    st.caption("SVG, PNG and DOT of the current view: the Export menu in the canvas toolbar.")


# ---------------------------------------------------------------- summary page


def summary_page() -> None:
    model = model_or_welcome()
    if model is None:
        return
    summary, graph = model.summary, model.graph
    st.markdown(f"#### {literal(model.name)}")
    cols = st.columns(4)
    cols[0].metric("Format", summary["format_label"].split(",")[0], help=summary["format_label"])
    cols[1].metric(
        "Operator nodes",
        f"{summary['nodes'] + summary.get('subgraph_nodes', 0):,}",
        help=f"{summary['nodes']:,} in the main graph, {summary.get('subgraph_nodes', 0):,} in "
        f"{summary['subgraphs']} subgraphs (control-flow bodies and functions); constants included",
    )
    cols[2].metric("Parameters", f"{summary['parameters']:,}")
    cols[3].metric("Weights size", human_bytes(summary["parameter_bytes"]))
    facts = _facts(summary)
    st.dataframe(
        pd.DataFrame({"property": list(facts), "value": list(facts.values())}),
        hide_index=True,
        width="stretch",
    )
    for warning in summary["warnings"]:
        st.warning(literal_with_code(warning), icon=":material/warning:")
    left, right = st.columns(2)
    left.markdown("**Inputs**")
    left.dataframe(tables.io_table(graph, "inputs"), hide_index=True, width="stretch")
    right.markdown("**Outputs**")
    right.dataframe(tables.io_table(graph, "outputs"), hide_index=True, width="stretch")
    signatures = tables.signature_table(graph)
    if len(signatures) > 1:
        st.markdown("**Signatures**")
        st.dataframe(signatures, hide_index=True, width="stretch")
        graph_choice_selectors(model)
    metadata = tables.metadata_table(graph)
    if not metadata.empty:
        st.markdown("**Metadata**")
        st.dataframe(metadata, hide_index=True, width="stretch")
    st.markdown("**Operators** (main graph and subgraphs)")
    st.altair_chart(op_chart(tables.op_histogram(graph)), width="stretch", height="content")
    _node_table_download(model, MAIN_GRAPH, key="dl_csv_summary")


def _facts(summary: dict[str, Any]) -> dict[str, str]:
    return {
        "Format": summary["format_label"],
        "Producer": summary["producer"] or "–",
        "IR version": str(summary["ir_version"]) if summary["ir_version"] is not None else "–",
        "Opsets": ", ".join(f"{k} {v}" for k, v in (summary["opsets"] or {}).items()) or "–",
        "Edges": f"{summary['edges']:,}",
        "Subgraphs": f"{summary['subgraphs']} ({summary.get('subgraph_nodes', 0):,} operator nodes)",
        "sha256": summary["sha256"],
    }


def op_chart(histogram: pd.DataFrame) -> alt.Chart:
    """Op types by count: integer ticks, every label readable, categories named and coloured as
    the graph's legend names them (viewer.colors), the full legend of the categories present."""
    present = [c for c in CATEGORY_STYLES if c in set(histogram["category"])]
    frame = histogram.assign(
        category=[CATEGORY_STYLES.get(c, CATEGORY_STYLES["other"])["label"] for c in histogram["category"]]
    )
    labels = [CATEGORY_STYLES[c]["label"] for c in present]
    top = int(frame["count"].max()) if len(frame) else 1
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "count:Q",
                title="nodes",
                axis=alt.Axis(
                    tickMinStep=1, format="d", values=list(range(0, top + 1)) if top <= 10 else alt.Undefined
                ),
                scale=alt.Scale(domainMin=0, nice=top > 10),
            ),
            y=alt.Y("op_type:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=320)),
            color=alt.Color(
                "category:N",
                title="Category",
                scale=alt.Scale(domain=labels, range=[CATEGORY_STYLES[c]["fill"] for c in present]),
                legend=alt.Legend(orient="bottom", columns=4, labelLimit=200, symbolLimit=0),
            ),
            tooltip=[
                alt.Tooltip("op_type:N", title="op type"),
                alt.Tooltip("category:N"),
                alt.Tooltip("count:Q", title="nodes"),
            ],
        )
        .properties(height=alt.Step(22))
    )


def _node_table_download(model: OpenModel, sub_id: str, *, key: str) -> None:
    """The node table as CSV, built only when the button is clicked."""
    st.download_button(
        "Node table (CSV)",
        lambda: model.node_table(sub_id).to_csv(index=False),
        file_name=f"{Path(model.name).stem}-nodes.csv",
        mime="text/csv",
        on_click="ignore",
        key=key,
        width="stretch",
    )
