"""The inspector panel: the one selection (viewer.app_state) in full — a node's documentation,
attributes, ports with jump links and weights with statistics; a tensor's producer and consumers;
a group's path, op mix, parameters and the tensors crossing its border. Streamlit-bound; its data
comes from viewer.tables. Everything shown wraps inside the panel (see viewer.layout's CSS)."""

from __future__ import annotations

import io
from typing import Any

import altair as alt
import numpy as np
import streamlit as st

from converters import ModelLensError
from converters.schema import ModelGraph, TensorInfo, format_shape, referenced_attribute
from viewer import tables
from viewer.app_state import open_subgraph, select_group, select_node, selected
from viewer.colors import CATEGORY_STYLES
from viewer.hierarchy import group_label
from viewer.inspector_data import MAX_LINKS, body_link_label, group_counts_text
from viewer.model_view import MAIN_GRAPH, OpenModel
from viewer.summary import human_bytes
from viewer.text import breakable, html_text, literal

_STAT_HELP = {"std": "sample standard deviation (n − 1), as torch.Tensor.std() gives it"}


def inspector(model: OpenModel, sub_id: str) -> None:
    """The panel for the current selection, or a hint when nothing is selected."""
    graph = model.graph_for(sub_id)
    if graph.graph.get("function_info"):
        _function_card(graph.graph["function_info"])
    if selected("edge"):
        _tensor_panel(graph, model.payload(sub_id), selected("edge"))
    elif selected("group"):
        _group_panel(model, sub_id, selected("group"))
    elif selected("node"):
        _node_panel(model, sub_id, graph, selected("node"))
    else:
        st.info(
            "Click a node to inspect it, an edge to see its tensor, or a group's title for its contents.",
            icon=":material/mouse:",
        )


def _function_card(info: dict[str, Any]) -> None:
    """A function's declaration: identity, doc string, opset imports, attributes with defaults."""
    overload = f" · overload {literal(info['overload'])}" if info["overload"] else ""
    with st.expander(f"Function {literal(info['name'])} · domain {literal(info['domain'] or '-')}{overload}"):
        if info["doc"]:
            st.markdown(literal(info["doc"]))
        opsets = ", ".join(f"{literal(d)} {v}" for d, v in info["opsets"].items())
        st.caption(f"Opset imports: {opsets or 'none'}")
        rows = [
            {"attribute": name, "default": "required" if value is None else tables.attribute_text(value, {})}
            for name, value in info["attributes"].items()
        ]
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
        for key, value in info["metadata"].items():
            st.caption(f"{literal(key)}: {literal(value)}")


def _link(label: str, key: str, on_click: Any, *args: Any) -> None:
    """A full-width jump button; its label wraps instead of being cut."""
    st.button(label, key=key, on_click=on_click, args=args, width="stretch")


def _node_links(title: str, targets: tuple[str, ...] | list[str], key: str) -> None:
    for i, target in enumerate(targets[:MAX_LINKS]):
        _link(f"{title} {literal(target)}", f"{key}_{i}", select_node, target)
    if len(targets) > MAX_LINKS:
        st.caption(f"… and {len(targets) - MAX_LINKS} more")


def _group_path(model: OpenModel, sub_id: str, group_id: str, key: str) -> None:
    """The group's ancestors, outermost first, each a button that selects that group."""
    grouping = model.grouping(sub_id)
    if group_id not in grouping.groups:
        return
    chain = grouping.ancestors(group_id)
    cols = st.columns(len(chain)) if len(chain) <= 3 else None
    for i, ancestor in enumerate(chain):
        target = cols[i] if cols else st
        target.button(
            f"{'› ' if i else ''}{literal(group_label(ancestor))}",
            key=f"{key}_{i}",
            on_click=select_group,
            args=(ancestor,),
            help=ancestor.replace("∕", "/"),
            width="stretch",
        )


# ---------------------------------------------------------------- node


