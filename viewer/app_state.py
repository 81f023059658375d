"""Session state, model loading and selection for the pages (Streamlit-bound, no model logic).

The URL's query parameters mirror the open model (with a SavedModel's picked signature and tag
set), subgraph, selection (node, edge or group) and the page's toggles that are off
(``inspector=off``), on every page, so a reload (F5, the canvas's theme switch) or a shared link on
the same server shows the same view. Each change of them is one browser history entry, and the
browser's Back and Forward bring back the view that entry names (``follow_history``). A model that
fails to open reports one ``st.error`` line and the previously opened model stays.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from converters import ModelLensError, ModelSource
from viewer.model_view import MAIN_GRAPH, OpenModel, open_model
from viewer.text import literal

# Model file types the drop zone names. It accepts any file (external data files have any name);
# the content decides the format (converters.registry), so a new format only adds its types here.
UPLOAD_MODEL_TYPES: tuple[str, ...] = (
    ".onnx",
    ".textproto",
    ".onnxtxt",
    ".json",
    ".ort",
    ".pt",
    ".pth",
    ".torchscript",
    ".pt2",
    ".zip",
)
UPLOAD_HELP = (
    f"Drop one model file ({', '.join(UPLOAD_MODEL_TYPES)}): ONNX (binary or saved as text), an ONNX "
    "Runtime .ort, TorchScript, a PyTorch .pt2 (torch.export.save), or a .zip of a TensorFlow "
    "SavedModel folder (or pick the folder itself below). An .onnx may come with the external-data "
    "files it names, dropped with it or after it. Up to 4 GB here; bigger files open with "
    "`modellens PATH` on the command line."
)
UPLOADER_KEY = "uploader"
FOLDER_UPLOADER_KEY = "folder_uploader"
SAMPLE_SUFFIXES = (".onnx", ".torchscript", ".pt2")
SESSION_DEFAULTS: dict[str, Any] = {
    "model_key": None,
    "selection": None,
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
        _view_from_url()
    else:
        follow_history()


def _view_from_url() -> None:
    """Model, subgraph and selection as the URL names them (the CLI's model when it names none)."""
    params, cli_model = st.query_params, st.session_state.cli_model
    wanted = params.get("model") or (f"path:{cli_model}" if cli_model else None)
    if wanted != st.session_state.model_key:
        st.session_state.update(caller=None, callers=None)
    # a SavedModel's graph shown: its tag set and signature (the model's default when absent)
    st.session_state.update(signature=params.get("signature") or None, tags=params.get("tags") or None)
    # an unknown or stale key is reported by current_model(), not here
    st.session_state.model_key = wanted
    st.session_state.subgraph = params.get("sub", MAIN_GRAPH)
    st.session_state.selection = selection_from_params(params)
    st.session_state.focus = _focus_for(st.session_state.selection)
    _preferences_from_url(params)


def follow_history() -> None:
    """After the browser's Back or Forward, show the view the URL now names: the URL, canvas and
    inspector agree on it. Other reruns keep the session's view (the URL follows it)."""
    ctx = get_script_run_ctx()
    if ctx is None or not getattr(ctx, "is_history_navigation", False):
        return
    if _state_params(st.query_params.to_dict()) != url_params():
        _view_from_url()


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


def model_path(model_key: str) -> Path | None:
    """The file or folder on disk behind an open model's key (a sample, the CLI's model, an
    upload's temp copy), for the runtime to load; None when the key no longer resolves."""
    source = _source_for(model_key)
    return None if source is None else Path(source.path)


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
        if st.session_state.get("signature") or st.session_state.get("tags"):
            # a link's signature or tag set the model lacks: the model's default graph shows
            st.session_state.update(signature=None, tags=None, subgraph=MAIN_GRAPH, selection=None)
            return current_model()
        return _previous_model()
    st.session_state.previous_model_key = key
    sync_url()
    return model


def tag_set_choices(model: OpenModel) -> list[str]:
    """A TensorFlow SavedModel's tag sets (comma-joined) when it has several, else []."""
    tag_sets = [",".join(tags) for tags in model.graph.graph.get("tag_sets") or []]
    return tag_sets if len(tag_sets) > 1 else []


def signature_choices(model: OpenModel) -> list[str]:
    """A TensorFlow SavedModel's signatures (of the tag set shown) when it has several, else []."""
    signatures = list(model.graph.graph.get("signatures") or {})
    return signatures if len(signatures) > 1 else []


def graph_choice_label(model: OpenModel) -> str:
    """The header's name for what is shown: ``Signature: serving_default`` (with the tag set when
    there are several); "" when the model offers no choice."""
    if not tag_set_choices(model) and not signature_choices(model):
        return ""
    signature = f"Signature: {model.graph.graph.get('signature') or '–'}"
    if tag_set_choices(model):
        return f"Tags {','.join(model.graph.graph.get('tags') or [])} · {signature}"
    return signature


def graph_choice_selectors(model: OpenModel) -> None:
    """The tag-set and signature selectors of a SavedModel that has several (nothing otherwise),
    drawn where the caller is (the graph page's header menu, the summary page)."""
    tag_sets = tag_set_choices(model)
    if tag_sets:
        current = ",".join(model.graph.graph.get("tags") or [])
        help_text = "The SavedModel meta graph (tag set) whose signatures are shown"
        _choice_box("Tag set", tag_sets, current, f"tags_choice_{model.key}", _on_tags, help_text)
    signatures = signature_choices(model)
    if signatures:
        current = model.graph.graph.get("signature")
        help_text = "The SavedModel signature whose computation is shown"
        key = f"signature_choice_{model.key}"
        _choice_box("Signature", signatures, current, key, _on_signature, help_text)


def _choice_box(
    label: str, choices: list[str], current: Any, key: str, on_change: Callable[[str], None], help_text: str
) -> None:
    """A select box over ``choices`` showing ``current`` (else the first); ``on_change(key)``
    runs when the user picks another. A box left showing another value (before Back, which
    restores the graph a URL names) is set to ``current``."""
    if key in st.session_state:
        if current in choices:  # always: the browser's box can differ from the session's value
            st.session_state[key] = current
        index = 0  # ignored (the session's value shows); 0 keeps Streamlit from warning
    else:
        index = choices.index(current) if current in choices else 0
    st.selectbox(
        label,
        choices,
        index=index,
        key=key,
        on_change=on_change,
        args=(key,),
        help=help_text,
    )


def _on_tags(widget_key: str) -> None:
    st.session_state.tags = st.session_state.get(widget_key)
    _on_signature("")  # the new tag set has its own signatures: start at its default


def _on_signature(widget_key: str) -> None:
    """Show another signature: its graph starts unselected, at the main graph."""
    st.session_state.signature = st.session_state.get(widget_key) if widget_key else None
    st.session_state.update(subgraph=MAIN_GRAPH, caller=None, callers=None)
    set_selection(None)


def _previous_model() -> OpenModel | None:
    previous = st.session_state.get("previous_model_key")
    if previous and previous != st.session_state.model_key:
        st.session_state.model_key = previous
        return current_model()
    st.session_state.model_key = None
    sync_url()
    return None


def _fail(err: ModelLensError) -> None:
    st.session_state.load_error = err.one_line()
    st.session_state.load_error_snippet = getattr(err, "snippet", "")


def switch_model(key: str) -> None:
    st.session_state.model_key = key
    st.session_state.update(
        selection=None,
        focus=None,
        subgraph=MAIN_GRAPH,
        load_error=None,
        load_notice=None,
        signature=None,
        tags=None,
        caller=None,
        callers=None,
    )


def _on_upload(widget_key: str, as_folder: bool = False) -> None:
    """One drop, one model: the dropped file opens (or says why not). A drop of files that are
    all external data the open uploaded .onnx names is added to that model instead. The drop zone
    is emptied after each drop, so its list never shows a file that is not the model on screen.
    ``as_folder``: the files are one picked folder (a TensorFlow SavedModel), kept as a folder."""
    files = st.session_state.get(widget_key) or []
    st.session_state.uploader_version = st.session_state.get("uploader_version", 0) + 1
    if not files:
        return
    contents = [(f.name, f.getvalue()) for f in files]
    try:
        companions = [] if as_folder else _open_model_files_naming([name for name, _ in contents])
        key = _store_upload([*companions, *contents], as_folder)
        model = _open_cached(key, _upload_store()[key.partition(":")[2]])
    except ModelLensError as err:
        _fail(err)
        return
    switch_model(key)
    ignored = [] if as_folder else ignored_side_files([name for name, _ in contents], model)
    if ignored:
        st.session_state.load_notice = (
            f"Not opened: {', '.join(ignored)} (not external data that {model.name} names). "
            "Drop one model at a time, with only the external data files its .onnx names."
        )


def _store_upload(contents: list[tuple[str, bytes]], as_folder: bool = False) -> str:
    """Save uploaded files (by content) and return their model key; ModelLensError when a picked
    folder holds no model."""
    digest = hashlib.sha256()
    for name, data in sorted(contents):
        digest.update(name.encode())
        digest.update(hashlib.sha256(data).digest())
    content_id = digest.hexdigest()[:32]
    with _UPLOAD_LOCK:
        store = _upload_store()
        if content_id not in store:
            make = ModelSource.from_folder_upload if as_folder else ModelSource.from_uploads
            store[content_id] = make(contents)
            _evict_oldest_uploads(store)
    return f"upload:{content_id}"


def external_data_names(model: OpenModel) -> set[str]:
    """File names of the external data the model's .onnx refers to (empty for other formats)."""
    store = model.graph.graph.get("tensor_store")
    locations: set[str] = getattr(store, "external_locations", set)()
    return {Path(location).name for location in locations}


def ignored_side_files(dropped: list[str], model: OpenModel) -> list[str]:
    """Dropped files beside the model file that are not external data it names."""
    wanted = external_data_names(model) | {model.name}
    return [name for name in dropped if Path(name).name not in wanted]


def _open_model_files_naming(dropped: list[str]) -> list[tuple[str, bytes]]:
    """The open uploaded model's files when every dropped file is external data it names (the
    drop completes that model), else [] (the drop is a model of its own)."""
    key = st.session_state.get("model_key") or ""
    source = _source_for(key) if key.startswith("upload:") else None
    if source is None or source.temp_dir is None or source.path.parent != source.temp_dir:
        return []
    try:
        model = _open_cached(key, source)
    except ModelLensError:
        return []
    if not dropped or not set(dropped) <= external_data_names(model):
        return []
    return [(p.name, p.read_bytes()) for p in sorted(source.temp_dir.iterdir()) if p.is_file()]


def _on_sample(widget_key: str) -> None:
    name = st.session_state.get(widget_key)
    if name:
        switch_model(f"sample:{name}")


def open_model_files(model: OpenModel) -> list[str]:
    """The files the model on screen was opened from (an upload's model and external data)."""
    source = _source_for(model.key)
    if source is None or source.temp_dir is None or source.path.parent != source.temp_dir:
        return [model.name]
    present = {p.name for p in source.temp_dir.iterdir() if p.is_file()}
    return [source.path.name, *sorted(external_data_names(model) & present)]


def model_picker(location: str, model: OpenModel | None) -> None:
    """The drop zone and the sample picker. The drop zone lists no file: the model on screen
    (``model``), and the files it came from, are named under it."""
    version = st.session_state.get("uploader_version", 0)
    widget_key = f"{UPLOADER_KEY}_{location}_{version}"
    st.file_uploader(
        "Open a model",
        accept_multiple_files=True,
        help=UPLOAD_HELP,
        key=widget_key,
        on_change=_on_upload,
        args=(widget_key,),
    )
    samples = sample_names()
    if samples:
        sample_key = f"sample_{location}_{version}"
        st.selectbox(
            "…or a bundled sample",
            samples,
            index=None,
            placeholder="Pick a sample model",
            key=sample_key,
            on_change=_on_sample,
            args=(sample_key,),
        )
    folder_key = f"{FOLDER_UPLOADER_KEY}_{location}_{version}"
    st.file_uploader(
        "…or a model folder (TensorFlow SavedModel)",
        accept_multiple_files="directory",
        help="Pick the folder that holds saved_model.pb and variables/",
        key=folder_key,
        on_change=_on_upload,
        args=(folder_key, True),
    )
    if model is not None:
        st.caption("Open: " + " + ".join(literal(name) for name in open_model_files(model)))
    st.caption("Large models: `modellens path/to/model.onnx` opens them straight from disk.")


def canvas_key(model: OpenModel, sub_id: str) -> str:
    """The canvas widget's key: one canvas state per model and graph."""
    return f"canvas_{model.key}_{sub_id}"


def drop_invalid_selection(model: OpenModel, sub_id: str) -> None:
    """Forget a selection this graph does not have (a stale link, another subgraph's node)."""
    selection = st.session_state.get("selection")
    if selection is not None and not model.has_selection(sub_id, selection):
        set_selection(None)


def has_load_error() -> bool:
    """True while a load error or notice waits to be read (until closed or another model opens)."""
    return bool(st.session_state.get("load_error") or st.session_state.get("load_notice"))


def show_load_error() -> None:
    """The last load error (with its fix and any code snippet) and notice, with a close button;
    they stay until closed or until another model opens."""
    notice = st.session_state.get("load_notice")
    message = st.session_state.get("load_error")
    if not notice and not message:
        return
    st.button(
        "",
        icon=":material/close:",
        key="dismiss_load_error",
        on_click=dismiss_load_error,
        type="tertiary",
        help="Close this message",
    )
    if notice:
        st.warning(literal(notice), icon=":material/info:")
    if message:
        st.error(literal(message), icon=":material/warning:")
        snippet = st.session_state.get("load_error_snippet")
        if snippet:
            st.code(snippet, language="python")


def dismiss_load_error() -> None:
    """Close the load error and notice (the close button beside them)."""
    st.session_state.update(load_error=None, load_error_snippet="", load_notice=None)


# ---------------------------------------------------------------- selection
#
# One selection per session, ``st.session_state.selection``: None, {"kind": "node", "id": ID},
# {"kind": "edge", "edges": [payload edge indices]} or {"kind": "group", "id": GROUP_ID}. The
# canvas options, the inspector and the URL (node= / edge= / group=) are all drawn from it.

SELECTION_PARAMS = ("node", "edge", "group")
MAX_SELECTED_EDGES = 50


def selection_from_params(params: Any) -> dict[str, Any] | None:
    """The selection a URL names (node= wins over edge= over group=); None when it names none."""
    if params.get("node"):
        return {"kind": "node", "id": str(params.get("node"))}
    edges = _edge_indices(str(params.get("edge") or "").split(","))
    if edges:
        return {"kind": "edge", "edges": edges}
    if params.get("group"):
        return {"kind": "group", "id": str(params.get("group"))}
    return None


def _edge_indices(values: Any) -> list[int]:
    indices = []
    for value in values:
        try:
            indices.append(int(value))
        except (TypeError, ValueError):
            continue
    return [i for i in indices if i >= 0][:MAX_SELECTED_EDGES]


def set_selection(selection: dict[str, Any] | None, *, focus: str | None = None) -> None:
    """Make ``selection`` the one selection (the page mirrors it in the URL, ``sync_url``).
    ``focus`` (a node id or ``group:<id>``) asks the canvas to centre on it; a click on the canvas
    passes none."""
    st.session_state.selection = selection
    st.session_state.focus = focus


# The page's on/off preferences (widget key -> URL parameter, written "off" only when off), kept
# in the URL so a reload (F5, the canvas's theme switch) shows the page as the user left it.
PREFERENCE_PARAMS = {"show_inspector": "inspector", "overlay_shapes": "shapes"}
OFF = "off"
URL_STATE_PARAMS = ("model", "tags", "signature", "sub", *SELECTION_PARAMS, *PREFERENCE_PARAMS.values())


def preference(key: str) -> bool:
    """The on/off preference behind the toggle ``key`` (a key of PREFERENCE_PARAMS); on by default."""
    return bool((st.session_state.get("preferences") or {}).get(key, True))


def remember_preference(key: str) -> None:
    """The toggle ``key`` changed: keep its value as the preference (its on_change callback)."""
    preferences = dict(st.session_state.get("preferences") or {})
    preferences[key] = bool(st.session_state.get(key))
    st.session_state.preferences = preferences


def _preferences_from_url(params: Any) -> None:
    """The preferences a URL names; a toggle showing another value (before Back) is set to them."""
    preferences = {key: params.get(name) != OFF for key, name in PREFERENCE_PARAMS.items()}
    st.session_state.preferences = preferences
    for key, value in preferences.items():
        if key in st.session_state and st.session_state[key] != value:
            st.session_state[key] = value


def toggle_value(key: str) -> bool:
    """The ``value`` to create the toggle ``key`` with: its preference. A toggle whose state the
    session holds shows that state (Streamlit then ignores ``value``; False keeps it from warning
    that the value is set twice)."""
    return preference(key) if key not in st.session_state else False


def url_params() -> dict[str, str]:
    """The query parameters naming the session's view: model, a SavedModel's tag set and signature
    when the user picked them, subgraph (sub=), selection and the preferences that are off
    (``inspector=off``)."""
    state = st.session_state
    params = {
        "model": state.get("model_key") or "",
        "tags": state.get("tags") or "",
        "signature": state.get("signature") or "",
        "sub": state.get("subgraph") or "",
    }
    selection = state.get("selection")
    if selection is not None and selection["kind"] == "edge":
        params["edge"] = ",".join(str(i) for i in selection["edges"])
    elif selection is not None:
        params[selection["kind"]] = selection["id"]
    params.update({name: OFF for key, name in PREFERENCE_PARAMS.items() if not preference(key)})
    return {name: value for name, value in params.items() if value}


def _state_params(params: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in params.items() if name in URL_STATE_PARAMS and value}


def sync_url() -> None:
    """Mirror the session's view in the URL in one update: one browser history entry per change
    of model, subgraph or selection (Streamlit pushes one per change of ``st.query_params``)."""
    current = st.query_params.to_dict()
    wanted = {name: value for name, value in current.items() if name not in URL_STATE_PARAMS}
    wanted.update(url_params())
    if wanted != current:
        st.query_params.from_dict(wanted)


def _focus_for(selection: dict[str, Any] | None) -> str | None:
    """Where the canvas centres for a selection restored from a link."""
    if selection is None or selection["kind"] == "edge":
        return None
    return selection["id"] if selection["kind"] == "node" else f"group:{selection['id']}"


def select_node(node_id: str | None) -> None:
    """Select a node and centre the canvas on it (jump buttons, search, links)."""
    set_selection({"kind": "node", "id": node_id} if node_id else None, focus=node_id)


def select_group(group_id: str) -> None:
    """Select a group, open its ancestors on the canvas and centre on it."""
    set_selection({"kind": "group", "id": group_id}, focus=f"group:{group_id}")


def selected(kind: str) -> Any:
    """The selected node id, group id or edge list when the selection is of ``kind``, else None."""
    selection = st.session_state.get("selection")
    if not selection or selection.get("kind") != kind:
        return None
    return selection["edges"] if kind == "edge" else selection["id"]


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
    set_selection(None)


def canvas_event(event: Any) -> dict[str, Any] | None:
    """The selection a canvas ``select`` trigger asks for ({"kind": "none"} asks for none);
    anything malformed is ignored (returns the current selection)."""
    current = st.session_state.get("selection")
    if not isinstance(event, dict):
        return current
    kind = event.get("kind")
    if kind in ("node", "group") and event.get("id") not in (None, ""):
        return {"kind": kind, "id": str(event["id"])}
    if kind == "edge":
        edges = _edge_indices(event.get("edges") or [])
        return {"kind": "edge", "edges": edges} if edges else current
    if kind == "none":
        return None
    return current


def take_canvas_event(canvas_key: str) -> None:
    """Apply the click of THIS rerun before anything is drawn from the selection.

    The canvas's ``select`` trigger is in session state (under the canvas's key) only during the
    rerun it caused; reading it here, ahead of the canvas options, keeps the canvas outline, the
    inspector and the URL on the same click.
    """
    state = st.session_state.get(canvas_key)
    event = state.get("select") if isinstance(state, dict) else None
    if event is None:
        return
    selection = canvas_event(event)
    set_selection(selection)
