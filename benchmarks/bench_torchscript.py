"""Opening a traced ResNet-50 against the floor: ``torch.jit.load`` alone, in the same process.

    .venv/bin/python benchmarks/bench_torchscript.py [--repeat 5] [--keep DIR]

The ResNet-50 is written here (no torchvision): Bottleneck blocks [3, 4, 6, 3], 25.6 M parameters,
traced at 1x3x224x224 and saved with ``torch.jit.save``. Prints the median time of
``torch.jit.load(path, map_location="cpu")`` and of ``modellens.load(path)`` (load + inline + graph +
sha256), and their ratio (target <= 2.0); also the converter without the sha256 (hashed on a worker
thread while torch loads, so on a busy 2-core machine it competes for CPU) and the sha256 alone.
Torch is imported before anything is timed; the timings are interleaved.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def resnet50() -> Any:
    """torchvision's ResNet-50 layout, written out: conv-bn-relu stem, 16 Bottlenecks, fc."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Any = None) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + identity)

    class ResNet(nn.Module):
        def __init__(self, layers: tuple[int, ...] = (3, 4, 6, 3), classes: int = 1000) -> None:
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = self._layer(64, layers[0])
            self.layer2 = self._layer(128, layers[1], 2)
            self.layer3 = self._layer(256, layers[2], 2)
            self.layer4 = self._layer(512, layers[3], 2)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, classes)

        def _layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
            downsample = None
            if stride != 1 or self.inplanes != planes * 4:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
                )
            modules = [Bottleneck(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * 4
            modules += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*modules)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(0)
    return ResNet().eval()


def build(workdir: Path) -> Path:
    import torch

    path = workdir / "resnet50_traced.pt"
    if not path.exists():
        with torch.no_grad():
            torch.jit.trace(resnet50(), torch.randn(1, 3, 224, 224)).save(str(path))
    return path


def interleaved_medians(actions: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Median wall time of each action, run alternately so machine load hits all of them alike."""
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(repeat):
        for action, times in zip(actions, samples, strict=True):
            gc.collect()
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in samples]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the model here and keep it")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="modellens-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    import torch

    import modellens
    from converters import ModelSource, load_source
    from converters.source import hash_path

    path = build(workdir)

    def convert_only() -> Any:  # the converter alone: the file's sha256 taken as known
        source = ModelSource.from_path(path)
        source._sha256 = "known"
        return load_source(source)

    floor, ours, converter, digest = interleaved_medians(
        [
            lambda: torch.jit.load(str(path), map_location="cpu"),
            lambda: modellens.load(path),
            convert_only,
            lambda: hash_path(path),
        ],
        args.repeat,
    )
    summary = modellens.summarize(modellens.load(path))
    print(f"model             traced ResNet-50, {path.stat().st_size / 1e6:.1f} MB, {summary['nodes']} nodes")
    print(f"torch.jit.load    {floor:.3f} s (median of {args.repeat})")
    print(f"modellens.load    {ours:.3f} s   ratio {ours / floor:.2f} (target <= 2.0)")
    print(f"  without sha256  {converter:.3f} s   ratio {converter / floor:.2f}")
    print(f"  sha256 alone    {digest:.3f} s   (a worker thread, overlapping the load)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
