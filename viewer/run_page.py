"""The Run page: input specs prefilled from the model, run, outputs, shapes on the graph, benchmark.

UI only: proposals, validation, running and statistics come from runtime/ (runtime.engine) and the
pure helpers in viewer.run_panel. Models run in a worker pool held by ``st.cache_resource``
(bounded: two workers, idle ones stop after ten minutes), so a second run reuses the loaded model.
The shapes of a run are kept in ``st.session_state.run_overlay`` for the Graph page (the graph is
never changed); a failing node becomes the selection.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from converters.errors import InputSpecError, ModelLensError
from runtime.arrays import preview_array
from runtime.engine import NodeRunError, bench_model, model_shapes, profile_model, propose_for, run_model
from runtime.propose import index_limits
from runtime.results import RunResult, ShapesResult
from runtime.spec_file import dumps_spec, load_spec_file, loads_spec, sidecar_spec
from runtime.specs import InputSpec, InputSpecs, ModelInput
from runtime.worker import RUN_TIMEOUT_S, WorkerPool
from viewer import run_panel
from viewer.app_state import model_path, select_node
from viewer.model_view import OpenModel
from viewer.pages import graph_page, model_or_welcome
from viewer.text import literal

RUN_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding: 3.4rem 1.5rem 2rem 1.5rem; max-width: none; }
</style>
"""


@st.cache_resource(show_spinner=False)
def worker_pool() -> WorkerPool:
    """One bounded pool per server: at most two loaded models, idle ones stop after 10 minutes."""
    return WorkerPool(max_workers=2, idle_timeout_s=600.0)


@st.cache_resource(show_spinner=False)
def _devices() -> list[tuple[str, str]]:
    from runtime.runners import list_devices

    return [(d.name, f"{d.label} ({', '.join(d.backends)})") for d in list_devices()]


def run_page() -> None:
    model = model_or_welcome()
    if model is None:
        return
    st.html(RUN_CSS)
    path = model_path(model.key)
    if path is None:
        st.error("This model is no longer on disk — open it again.")
        return
    base = _base(model, path)
    if base is None:
        return
    st.markdown(f"#### Run {literal(model.name)}")
    st.caption(
        f"{base['info']['format']} · inputs {base['origin']} · "
        f"outputs: {', '.join(base['info']['output_names'])}"
    )
    controls = st.container(key="run_controls")  # above the inputs: Run is visible without scrolling
    _spec_file_tools(base)
    specs, provided, errors, slots = _input_rows(base)
    model_inputs: list[ModelInput] = base["inputs"]
    checked, overall = run_panel.row_errors(_with_arrays(specs, provided), model_inputs, provided)
    errors = {  # later entries win: what the model itself requires is said before a row mismatch
        **run_panel.value_errors(specs, provided, base["limits"]),
        **run_panel.upload_errors(specs, provided),
        **checked,
        **errors,
    }
    for name, message in errors.items():
        if name in slots:
            slots[name].error(message, icon=":material/error:")
    if overall:
        st.error(overall, icon=":material/error:")
    ready = not errors and not overall
    with controls:
        _run_controls(model, path, specs, provided, ready)
    _show_result(model, _fingerprint(specs, provided))
    _benchmark(model, path, specs, provided, ready)


# ---------------------------------------------------------------- the specs


def _base(model: OpenModel, path: Path) -> dict[str, Any] | None:
    """The starting specs for this model (its ``.inputs.yaml`` when it ships one, else the
    engine's proposal), computed once per model and session; ``version`` resets the widgets."""
    signature = st.session_state.get("signature")
    key = f"{model.key}|{signature}"
    base = st.session_state.get("run_base")
    if base is not None and base["key"] == key:
        return dict(base)
    start = time.perf_counter()
    already = worker_pool().holds(path, "cpu", signature)
    try:
        with st.spinner("Loading the model in a worker…"):
            info, specs = propose_for(path, model.graph, pool=worker_pool(), signature=signature)
    except ModelLensError as err:
        st.error(run_panel.one_line(err), icon=":material/error:")
        return None
    origin = "proposed from the file"
    sidecar = sidecar_spec(path)
    if sidecar is not None:
        try:
            specs = run_panel.adopt_model_dims(load_spec_file(sidecar), info["inputs"])
            origin = f"from {sidecar.name}"
        except ModelLensError as err:
            st.warning(f"{sidecar.name}: {run_panel.one_line(err)}", icon=":material/warning:")
    version = int(st.session_state.get("run_version", 0)) + 1
    st.session_state.run_version = version
    base = {
        "key": key,
        "info": info,
        "inputs": info["inputs"],
        "specs": specs,
        "proposed": specs,
        "origin": origin,
        "limits": index_limits(info["inputs"], model.graph),
        "version": version,
        "open_s": time.perf_counter() - start,  # worker start + model load (or reuse) + proposal
        "already_loaded": already,  # by an earlier page or another session
    }
    st.session_state.run_base = base
    for stale in (
        "run_result",
        "run_overlay",
        "bench_result",
        "run_error",
        "run_timings",
        "spec_error",
        "spec_note",
    ):
        st.session_state.pop(stale, None)
    return dict(base)