def _node_panel(model: OpenModel, sub_id: str, graph: ModelGraph, node_id: str) -> None:
    data = graph.nodes[node_id]
    doc = tables.node_doc(graph, node_id)
    style = CATEGORY_STYLES.get(data["category"], CATEGORY_STYLES["other"])
    st.markdown(
        f"<span style='background:{style['fill']};color:{style['text']};padding:2px 8px;border-radius:4px;"
        f"font-weight:600'>{html_text(data['op_type'])}</span> "
        f"<small>{html_text(' · '.join(filter(None, (_domain_note(data), style['label']))))}</small>",
        unsafe_allow_html=True,
    )
    st.markdown(f"**{breakable(data['name'] or node_id)}**", unsafe_allow_html=True)
    group = model.grouping(sub_id).node_group.get(node_id, "")
    if group:
        st.caption("In group")
        _group_path(model, sub_id, group, f"path_{node_id}")
    elif data["namespace"]:
        st.caption(f"in {literal(tables.namespace_text(graph, data['namespace']))}")
    if data.get("denotation"):
        st.caption(f"Denotation: {literal(data['denotation'])}")
    if data["kind"] in ("input", "output") and data.get("doc"):
        st.caption(literal(data["doc"]))
    if doc is not None:
        since = f" (since opset {doc.since_version})" if doc.since_version else ""
        with st.expander(f"{doc.op_type} documentation{since}"):
            st.markdown(doc.doc)
            st.markdown(f"[{'onnx.ai' if doc.domain != 'tensorflow' else 'TensorFlow'} reference]({doc.url})")
    elif data.get("doc") and data["kind"] == "op":
        with st.expander("Operator schema"):
            st.code(data["doc"], language=None, wrap_lines=True)
    if data.get("schema"):
        st.code(data["schema"], language=None, wrap_lines=True)
    bindings = {}
    if any(referenced_attribute(v) for v in data["attributes"].values()):
        bindings = tables.attribute_bindings(
            model.graph, sub_id, st.session_state.get("caller"), callers=st.session_state.get("callers")
        )
    attributes = tables.attribute_rows(graph, node_id, doc, bindings)
    _attributes(attributes, model, node_id)
    run_inputs, run_outputs = _run_shapes(model, sub_id, graph, node_id)
    _port_section("Inputs", _with_run(tables.input_rows(graph, node_id, doc), run_inputs), "from", node_id)
    _port_section("Outputs", _with_run(tables.output_rows(graph, node_id, doc), run_outputs), "to", node_id)
    _run_section(model, sub_id, node_id)
    if data["kind"] == "output" and data.get("tensor") is not None:
        info = data["tensor"]
        st.markdown(f"Graph output **{literal(info.name)}**: {info.dtype or '?'} {format_shape(info.shape)}")
    for port, info in sorted(data["weights"].items()):
        _weight_section(model, graph, node_id, port, info)
    linked = {s for row in attributes for s in row.subgraphs}
    for sub in data["subgraph_ids"]:
        if sub in linked or not model.has_subgraph(sub):
            continue
        is_function = model.graph_for(sub).graph.get("function") == sub
        kind = "function" if is_function else "subgraph"
        caller = (sub_id, node_id) if is_function else None
        _link(f"Open {kind} {literal(sub)}", f"open_{sub}", open_subgraph, sub, caller)
    if data.get("source") and "\n" not in data["source"]:
        st.caption(f"Source: {literal(data['source'])}")
    elif data.get("source"):
        with st.expander("Source (stack trace)"):
            st.code(data["source"], language=None, wrap_lines=True)


def _run_shapes(
    model: OpenModel, sub_id: str, graph: ModelGraph, node_id: str
) -> tuple[dict[int, Any], dict[int, Any]]:
    """The last run's shapes of this node's ports (main graph only): see run_panel.run_port_shapes."""
    from viewer.run_panel import run_port_shapes

    overlay = st.session_state.get("run_overlay")
    if not overlay or overlay.get("model_key") != model.key or sub_id != MAIN_GRAPH:
        return {}, {}
    return run_port_shapes(graph, overlay, node_id)


def _with_run(rows: list[tables.PortRow], shapes: dict[int, Any]) -> list[tables.PortRow]:
    """Port rows whose shape is the last run's (the spec's), where the run reached the port."""
    from dataclasses import replace

    return [
        replace(row, shape=f"{format_shape(shapes[row.port])} (this run)") if row.port in shapes else row
        for row in rows
    ]


def _run_section(model: OpenModel, sub_id: str, node_id: str) -> None:
    """The last run's shapes of this node's outputs, its time, and its failure (viewer.run_page)."""
    overlay = st.session_state.get("run_overlay")
    if not overlay or overlay.get("model_key") != model.key or sub_id != MAIN_GRAPH:
        return
    if overlay.get("failed") == node_id:
        st.error(f"The run fails here: {literal(overlay['message'])}", icon=":material/error:")
    shapes = overlay["nodes"].get(node_id)
    if shapes:
        texts = ", ".join(f"{port}: {format_shape(shape)}" for port, shape in enumerate(shapes))
        st.markdown(f"**Spec shapes** (last run) {literal(texts)}")
    heat = (overlay.get("heat") or {}).get(node_id)
    if heat:
        st.caption(f"Time: {heat:.0%} of the slowest node's")


