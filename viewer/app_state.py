"""Session state, model loading and selection for the pages (Streamlit-bound, no model logic).

The URL's query parameters mirror the open model, subgraph and selected node, so a reload or a
shared link on the same server shows the same view. A model that fails to open reports one
``st.error`` line and the previously opened model stays.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from converters import ModelLensError, ModelSource
from viewer.model_view import MAIN_GRAPH, OpenModel, open_model
from viewer.text import literal

UPLOAD_HELP = (
    "Drop an .onnx file (add its external-data files alongside, or a .zip of them), ONNX saved as "
    "text (.textproto, .onnxtxt, .json), an ONNX Runtime .ort, a TorchScript .pt/.pth/.torchscript "
    "file, a PyTorch .pt2 (torch.export.save), or a .zip of a TensorFlow SavedModel folder. "
    "Up to 4 GB here; bigger files open with `modellens PATH` on the command line."
)
UPLOADER_KEY = "uploader"
FOLDER_UPLOADER_KEY = "folder_uploader"
SAMPLE_SUFFIXES = (".onnx", ".torchscript", ".pt2")
SESSION_DEFAULTS: dict[str, Any] = {
    "model_key": None,
    "selected": None,
    "selected_edges": [],
    "focus": None,
    "subgraph": MAIN_GRAPH,
    "caller": None,
    "callers": None,  # function id -> (graph id, node id) of the call the user opened it from
    "load_error": None,
    "cli_model": None,
    "signature": None,
    "tags": None,
}


def init_session_state(cli_model: str | None) -> None:
    """One place for session defaults; the URL's query parameters restore model and selection."""
    for key, value in SESSION_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.cli_model = cli_model
    if st.session_state.model_key is None:
        params = st.query_params
        wanted = params.get("model") or (f"path:{cli_model}" if cli_model else None)
        if wanted:  # an unknown or stale key is reported by current_model(), not here
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
    """Bundled model files (.onnx, .pt2) and SavedModel folders."""
    folder = sample_models_dir()
    if not folder.is_dir():
        return []
    saved_models = [p.name for p in folder.iterdir() if (p / "saved_model.pb").is_file()]
    return sorted([p.name for p in folder.iterdir() if p.suffix in SAMPLE_SUFFIXES] + saved_models)


@st.cache_resource(show_spinner=False)
def _upload_store() -> dict[str, ModelSource]:
    """Uploaded files saved to temp dirs, by content hash, shared across sessions of this server."""
    return {}


_UPLOAD_LOCK = threading.Lock()
MAX_KEPT_UPLOADS = 16


def _evict_oldest_uploads(store: dict[str, ModelSource]) -> None:
    """Keep the newest uploads on disk; older ones are removed with their temp folders."""
    while len(store) > MAX_KEPT_UPLOADS:
        oldest = next(iter(store))
        store.pop(oldest).cleanup()


def _source_for(model_key: str) -> ModelSource | None:
    """The source a model key names; only bundled samples, the CLI's model and uploads resolve."""
    kind, _, value = model_key.partition(":")
    if kind == "sample" and value in sample_names():
        return ModelSource.from_path(sample_models_dir() / value)
    if kind == "path" and value and value == st.session_state.get("cli_model"):
        return ModelSource.from_path(value)
    if kind == "upload":
        return _upload_store().get(value)
    return None


@st.cache_resource(max_entries=4, show_spinner="Opening model…")
def _cached_model(
    model_key: str, _source: ModelSource, content_id: str, signature: str | None, tags: str | None = None
) -> OpenModel:
    settings = {k: v for k, v in (("signature", signature), ("tags", tags)) if v}
    return open_model(model_key, _source, settings or None)


def _open_cached(key: str, source: ModelSource) -> OpenModel:
    """Uploads are cached by content; files on disk by path and modification time."""
    content_id = (
        source.sha256 if key.startswith("upload:") else f"{source.path}:{source.path.stat().st_mtime}"
    )
    state = st.session_state
    return _cached_model(key, source, content_id, state.get("signature"), state.get("tags"))


def current_model() -> OpenModel | None:
    """The open model, or None. A failing model reports its error and the previous one stays."""
    key = st.session_state.model_key
    if key is None:
        return None
    try:
        source = _source_for(key)
        if source is None:
            raise ModelLensError("The model in this link is no longer available", "open the file again")
        model = _open_cached(key, source)
    except ModelLensError as err:
        _fail(err)
        return _previous_model()
    st.session_state.previous_model_key = key
    st.query_params["model"] = key
    _tag_set_selector(model)
    _signature_selector(model)
    return model


