"""Viewing a MobileNetV2-sized SavedModel against TensorFlow's own ``tf.saved_model.load``.

    .venv/bin/python benchmarks/bench_savedmodel.py [--repeat 3] [--keep DIR]

Builds ``keras.applications.MobileNetV2(weights=None)`` (random weights, nothing downloaded),
exports it with ``model.export``, then times fresh processes, median of ``--repeat``:

* floor:  ``import tensorflow; tf.saved_model.load(DIR)`` (what any TF-based viewer pays first)
* info:   ``modellens info DIR --json`` (parse, inline the signature, fold variables; no TensorFlow)
* in-process: ``converters.load_model(DIR)`` after imports, against ``tf.saved_model.load`` after
  ``import tensorflow``.

Prints each time and the ratio ours / floor (below 1.0 = faster than loading with TensorFlow).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import sys, tensorflow as tf; tf.saved_model.load(sys.argv[1])"
IN_PROCESS = """
import sys, time
which, path = sys.argv[1], sys.argv[2]
if which == "tf":
    import tensorflow as tf
    start = time.perf_counter(); tf.saved_model.load(path)
else:
    from converters import load_model
    start = time.perf_counter(); load_model(path)
print(time.perf_counter() - start)
"""


def build(workdir: Path) -> Path:
    import keras

    path = workdir / "mobilenet_v2"
    if not (path / "saved_model.pb").is_file():
        keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3)).export(
            str(path), verbose=False
        )
    return path


def timed(command: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def in_process(which: str, path: Path, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        result = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, which, str(path)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        samples.append(float(result.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the model here and keep it")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["PYTHONPATH"] = str(ROOT)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="modellens-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = build(workdir)
    size_mb = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
    floor = timed([sys.executable, "-c", FLOOR, str(path)], args.repeat)
    ours = timed([sys.executable, "-m", "modellens", "info", str(path), "--json"], args.repeat)
    tf_load = in_process("tf", path, args.repeat)
    our_load = in_process("ours", path, args.repeat)
    print(f"MobileNetV2 SavedModel, {size_mb:.1f} MB")
    print(f"{'':<36}{'TF s':>8}{'ours s':>8}{'ratio':>8}")
    print(f"{'process (import + load / info)':<36}{floor:>8.2f}{ours:>8.2f}{ours / floor:>8.2f}")
    print(f"{'load only (after imports)':<36}{tf_load:>8.2f}{our_load:>8.2f}{our_load / tf_load:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
