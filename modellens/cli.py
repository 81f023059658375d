"""The ``modellens`` command: open the app, print a model summary, render a graph.

    modellens [MODEL] [--host H] [--port N] [--no-browser]
    modellens info MODEL [--json] [--signature S] [--tags T]
    modellens render MODEL -o OUT.{svg,dot,html} [--expand none|all|DEPTH] [--signature S] [--tags T]
    modellens run|bench|shapes MODEL [--input-spec FILE] ...   (see modellens.run_cli)

User errors exit 2 with one ``error: ...`` line on stderr; our own bugs exit 1.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from converters.errors import ModelLensError

EXIT_OK, EXIT_BUG, EXIT_USER_ERROR = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `cat big | head -1`
SUBCOMMANDS = ("info", "render", "run", "bench", "shapes", "app")
RENDER_SUFFIXES = (".svg", ".dot", ".html")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``error:`` line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ModelLensError(message, f"see `{self.prog} --help`")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # model text in a terminal that is not UTF-8
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a reader that went away (`| head -1`) shows up here, not at exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except ModelLensError as err:
        print(f"error: {err.one_line()}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if os.environ.get("MODELLENS_DEBUG"):
            raise
        print(
            f"internal error: {type(err).__name__}: {err} (a ModelLens bug; rerun with MODELLENS_DEBUG=1 "
            "for a traceback and please report it)",
            file=sys.stderr,
        )
        return EXIT_BUG


def _quiet_broken_pipe() -> int:
    """The reader of stdout closed early: stop quietly, as unix tools do (no traceback, no flush
    error at exit: stdout now points at /dev/null)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture)
        pass
    return EXIT_BROKEN_PIPE


def _dispatch(args: list[str]) -> int:
    if args[:1] in (["--version"], ["-V"]):
        from modellens import __version__

        print(f"modellens {__version__}")
        return EXIT_OK
    command = args[0] if args and args[0] in SUBCOMMANDS else "app"
    if command != "app":
        # A one-shot command builds ~10 objects per node and frees them all at exit: the cyclic
        # collector would only re-scan them (0.7 s of a 50,000-node `info`).
        gc.disable()
    rest = args[1:] if args and args[0] in SUBCOMMANDS else args
    handlers: dict[str, Callable[[list[str]], int]] = {"info": _info, "render": _render, "app": _app}
    handlers.update({name: _run_family(name) for name in ("run", "bench", "shapes")})
    return handlers[command](rest)


def _run_family(name: str) -> Callable[[list[str]], int]:
    def handler(args: list[str]) -> int:
        from modellens import run_cli

        command: Callable[..., int] = getattr(run_cli, f"{name}_command")
        return command(args, _Parser)

    return handler


def _info(args: list[str]) -> int:
    parser = _Parser(prog="modellens info", description="Print a model's summary.")
    parser.add_argument("model", help="model file or folder")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON (schema_version 1)")
    _add_savedmodel_options(parser)
    options = parser.parse_args(args)
    from modellens import summarize
    from viewer.summary import format_summary_text

    summary = summarize(_load(options))
    print(json.dumps(summary, indent=2) if options.json else format_summary_text(summary))
    return EXIT_OK


def _render(args: list[str]) -> int:
    parser = _Parser(prog="modellens render", description="Draw a model graph to .svg, .dot or .html.")
    parser.add_argument("model", help="model file or folder")
    parser.add_argument("-o", "--output", required=True, help="output file: .svg, .dot or .html")
    parser.add_argument(
        "--expand", default=None, help="groups to open: none, all, or a depth (default: the app's first view)"
    )
    parser.add_argument("--direction", choices=("TB", "LR"), default="TB", help="layout direction")
    parser.add_argument(
        "--engine",
        choices=("builtin", "dot"),
        default="builtin",
        help="SVG layout: the app's own engine (default), or Graphviz's `dot` program if installed",
    )
    _add_savedmodel_options(parser)
    options = parser.parse_args(args)
    output = Path(options.output)
    if output.suffix.lower() not in RENDER_SUFFIXES:
        raise ModelLensError(
            f"Cannot write {output.name}: unknown output type", "name the output .svg, .dot or .html"
        )
    from viewer import render
    from viewer.canvas_payload import build_payload

    payload = build_payload(_load(options), details=output.suffix.lower() == ".html")
    view = {"expand": _expand_option(options.expand), "direction": options.direction}
    writers = {".svg": render.render_svg, ".dot": render.render_dot, ".html": render.render_html}
    if options.engine == "dot" and output.suffix.lower() == ".svg":
        text = render.render_svg_with_graphviz(payload, view)
    else:
        text = writers[output.suffix.lower()](payload, view)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ModelLensError(f"Cannot write {output}: {err.strerror}", "pick a writable output path") from err
    return EXIT_OK


def _add_savedmodel_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--signature", help="TensorFlow SavedModel: the signature to show (default serving_default)"
    )
    parser.add_argument("--tags", help="TensorFlow SavedModel: the meta graph's tag set, comma-separated")


def _load_settings(options: argparse.Namespace) -> dict[str, str]:
    return {k: v for k, v in (("signature", options.signature), ("tags", options.tags)) if v}


def _load(options: argparse.Namespace) -> Any:
    """The model; a SavedModel-only option on another format is a user error, not ignored."""
    from modellens import load

    settings = _load_settings(options)
    graph = load(options.model, settings)
    if settings and graph.graph.get("format") != "savedmodel":
        given = " and ".join(f"--{k}" for k in settings)
        raise ModelLensError(
            f"{given} applies to TensorFlow SavedModels only; {Path(options.model).name} is "
            f"{graph.graph.get('format_label') or graph.graph.get('format')}",
            f"drop {given}",
        )
    return graph


def _expand_option(value: str | None) -> str | int | None:
    if value is None or value in ("none", "all"):
        return value
    if value.isdigit():
        return int(value)
    raise ModelLensError(f"--expand {value!r} is not valid", "use none, all, or a depth such as 2")


def _app(args: list[str]) -> int:
    parser = _Parser(prog="modellens", description="Open the ModelLens app (optionally with a model).")
    parser.add_argument("model", nargs="?", help="model file or folder to open")
    parser.add_argument("--host", help="address to serve on (default 127.0.0.1, from .streamlit/config.toml)")
    parser.add_argument("--port", type=int, help="port to serve on (default 8501)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    options = parser.parse_args(args)
    from modellens.launcher import launch_app

    model = None
    if options.model:
        model = Path(options.model).expanduser().resolve()
        if not model.exists():
            raise ModelLensError(f"No such file: {options.model}", "check the path, or run `modellens` alone")
        from converters import ModelSource, check_openable

        check_openable(ModelSource.from_path(model))  # a non-model fails here, before a server starts
    return launch_app(model, host=options.host, port=options.port, open_browser=not options.no_browser)
