"""Uploads: a model with its external data files, a zip of them, and zips that must be refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from converters import ModelLensError, ModelSource, UnsupportedFormatError, load_source
from tests.model_cases import build_external_data


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_external_data(tmp_path_factory.mktemp("external"))


def _expected_weights(model_path: Path) -> dict[str, np.ndarray]:
    model = onnx.load(model_path)  # loads weights.bin from beside the file
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_model_uploaded_with_its_data_file(external: Path) -> None:
    files = [(p.name, p.read_bytes()) for p in (external.parent / "weights.bin", external)]
    source = ModelSource.from_uploads(files)
    assert source.display_name == "model.onnx"
    graph = load_source(source)
    assert graph.graph["warnings"] == []
    for name, values in _expected_weights(external).items():
        np.testing.assert_array_equal(graph.graph["tensor_store"].array(name), values)


def test_model_uploaded_without_its_data_file_warns(external: Path) -> None:
    graph = load_source(ModelSource.from_uploads([("model.onnx", external.read_bytes())]))
    assert any("weights.bin" in warning for warning in graph.graph["warnings"])
    name = next(iter(_expected_weights(external)))
    with pytest.raises(ModelLensError) as err:
        graph.graph["tensor_store"].array(name)
    assert "upload" in err.value.fix


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_of_model_and_data_is_unpacked(external: Path) -> None:
    archive = _zip(
        {
            "bundle/model.onnx": external.read_bytes(),
            "bundle/weights.bin": (external.parent / "weights.bin").read_bytes(),
        }
    )
    graph = load_source(ModelSource.from_uploads([("bundle.zip", archive)]))
    assert graph.graph["format"] == "onnx" and graph.graph["warnings"] == []
    assert graph.graph["source_name"] == "model.onnx"


def test_zip_escaping_its_folder_is_refused(external: Path) -> None:
    archive = _zip({"../../model.onnx": external.read_bytes()})
    with pytest.raises(UnsupportedFormatError) as err:
        load_source(ModelSource.from_uploads([("evil.zip", archive)]))
    assert "escaping" in err.value.message


def test_empty_upload_is_refused() -> None:
    with pytest.raises(ModelLensError) as err:
        ModelSource.from_uploads([("model.onnx", b"")])
    assert "empty" in err.value.message


def test_old_uploads_are_evicted_with_their_files() -> None:
    from viewer.app_state import MAX_KEPT_UPLOADS, _evict_oldest_uploads

    store = {str(i): ModelSource.from_uploads([(f"m{i}.onnx", b"x")]) for i in range(MAX_KEPT_UPLOADS + 2)}
    oldest = [store["0"], store["1"]]
    _evict_oldest_uploads(store)
    assert list(store) == [str(i) for i in range(2, MAX_KEPT_UPLOADS + 2)]
    assert all(source.temp_dir is not None and not source.temp_dir.exists() for source in oldest)