def _tag_set_selector(model: OpenModel) -> None:
    """A TensorFlow SavedModel with several meta graphs (tag sets): pick the one to show."""
    tag_sets = [",".join(tags) for tags in model.graph.graph.get("tag_sets") or []]
    if len(tag_sets) < 2:
        return
    current = ",".join(model.graph.graph.get("tags") or [])
    with st.sidebar:
        st.selectbox(
            "Tag set",
            tag_sets,
            index=tag_sets.index(current) if current in tag_sets else 0,
            key=f"tags_choice_{model.key}",
            on_change=_on_tags,
            args=(f"tags_choice_{model.key}",),
            help="The SavedModel meta graph (tag set) whose signatures are shown",
        )


def _on_tags(widget_key: str) -> None:
    st.session_state.tags = st.session_state.get(widget_key)
    _on_signature("")  # the new tag set has its own signatures: start at its default


def _signature_selector(model: OpenModel) -> None:
    """A TensorFlow SavedModel with several signatures: pick the one to show."""
    signatures = list(model.graph.graph.get("signatures") or {})
    if len(signatures) < 2:
        return
    current = model.graph.graph.get("signature")
    with st.sidebar:
        st.selectbox(
            "Signature",
            signatures,
            index=signatures.index(current) if current in signatures else 0,
            key=f"signature_choice_{model.key}",
            on_change=_on_signature,
            args=(f"signature_choice_{model.key}",),
            help="The SavedModel signature whose computation is shown",
        )


def _on_signature(widget_key: str) -> None:
    st.session_state.signature = st.session_state.get(widget_key) if widget_key else None
    st.session_state.update(selected=None, selected_edges=[], focus=None, subgraph=MAIN_GRAPH)
    for param in ("node", "sub"):
        if param in st.query_params:
            del st.query_params[param]


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


def switch_model(key: str) -> None:
    st.session_state.model_key = key
    st.session_state.update(
        selected=None,
        selected_edges=[],
        focus=None,
        subgraph=MAIN_GRAPH,
        load_error=None,
        signature=None,
        tags=None,
    )
    st.session_state.update(caller=None, callers=None)
    st.query_params.clear()
    st.query_params["model"] = key


def _on_upload(uploader_key: str = UPLOADER_KEY) -> None:
    files = st.session_state.get(uploader_key) or []
    if not files:
        return
    contents = [(f.name, f.getvalue()) for f in files]
    as_folder = uploader_key == FOLDER_UPLOADER_KEY
    digest = hashlib.sha256()
    for name, data in sorted(contents):
        digest.update(name.encode())
        digest.update(hashlib.sha256(data).digest())
    content_id = digest.hexdigest()[:32]
    try:
        with _UPLOAD_LOCK:
            store = _upload_store()
            if content_id not in store:
                make = ModelSource.from_folder_upload if as_folder else ModelSource.from_uploads
                store[content_id] = make(contents)
                _evict_oldest_uploads(store)
    except ModelLensError as err:
        _fail(err)
        return
    switch_model(f"upload:{content_id}")


def _on_sample() -> None:
    name = st.session_state.get("sample_choice")
    if name:
        switch_model(f"sample:{name}")


def sidebar() -> None:
    with st.sidebar:
        st.markdown("### ModelLens")
        st.file_uploader(
            "Open a model",
            accept_multiple_files=True,
            help=UPLOAD_HELP,
            key=UPLOADER_KEY,
            on_change=_on_upload,
        )
        st.file_uploader(
            "…or a model folder (TensorFlow SavedModel)",
            accept_multiple_files="directory",
            help="Pick the folder that holds saved_model.pb and variables/",
            key=FOLDER_UPLOADER_KEY,
            on_change=_on_upload,
            args=(FOLDER_UPLOADER_KEY,),
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
        st.error(literal(message), icon=":material/warning:")
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


def open_subgraph(sub_id: str, caller: tuple[str, str] | None = None) -> None:
    """Show ``sub_id``; ``caller`` (graph id, node id) is the node that calls the function opened,
    kept while the user stays inside it (its attribute values resolve the body's references). Each
    function's caller is kept in ``callers``, so a body reached through a chain of calls resolves
    references through the calls the user took."""
    st.session_state.subgraph = sub_id
    if caller is not None or not sub_id:
        st.session_state.caller = caller
    if not sub_id:
        st.session_state.callers = None
    elif caller is not None:
        st.session_state.callers = {**(st.session_state.get("callers") or {}), sub_id: caller}
    select_node(None)
    if sub_id:
        st.query_params["sub"] = sub_id
    elif "sub" in st.query_params:
        del st.query_params["sub"]


def apply_canvas_event(event: Any) -> None:
    if not isinstance(event, dict):
        return
    if event.get("kind") == "node" and event.get("id"):
        st.session_state.selected = str(event["id"])
        st.session_state.selected_edges = []
        st.session_state.focus = None
        st.query_params["node"] = st.session_state.selected
    elif event.get("kind") == "edge":
        st.session_state.selected_edges = [int(i) for i in event.get("edges", [])][:50]
