"""PyTorch files that are not models (section 3 of issue 5): each is recognised from its bytes —
archive entry names, header bytes, pickle opcodes — never unpickled, and the one-line error says
what the file is, why it cannot be viewed or run, and how to save a model file instead."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import modellens
from converters.errors import NotAModelError

torch = pytest.importorskip("torch")
nn = torch.nn
ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE_CALLS = (
    'torch.jit.script(model).save("model.pt")',
    "torch.jit.trace(model, example).save(",
    'torch.export.save(torch.export.export(model, (example,)), "model.pt2")',
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def write_pickled_module(path: Path) -> None:
    torch.save(_net(), path)


def write_state_dict(path: Path) -> None:
    torch.save(_net().state_dict(), path)


def write_legacy_state_dict(path: Path) -> None:
    torch.save(_net().state_dict(), path, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)


def write_training_checkpoint(path: Path) -> None:
    net = _net()
    optimizer = torch.optim.Adam(net.parameters())
    torch.save(
        {"epoch": 7, "model_state_dict": net.state_dict(), "optimizer_state_dict": optimizer.state_dict()},
        path,
    )


def write_lightning_checkpoint(path: Path) -> None:
    """The keys Lightning's Trainer writes (without Lightning installed)."""
    net = _net()
    torch.save(
        {
            "epoch": 3,
            "global_step": 120,
            "pytorch-lightning_version": "2.4.0",
            "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
            "callbacks": {"ModelCheckpoint": {"best_model_score": 0.1}},
            "optimizer_states": [torch.optim.SGD(net.parameters(), lr=0.1).state_dict()],
            "lr_schedulers": [],
        },
        path,
    )


def write_safetensors(path: Path) -> None:
    """The safetensors layout: u64 header length, JSON header, raw little-endian data."""
    tensors = {"0.weight": (3, 4), "0.bias": (3,), "2.weight": (2, 3)}
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        size = 4 * int(torch.tensor(shape).prod())
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(offset))


def write_plain_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "epoch": 3}, protocol=4))


def write_aoti_package(path: Path) -> None:
    """The entry names of ``torch._inductor.aoti_compile_and_package`` output (no program JSON)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model/archive_format", "pt2")
        zf.writestr("model/archive_version", "0")
        zf.writestr("model/data/aotinductor/model/model.wrapper.so", b"\x7fELF")
        zf.writestr("model/data/aotinductor/model/model.json", "{}")


@dataclass(frozen=True)
class Case:
    id: str
    filename: str
    write: Callable[[Path], None]
    mentions: str  # regex the one-line message must match (what the file is)
    snippet: bool = True  # the error carries the code that saves a model file


CASES = (
    Case(
        "pickled_module", "model.pt", write_pickled_module, r"whole model pickled with torch\.save\(model\)"
    ),
    Case("state_dict", "weights.pt", write_state_dict, r"state_dict \(4 stored tensors"),
    Case("legacy_state_dict", "weights.pth", write_legacy_state_dict, r"state_dict.*legacy torch\.save"),
    Case(
        "training_checkpoint",
        "checkpoint.pt",
        write_training_checkpoint,
        r"training checkpoint .*epoch, model_state_dict, optimizer_state_dict",
    ),
    Case("lightning_checkpoint", "last.ckpt", write_lightning_checkpoint, r"Lightning checkpoint"),
    Case("safetensors", "model.safetensors", write_safetensors, r"safetensors .*3 tensors, 21 values"),
    Case("plain_pickle", "data.pkl", write_plain_pickle, r"Python pickle"),
    Case("aoti_package", "model.pt2", write_aoti_package, r"AOTInductor package", snippet=False),
)
params = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


@pytest.fixture
def never_unpickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to unpickle the file."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the file was unpickled")

    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)


@params
def test_recognised_without_unpickling(case: Case, tmp_path: Path, never_unpickle: None) -> None:
    path = tmp_path / case.filename
    case.write(path)
    with pytest.raises(NotAModelError) as err:
        modellens.load(path)
    message = str(err.value)
    assert re.search(case.mentions, message), message
    assert "\n" not in message and err.value.fix
    assert "ONNX models today" not in message and "for ModelLens today" not in message
    if case.snippet:
        assert re.search(r"original Python class|Python class", message), message
        for call in MODEL_FILE_CALLS:
            assert call in err.value.snippet
        assert "control flow" in err.value.snippet
        assert "torch.jit.script" in err.value.fix and "torch.export.save" in err.value.fix


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", [CASES[0], CASES[3]], ids=[CASES[0].id, CASES[3].id])
def test_cli_prints_one_line_with_the_fix(case: Case, tmp_path: Path) -> None:
    path = tmp_path / case.filename
    case.write(path)
    result = subprocess.run(
        [sys.executable, "-m", "modellens", "info", str(path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Fix:" in line and re.search(case.mentions, line)


def test_a_truncated_pickle_is_still_named(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    write_legacy_state_dict(path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(NotAModelError, match="pickle"):
        modellens.load(path)
