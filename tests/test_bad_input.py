"""Files that are not (safe) models: one-line user errors with a fix, exit code 2, never a traceback."""

from __future__ import annotations

import io
import os
import pickle
import random
import re
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import modellens
from converters.errors import ModelLensError
from tests.model_cases import _mlp_model

ROOT = Path(__file__).resolve().parents[1]


def _tiny_onnx() -> bytes:
    return _mlp_model(hidden=64).SerializeToString()


def write_empty(path: Path) -> None:
    path.write_bytes(b"")


def write_random(path: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(4096))


def write_truncated_onnx(path: Path) -> None:
    data = _tiny_onnx()
    path.write_bytes(data[: len(data) // 2])  # cut inside an initializer's raw_data


def write_text(path: Path) -> None:
    path.write_text("These are my notes about the model, not the model itself.\n" * 20)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def write_jpeg(path: Path) -> None:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    path.write_bytes(b"\xff\xd8" + app0 + b"\xff\xdb" + bytes(range(67)) + b"\xff\xd9")


def write_state_dict(path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch.save(torch.nn.Linear(4, 2).state_dict(), path)
    names = zipfile.ZipFile(path).namelist()
    assert any(n.endswith("data.pkl") for n in names)
    assert not any(n.endswith("constants.pkl") for n in names)


def write_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "epoch": 3}, protocol=4))


def write_traversal_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.onnx", _tiny_onnx())
        zf.writestr("../evil.onnx", _tiny_onnx())


def write_symlink_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.onnx", _tiny_onnx())
        link = zipfile.ZipInfo("weights.bin")
        link.create_system = 3  # unix
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")


def write_zip_bomb(path: Path) -> None:
    """A ~10 KB zip whose entries declare 3 x 4 GiB uncompressed (a real model.onnx beside them).

    The deflate data is 1 MiB of zeros; the local and central headers claim 0xFFFFFFF0 bytes each, so
    a reader that trusts declared sizes (or streams without a cap) would write ~12.9 GB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(bytes(1 << 20)) + compressor.flush()
    crc = zlib.crc32(bytes(1 << 20))
    declared = 0xFFFFFFF0
    entries = [("model.onnx", 0, _tiny_onnx(), zlib.crc32(_tiny_onnx()), len(_tiny_onnx()))]
    entries += [(f"weights/part{i}.bin", 8, payload, crc, declared) for i in range(3)]
    out = io.BytesIO()
    central = io.BytesIO()
    for name, method, data, entry_crc, size in entries:
        offset = out.tell()
        raw = name.encode()
        header = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, entry_crc, len(data), size, len(raw), 0
        )
        out.write(header + raw + data)
        fields = (0x02014B50, 20, 20, 0, method, 0, 0x21, entry_crc, len(data), size, len(raw), 0, 0, 0, 0)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", *fields, 0, offset) + raw)
    cd_offset = out.tell()
    out.write(central.getvalue())
    out.write(
        struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), central.tell(), cd_offset, 0)
    )
    path.write_bytes(out.getvalue())
    declared_total = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
    assert declared_total > 10 * 10**9 and path.stat().st_size < 100_000


@dataclass(frozen=True)
class BadCase:
    id: str
    filename: str
    write: Callable[[Path], None]
    mentions: str  # regex (case-insensitive) the one-line error must match: what the file is / the fix


BAD_CASES = (
    BadCase("empty", "empty.onnx", write_empty, r"empty"),
    BadCase("random_bytes", "blob.bin", write_random, r"recogni|unknown|unsupported|format|not a model"),
    BadCase("truncated_onnx", "truncated.onnx", write_truncated_onnx, r"onnx"),
    BadCase("text", "notes.txt", write_text, r"text"),
    BadCase("png", "picture.png", write_png, r"png|image"),
    BadCase("torch_state_dict", "weights.pt", write_state_dict, r"state_dict|torch\.jit|torch\.onnx"),
    BadCase("pickle", "data.pkl", write_pickle, r"pickle"),
    BadCase("zip_traversal", "model.zip", write_traversal_zip, r"zip|path|unsafe"),
    BadCase("zip_symlink", "model.zip", write_symlink_zip, r"link"),
    BadCase("zip_bomb", "model.zip", write_zip_bomb, r"large|size|bomb|uncompress|GB"),
    BadCase("jpeg_named_onnx", "photo.onnx", write_jpeg, r"jpe?g|image"),
)


@pytest.fixture(params=BAD_CASES, ids=[c.id for c in BAD_CASES])
def bad_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[BadCase, Path]:
    case: BadCase = request.param
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / case.filename
    case.write(path)
    return case, path


def _no_escapes(root: Path) -> None:
    """Nothing named evil.onnx and no symlinks were written anywhere under ``root``."""
    assert not list(root.rglob("evil.onnx"))
    assert not [p for p in root.rglob("*") if p.is_symlink()]


@pytest.mark.timeout(60)
def test_cli_reports_one_line_error(bad_file: tuple[BadCase, Path], tmp_path: Path) -> None:
    case, path = bad_file
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    result = subprocess.run(
        [sys.executable, "-m", "modellens", "info", str(path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("error: ")
    assert re.search(case.mentions, line, re.IGNORECASE), line
    assert "fix" in line.lower(), f"no fix in: {line}"
    _no_escapes(tmp_path)


@pytest.mark.timeout(60)
def test_api_raises_model_lens_error(
    bad_file: tuple[BadCase, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case, path = bad_file
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(ModelLensError) as err:
        modellens.load(path)
    assert err.value.fix
    assert "\n" not in str(err.value)
    assert re.search(case.mentions, str(err.value), re.IGNORECASE), str(err.value)
    _no_escapes(tmp_path)