def _load_spec_upload() -> None:
    upload = st.session_state.get("spec_upload")
    base = st.session_state.get("run_base")
    if upload is None or base is None:
        return
    try:
        specs = loads_spec(upload.getvalue().decode("utf-8", errors="replace"), name=upload.name)
    except ModelLensError as err:
        kept = base.get("origin", "proposed from the file")
        st.session_state.spec_error = (
            f"{run_panel.one_line(err)}. Nothing was loaded from {upload.name}: "
            f"the inputs below are still the ones {kept}"
        )
        return
    st.session_state.spec_error = None
    specs = run_panel.adopt_model_dims(specs, base["inputs"])
    specs, note = run_panel.fill_missing(
        specs, base["inputs"], base.get("proposed", base["specs"]), upload.name
    )
    st.session_state.spec_note = note
    version = int(st.session_state.get("run_version", 0)) + 1
    st.session_state.run_version = version
    st.session_state.run_base = {**base, "specs": specs, "origin": f"from {upload.name}", "version": version}


def _spec_file_tools(base: dict[str, Any]) -> None:
    with st.expander("Input data schema file (MAX YAML / JSON)", icon=":material/description:"):
        st.file_uploader(
            "Load a schema file", type=["yaml", "yml", "json"], key="spec_upload", on_change=_load_spec_upload
        )
        if st.session_state.get("spec_error"):
            st.error(st.session_state.spec_error, icon=":material/error:")
        elif st.session_state.get("spec_note"):
            st.info(st.session_state.spec_note, icon=":material/info:")
        st.caption("Save input schema (YAML), below the inputs, writes what they say as a schema file.")


def _wkey(base: dict[str, Any], *parts: object) -> str:
    return "run{}_{}".format(base["version"], "_".join(str(p) for p in parts))


def _input_rows(base: dict[str, Any]) -> tuple[InputSpecs, dict[str, Any], dict[str, str], dict[str, Any]]:
    """The widgets per input; returns the specs they describe, uploaded arrays, the errors found
    while reading the widgets (bad shape text, bad JSON, unreadable uploads) and a slot per input
    for its validation message."""
    specs: InputSpecs = base["specs"]
    declared = {m.name: m for m in base["inputs"]}
    dims = _dim_inputs(base, specs, declared)
    rows: list[InputSpec] = []
    slots: dict[str, Any] = {}
    provided: dict[str, Any] = {}
    errors: dict[str, str] = {}
    unused = [m.name for m in base["inputs"] if m.name not in specs.names() and not m.optional]
    for index, spec in enumerate(specs):
        with st.container(border=True, key=_wkey(base, "row", index)):
            if spec.name not in declared and unused:
                spec = _rename_row(base, index, spec, unused)
            row, array, error = _input_row(base, index, spec, dims, declared.get(spec.name))
            rows.append(row)
            if array is not None:
                provided[spec.name] = array
            if error:
                errors[spec.name] = error
            slots[spec.name] = st.empty()
    current = InputSpecs(tuple(rows))
    st.download_button(
        "Save input schema (YAML)",
        dumps_spec(run_panel.with_guesses_confirmed(current)),
        file_name=f"{Path(str(base['key']).split('|')[0].split(':', 1)[-1]).stem}.inputs.yaml",
        mime="application/x-yaml",
        key="spec_download",
        on_click="ignore",
    )
    return current, provided, errors, slots


