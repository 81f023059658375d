"""TorchScript faults found by testing, each fixed as a kind and pinned here with expected values
read from torch (the module's own tree, its forward graph, its ONNX export)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import modellens
from converters import ModelLoadError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_models" / "control_flow_scripted.torchscript"


# ------------------------------------------------------------------- zip entry names not UTF-8


def _with_non_utf8_name(data: bytes) -> bytes:
    """The first central-directory entry name gets a byte that is not UTF-8, its UTF-8 flag set."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    out[at + 9] |= 0x08
    out[at + 46 + 2] = 0xE9
    return bytes(out)


@pytest.mark.parametrize("name", ["model.pt", "model.onnx", "model.pt2", "model.zip"])
def test_non_utf8_entry_name_is_a_corrupt_archive(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(_with_non_utf8_name(SAMPLE.read_bytes()))
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(path)  # what zipfile itself does with it
    with pytest.raises(ModelLoadError) as err:
        modellens.load(path)
    assert "truncated or corrupt zip archive" in err.value.message and "\n" not in str(err.value)


def test_non_utf8_entry_name_inside_an_uploaded_zip(tmp_path: Path) -> None:
    """A container zip (a model inside) whose own directory is damaged: the same one-line error."""
    inner = tmp_path / "bundle.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("models/model.onnx", b"x" * 64)
    path = tmp_path / "upload.zip"
    path.write_bytes(_with_non_utf8_name(inner.read_bytes()))
    with pytest.raises(ModelLoadError) as err:
        modellens.load(path)
    assert "truncated or corrupt zip archive" in err.value.message


def test_runner_detection_of_a_non_utf8_entry_name(tmp_path: Path) -> None:
    from runtime.runners import detect_run_format

    path = tmp_path / "model.pt"
    path.write_bytes(_with_non_utf8_name(SAMPLE.read_bytes()))
    with pytest.raises(ModelLoadError, match="corrupt zip archive"):
        detect_run_format(path)
