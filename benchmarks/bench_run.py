"""`modellens run` and `modellens bench` against bare onnxruntime, measured side by side.

    .venv/bin/python benchmarks/bench_run.py [--iterations 20] [--warmup 3] [--rounds 7] [--repeat 3]

On a ResNet-50-sized ONNX (built in code, random weights) prints:
1. bench p50 vs a bare ``InferenceSession.run`` loop on the same inputs and threads (target <= 1.05);
2. the whole ``modellens run --json`` process vs a bare Python process that imports onnxruntime,
   creates the session and runs once (median of --repeat; target <= 1.5);
3. a first run through the worker pool (start + load + run) vs a second run of the same model
   (the worker is reused, no load);
4. the same process comparison on a tiny BERT (transformers, 2 layers, vocab 29522, exported by
   torch.onnx): integer inputs, whose vocabulary range ``modellens run`` reads from the file.
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
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests import model_cases  # noqa: E402

FLOOR = (
    "import sys, numpy as np, onnxruntime as ort;"
    "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']);"
    "r = np.random.default_rng(0);"
    "shape = lambda i: [d if isinstance(d, int) else (16 if 'seq' in str(d) else 1) for d in i.shape];"
    "feeds = {i.name: r.integers(0, 100, shape(i)) if 'int' in i.type"
    " else r.random(shape(i), dtype=np.float32) for i in s.get_inputs()};"
    "print(s.run(None, feeds)[0].shape)"
)


def make_tiny_bert(workdir: Path) -> Path:
    """A 2-layer BERT (hidden 32, vocab 29522) exported by torch.onnx, inputs (batch, seq) int64."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=29522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    bert = BertModel(config).eval()

    class Outputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state, out.pooler_output

    path = workdir / "tiny_bert.onnx"
    ids, mask = torch.randint(0, 29522, (1, 16)), torch.ones(1, 16, dtype=torch.long)
    dynamic = {0: "batch", 1: "seq"}
    torch.onnx.export(
        Outputs(),
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state", "pooler_output"],
        opset_version=17,
        dynamo=False,
        dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic},
    )
    return path


def timed_process(command: list[str], repeat: int) -> float:
    samples = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bare_loop(path: Path, feeds: dict[str, np.ndarray], iterations: int, warmup: int) -> float:
    """p50 (ms) of a bare InferenceSession.run loop, default threads, same inputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        session.run(None, feeds)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        session.run(None, feeds)
        samples.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(samples, 50))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved bench rounds")
    parser.add_argument("--keep", type=Path, help="build the model here and keep it")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="modellens-bench-run-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = model_cases.make_resnet50_like(workdir)
    print(f"model: {path.name}, {path.stat().st_size / 1e6:.1f} MB, {os.cpu_count()} CPUs")

    from runtime.data import generate_inputs
    from runtime.engine import bench_model, run_model
    from runtime.worker import WorkerPool

    with WorkerPool() as pool:
        start = time.perf_counter()
        first = run_model(path, pool=pool)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        run_model(path, pool=pool)
        second_s = time.perf_counter() - start
        print(
            f"pool: first run {first_s:.2f} s (worker start + load {first.load_ms or 0:.0f} ms + run), "
            f"second run {second_s:.2f} s (reused worker), ratio {second_s / first_s:.2f}"
        )
        from runtime.engine import prepare

        prepared = prepare(path, pool=pool)
        feeds = generate_inputs(prepared.specs, seed=0)
        ratios, ours_p50s, bare_p50s = [], [], []
        for _ in range(args.rounds):  # interleaved rounds: a busy machine slows both sides alike
            bare = bare_loop(path, feeds, args.iterations, args.warmup)
            ours = bench_model(path, inputs=feeds, iterations=args.iterations, warmup=args.warmup, pool=pool)
            ours_p50s.append(ours.stats()["p50"])
            bare_p50s.append(bare)
            ratios.append(ours_p50s[-1] / bare)
        print(
            f"bench p50 over {args.rounds} interleaved rounds of {args.iterations}: modellens "
            f"{statistics.median(ours_p50s):.2f} ms ({ours.threads} threads) vs bare onnxruntime "
            f"{statistics.median(bare_p50s):.2f} ms; per-round ratios "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; "
            f"median ratio {statistics.median(ratios):.3f} (target <= 1.05)"
        )

    for label, model in ((path.name, path), ("tiny BERT", make_tiny_bert(workdir))):
        floor = timed_process([sys.executable, "-c", FLOOR, str(model)], args.repeat)
        ours_s = timed_process([sys.executable, "-m", "modellens", "run", str(model), "--json"], args.repeat)
        print(
            f"process on {label}: `modellens run --json` {ours_s:.2f} s vs bare onnxruntime process "
            f"{floor:.2f} s: ratio {ours_s / floor:.2f} (target <= 1.5 for the ResNet-50-sized model)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
