"""The server entry: the model named on the command line is opened once, before the page asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from converters import ModelLoadError, ModelSource
from viewer import model_view
from viewer.serve import model_argument

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_models" / "cnn_branches.onnx"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["serve", "run", "app.py"], None),
        (["serve", "run", "app.py", "--", "--model", "/m.onnx"], "/m.onnx"),
        (["serve", "run", "app.py", "--server.port", "1", "--", "--model"], None),
    ],
)
def test_model_argument(argv: list[str], expected: str | None) -> None:
    assert model_argument(argv) == expected


def test_preopened_model_is_handed_to_the_first_page_once(monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"path:{SAMPLE}"
    model_view.preopen(key, str(SAMPLE))
    calls: list[object] = []
    monkeypatch.setattr(model_view, "load_source", lambda source: calls.append(source))
    model = model_view.open_model(key, ModelSource.from_path(SAMPLE))
    assert model.summary["format"] == "onnx" and calls == []
    assert "" in model._payloads  # the payload was built ahead too
    assert key not in model_view._PREOPENED


def test_a_preopen_failure_reaches_the_page(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(SAMPLE.read_bytes()[:3000])
    key = f"path:{broken}"
    model_view.preopen(key, str(broken))
    with pytest.raises(ModelLoadError):
        model_view.open_model(key, ModelSource.from_path(broken))
