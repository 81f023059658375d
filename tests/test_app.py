"""AppTest for every page: open samples, select nodes, search, subgraphs, bad files, summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from converters import ModelSource
from viewer import app_state

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 120


def _app(**query: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        app.query_params[key] = value
    return app


def _unescaped(markdown: str) -> str:
    """Model-provided text is markdown-escaped (viewer.text.literal) or carries break opportunities
    (viewer.text.breakable); read it back as shown."""
    return markdown.replace("\\", "").replace("<wbr>", "")


def _param(app: AppTest, name: str) -> str | None:
    """A query parameter as the browser's URL holds it (AppTest keeps str or [str])."""
    value = app.query_params.get(name)
    if isinstance(value, list):
        assert len(value) == 1, value
        return str(value[0])
    return value


def _texts(app: AppTest) -> str:
    return _unescaped("\n".join(str(m.value) for m in [*app.markdown, *app.caption]))


def _popovers(app: AppTest) -> list[str]:
    """The labels of the page's menus (popovers)."""
    return [str(p.proto.popover.label) for p in app.get("popover")]


def test_welcome_page_offers_samples() -> None:
    app = _app().run()
    assert not app.exception
    assert any(b.label == "cnn_branches.onnx" for b in app.button)
    assert app.selectbox[0].options  # the sample picker


def test_picking_a_sample_shows_its_graph_page() -> None:
    app = _app().run()
    app.selectbox[0].select("cnn_branches.onnx").run()
    assert not app.exception
    assert "cnn_branches.onnx" in _texts(app)
    assert app.query_params["model"] == "sample:cnn_branches.onnx"


def test_query_params_restore_model_and_selected_node() -> None:
    app = _app(model="sample:cnn_branches.onnx", node="node_conv2d").run()
    assert not app.exception
    text = _texts(app)
    assert "node_conv2d" in text
    assert any("Conv documentation" in e.label for e in app.expander)
    assert any(e.label.startswith("Weight ") for e in app.expander)
    stats = next(str(m.value) for m in app.markdown if str(m.value).startswith("**min**"))
    assert [part.split("**")[1] for part in stats.split(" · ")] == ["min", "max", "mean", "std"]


def test_jump_link_selects_the_consumer() -> None:
    app = _app(model="sample:cnn_branches.onnx", node="node_conv2d").run()
    jump = next(b for b in app.button if b.label.startswith("to "))
    target = _unescaped(jump.label.removeprefix("to "))
    jump.click().run()
    assert not app.exception
    assert app.session_state.selection == {"kind": "node", "id": target}
    assert app.session_state.focus == target
    assert _param(app, "node") == target


def test_if_attributes_link_into_their_bodies_and_the_breadcrumb_leads_back() -> None:
    app = _app(model="sample:control_flow_if_loop.onnx", node="choose_activation").run()
    openers = [b for b in app.button if b.label.startswith("Open ") and "operator node" in b.label]
    labels = [_unescaped(b.label) for b in openers]
    assert labels == ["Open else_branch · 2 operator nodes", "Open then_branch · 1 operator node"]
    assert "{'graph'" not in _texts(app)  # no raw dict for a graph attribute
    openers[1].click().run()
    assert not app.exception
    assert app.session_state.subgraph == "choose_activation/then_branch"
    crumbs = {b.label: b for b in app.button if b.key and b.key.startswith("crumb_")}
    assert list(crumbs) == ["main graph", "› choose\\_activation", "› then\\_branch"]
    assert crumbs["› then\\_branch"].disabled
    crumbs["› choose\\_activation"].click().run()
    assert app.session_state.subgraph == ""
    assert app.session_state.selection == {"kind": "node", "id": "choose_activation"}
    assert _param(app, "node") == "choose_activation" and _param(app, "sub") is None


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("random.onnx", bytes(range(256)) * 8, "not in a format"),
        ("truncated.onnx", (ROOT / "sample_models" / "cnn_branches.onnx").read_bytes()[:5000], "truncated"),
        ("notes.txt", b"just some text\n" * 20, "text file"),
    ],
)
def test_a_bad_file_shows_one_error_and_keeps_the_previous_model(name: str, data: bytes, needle: str) -> None:
    bad = ModelSource.from_uploads([(name, data)])
    app_state._upload_store()[f"bad-{name}"] = bad
    app = _app(model="sample:cnn_branches.onnx").run()
    app.session_state.model_key = f"upload:bad-{name}"
    app.run()
    assert not app.exception
    assert len(app.error) == 1 and needle in _unescaped(app.error[0].value)
    assert app.session_state.model_key == "sample:cnn_branches.onnx"
    assert "cnn_branches.onnx" in _texts(app)


def _summary_script() -> None:
    from viewer import app_state, pages

    app_state.init_session_state(None)
    pages.summary_page()


