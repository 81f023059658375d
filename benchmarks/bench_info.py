"""`modellens info --json` against the floor: a process that imports onnx and runs onnx.load.

    .venv/bin/python benchmarks/bench_info.py [--repeat 3] [--keep DIR]

Prints, per model, the median wall time of each process and the ratio ours / floor (target <= 2.0),
plus the 50,000-node synthetic model's absolute time (target < 5 s).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import model_cases  # noqa: E402

FLOOR = "import onnx, sys; onnx.load(sys.argv[1], load_external_data=False)"


def timed(command: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build models here and keep them")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="modellens-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    builders: dict[str, Callable[[Path], Path]] = {
        "resnet50-like": model_cases.make_resnet50_like,
        "bert-base-like": model_cases.make_bert_base_like,
        "synthetic-50k": lambda tmp: model_cases.make_synthetic(tmp, 50_000),
    }
    print(f"{'model':<16}{'MB':>8}{'floor s':>10}{'info s':>10}{'ratio':>8}")
    for name, build in builders.items():
        path = build(workdir)
        floor = timed([sys.executable, "-c", FLOOR, str(path)], args.repeat)
        ours = timed([sys.executable, "-m", "modellens", "info", str(path), "--json"], args.repeat)
        size_mb = path.stat().st_size / 1e6
        print(f"{name:<16}{size_mb:>8.1f}{floor:>10.2f}{ours:>10.2f}{ours / floor:>8.2f}")
    print("targets: ratio <= 2.0 for the ResNet-50/BERT-base-sized models; synthetic-50k info < 5 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