def _attributes(rows: list[tables.AttributeRow], model: OpenModel, node_id: str) -> None:
    if not rows:
        return
    st.markdown("**Attributes**")
    for row in rows:
        default = " *(default)*" if row.is_default else ""
        if row.subgraphs:
            st.markdown(f"**{literal(row.name)}**{default}")
            for sub in row.subgraphs:
                if model.has_subgraph(sub):
                    label = body_link_label(model.graph.graph["subgraphs"], sub)
                    _link(literal(label), f"attr_{node_id}_{sub}", open_subgraph, sub)
        else:
            st.markdown(f"**{literal(row.name)}** = {literal(row.value)}{default}")
        if row.description:
            st.caption(literal(row.description))


def _domain_note(data: dict[str, Any]) -> str:
    """The operator's domain, unless its name already says it (``aten::conv2d``)."""
    domain = data["domain"] or ""
    return "" if str(data["op_type"]).startswith(f"{domain}::") else domain


def _port_section(title: str, rows: list[tables.PortRow], direction: str, node_id: str) -> None:
    if not rows:
        return
    st.markdown(f"**{title}**")
    for row in rows:
        st.markdown(
            f"{literal(row.formal)}: **{breakable(row.tensor)}** · {row.dtype} · {row.shape or '–'}",
            unsafe_allow_html=True,
        )
        _node_links(direction, row.links, f"jump_{node_id}_{title}_{row.port}")


def _weight_section(model: OpenModel, graph: ModelGraph, node_id: str, port: int, info: TensorInfo) -> None:
    size = f" · {human_bytes(info.nbytes)}" if info.nbytes is not None else ""
    label = f"Weight {literal(info.name)} · {info.dtype} · {format_shape(info.shape)}{size}"
    with st.expander(label, expanded=port == 1):
        store = model.graph.graph.get("tensor_store")
        if store is None:
            st.caption("Values are not available for this format.")
            return
        doc = graph.graph.get("weight_docs", {}).get(info.name)
        if doc:
            st.caption(literal(doc))
        scope = graph.graph.get("tensor_scope")  # the weights of this graph, not a namesake's
        try:
            sparse = store.sparse_parts(info.name, scope) if hasattr(store, "sparse_parts") else None
            if sparse is not None:
                _sparse_section(sparse, info.name, f"{node_id}_{port}")
                return
            values = _weight_values(model.key, info.name, scope, store)
        except ModelLensError as err:
            st.warning(literal(err.one_line()))
            return
        _values_section(tables.tensor_stats(values))
        st.download_button(
            "Download .npy",
            lambda: _npy_bytes(values),
            file_name=f"{_safe_file(info.name)}.npy",
            on_click="ignore",
            key=f"npy_{node_id}_{port}",
        )


def _values_section(stats: tables.TensorStats, what: str = "values") -> None:
    """Statistics on one wrapping line (each number kept whole), a histogram and a preview."""
    if stats.minimum is not None:
        cols = st.columns(4)
        for col, (label, value) in zip(
            cols,
            (("min", stats.minimum), ("max", stats.maximum), ("mean", stats.mean), ("std", stats.std)),
            strict=True,
        ):
            col.metric(label, f"{value:.4g}", help=_STAT_HELP.get(label))
        pairs = (("min", stats.minimum), ("max", stats.maximum), ("mean", stats.mean), ("std", stats.std))
        st.markdown(" · ".join(f"**{name}**\u00a0{_num(value)}" for name, value in pairs))
        chart = (
            alt.Chart(stats.histogram)
            .mark_bar()
            .encode(
                x=alt.X("start:Q", title="value", bin="binned"),
                x2="end:Q",
                y=alt.Y("count:Q", title="count", axis=alt.Axis(tickMinStep=1, format="d")),
                tooltip=["start", "end", "count"],
            )
            .properties(height=120)
        )
        st.altair_chart(chart, width="stretch")
    zeros = f", {stats.zeros:,} zeros" if stats.zeros else ""
    st.caption(f"{stats.count:,} {what}{zeros}; first {len(stats.preview)}:")
    st.code(", ".join(str(v) for v in stats.preview), language=None, wrap_lines=True)