def _rename_row(base: dict[str, Any], index: int, spec: InputSpec, unused: list[str]) -> InputSpec:
    """A row whose name the model lacks (a typo in a loaded schema file) can be used for one of
    the inputs no row names; the closest name is offered first."""
    from runtime.specs import rename_pairs

    closest = rename_pairs([spec.name], unused).get(spec.name)
    options = [spec.name, *sorted(unused, key=lambda n: n != closest)]
    choice = st.selectbox(
        f"{spec.name} is not an input of this model: use this row for",
        options,
        format_func=lambda n: f"{n} (not an input: unused)" if n == spec.name else n,
        key=_wkey(base, index, "rename"),
    )
    if choice == spec.name:
        return spec
    # the row now describes a model input: its fixed dims take the model's dim names (``1, 8`` →
    # ``batch, seq``), so the Dimensions panel sets them with the other inputs
    renamed = run_panel.adopt_model_dims(
        InputSpecs((replace(spec, name=str(choice)),)), base["inputs"]
    ).inputs[0]
    shape_key, done_key = _wkey(base, index, "shape"), _wkey(base, index, "renamed_to")
    if st.session_state.get(done_key) != choice:
        st.session_state[done_key] = choice
        if st.session_state.get(shape_key, run_panel.shape_text(spec)) == run_panel.shape_text(spec):
            st.session_state[shape_key] = run_panel.shape_text(renamed)  # before its widget is drawn
    return renamed


def _dim_inputs(base: dict[str, Any], specs: InputSpecs, declared: dict[str, ModelInput]) -> dict[str, int]:
    """One number input per named dim, shared by every input that uses it; a dim no row's shape
    text uses any more (a shape typed as numbers) is not shown."""
    used: set[str] = set()
    for index, spec in enumerate(specs):
        text = st.session_state.get(_wkey(base, index, "shape"), run_panel.shape_text(spec))
        used |= run_panel.shape_text_names(str(text))
    values = {name: value for name, value in specs.dims().items() if name in used}
    if not values:
        return {}
    ranges: dict[str, tuple[int, int]] = {}
    for model_input in declared.values():
        ranges.update(model_input.dim_ranges)
    users = {name: [s.name for s in specs if name in s.dim_names] for name in values}
    st.markdown(
        "**Dimensions** <small>(set once, used by every input that names them)</small>",
        unsafe_allow_html=True,
    )
    cols = st.columns(min(len(values), 4))
    dims: dict[str, int] = {}
    for i, (name, value) in enumerate(values.items()):
        low, high = ranges.get(name, (1, None))
        help_text = f"used by {', '.join(users[name])}" + (
            f"; the model allows {low}..{high}" if name in ranges else ""
        )
        dims[name] = int(
            cols[i % len(cols)].number_input(
                run_panel.dim_title(name, list(declared.values())),
                min_value=1,
                value=int(value),
                step=1,
                key=_wkey(base, "dim", name),
                help=help_text,
            )
        )
    return dims


def _input_row(
    base: dict[str, Any], index: int, spec: InputSpec, dims: dict[str, int], declared: ModelInput | None
) -> tuple[InputSpec, Any, str]:
    head, dtype_col, shape_col, source_col = st.columns([2.2, 1.2, 2.2, 1.8], vertical_alignment="bottom")
    head.markdown(f"**{literal(spec.name)}**")
    head.caption(f"model: {literal(run_panel.model_shape_text(declared))}")
    dtypes = list(run_panel.DTYPES) if spec.dtype in run_panel.DTYPES else [spec.dtype, *run_panel.DTYPES]
    dtype = dtype_col.selectbox(
        "dtype", dtypes, index=dtypes.index(spec.dtype), key=_wkey(base, index, "dtype")
    )
    text = shape_col.text_input(
        "shape",
        run_panel.shape_text(spec),
        key=_wkey(base, index, "shape"),
        help="numbers, or the dim names above",
    )
    error = ""
    try:
        shape, names = run_panel.parse_shape_text(text, dims, spec.name)
    except InputSpecError as err:
        shape, names, error = spec.shape, spec.dim_names, run_panel.one_line(err)
    shaped = InputSpec(spec.name, dtype, shape, names, spec.data)
    choices = run_panel.sources_for(shaped)
    start = run_panel.source_key(spec.data)
    kind = source_col.selectbox(
        "data",
        choices,
        index=choices.index(start) if start in choices else 0,
        format_func=run_panel.SOURCES.__getitem__,
        key=_wkey(base, index, "source"),
    )
    if spec.guess:
        st.caption(f":orange[Guess — confirm: {literal(spec.guess)}]")
    data, array, data_error = _data_fields(base, index, shaped, kind)
    row = InputSpec(spec.name, dtype, shape, names, data if data is not None else spec.data)
    return row, array, error or data_error


