"""Opening a ResNet-50-sized ExportedProgram (.pt2) against the floor, ``torch.export.load`` alone.

    .venv/bin/python benchmarks/bench_exported_program.py [--repeat 3] [--keep DIR]

The model is a ResNet-50 written here (Bottleneck blocks [3, 4, 6, 3], 25.6 M parameters; no
torchvision), exported with a dynamic batch and saved with ``torch.export.save``. Printed, median of
``--repeat`` runs each, measured in this run:

* in process (torch already imported): ``torch.export.load`` vs ``modellens.load`` (load + graph);
* as processes: ``python -c "import torch; torch.export.load(p)"`` vs ``modellens info --json``.

Target: ratio <= 2.0.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOOR = "import sys, torch; torch.export.load(sys.argv[1])"


def resnet50() -> Any:
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, inplanes: int, planes: int, stride: int) -> None:
            super().__init__()
            width, out = planes, planes * 4
            self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = (
                nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                if stride != 1 or inplanes != out
                else None
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            return self.relu(self.bn3(self.conv3(y)) + identity)

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            inplanes, layers = 64, []
            for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                stage = [Bottleneck(inplanes, planes, stride)]
                inplanes = planes * 4
                stage += [Bottleneck(inplanes, planes, 1) for _ in range(blocks - 1)]
                layers.append(nn.Sequential(*stage))
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(0)
    return ResNet50().eval()


def build(workdir: Path) -> Path:
    import torch

    path = workdir / "resnet50.pt2"
    if not path.exists():
        batch = torch.export.Dim("batch", min=1, max=256)
        program = torch.export.export(
            resnet50(), (torch.randn(2, 3, 224, 224),), dynamic_shapes={"x": {0: batch}}
        )
        torch.export.save(program, str(path))
    return path


def median_time(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the model here and keep it")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="modellens-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = build(workdir)

    import torch

    import modellens

    graph = modellens.load(path)  # warm: imports, op tables
    torch.export.load(str(path))
    floor = median_time(lambda: torch.export.load(str(path)), args.repeat)
    ours = median_time(lambda: modellens.load(path), args.repeat)
    summary = modellens.summarize(graph)
    print(
        f"resnet50.pt2: {path.stat().st_size / 1e6:.1f} MB, {summary['nodes']} nodes, "
        f"{summary['parameters']:,} parameters"
    )
    print(f"{'measure':<34}{'floor s':>9}{'ours s':>9}{'ratio':>8}")
    print(f"{'in process (torch imported)':<34}{floor:>9.2f}{ours:>9.2f}{ours / floor:>8.2f}")
    floor_p = median_time(lambda: run([sys.executable, "-c", FLOOR, str(path)]), args.repeat)
    ours_p = median_time(
        lambda: run([sys.executable, "-m", "modellens", "info", str(path), "--json"]), args.repeat
    )
    print(f"{'process (info --json vs load)':<34}{floor_p:>9.2f}{ours_p:>9.2f}{ours_p / floor_p:>8.2f}")
    print("target: ratio <= 2.0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