def _sparse_section(parts: Any, name: str, key: str) -> None:
    """What a sparse initializer stores: its values (with statistics) and indices, how dense it is;
    the dense array is built for the .npy only when its indices fit and it is not too large."""
    st.caption(
        f"Sparse: {parts.values.size:,} stored values of {parts.dense_elements:,} "
        f"({density_text(parts.density)} dense), indices {parts.indices.dtype} "
        f"{list(parts.indices.shape)}. Indices, first {tables.PREVIEW_VALUES}:"
    )
    preview = np.asarray(parts.indices)[: tables.PREVIEW_VALUES]
    st.code(np.array2string(preview, max_line_width=60), language=None, wrap_lines=True)
    _values_section(tables.tensor_stats(parts.values), "stored values")
    problem = parts.problem()
    if problem is not None:
        st.warning(literal(f"Its indices do not fit its shape: {problem}. Fix: re-export the model."))
    elif parts.dense_bytes > parts.limit_bytes:
        st.caption(
            f"No dense .npy: it would hold {parts.dense_elements:,} {parts.values.dtype} values "
            f"({human_bytes(parts.dense_bytes)}), over the {human_bytes(parts.limit_bytes)} limit; "
            "the .npz below holds the stored values and indices."
        )
    else:
        st.download_button(
            "Download dense .npy",
            lambda: _npy_bytes(parts.dense(name)),
            file_name=f"{_safe_file(name)}.npy",
            on_click="ignore",
            key=f"npy_{key}",
        )
    st.download_button(
        "Download stored values and indices (.npz)",
        lambda: _npz_bytes(values=parts.values, indices=parts.indices, shape=np.array(parts.dense_shape)),
        file_name=f"{_safe_file(name)}_sparse.npz",
        on_click="ignore",
        key=f"npz_{key}",
    )


def density_text(density: float) -> str:
    """``50.00%``; tiny densities in scientific notation (``1e-12``), never a misleading 0.00%."""
    return f"{density:.2%}" if density == 0 or density >= 1e-4 else f"{density:.3g}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.6g}"


def _npy_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values)
    return buffer.getvalue()


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@st.cache_data(max_entries=16, show_spinner=False)
def _weight_values(model_key: str, name: str, scope: str | None, _store: Any) -> np.ndarray:
    """``scope``: the subgraph whose weight this is (ONNX); other formats' stores take a name only."""
    return np.asarray(_store.array(name) if scope is None else _store.array(name, scope))


# ---------------------------------------------------------------- edge (tensor)


def _tensor_panel(graph: ModelGraph, payload: dict[str, Any], edge_indices: list[int]) -> None:
    nodes = payload["nodes"]
    for index in edge_indices[:10]:
        if index >= len(payload["edges"]):
            continue
        src_i, dst_i, tensor, shape, dtype = payload["edges"][index][:5]
        src, dst = nodes[src_i]["id"], nodes[dst_i]["id"]
        if payload["edges"][index][5:6] == [1]:
            st.markdown(f"**Control dependency** {literal(src)} runs before {literal(dst)}")
            st.caption("no tensor flows here: TensorFlow only orders the two ops")
            _link(f"before: {literal(src)}", f"prod_{index}", select_node, src)
            _link(f"after: {literal(dst)}", f"cons_{index}_0", select_node, dst)
            continue
        st.markdown(f"**Tensor** {breakable(tensor)}", unsafe_allow_html=True)
        st.caption(f"{dtype or '?'} · {shape or 'shape unknown'}")
        edge = next(
            (d for d in graph.get_edge_data(src, dst, default={}).values() if d["tensor"] == tensor), None
        )
        consumers = tables.tensor_consumers(graph, src, edge["src_port"]) if edge else [dst]
        _link(f"producer: {literal(src)}", f"prod_{index}", select_node, src)
        _node_links("consumer:", consumers, f"cons_{index}")
    if len(edge_indices) > 10:
        st.caption(f"… and {len(edge_indices) - 10} more tensors between these groups")


# ---------------------------------------------------------------- group


def _group_panel(model: OpenModel, sub_id: str, group_id: str) -> None:
    details = tables.group_details(model.graph_for(sub_id), model.grouping(sub_id), group_id)
    st.markdown(f"**Group** {literal(group_label(details.id))}")
    st.caption(literal(" / ".join(group_label(g) for g in details.path)))
    if len(details.path) > 1:
        _group_path(model, sub_id, details.path[-2], f"gpath_{group_id}")
    st.markdown(group_counts_text(details))
    if details.op_mix:
        st.markdown("**Op mix**")
        st.markdown(" · ".join(f"{literal(op)} ×{n}" for op, n in details.op_mix))
    if details.children:
        st.markdown("**Groups inside**")
        for i, child in enumerate(details.children[:MAX_LINKS]):
            _link(literal(group_label(child)), f"child_{group_id}_{i}", select_group, child)
    for title, crossing, direction in (
        ("Tensors entering", details.entering, "from"),
        ("Tensors leaving", details.leaving, "to"),
    ):
        if not crossing:
            continue
        st.markdown(f"**{title}** ({len(crossing)})")
        for i, tensor in enumerate(crossing[:MAX_LINKS]):
            text = f"**{breakable(tensor.tensor)}** · {tensor.dtype} · {tensor.shape}"
            st.markdown(text, unsafe_allow_html=True)
            _node_links(direction, tensor.outside, f"{direction}_{group_id}_{i}")
        if len(crossing) > MAX_LINKS:
            st.caption(f"… and {len(crossing) - MAX_LINKS} more")


def _safe_file(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:80] or "tensor"
