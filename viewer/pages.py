"""The Streamlit pages. UI only: model logic lives in converters/ and viewer's pure modules.

Every ModelLensError becomes one ``st.error`` line; the previously opened model stays.
"""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from converters import ModelLensError, ModelSource
from converters.schema import ModelGraph, format_shape
from viewer import tables
from viewer.colors import CATEGORY_STYLES
from viewer.model_view import MAIN_GRAPH, OpenModel, open_model
from viewer.summary import human_bytes

UPLOAD_HELP = (
    "Drop an .onnx file (add its external-data files alongside, or a .zip of them). "
    "Up to 4 GB here; bigger files open with `modellens PATH` on the command line."
)
SESSION_DEFAULTS: dict[str, Any] = {
    "model_key": None,
    "selected": None,
    "selected_edges": [],
    "focus": None,
    "subgraph": MAIN_GRAPH,
    "load_error": None,
    "cli_model": None,
    "uploader_version": 0,
}


# ---------------------------------------------------------------- state and model loading


def init_session_state(cli_model: str | None) -> None:
    """One place for session defaults; the URL's query parameters restore model and selection."""
    for key, value in SESSION_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.cli_model = cli_model
    if st.session_state.model_key is None:
        params = st.query_params
        wanted = params.get("model") or (f"path:{cli_model}" if cli_model else None)
        if wanted and _resolve_source_path(wanted) is not None:
            st.session_state.model_key = wanted
            st.session_state.subgraph = params.get("sub", MAIN_GRAPH)
            st.session_state.selected = params.get("node")
            st.session_state.focus = st.session_state.selected


def sample_models_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "sample_models", here.parent / "modellens" / "_app" / "sample_models"):
        if candidate.is_dir():
            return candidate
    return here.parent / "sample_models"


def sample_names() -> list[str]:
    return sorted(p.name for p in sample_models_dir().glob("*.onnx"))


@st.cache_resource(max_entries=32, show_spinner=False)
def _upload_store() -> dict[str, ModelSource]:
    """Uploaded files saved to temp dirs, by content hash, shared across sessions of this server."""
    return {}


_UPLOAD_LOCK = threading.Lock()


def _resolve_source_path(model_key: str) -> ModelSource | None:
    kind, _, value = model_key.partition(":")
    if kind == "sample" and value in sample_names():
        return ModelSource.from_path(sample_models_dir() / value)
    if kind == "path" and value and value == st.session_state.get("cli_model"):
        return ModelSource.from_path(value)
    if kind == "upload":
        return _upload_store().get(value)
    return None


@st.cache_resource(max_entries=4, show_spinner="Opening model…")
def _cached_model(model_key: str, _source: ModelSource, content_id: str) -> OpenModel:
    return open_model(model_key, _source)


def _open_cached(key: str, source: ModelSource) -> OpenModel:
    """Uploads are cached by content; files on disk by path and modification time."""
    content_id = (
        source.sha256 if key.startswith("upload:") else f"{source.path}:{source.path.stat().st_mtime}"
    )
    return _cached_model(key, source, content_id)


def current_model() -> OpenModel | None:
    """The open model, or None. A failing model reports its error and the previous one stays."""
    key = st.session_state.model_key
    if key is None:
        return None
    try:
        source = _resolve_source_path(key)
        if source is None:
            raise ModelLensError("The model in this link is no longer available", "open the file again")
        model = _open_cached(key, source)
    except ModelLensError as err:
        _fail(err)
        return _previous_model()
    st.session_state.previous_model_key = key
    st.query_params["model"] = key
    return model


def _previous_model() -> OpenModel | None:
    previous = st.session_state.get("previous_model_key")
    if previous and previous != st.session_state.model_key:
        st.session_state.model_key = previous
        return current_model()
    st.session_state.model_key = None
    st.query_params.clear()
    return None


def _fail(err: ModelLensError) -> None:
    st.session_state.load_error = err.one_line()
    st.session_state.load_error_snippet = getattr(err, "snippet", "")


def _switch_model(key: str) -> None:
    st.session_state.model_key = key
    st.session_state.update(
        selected=None, selected_edges=[], focus=None, subgraph=MAIN_GRAPH, load_error=None
    )
    st.query_params.clear()
    st.query_params["model"] = key


