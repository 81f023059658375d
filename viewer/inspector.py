"""The inspector panel: a node's documentation, attributes, ports with jump links, weights with
statistics, and a tensor's producer and consumers (Streamlit-bound, data from viewer.tables)."""

from __future__ import annotations

import io
from typing import Any

import altair as alt
import numpy as np
import streamlit as st

from converters import ModelLensError
from converters.schema import ModelGraph, TensorInfo, format_shape, referenced_attribute
from viewer import tables
from viewer.app_state import open_subgraph, select_node
from viewer.colors import CATEGORY_STYLES
from viewer.model_view import OpenModel
from viewer.summary import human_bytes
from viewer.text import html_text, literal

_STAT_HELP = {"std": "sample standard deviation (n − 1), as torch.Tensor.std() gives it"}


def inspector(model: OpenModel, sub_id: str) -> None:
    graph = model.graph_for(sub_id)
    if graph.graph.get("function_info"):
        _function_card(graph.graph["function_info"])
    if st.session_state.selected_edges:
        _tensor_panel(graph, model.payload(sub_id), st.session_state.selected_edges)
        return
    node_id = st.session_state.selected
    if not node_id or node_id not in graph:
        st.info("Click a node to inspect it, or an edge to see its tensor.", icon=":material/mouse:")
        _legend()
        return
    _node_panel(model, sub_id, graph, node_id)


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


def _legend() -> None:
    chips = " ".join(
        f"<span style='background:{s['fill']};color:{s['text']};padding:1px 6px;border-radius:4px;"
        f"font-size:0.75rem;margin:2px;display:inline-block'>{s['label']}</span>"
        for s in CATEGORY_STYLES.values()
    )
    st.markdown(chips, unsafe_allow_html=True)


def _node_panel(model: OpenModel, sub_id: str, graph: ModelGraph, node_id: str) -> None:
    data = graph.nodes[node_id]
    doc = tables.node_doc(graph, node_id)
    style = CATEGORY_STYLES.get(data["category"], CATEGORY_STYLES["other"])
    st.markdown(
        f"<span style='background:{style['fill']};color:{style['text']};padding:2px 8px;border-radius:4px;"
        f"font-weight:600'>{html_text(data['op_type'])}</span> "
        f"<small>{html_text(_domain_note(data))}</small>",
        unsafe_allow_html=True,
    )
    st.markdown(f"**{literal(data['name'] or node_id)}**")
    if data["namespace"]:
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
            st.code(data["doc"], language=None)
    if data.get("schema"):
        st.code(data["schema"], language=None, wrap_lines=True)
    bindings = {}
    if any(referenced_attribute(v) for v in data["attributes"].values()):
        bindings = tables.attribute_bindings(
            model.graph, sub_id, st.session_state.get("caller"), callers=st.session_state.get("callers")
        )
    attributes = tables.attribute_table(graph, node_id, doc, bindings)
    if not attributes.empty:
        st.markdown("**Attributes**")
        st.dataframe(attributes, hide_index=True, width="stretch")
    _port_section("Inputs", tables.input_rows(graph, node_id, doc), "from", node_id)
    _port_section("Outputs", tables.output_rows(graph, node_id, doc), "to", node_id)
    if data["kind"] == "output" and data.get("tensor") is not None:
        info = data["tensor"]
        st.markdown(f"Graph output **{literal(info.name)}**: {info.dtype or '?'} {format_shape(info.shape)}")
    for port, info in sorted(data["weights"].items()):
        _weight_section(model, graph, node_id, port, info)
    for sub in data["subgraph_ids"]:
        is_function = model.graph_for(sub).graph.get("function") == sub
        st.button(
            f"Open {'function' if is_function else 'subgraph'} {literal(sub)}",
            key=f"open_{sub}",
            on_click=open_subgraph,
            args=(sub, (sub_id, node_id) if is_function else None),
        )
    if data.get("source") and "\n" not in data["source"]:
        st.caption(f"Source: {literal(data['source'])}")
    elif data.get("source"):
        with st.expander("Source (stack trace)"):
            st.code(data["source"])