def _data_fields(base: dict[str, Any], index: int, spec: InputSpec, kind: str) -> tuple[Any, Any, str]:
    """The fields of one data source; returns (DataSource or None, uploaded array or None, error)."""
    data = spec.data
    fields: dict[str, Any] = {}
    array = None
    cols = st.columns(4)
    is_int = spec.dtype.startswith(("int", "uint")) or spec.dtype == "bool"
    step: Any = 1 if is_int else 0.1
    cast = int if is_int else float
    try:
        if kind == "uniform":
            low = data.low if data.kind == "uniform" else 0
            high = data.high if data.kind == "uniform" else 1
            fields["low"] = cols[0].number_input(
                "min", value=cast(low), step=step, key=_wkey(base, index, "low")
            )
            fields["high"] = cols[1].number_input(
                "max", value=cast(high), step=step, key=_wkey(base, index, "high")
            )
            if data.origin:
                cols[2].caption(literal(data.origin))
        elif kind == "normal":
            fields["mean"] = cols[0].number_input(
                "mean", value=float(data.mean), key=_wkey(base, index, "mean")
            )
            fields["std"] = cols[1].number_input(
                "std", value=float(data.std), min_value=0.0, key=_wkey(base, index, "std")
            )
        elif kind == "constant":
            fields["value"] = cols[0].number_input(
                "value", value=float(data.value), key=_wkey(base, index, "value")
            )
        elif kind == "values":
            start = json.dumps(data.values) if data.kind == "values" else ""
            fields["json"] = st.text_area("JSON values", start, key=_wkey(base, index, "json"), height=80)
        elif kind == "file":
            array, fields = _array_upload(base, index, spec, cols)
        elif kind == "image":
            array, fields = _image_upload(base, index, spec, cols)
        source = run_panel.data_source(kind, fields, data.origin if kind == "uniform" else "")
        if kind == "values":
            run_panel.check_typed_values(replace(spec, data=source))
    except ModelLensError as err:
        return None, None, run_panel.one_line(err)
    if kind in ("file", "image") and array is None:
        return source, None, f"{spec.name}: no file uploaded yet — upload one or pick another data source"
    return source, array, ""


def _array_upload(base: dict[str, Any], index: int, spec: InputSpec, cols: Any) -> tuple[Any, dict[str, Any]]:
    upload = cols[0].file_uploader("array (.npy/.npz)", type=["npy", "npz"], key=_wkey(base, index, "npy"))
    if upload is None:
        return None, {}
    arrays = run_panel.load_uploaded_arrays(upload.name, upload.getvalue())
    keys = list(arrays)
    default, note = run_panel.npz_key_for(spec.name, upload.name, keys)
    key = (
        cols[1].selectbox(
            "array",
            keys,
            index=None if default is None else keys.index(default),
            key=_wkey(base, index, "npz_key"),
        )
        if len(keys) > 1
        else keys[0]
    )
    if key is None:
        raise InputSpecError(
            note, f"pick the array for {spec.name} in the array box, or save it under the key {spec.name}"
        )
    if note and key == default:
        cols[2].caption(f":orange[{literal(note)}]")
    return arrays[key], {"path": upload.name, "key": key if len(keys) > 1 else ""}


def _image_upload(base: dict[str, Any], index: int, spec: InputSpec, cols: Any) -> tuple[Any, dict[str, Any]]:
    import numpy as np

    from runtime.data import image_to_input

    upload = cols[0].file_uploader(
        "image", type=["png", "jpg", "jpeg", "bmp", "webp"], key=_wkey(base, index, "img")
    )
    layout = cols[1].radio("layout", ["NCHW", "NHWC"], key=_wkey(base, index, "layout"), horizontal=True)
    mean_text = cols[2].text_input("mean", "0.485, 0.456, 0.406", key=_wkey(base, index, "imean"))
    std_text = cols[3].text_input("std", "0.229, 0.224, 0.225", key=_wkey(base, index, "istd"))
    mean = run_panel.parse_floats(mean_text, 3, f"{spec.name} mean")
    std = run_panel.parse_floats(std_text, 3, f"{spec.name} std")
    fields = {
        "path": upload.name if upload else "",
        "layout": layout,
        "channel_mean": mean,
        "channel_std": std,
    }
    if upload is None:
        return None, fields
    size = (spec.shape[2], spec.shape[3]) if layout == "NCHW" else (spec.shape[1], spec.shape[2])
    single = image_to_input(upload.getvalue(), size, mean, std, layout, spec.dtype)
    return np.repeat(single, spec.shape[0], axis=0), fields