def test_summary_page() -> None:
    app = AppTest.from_function(_summary_script, default_timeout=TIMEOUT)
    app.query_params["model"] = "sample:transformer_block.onnx"
    app.run()
    assert not app.exception
    labels = [m.label for m in app.metric]
    assert labels[:4] == ["Format", "Operator nodes", "Parameters", "Weights size"]
    assert list(app.dataframe[0].value.columns) == ["property", "value"]  # no blank header
    assert len(app.dataframe) >= 3
    assert any(b.label == "Node table (CSV)" for b in app.get("download_button"))


def test_model_provided_names_are_shown_literally() -> None:
    from onnx import TensorProto, helper

    hostile = "[click](javascript:alert(1)) <b>x</b>"
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name=hostile)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    app_state._upload_store()["hostile"] = ModelSource.from_uploads([("*bold*.onnx", data)])
    app = _app(model="upload:hostile", node=hostile).run()
    assert not app.exception
    raw = "\n".join(str(m.value) for m in app.markdown).replace("<wbr>", "")  # break opportunities
    assert "\\[click\\]\\(javascript\\:alert\\(1\\)\\)" in raw
    assert "\\<b\\>" in raw and "\\*bold\\*" in raw


def test_a_stale_link_reports_the_problem_and_shows_the_welcome_page() -> None:
    app = _app(model="upload:no-such-upload", node="x").run()
    assert not app.exception
    assert len(app.error) == 1 and "no longer available" in _unescaped(app.error[0].value)
    assert any(b.label == "cnn_branches.onnx" for b in app.button)


CNN = "sample:cnn_branches.onnx"
CNN_CANVAS = f"canvas_{CNN}_"


def _canvas_options(app: AppTest) -> dict:
    """The options the canvas was given in the last run."""
    import json

    return json.loads(app.get("bidi_component")[0].proto.json)["options"]


def _click_canvas(app: AppTest, event: dict) -> AppTest:
    """What the canvas's ``select`` trigger puts in session state for the rerun it causes."""
    app.session_state[CNN_CANVAS] = {"select": event}
    return app.run()


@pytest.mark.parametrize(
    ("event", "selection", "param", "inspector_text"),
    [
        (
            {"kind": "node", "id": "node_relu"},
            {"kind": "node", "id": "node_relu"},
            ("node", "node_relu"),
            "Relu",
        ),
        ({"kind": "edge", "edges": [3, 4]}, {"kind": "edge", "edges": [3, 4]}, ("edge", "3,4"), "Tensor"),
        ({"kind": "group", "id": "layer1"}, {"kind": "group", "id": "layer1"}, ("group", "layer1"), "Op mix"),
    ],
)
def test_a_canvas_click_is_drawn_by_every_view_in_the_same_rerun(
    event: dict, selection: dict, param: tuple[str, str], inspector_text: str
) -> None:
    app = _app(model=CNN, node="node_conv2d").run()
    _click_canvas(app, event)
    assert not app.exception
    assert app.session_state.selection == selection
    assert _canvas_options(app)["selected"] == selection  # not the previous click's
    assert _canvas_options(app)["focus"] is None  # a click on the canvas does not move the view
    others = {"node", "edge", "group"} - {param[0]}
    assert _param(app, param[0]) == param[1] and all(_param(app, o) is None for o in others)
    assert inspector_text in _texts(app)


def test_clicks_a_then_b_then_c_keep_canvas_inspector_and_url_together() -> None:
    app = _app(model=CNN).run()
    assert _canvas_options(app)["selected"] is None
    for node_id in ("node_conv2d", "node_relu", "node_add_35"):
        _click_canvas(app, {"kind": "node", "id": node_id})
        assert _canvas_options(app)["selected"] == {"kind": "node", "id": node_id}
        assert _param(app, "node") == node_id
        assert f"**{node_id.replace('_', chr(92) + '_<wbr>')}**" in [m.value for m in app.markdown]


def test_escape_on_the_canvas_clears_inspector_and_url() -> None:
    app = _app(model=CNN, node="node_conv2d").run()
    _click_canvas(app, {"kind": "none"})
    assert app.session_state.selection is None
    assert _canvas_options(app)["selected"] is None
    assert _param(app, "node") is None
    assert any("Click a node" in i.value for i in app.info)


@pytest.mark.parametrize(
    "event",
    [
        {"kind": "node"},
        {"kind": "edge", "edges": ["x"]},
        {"kind": "bogus"},
        "node",
        {"kind": "group", "id": ""},
    ],
)
def test_a_malformed_canvas_event_keeps_the_selection(event: object) -> None:
    app = _app(model=CNN, node="node_conv2d").run()
    app.session_state[CNN_CANVAS] = {"select": event}
    app.run()
    assert not app.exception
    assert app.session_state.selection == {"kind": "node", "id": "node_conv2d"}


@pytest.mark.parametrize(
    "query",
    [{"node": "no_such_node"}, {"edge": "99999"}, {"group": "no/such/group"}],
)
def test_a_link_to_a_missing_selection_opens_the_model_without_it(query: dict[str, str]) -> None:
    app = _app(model=CNN, **query).run()
    assert not app.exception
    assert app.session_state.selection is None
    assert _canvas_options(app)["selected"] is None
    assert all(_param(app, name) is None for name in ("node", "edge", "group"))


