"""AppTest: the URL names the whole view (a SavedModel's picked signature and tag set, the page's
toggles that are off), so opening it again, as a reload does, shows the same page."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SAVEDMODEL = "sample:savedmodel_cnn"
CNN = "sample:cnn_branches.onnx"


def _app(**query: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        app.query_params[key] = value
    return app


def _params(app: AppTest) -> dict[str, str]:
    """The query parameters as the browser's URL holds them (AppTest keeps str or [str])."""
    return {k: str(v[0] if isinstance(v, list) else v) for k, v in app.query_params.items() if v}


def _signature_box(app: AppTest) -> object:
    return next(s for s in app.selectbox if s.label == "Signature")


def _reloaded(app: AppTest) -> AppTest:
    """A new session on the URL ``app`` shows: what F5 (or the theme switch) does."""
    return _app(**_params(app)).run()


def test_a_picked_signature_is_in_the_url_and_a_reload_keeps_it() -> None:
    app = _app(model=SAVEDMODEL).run()
    assert "signature" not in _params(app)  # the default leaves no parameter
    _signature_box(app).select("serve").run()  # type: ignore[attr-defined]
    assert _params(app)["signature"] == "serve"
    again = _reloaded(app)
    assert not again.exception
    assert again.session_state.signature == "serve"
    assert _signature_box(again).value == "serve"  # type: ignore[attr-defined]


def test_a_signature_the_model_lacks_says_so_and_shows_the_default() -> None:
    app = _app(model=SAVEDMODEL, signature="no_such_signature", node="x").run()
    assert not app.exception
    assert app.error and "no_such_signature" in str(app.error[0].value).replace("\\", "")
    assert _signature_box(app).value == "serving_default"  # type: ignore[attr-defined]
    assert _params(app) == {"model": SAVEDMODEL}


def test_a_hidden_inspector_is_in_the_url_and_a_reload_keeps_it() -> None:
    app = _app(model=CNN, node="node_conv2d").run()
    app.toggle(key="show_inspector").set_value(False).run()
    assert _params(app) == {"model": CNN, "node": "node_conv2d", "inspector": "off"}
    again = _reloaded(app)
    assert not again.exception
    assert again.toggle(key="show_inspector").value is False
    assert not any(e.label.startswith("Conv documentation") for e in again.expander)
    again.toggle(key="show_inspector").set_value(True).run()
    assert "inspector" not in _params(again)
    assert any(e.label.startswith("Conv documentation") for e in again.expander)