def _with_arrays(specs: InputSpecs, provided: dict[str, Any]) -> InputSpecs:
    """Specs where uploaded inputs describe their arrays (what the engine validates)."""
    return InputSpecs(
        tuple(
            InputSpec(s.name, str(provided[s.name].dtype), tuple(provided[s.name].shape))
            if s.name in provided
            else s
            for s in specs
        )
    )


# ---------------------------------------------------------------- running


def _run_controls(
    model: OpenModel, path: Path, specs: InputSpecs, provided: dict[str, Any], ready: bool
) -> None:
    devices = _devices()
    cols = st.columns([2, 0.8, 0.9, 1, 1, 1], vertical_alignment="bottom")
    names = [name for name, _ in devices]
    labels = dict(devices)
    device = cols[0].selectbox("Device", names, format_func=labels.__getitem__, key="run_device")
    seed = int(cols[1].number_input("Seed", min_value=0, value=0, step=1, key="run_seed"))
    timeout = float(
        cols[2].number_input(
            run_panel.TIMEOUT_LABEL,
            min_value=1.0,
            max_value=3600.0,
            value=RUN_TIMEOUT_S,
            step=10.0,
            key="run_timeout",
            help="a run, shape check, profile or benchmark step that takes longer is stopped "
            "(its worker is restarted on the next run)",
        )
    )
    request = {
        "path": path,
        "specs": specs,
        "provided": provided,
        "device": device,
        "seed": seed,
        "timeout_s": timeout,
    }
    st.session_state.run_request_fp = _fingerprint(specs, provided)
    if cols[3].button("Run", type="primary", disabled=not ready, key="run_button", width="stretch"):
        _do_run(model, request)
    if cols[4].button("Check shapes", disabled=not ready, key="shapes_button", width="stretch"):
        _do_shapes(model, request)
    if cols[5].button("Profile nodes", disabled=not ready, key="profile_button", width="stretch"):
        _do_profile(model, request)
    if not ready:
        st.caption("Fix the inputs marked below to run.")
    else:
        _status_line(model)


def _status_line(model: OpenModel) -> None:
    """One line under the buttons saying what the last click did, since its results sit below
    the inputs (out of sight on a laptop screen)."""
    if st.session_state.get("result_fp") != st.session_state.get("run_request_fp"):
        return
    record = st.session_state.get("run_result")
    if st.session_state.get("run_error"):
        action = st.session_state.get("run_error_action", "run")
        st.caption(f":red[The last {action} failed: the message is below the inputs.]")
    elif record and record["model_key"] == model.key:
        st.caption(f":green[Ran in {record['wall_s'] * 1000:.0f} ms: the outputs are below the inputs.]")


def _fingerprint(specs: InputSpecs, provided: dict[str, Any]) -> str:
    """What the inputs were when a result was made (shown results are marked stale after edits)."""
    arrays = sorted((name, str(a.dtype), tuple(a.shape)) for name, a in provided.items())
    return repr((specs, arrays))


def _engine_args(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "inputs": request["provided"] or None,
        "spec": request["specs"],
        "device": request["device"],
        "seed": request["seed"],
        "pool": worker_pool(),
        "signature": st.session_state.get("signature"),
        "timeout_s": request["timeout_s"],
    }


def _do_run(model: OpenModel, request: dict[str, Any]) -> None:
    st.session_state.pop("run_error", None)
    st.session_state.result_fp = st.session_state.run_request_fp
    start = time.perf_counter()
    try:
        with st.spinner("Running…", show_time=True):
            result = run_model(request["path"], want_arrays=True, **_engine_args(request))
    except NodeRunError as err:  # the engine found the failing node: select and draw it
        st.session_state.run_error = run_panel.one_line(err)
        st.session_state.run_error_action = "run"
        st.session_state.pop("run_result", None)
        _set_overlay(model, err.shapes)
        return
    except ModelLensError as err:
        st.session_state.run_error = run_panel.one_line(err)
        st.session_state.run_error_action = "run"
        st.session_state.pop("run_result", None)
        return
    wall = time.perf_counter() - start
    times = st.session_state.setdefault("run_walls", {}).setdefault(f"{model.key}|{request['device']}", [])
    times.append(wall)
    st.session_state.run_result = {
        "model_key": model.key,
        "result": result,
        "wall_s": wall,
        "walls": list(times),
    }
    _do_shapes(model, request, quiet=True)