def _on_upload() -> None:
    files = st.session_state.get(f"uploader_{st.session_state.uploader_version}") or []
    if not files:
        return
    contents = [(f.name, f.getvalue()) for f in files]
    digest = hashlib.sha256()
    for name, data in sorted(contents):
        digest.update(name.encode())
        digest.update(hashlib.sha256(data).digest())
    content_id = digest.hexdigest()[:32]
    try:
        with _UPLOAD_LOCK:
            store = _upload_store()
            if content_id not in store:
                store[content_id] = ModelSource.from_uploads(contents)
    except ModelLensError as err:
        _fail(err)
        return
    _switch_model(f"upload:{content_id}")


def _on_sample() -> None:
    name = st.session_state.get("sample_choice")
    if name:
        _switch_model(f"sample:{name}")


def sidebar() -> None:
    with st.sidebar:
        st.markdown("### ModelLens")
        st.file_uploader(
            "Open a model",
            accept_multiple_files=True,
            help=UPLOAD_HELP,
            key=f"uploader_{st.session_state.uploader_version}",
            on_change=_on_upload,
        )
        samples = sample_names()
        if samples:
            st.selectbox(
                "…or a bundled sample",
                samples,
                index=None,
                placeholder="Pick a sample model",
                key="sample_choice",
                on_change=_on_sample,
            )
        st.caption("Large models: `modellens path/to/model.onnx` opens them straight from disk.")


def show_load_error() -> None:
    message = st.session_state.get("load_error")
    if message:
        st.error(message, icon=":material/warning:")
        snippet = st.session_state.get("load_error_snippet")
        if snippet:
            st.code(snippet, language="python")
        st.session_state.load_error = None
        st.session_state.load_error_snippet = ""


# ---------------------------------------------------------------- selection


def select_node(node_id: str | None) -> None:
    st.session_state.selected = node_id
    st.session_state.selected_edges = []
    st.session_state.focus = node_id
    if node_id:
        st.query_params["node"] = node_id
    elif "node" in st.query_params:
        del st.query_params["node"]


def open_subgraph(sub_id: str) -> None:
    st.session_state.subgraph = sub_id
    select_node(None)
    if sub_id:
        st.query_params["sub"] = sub_id
    elif "sub" in st.query_params:
        del st.query_params["sub"]


def _apply_canvas_event(event: Any) -> None:
    if not isinstance(event, dict):
        return
    if event.get("kind") == "node" and event.get("id"):
        st.session_state.selected = str(event["id"])
        st.session_state.selected_edges = []
        st.session_state.focus = None
        st.query_params["node"] = st.session_state.selected
    elif event.get("kind") == "edge":
        st.session_state.selected_edges = [int(i) for i in event.get("edges", [])][:50]


# ---------------------------------------------------------------- graph page


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
        _inspector(model, sub_id)
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
                on_click=_switch_model,
                args=(f"sample:{name}",),
                width="stretch",
            )


def _header(model: OpenModel, sub_id: str) -> None:
    summary = model.summary
    st.markdown(f"#### {model.name}")
    st.caption(
        f"{summary['format_label']} · {summary['producer'] or 'unknown producer'} · "
        f"{summary['nodes']:,} nodes · {summary['parameters']:,} parameters"
    )
    for warning in summary["warnings"][:3]:
        st.warning(warning, icon=":material/warning:")
    if sub_id != MAIN_GRAPH:
        crumbs = st.columns([1, 6])
        crumbs[0].button("⬅ main graph", key="crumb_main", on_click=open_subgraph, args=(MAIN_GRAPH,))
        crumbs[1].markdown(f"**main › {' › '.join(sub_id.split('/'))}**")


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
    st.session_state.canvas_view = {"expanded": _attr(result, "expanded"), **(_attr(result, "view") or {})}
    _apply_canvas_event(_attr(result, "select"))


def _attr(result: Any, name: str) -> Any:
    if result is None:
        return None
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def _theme() -> str:
    try:
        return "dark" if st.context.theme.type == "dark" else "light"
    except AttributeError:
        return "light"


# ---------------------------------------------------------------- inspector