def test_a_group_link_shows_the_group_and_its_path_selects_ancestors() -> None:
    app = _app(model="sample:transformer_block.onnx", group="encoder/encoder.layer.0").run()
    assert not app.exception
    text = _texts(app)
    assert "**Group** layer.0" in text and "encoder / layer.0" in text
    assert "operator nodes" in text and "Tensors entering" in text and "Op mix" in text
    assert _canvas_options(app)["focus"] == "group:encoder/encoder.layer.0"
    parent = next(b for b in app.button if b.key and b.key.startswith("gpath_") and b.label == "encoder")
    parent.click().run()
    assert app.session_state.selection == {"kind": "group", "id": "encoder"}
    assert _param(app, "group") == "encoder"


def _drop(app: AppTest, *files: tuple[str, bytes]) -> AppTest:
    """Drop files on the drop zone (the header's on the graph page, else the welcome page's)."""
    uploader = app.file_uploader[0]
    uploader.set_value([(name, data, "application/octet-stream") for name, data in files])
    return app.run()


def test_one_drop_one_model_and_the_drop_zone_never_lists_a_stale_file() -> None:
    app = _app(model=CNN).run()
    _drop(app, ("notes.txt", b"just some text\n" * 20))
    assert len(app.error) == 1 and "text file" in _unescaped(app.error[0].value)
    assert app.session_state.model_key == CNN
    drop_zones = [u for u in app.file_uploader if u.label == "Open a model"]
    assert len(drop_zones) == 1 and drop_zones[0].value in (None, [])  # emptied
    transformer = (ROOT / "sample_models" / "transformer_block.onnx").read_bytes()
    _drop(app, ("transformer_block.onnx", transformer))
    assert not app.exception and not app.error
    assert app.session_state.model_key.startswith("upload:")
    assert "Open: transformer_block.onnx" in _texts(app)
    assert app.file_uploader[0].value in (None, [])


def test_external_data_dropped_after_its_onnx_joins_that_model(tmp_path: Path) -> None:
    from tests.model_cases import build_external_data

    model = build_external_data(tmp_path)
    app = _app().run()
    _drop(app, ("model.onnx", model.read_bytes()))
    first = app.session_state.model_key
    assert any("warning" in label for label in _popovers(app))
    _drop(app, ("weights.bin", (model.parent / "weights.bin").read_bytes()))
    assert not app.error
    assert app.session_state.model_key not in (first, None)
    assert "Open: model.onnx + weights.bin" in _texts(app)
    assert not any("warning" in label for label in _popovers(app))


def test_a_side_file_the_onnx_does_not_name_is_not_opened() -> None:
    transformer = (ROOT / "sample_models" / "transformer_block.onnx").read_bytes()
    app = _app().run()
    _drop(app, ("transformer_block.onnx", transformer), ("notes.txt", b"release notes\n"))
    assert not app.exception and not app.error
    assert any("Not opened: notes.txt" in _unescaped(w.value) for w in app.warning)
    assert "Open: transformer_block.onnx" in _texts(app) and "notes.txt" not in _texts(app).split("Open:")[1]


def test_the_inspector_collapses_and_keeps_the_selection() -> None:
    app = _app(model=CNN, node="node_conv2d").run()
    assert "Conv documentation" in [e.label.split(" (")[0] for e in app.expander]
    app.toggle(key="show_inspector").set_value(False).run()
    assert not app.exception
    assert not any(e.label.startswith("Conv documentation") for e in app.expander)
    assert _canvas_options(app)["selected"] == {"kind": "node", "id": "node_conv2d"}
    assert _param(app, "node") == "node_conv2d"
    app.toggle(key="show_inspector").set_value(True).run()
    assert any(e.label.startswith("Conv documentation") for e in app.expander)


def test_warnings_open_from_the_header_with_their_code_shown_as_code() -> None:
    """A menu in the header (it opens over the page, so the canvas never moves), not an expander
    above the canvas; the `code` our messages quote is inline code, other text stays literal."""
    app = _app(model="sample:cnn_traced.torchscript").run()
    assert not app.exception
    assert not app.expander
    assert _popovers(app)[0] == "2 warnings"
    warning = next(str(m.value) for m in app.markdown if "Traced model" in str(m.value))
    assert "`torch.jit.script(model).save('model.pt')" in warning  # a code span, not \`
    assert "\\`" not in warning and "if/else" in warning
    assert "Traced model\\:" in warning  # the rest is still escaped


def test_a_load_error_stays_beside_the_canvas_until_closed() -> None:
    app = _app(model=CNN).run()
    _drop(app, ("notes.txt", b"just some text\n" * 20))
    app.run()  # a later rerun (a click on the canvas) keeps it
    assert len(app.error) == 1 and "text file" in _unescaped(app.error[0].value)
    close = app.button(key="dismiss_load_error")
    close.click().run()
    assert not app.exception and not app.error
    assert app.session_state.model_key == CNN