def _do_shapes(model: OpenModel, request: dict[str, Any], quiet: bool = False) -> None:
    st.session_state.result_fp = st.session_state.run_request_fp
    try:
        with st.spinner("Propagating shapes…", show_time=True):
            result = model_shapes(request["path"], **_engine_args(request))
    except ModelLensError as err:
        if not quiet:
            st.session_state.run_error = run_panel.one_line(err)
            st.session_state.run_error_action = "shape check"
        return
    _set_overlay(model, result)


def _set_overlay(model: OpenModel, result: ShapesResult) -> None:
    """Draw ``result``'s shapes on the graph (keeping node times) and select its failing node."""
    overlay = run_panel.shape_overlay(model.graph, result)
    previous = st.session_state.get("run_overlay") or {}
    heat = previous.get("heat", {}) if previous.get("model_key") == model.key else {}
    st.session_state.run_overlay = {
        "model_key": model.key,
        **overlay,
        "heat": heat,
        "token": str(time.time_ns()),
    }
    if overlay["failed"]:
        select_node(overlay["failed"])


def _do_profile(model: OpenModel, request: dict[str, Any]) -> None:
    st.session_state.result_fp = st.session_state.run_request_fp
    try:
        with st.spinner("Profiling (a warm-up run, then several profiled runs)…", show_time=True):
            timings = profile_model(request["path"], **_engine_args(request))
    except ModelLensError as err:
        st.session_state.run_error = run_panel.one_line(err)
        st.session_state.run_error_action = "profile"
        return
    st.session_state.run_timings = {"model_key": model.key, "timings": timings}
    overlay = st.session_state.get("run_overlay")
    if overlay is None or overlay.get("model_key") != model.key:
        overlay = {"model_key": model.key, "nodes": {}, "failed": None, "method": "", "message": ""}
    heat = run_panel.heat_map(model.graph, timings)
    st.session_state.run_overlay = {**overlay, "heat": heat, "token": str(time.time_ns())}


def _show_result(model: OpenModel, fingerprint: str) -> None:
    if st.session_state.get("result_fp", fingerprint) != fingerprint:
        st.info(
            "The inputs changed since the last run: run again to update the results.", icon=":material/info:"
        )
        for stale in ("run_error", "run_result"):
            st.session_state.pop(stale, None)
        overlay = st.session_state.get("run_overlay")
        if overlay and overlay.get("failed"):
            st.session_state.pop("run_overlay", None)
        st.session_state.result_fp = fingerprint
    error = st.session_state.get("run_error")
    overlay = st.session_state.get("run_overlay")
    if error:
        short = error if len(error) <= 400 else error[:400] + "…"
        st.error(short, icon=":material/error:")
    if overlay and overlay.get("model_key") == model.key and overlay.get("failed"):
        if not error:  # a failed run's message already names the node: one box, not two
            st.error(f"Fails at {literal(overlay['message'])}", icon=":material/error:")
        _graph_link("Show the failing node on the graph", "goto_failed")
    elif overlay and overlay.get("model_key") == model.key and overlay.get("nodes"):
        st.caption(
            f"Shapes of {len(overlay['nodes'])} nodes ({literal(overlay['method'])}) "
            "are drawn on the Graph page."
        )
    record = st.session_state.get("run_result")
    if record and record["model_key"] == model.key:
        _outputs(model, record)
    timings = st.session_state.get("run_timings")
    if timings and timings["model_key"] == model.key:
        _slowest(model, timings["timings"])


def _graph_link(label: str, key: str, node: str | None = None) -> None:
    if st.button(label, key=key, icon=":material/hub:"):
        if node:
            select_node(node)
        st.switch_page(
            st.Page(graph_page, title="Graph", icon=":material/hub:", url_path="graph", default=True)
        )


