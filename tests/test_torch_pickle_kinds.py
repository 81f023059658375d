"""More non-model pickles, told apart from their opcodes alone: a pickle that would run code
(any protocol, raw or inside torch.save), a bare tensor, a list of tensors, an optimizer
state_dict, a dict holding a pickled module; plus the messages for images and text naming every
format. Nothing is ever unpickled (pickle and torch.load are patched to fail)."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modellens
from converters.errors import NotAModelError
from converters.sniff import MODEL_FILES

torch = pytest.importorskip("torch")


class _Call:
    """Pickles as a call of ``func(*args)``: what an attacker's payload looks like."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)


def _net() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())


def _tsave(value: Any) -> Callable[[Path], None]:
    return lambda path: torch.save(value, path)


def _raw(value: Any, protocol: int) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(pickle.dumps(value, protocol=protocol))


def _legacy(value: Any) -> Callable[[Path], None]:
    return lambda path: torch.save(value, path, _use_new_zipfile_serialization=False)


MARKER = "/nonexistent/modellens-test-marker"
_PAYLOADS = {
    "posix.mkdir": _Call(os.mkdir, MARKER),
    "builtins.eval": _Call(builtins.eval, "1 + 1"),
    "subprocess.Popen": _Call(subprocess.Popen, ["true"]),
    "builtins.getattr": _Call(getattr, "x", "upper"),
}
# (id, writer, file name, the called global named in the message)
RUNS_CODE: list[tuple[str, Callable[[Path], None], str, str]] = [
    *[(f"raw_p{p}_{g}", _raw(v, p), "weights.pt", g) for g, v in _PAYLOADS.items() for p in (0, 2, 4)],
    ("tsave_mkdir", _tsave(_PAYLOADS["posix.mkdir"]), "model.pt", "posix.mkdir"),
    ("tsave_in_checkpoint", _tsave({"epoch": 1, "optimizer": _PAYLOADS["builtins.eval"]}), "ckpt.pt", "eval"),
    ("legacy_mkdir", _legacy(_PAYLOADS["posix.mkdir"]), "old.pth", "posix.mkdir"),
    ("named_onnx", _raw(_PAYLOADS["posix.mkdir"], 4), "model.onnx", "posix.mkdir"),
    ("named_pt2", _raw(_PAYLOADS["posix.mkdir"], 4), "model.pt2", "posix.mkdir"),
]


@pytest.fixture
def never_unpickle(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("ModelLens unpickled a file")

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)


@pytest.mark.parametrize(
    ("case_id", "write", "file_name", "called"), RUNS_CODE, ids=[c[0] for c in RUNS_CODE]
)
def test_a_pickle_that_would_run_code_says_so(
    case_id: str, write: Callable[[Path], None], file_name: str, called: str, tmp_path: Path
) -> None:
    path = tmp_path / file_name
    write(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pickle, "loads", lambda *_a, **_k: pytest.fail("unpickled"))
        patch.setattr(torch, "load", lambda *_a, **_k: pytest.fail("torch.load called"))
        with pytest.raises(NotAModelError) as err:
            modellens.load(path)
    message = str(err.value)
    assert "would run code when loaded" in message and "do not load it" in message
    assert called.split(".")[-1] in message and "\n" not in message
    assert not Path(MARKER).exists()


def _tensors_of(value: Any) -> int:
    """How many tensor storages torch.save writes for ``value`` (from torch: the zip's data/ entries)."""
    import zipfile

    buffer = io.BytesIO()
    torch.save(value, buffer)
    with zipfile.ZipFile(buffer) as archive:
        return sum(1 for n in archive.namelist() if "/data/" in n and not n.endswith("/"))


FOUR = (torch.ones(2), torch.zeros(3), torch.ones(1), torch.ones(4))
IN_DICT = "is a dict holding a whole model pickled with torch.save under 'model'"
KINDS: list[tuple[str, Any, str, str]] = [
    ("tensor", torch.arange(6.0).reshape(2, 3), "is a single PyTorch tensor", "tensor = torch.load("),
    ("list", [torch.ones(2), torch.zeros(3)], "is a list of PyTorch tensors", "tensors = torch.load("),
    ("pair", (torch.ones(2), torch.zeros(3)), "is a tuple of PyTorch tensors", "tensors = torch.load("),
    ("tuple", FOUR, "is a tuple of PyTorch tensors", ""),
    ("optimizer", "optimizer", "is a PyTorch optimizer state_dict", "optimizer state"),
    ("model_in_dict", "model_in_dict", IN_DICT, '["model"]'),
]


def _value(kind: Any) -> Any:
    if kind == "optimizer":
        net = _net()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        net(torch.ones(1, 4)).sum().backward()
        optimizer.step()
        return optimizer.state_dict()
    if kind == "model_in_dict":
        return {"model": _net(), "args": {"lr": 0.1}}
    return kind


@pytest.mark.parametrize(("case_id", "kind", "says", "snippet"), KINDS, ids=[k[0] for k in KINDS])
def test_each_torch_save_kind_is_named(
    case_id: str, kind: Any, says: str, snippet: str, tmp_path: Path, never_unpickle: None
) -> None:
    value = _value(kind)
    path = tmp_path / f"{case_id}.pt"
    buffer = io.BytesIO()
    torch.save(value, buffer)
    path.write_bytes(buffer.getvalue())
    count = _tensors_of(value)
    with pytest.raises(NotAModelError) as err:
        modellens.load(path)
    message = str(err.value)
    assert says in message, message
    if case_id in ("list", "pair", "tuple"):
        assert f"({count} stored tensors" in message
    assert snippet in (err.value.snippet or "") + message


@pytest.mark.parametrize(
    ("head", "name"),
    [(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "a.png"), (b"just some notes\n" * 8, "notes.txt")],
)
def test_non_model_files_name_every_format(head: bytes, name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(head)
    with pytest.raises(NotAModelError) as err:
        modellens.load(path)
    assert err.value.fix.startswith(f"open {MODEL_FILES}")
    assert ".pt2" in err.value.fix and ".onnx" in err.value.fix