def _inspector(model: OpenModel, sub_id: str) -> None:
    graph = model.graph_for(sub_id)
    if st.session_state.selected_edges:
        _tensor_panel(graph, model.payload(sub_id), st.session_state.selected_edges)
        return
    node_id = st.session_state.selected
    if not node_id or node_id not in graph:
        st.info("Click a node to inspect it, or an edge to see its tensor.", icon=":material/mouse:")
        _legend()
        return
    _node_panel(model, graph, node_id)


def _legend() -> None:
    chips = " ".join(
        f"<span style='background:{s['fill']};color:{s['text']};padding:1px 6px;border-radius:4px;"
        f"font-size:0.75rem;margin:2px;display:inline-block'>{s['label']}</span>"
        for s in CATEGORY_STYLES.values()
    )
    st.markdown(chips, unsafe_allow_html=True)


def _node_panel(model: OpenModel, graph: ModelGraph, node_id: str) -> None:
    data = graph.nodes[node_id]
    doc = tables.node_doc(graph, node_id)
    style = CATEGORY_STYLES.get(data["category"], CATEGORY_STYLES["other"])
    st.markdown(
        f"<span style='background:{style['fill']};color:{style['text']};padding:2px 8px;border-radius:4px;"
        f"font-weight:600'>{_esc(data['op_type'])}</span> <small>{_esc(data['domain'] or '')}</small>",
        unsafe_allow_html=True,
    )
    st.markdown(f"**{_esc(data['name'] or node_id)}**")
    if data["namespace"]:
        st.caption(f"in {data['namespace']}")
    if doc is not None:
        with st.expander(f"{doc.op_type} documentation (since opset {doc.since_version})"):
            st.markdown(doc.doc)
            st.markdown(f"[onnx.ai reference]({doc.url})")
    attributes = tables.attribute_table(graph, node_id, doc)
    if not attributes.empty:
        st.markdown("**Attributes**")
        st.dataframe(attributes, hide_index=True, width="stretch")
    _port_section("Inputs", tables.input_rows(graph, node_id, doc), "from", node_id)
    _port_section("Outputs", tables.output_rows(graph, node_id, doc), "to", node_id)
    if data["kind"] == "output" and data.get("tensor") is not None:
        info = data["tensor"]
        st.markdown(f"Graph output `{info.name}`: {info.dtype or '?'} {format_shape(info.shape)}")
    for port, info in sorted(data["weights"].items()):
        _weight_section(model, graph, node_id, port, info)
    for sub in data["subgraph_ids"]:
        st.button(f"Open subgraph {sub}", key=f"open_{sub}", on_click=open_subgraph, args=(sub,))
    if data.get("source"):
        with st.expander("Source (stack trace)"):
            st.code(data["source"])


def _port_section(title: str, rows: list[tables.PortRow], direction: str, node_id: str) -> None:
    if not rows:
        return
    st.markdown(f"**{title}**")
    for row in rows:
        st.markdown(f"`{row.formal}` **{_esc(row.tensor)}** · {row.dtype} · {row.shape or '–'}")
        if row.links:
            cols = st.columns(min(len(row.links), 3))
            for i, target in enumerate(row.links[:12]):
                cols[i % len(cols)].button(
                    f"{direction} {target}"[:40],
                    key=f"jump_{node_id}_{title}_{row.port}_{i}",
                    on_click=select_node,
                    args=(target,),
                )


def _weight_section(model: OpenModel, graph: ModelGraph, node_id: str, port: int, info: Any) -> None:
    with st.expander(f"Weight {info.name} · {info.dtype} · {format_shape(info.shape)}", expanded=port == 1):
        store = model.graph.graph.get("tensor_store")
        if store is None:
            st.caption("Values are not available for this format.")
            return
        try:
            values = _weight_values(model.key, info.name, store)
        except ModelLensError as err:
            st.warning(err.one_line())
            return
        stats = tables.tensor_stats(values)
        if stats.minimum is not None:
            cols = st.columns(4)
            for col, (label, value) in zip(
                cols,
                (("min", stats.minimum), ("max", stats.maximum), ("mean", stats.mean), ("std", stats.std)),
                strict=True,
            ):
                col.metric(label, f"{value:.4g}")
            chart = (
                alt.Chart(stats.histogram)
                .mark_bar()
                .encode(
                    x=alt.X("start:Q", title="value", bin="binned"),
                    x2="end:Q",
                    y=alt.Y("count:Q", title="count"),
                    tooltip=["start", "end", "count"],
                )
                .properties(height=120)
            )
            st.altair_chart(chart, width="stretch")
        st.caption(f"{stats.count:,} values; first {len(stats.preview)}:")
        st.code(np.array2string(np.asarray(stats.preview), precision=4, max_line_width=60), language=None)
        st.download_button(
            "Download .npy",
            lambda: _npy_bytes(values),
            file_name=f"{_safe_file(info.name)}.npy",
            on_click="ignore",
            key=f"npy_{node_id}_{port}",
        )