def _domain_note(data: dict[str, Any]) -> str:
    """The operator's domain, unless its name already says it (``aten::conv2d``)."""
    domain = data["domain"] or ""
    return "" if str(data["op_type"]).startswith(f"{domain}::") else domain


def _port_section(title: str, rows: list[tables.PortRow], direction: str, node_id: str) -> None:
    if not rows:
        return
    st.markdown(f"**{title}**")
    for row in rows:
        st.markdown(f"{literal(row.formal)}: **{literal(row.tensor)}** · {row.dtype} · {row.shape or '–'}")
        if row.links:
            cols = st.columns(min(len(row.links), 3))
            for i, target in enumerate(row.links[:12]):
                cols[i % len(cols)].button(
                    f"{direction} {literal(target[:40])}",
                    key=f"jump_{node_id}_{title}_{row.port}_{i}",
                    on_click=select_node,
                    args=(target,),
                )


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
    if stats.minimum is not None:
        cols = st.columns(4)
        for col, (label, value) in zip(
            cols,
            (("min", stats.minimum), ("max", stats.maximum), ("mean", stats.mean), ("std", stats.std)),
            strict=True,
        ):
            col.metric(label, f"{value:.4g}", help=_STAT_HELP.get(label))
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
    zeros = f", {stats.zeros:,} zeros" if stats.zeros else ""
    st.caption(f"{stats.count:,} {what}{zeros}; first {len(stats.preview)}:")
    st.code(np.array2string(np.asarray(stats.preview), precision=4, max_line_width=60), language=None)


def _sparse_section(parts: Any, name: str, key: str) -> None:
    """What a sparse initializer stores: its values (with statistics) and indices, how dense it is;
    the dense array is built for the .npy only when its indices fit and it is not too large."""
    st.caption(
        f"Sparse: {parts.values.size:,} stored values of {parts.dense_elements:,} "
        f"({density_text(parts.density)} dense), indices {parts.indices.dtype} "
        f"{list(parts.indices.shape)}. Indices, first {tables.PREVIEW_VALUES}:"
    )
    preview = np.asarray(parts.indices)[: tables.PREVIEW_VALUES]
    st.code(np.array2string(preview, max_line_width=60), language=None)
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


def _tensor_panel(graph: ModelGraph, payload: dict[str, Any], edge_indices: list[int]) -> None:
    nodes = payload["nodes"]
    for index in edge_indices[:10]:
        if index >= len(payload["edges"]):
            continue
        src_i, dst_i, tensor, shape, dtype = payload["edges"][index][:5]
        src, dst = nodes[src_i]["id"], nodes[dst_i]["id"]
        if payload["edges"][index][5:6] == [1]:
            st.markdown(f"**Control dependency** {literal(src[:60])} runs before {literal(dst[:60])}")
            st.caption("no tensor flows here: TensorFlow only orders the two ops")
            st.button(f"before: {literal(src[:40])}", key=f"prod_{index}", on_click=select_node, args=(src,))
            st.button(f"after: {literal(dst[:40])}", key=f"cons_{index}_0", on_click=select_node, args=(dst,))
            continue
        st.markdown(f"**Tensor** {literal(tensor)}")
        st.caption(f"{dtype or '?'} · {shape or 'shape unknown'}")
        edge = next(
            (d for d in graph.get_edge_data(src, dst, default={}).values() if d["tensor"] == tensor), None
        )
        consumers = tables.tensor_consumers(graph, src, edge["src_port"]) if edge else [dst]
        st.button(f"producer: {literal(src[:40])}", key=f"prod_{index}", on_click=select_node, args=(src,))
        for i, consumer in enumerate(consumers[:12]):
            st.button(
                f"consumer: {literal(consumer[:40])}",
                key=f"cons_{index}_{i}",
                on_click=select_node,
                args=(consumer,),
            )
    if len(edge_indices) > 10:
        st.caption(f"… and {len(edge_indices) - 10} more tensors between these groups")


def _safe_file(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:80] or "tensor"
