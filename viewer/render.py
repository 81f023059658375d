"""Graph drawing for the CLI and exports: the JavaScript engine run inside V8 (mini-racer).

Python never lays out a graph: the bundle ``viewer/component/dist/modellens-graph.js`` computes
the visible graph, the dagre layout and the SVG/DOT text; these wrappers pass the payload and
view options (see ``viewer/component/CONTRACT.md``) as JSON and return what it produced.
"""

from __future__ import annotations

import atexit
import functools
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters.errors import InternalError, ModelLensError

if TYPE_CHECKING:
    from py_mini_racer import MiniRacer

__all__ = [
    "bundle_path",
    "bundle_source",
    "render_dot",
    "render_html",
    "render_svg",
    "render_svg_with_graphviz",
    "visible_graph",
]

_BUNDLE = Path(__file__).resolve().parent / "component" / "dist" / "modellens-graph.js"
_LOCK = threading.Lock()


def bundle_path() -> Path:
    """Where the built engine bundle lives (package data next to the component)."""
    return _BUNDLE


@functools.lru_cache(maxsize=1)
def bundle_source() -> str:
    """The engine bundle's JavaScript source."""
    try:
        return _BUNDLE.read_text(encoding="utf-8")
    except FileNotFoundError as exc:  # pragma: no cover - packaging error
        raise InternalError(
            f"The graph engine bundle is missing at {_BUNDLE}; "
            "build it with `npm ci && npm run build` in viewer/component."
        ) from exc


@functools.lru_cache(maxsize=1)
def _context() -> MiniRacer:
    """One V8 context per process, with the bundle loaded."""
    from py_mini_racer import MiniRacer

    ctx = MiniRacer()
    # Left open, mini-racer sometimes hangs the interpreter's exit (seen 2 in 25 runs on a busy
    # machine); closing it at exit never did in 60 runs.
    atexit.register(ctx.close)
    ctx.eval(bundle_source())
    return ctx


def _call(function: str, payload: dict[str, Any], options: dict[str, Any] | None) -> str:
    """Call ``ModelLensGraph.json.<function>(payloadJson, optionsJson)`` and return its string."""
    args = (json.dumps(payload, ensure_ascii=False), json.dumps(options or {}, ensure_ascii=False))
    from py_mini_racer import JSEvalException

    with _LOCK:
        try:
            result = _context().call(f"ModelLensGraph.json.{function}", *args)
        except JSEvalException as exc:
            # V8's message quotes the whole minified line; keep the error and its JS stack only.
            lines = [line for line in str(exc).splitlines() if len(line) < 300]
            raise InternalError(f"graph engine {function} failed: {' | '.join(lines[:6])}") from None
    return str(result)


def render_svg(payload: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    """A standalone SVG document of the visible graph (title, legend, concrete colours)."""
    return _call("renderSvg", payload, options)


def render_svg_with_graphviz(payload: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    """The same visible graph laid out by Graphviz's ``dot`` program (an explicit opt-in: it needs
    the system package, which ModelLens itself never requires)."""
    import graphviz

    try:
        return str(
            graphviz.Source(render_dot(payload, options)).pipe(format="svg", engine="dot", encoding="utf-8")
        )
    except graphviz.ExecutableNotFound as err:
        raise ModelLensError(
            "Graphviz's `dot` program is not installed",
            "install Graphviz (apt-get install graphviz, brew install graphviz) or leave out --engine dot",
        ) from err
    except graphviz.CalledProcessError as err:
        raise InternalError(f"dot failed on the generated graph: {err.stderr!r}") from err


def render_dot(payload: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    """Graphviz DOT text of the same visible graph (clusters for expanded groups)."""
    return _call("renderDot", payload, options)


def visible_graph(payload: dict[str, Any], options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The visible graph: ``{nodes, edges, expanded, clusters, total}`` (see the contract)."""
    result: dict[str, Any] = json.loads(_call("visibleGraph", payload, options))
    return result


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, ``<!--``)."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _html_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_html(payload: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    """A standalone, offline HTML viewer: the bundle and the payload inlined."""
    bundle = bundle_source().replace("</script", "<\\/script")
    title = _html_text(str(payload.get("title") or "Model graph"))
    theme = "dark" if (options or {}).get("theme") == "dark" else "light"
    background = "#0f1114" if theme == "dark" else "#f6f7f9"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} · ModelLens</title>"
        f"<style>html,body{{margin:0;height:100%;background:{background}}}#app{{height:100vh}}</style>"
        '</head><body><div id="app"></div>\n'
        f'<script type="application/json" id="ml-payload">{_script_json(payload)}</script>\n'
        f'<script type="application/json" id="ml-options">{_script_json(options or {})}</script>\n'
        f"<script>{bundle}</script>\n"
        "<script>ModelLensGraph.mountStandalone(document.getElementById('app'),"
        "JSON.parse(document.getElementById('ml-payload').textContent),"
        "JSON.parse(document.getElementById('ml-options').textContent));</script>\n"
        "</body></html>\n"
    )