def _outputs(model: OpenModel, record: dict[str, Any]) -> None:
    result: RunResult = record["result"]
    walls = record["walls"]
    ran = ", ".join(result.providers or [result.provider])
    timing = f"this run {record['wall_s'] * 1000:.0f} ms in the app ({result.latency_ms:.1f} ms in the model)"
    if len(walls) > 1:
        timing += f"; first run {walls[0] * 1000:.0f} ms"
    base = st.session_state.get("run_base") or {}
    timing += " · " + run_panel.load_text(
        result.load_ms, base.get("open_s"), bool(base.get("already_loaded"))
    )
    st.success(f"Ran on **{literal(result.device)}** with {literal(ran)} · {timing}", icon=":material/check:")
    stats = pd.DataFrame(
        [
            {
                "output": o.name,
                "dtype": o.dtype,
                "shape": "×".join(str(d) for d in o.shape) or "scalar",
                "min": o.min,
                "max": o.max,
                "mean": o.mean,
                "std": o.std,
                "NaN": o.nan_count,
                "Inf": o.inf_count,
            }
            for o in result.outputs
        ]
    )
    st.markdown("**Outputs**")
    value_format = st.column_config.NumberColumn(format=run_panel.VALUE_FORMAT)
    st.dataframe(
        stats,
        hide_index=True,
        width="stretch",
        key="output_stats",
        column_config={name: value_format for name in ("min", "max", "mean", "std")},
    )
    arrays = result.arrays or {}
    if arrays:
        st.download_button(
            "Download outputs (.npz)",
            run_panel.npz_bytes(arrays),
            file_name=f"{Path(model.name).stem}-outputs.npz",
            mime="application/octet-stream",
            key="outputs_npz",
            on_click="ignore",
        )
    for index, output in enumerate(result.outputs):
        array = arrays.get(output.name)
        if array is not None:
            with st.expander(
                f"Preview {output.name} · {output.dtype} {'×'.join(map(str, output.shape))}",
                expanded=index == 0,
            ):
                _preview(index, output.name, array)


def _preview(index: int, name: str, array: Any) -> None:
    """The preview tabs of one output; bfloat16/float8/object arrays show as float32 or text, and
    a preview that fails shows one line in its tab instead of taking down the rest of the page."""
    try:
        array = preview_array(array)
        kinds = run_panel.preview_kinds(array.shape, str(array.dtype))
    except Exception as err:  # noqa: BLE001 - any preview failure stays in its box
        message = f"Cannot preview {literal(name)}: {literal(_preview_error(err))}"
        st.warning(message, icon=":material/warning:")
        return
    titles = {"topk": "Top-k", "image": "Image", "heatmap": "Heatmap", "table": "Table"}
    tabs = st.tabs([titles[k] for k in kinds])
    for kind, tab in zip(kinds, tabs, strict=True):
        with tab:
            try:
                _preview_tab(index, name, array, kind)
            except Exception as err:  # noqa: BLE001 - any preview failure stays in its tab
                st.warning(
                    f"Cannot show the {titles[kind]} preview of {literal(name)} ({array.dtype}): "
                    f"{literal(_preview_error(err))}",
                    icon=":material/warning:",
                )


def _preview_error(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:200]


def _preview_tab(index: int, name: str, array: Any, kind: str) -> None:
    if kind == "topk":
        cols = st.columns(2)
        k = int(
            cols[0].number_input(
                "k", 1, max(1, array.shape[-1]), min(5, array.shape[-1]), key=f"topk_k_{index}"
            )
        )
        labels_file = cols[1].file_uploader(
            "labels (.txt lines or JSON list)", type=["txt", "json"], key=f"labels_{index}"
        )
        labels = run_panel.parse_labels(labels_file.getvalue()) if labels_file else []
        st.dataframe(run_panel.top_k(array, k, labels), hide_index=True, width="stretch")
    elif kind == "image":
        st.image(run_panel.output_image(array), caption=f"{name} (scaled min..max)", clamp=True)
    elif kind == "heatmap":
        frame = run_panel.heatmap_frame(array)
        chart = (
            alt.Chart(frame)
            .mark_rect()
            .encode(
                x="col:O",
                y="row:O",
                color=alt.Color("value:Q", scale=alt.Scale(scheme="viridis")),
                tooltip=["row", "col", "value"],
            )
        )
        st.altair_chart(chart, width="stretch")
    else:
        st.dataframe(run_panel.table_frame(array), width="stretch")