def _npy_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values)
    return buffer.getvalue()


@st.cache_data(max_entries=16, show_spinner=False)
def _weight_values(model_key: str, name: str, _store: Any) -> np.ndarray:
    return np.asarray(_store.array(name))


def _tensor_panel(graph: ModelGraph, payload: dict[str, Any], edge_indices: list[int]) -> None:
    nodes = payload["nodes"]
    for index in edge_indices[:10]:
        if index >= len(payload["edges"]):
            continue
        src_i, dst_i, tensor, shape, dtype = payload["edges"][index]
        src, dst = nodes[src_i]["id"], nodes[dst_i]["id"]
        st.markdown(f"**Tensor** `{tensor}`")
        st.caption(f"{dtype or '?'} · {shape or 'shape unknown'}")
        edge = next(
            (d for d in graph.get_edge_data(src, dst, default={}).values() if d["tensor"] == tensor), None
        )
        consumers = tables.tensor_consumers(graph, src, edge["src_port"]) if edge else [dst]
        st.button(f"producer: {src}"[:48], key=f"prod_{index}", on_click=select_node, args=(src,))
        for i, consumer in enumerate(consumers[:12]):
            st.button(
                f"consumer: {consumer}"[:48], key=f"cons_{index}_{i}", on_click=select_node, args=(consumer,)
            )
    if len(edge_indices) > 10:
        st.caption(f"… and {len(edge_indices) - 10} more tensors between these groups")


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
    middle.download_button(
        "Node table (CSV)",
        lambda: model.node_table(sub_id).to_csv(index=False),
        file_name=f"{stem}-nodes.csv",
        mime="text/csv",
        on_click="ignore",
        key="dl_csv",
    )
    right.caption("SVG, PNG and DOT of the current view: the ⤓ buttons in the canvas toolbar.")


# ---------------------------------------------------------------- summary page


def summary_page() -> None:
    model = _model_or_welcome()
    if model is None:
        return
    summary, graph = model.summary, model.graph
    st.markdown(f"#### {model.name}")
    cols = st.columns(4)
    cols[0].metric("Format", summary["format_label"].split(",")[0], help=summary["format_label"])
    cols[1].metric("Nodes", f"{summary['nodes']:,}")
    cols[2].metric("Parameters", f"{summary['parameters']:,}")
    cols[3].metric("Weights size", human_bytes(summary["parameter_bytes"]))
    facts = {
        "Format": summary["format_label"],
        "Producer": summary["producer"] or "–",
        "IR version": summary["ir_version"],
        "Opsets": ", ".join(f"{k} {v}" for k, v in summary["opsets"].items()) or "–",
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
        st.warning(warning, icon=":material/warning:")
    left, right = st.columns(2)
    left.markdown("**Inputs**")
    left.dataframe(tables.io_table(graph, "inputs"), hide_index=True, width="stretch")
    right.markdown("**Outputs**")
    right.dataframe(tables.io_table(graph, "outputs"), hide_index=True, width="stretch")
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
            y=alt.Y("op_type:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.Color(
                "category:N",
                scale=alt.Scale(domain=domain, range=[CATEGORY_STYLES[c]["fill"] for c in domain]),
            ),
            tooltip=["op_type", "category", "count"],
        )
        .properties(height=max(120, 22 * len(histogram)))
    )
    st.altair_chart(chart, width="stretch")
    st.download_button(
        "Node table (CSV)",
        lambda: model.node_table(MAIN_GRAPH).to_csv(index=False),
        file_name=f"{Path(model.name).stem}-nodes.csv",
        mime="text/csv",
        on_click="ignore",
        key="dl_csv_summary",
    )


# ---------------------------------------------------------------- helpers


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _safe_file(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:80] or "tensor"
