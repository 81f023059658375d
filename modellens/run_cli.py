"""``modellens run``, ``modellens bench`` and ``modellens shapes`` (wired into modellens.cli).

    modellens run MODEL [--input-spec FILE] [--inputs IN.npz] [--device cpu|cuda] [--signature S]
                        [--save-outputs OUT.npz] [--seed N] [--timeout S] [--json]
    modellens bench MODEL [--input-spec FILE] [--inputs IN.npz] [--iterations N] [--warmup N]
                          [--time-budget S] [--threads N] [--device D] [--timeout S] [--json]
    modellens shapes MODEL [--input-spec FILE] [--inputs IN.npz] [--timeout S] [--json]

JSON: run → {"device", "provider", "outputs": [{"name", "dtype", "shape", "min", "max", "mean",
"std"}], "latency_ms"}; bench → {"device", "iterations", "latency_ms": {"min", "mean", "p50",
"p90", "p95", "p99", "max"}, "throughput_per_s"}; shapes → {"method", "nodes": {node id: [shape
per output]}, "failed": null | {"node", "op_type", "input_shapes", "message"}} (exit 2 on failure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from converters.errors import ModelLensError

EXIT_OK, EXIT_USER_ERROR = 0, 2


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file or folder (ONNX, TorchScript, .pt2, SavedModel)")
    parser.add_argument("--input-spec", help="input data schema file (YAML or JSON, MAX-compatible)")
    parser.add_argument("--inputs", help=".npz (keys = input names), .npy or .json with some or all inputs")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run (default cpu)")
    parser.add_argument("--signature", help="SavedModel signature key (default serving_default)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated inputs (default 0)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON")


def run_command(args: list[str], parser_class: Callable[..., argparse.ArgumentParser]) -> int:
    parser = parser_class(prog="modellens run", description="Run a model once on given or generated inputs.")
    add_common(parser)
    parser.add_argument("--save-outputs", help="write the outputs to this .npz (keys = output names)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before the run is stopped")
    options = parser.parse_args(args)
    _check_timeout(options.timeout)
    if options.save_outputs:
        check_output_path(Path(options.save_outputs))
    _prestart(options)
    from runtime.engine import run_model

    result = _with_template(options, run_model, want_arrays=bool(options.save_outputs))
    if options.save_outputs:
        _save_outputs(Path(options.save_outputs), result.arrays or {})
    if options.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_run_text(result.to_json(), result.outputs))
    return EXIT_OK


def bench_command(args: list[str], parser_class: Callable[..., argparse.ArgumentParser]) -> int:
    parser = parser_class(prog="modellens bench", description="Benchmark a model's latency.")
    add_common(parser)
    parser.add_argument("--iterations", type=int, default=100, help="timed runs (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs first (default 10)")
    parser.add_argument("--time-budget", type=float, default=0.0, help="with --iterations 0: seconds to run")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads (onnxruntime, torch, TensorFlow; 0 = default)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds before the benchmark is stopped")
    options = parser.parse_args(args)
    _check_timeout(options.timeout)
    from runtime.engine import check_threads

    check_threads(options.threads)
    _prestart(options, options.threads)
    from runtime.engine import bench_model

    result = _with_template(
        options,
        bench_model,
        iterations=options.iterations,
        warmup=options.warmup,
        time_budget_s=options.time_budget,
        threads=options.threads,
    )
    data = result.to_json()
    if options.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    stats = data["latency_ms"]
    print(f"{Path(options.model).name} on {result.device} ({result.provider}, {result.threads} threads)")
    print(f"{data['iterations']} iterations after {result.warmup} warm-up, latency in ms:")
    print("  " + "  ".join(f"{key} {value:.3f}" for key, value in stats.items()))
    print(f"throughput {data['throughput_per_s']:.1f} inferences/s")
    return EXIT_OK


def shapes_command(args: list[str], parser_class: Callable[..., argparse.ArgumentParser]) -> int:
    parser = parser_class(prog="modellens shapes", description="Per-node output shapes for an input spec.")
    add_common(parser)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before propagation is stopped")
    options = parser.parse_args(args)
    _check_timeout(options.timeout)
    _prestart(options)
    from runtime.engine import model_shapes

    result = _with_template(options, model_shapes)
    if options.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for node, shapes in result.nodes.items():
            print(f"{node}: {', '.join(_shape_text(s) for s in shapes)}")
    if result.failed is not None:
        print(f"error: {result.failed.one_line()}", file=sys.stderr)
        return EXIT_USER_ERROR
    return EXIT_OK


def _prestart(options: argparse.Namespace, threads: int = 0) -> None:
    """Start the worker loading the model before the rest of the engine is imported: the two
    overlap. Problems are left for the engine, which reports them in order."""
    from runtime.worker import default_pool

    try:
        default_pool().get(options.model, options.device, options.signature, threads)
    except ModelLensError:
        return


def _with_template(options: argparse.Namespace, engine_call: Callable[..., Any], **extra: Any) -> Any:
    """Call the engine function ``engine_call`` with the common options (model, inputs, spec,
    device, seed, signature, timeout) and ``extra``; a SpecNeededError prints its YAML template
    before the error line: on stdout, or on stderr with ``--json`` (whose stdout holds JSON only)."""
    from runtime.engine import SpecNeededError
    from runtime.fixes import for_surface
    from runtime.worker import WorkerStoppedError

    try:
        return engine_call(
            options.model,
            options.inputs,
            options.input_spec,
            options.device,
            seed=options.seed,
            signature=options.signature,
            timeout_s=options.timeout,
            **extra,
        )
    except SpecNeededError as err:
        print(err.template, end="", file=sys.stderr if options.json else sys.stdout)
        raise for_surface(err, "cli") from None
    except WorkerStoppedError as err:
        raise err.naming(f"--timeout, now {err.timeout_s:g} s") from None
    except ModelLensError as err:
        raise for_surface(err, "cli") from None


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not timeout > 0:
        raise ModelLensError(f"--timeout {timeout} is not a positive number of seconds", "e.g. --timeout 300")


def check_output_path(path: Path) -> None:
    """``--save-outputs`` is checked before the run: an .npz name in a writable folder."""
    if path.suffix.lower() != ".npz":
        raise ModelLensError(f"Cannot write {path.name}: outputs are saved as .npz", "name the file OUT.npz")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ModelLensError(
            f"Cannot write {path}: the folder {folder} does not exist", "pick an existing folder"
        )
    if path.is_dir() or not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ModelLensError(f"Cannot write {path}: not writable", "pick a writable output path")


def _save_outputs(path: Path, arrays: dict[str, Any]) -> None:
    from runtime.arrays import save_npz

    if path.suffix.lower() != ".npz":
        raise ModelLensError(f"Cannot write {path.name}: outputs are saved as .npz", "name the file OUT.npz")
    try:
        save_npz(path, arrays)
    except OSError as err:
        raise ModelLensError(f"Cannot write {path}: {err.strerror}", "pick a writable output path") from err


def _shape_text(shape: list[Any] | None) -> str:
    if shape is None:
        return "?"
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def format_run_text(data: dict[str, Any], outputs: list[Any]) -> str:
    lines = [f"ran on {data['device']} ({data['provider']}) in {data['latency_ms']:.2f} ms"]
    for output in outputs:
        stats = (
            ""
            if output.min is None
            else (
                f"  min {output.min:.4g}  max {output.max:.4g}  mean {output.mean:.4g}  std {output.std:.4g}"
            )
        )
        bad = f"  NaN {output.nan_count}" if output.nan_count else ""
        bad += f"  Inf {output.inf_count}" if output.inf_count else ""
        lines.append(f"{output.name}: {output.dtype} {_shape_text(list(output.shape))}{stats}{bad}")
    return "\n".join(lines)