def _slowest(model: OpenModel, timings: list[Any]) -> None:
    runs = max((int(getattr(t, "runs", 1)) for t in timings), default=1)
    how = (
        f"median of {runs} profiled runs after a warm-up run"
        if runs > 1
        else "one profiled run, after a warm-up run"
    )
    st.markdown(f"**Slowest nodes** ({how}; coloured on the Graph page)")
    if not timings:
        st.caption("This backend reports no per-node times.")
        return
    frame = run_panel.timing_rows(model.graph, timings)
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "ms": st.column_config.NumberColumn(format=run_panel.MS_FORMAT),
            "share %": st.column_config.NumberColumn(format=run_panel.SHARE_FORMAT),
        },
        on_select="rerun",
        selection_mode="single-row",
        key="slowest_table",
    )
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    if rows and bool(frame.iloc[rows[0]]["on graph"]):
        node = str(frame.iloc[rows[0]]["node"])
        select_node(node)
        _graph_link(f"Show {node} on the graph", "goto_slow")


# ---------------------------------------------------------------- benchmark


def _benchmark(
    model: OpenModel, path: Path, specs: InputSpecs, provided: dict[str, Any], ready: bool
) -> None:
    st.markdown("**Benchmark**")
    cols = st.columns([1.4, 1, 1, 1, 1, 1.2], vertical_alignment="bottom")
    mode = cols[0].radio("Stop after", ["iterations", "time budget"], horizontal=True, key="bench_mode")
    iterations = int(
        cols[1].number_input(
            "Iterations", 1, 100000, 100, key="bench_iterations", disabled=mode != "iterations"
        )
    )
    budget = float(
        cols[2].number_input("Budget (s)", 0.1, 600.0, 5.0, key="bench_budget", disabled=mode == "iterations")
    )
    warmup = int(cols[3].number_input("Warm-up", 0, 10000, 10, key="bench_warmup"))
    threads = int(
        cols[4].number_input("Threads", 0, 256, 0, key="bench_threads", help="0 = the backend's default")
    )
    if cols[5].button("Benchmark", disabled=not ready, key="bench_button", width="stretch"):
        bar = st.progress(0.0, text="Benchmarking…")
        try:
            result = bench_model(
                path,
                inputs=provided or None,
                spec=specs,
                device=st.session_state.get("run_device") or "cpu",
                iterations=iterations if mode == "iterations" else 0,
                warmup=warmup,
                time_budget_s=budget if mode != "iterations" else 0.0,
                seed=int(st.session_state.get("run_seed") or 0),
                pool=worker_pool(),
                signature=st.session_state.get("signature"),
                threads=threads,
                timeout_s=float(st.session_state.get("run_timeout") or RUN_TIMEOUT_S),
                progress=lambda done: _advance(bar, done),
            )
            st.session_state.bench_result = {"model_key": model.key, "result": result}
        except ModelLensError as err:
            st.error(run_panel.one_line(err), icon=":material/error:")
        bar.empty()
    record = st.session_state.get("bench_result")
    if record and record["model_key"] == model.key:
        _bench_result(model, record["result"])


def _advance(bar: Any, done: float) -> None:
    bar.progress(min(1.0, done), text=f"Benchmarking… {done:.0%}")


def _bench_result(model: OpenModel, result: Any) -> None:
    stats = result.stats()
    cols = st.columns(5)
    cols[0].metric("p50", f"{stats['p50']:.3f} ms")
    cols[1].metric("p90", f"{stats['p90']:.3f} ms")
    cols[2].metric("p99", f"{stats['p99']:.3f} ms")
    cols[3].metric("Throughput", f"{result.throughput_per_s:,.1f} /s")
    cols[4].metric("Iterations", f"{result.iterations}")
    st.caption(
        f"device {literal(result.device)} · {literal(result.provider)} · {result.threads} threads · "
        f"{result.warmup} warm-up runs"
    )
    left, right = st.columns([1, 2])
    left.dataframe(run_panel.bench_stats_frame(result), hide_index=True, width="stretch", key="bench_stats")
    histogram = (
        alt.Chart(pd.DataFrame({"latency_ms": result.latencies_ms}))
        .mark_bar()
        .encode(
            x=alt.X("latency_ms:Q", bin=alt.Bin(maxbins=40), title="latency (ms)"),
            y=alt.Y("count()", title="runs"),
        )
    )
    right.altair_chart(histogram, width="stretch")
    stem = Path(model.name).stem
    record = run_panel.bench_record(result, model.name)
    dl = st.columns(2)
    dl[0].download_button(
        "Benchmark JSON",
        json.dumps(record, indent=2),
        f"{stem}-bench.json",
        "application/json",
        key="bench_json",
        on_click="ignore",
    )
    dl[1].download_button(
        "Latencies CSV",
        run_panel.bench_csv(result),
        f"{stem}-bench.csv",
        "text/csv",
        key="bench_csv",
        on_click="ignore",
    )
