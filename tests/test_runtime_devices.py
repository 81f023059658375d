"""Devices and providers: what actually ran is reported, never a silent fallback (CUDA mocked),
and the SavedModel runner (TensorFlow) runs one signature by key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
import pytest

from converters import ModelLoadError, ModelRunError
from runtime import runners
from runtime.runners import OnnxRuntimeRunner, check_used_providers, list_devices, ort_providers
from tests.model_cases import SAMPLES_DIR

CNN = SAMPLES_DIR / "cnn_branches.onnx"
REAL_SESSION = ort.InferenceSession


def test_cpu_is_always_listed() -> None:
    devices = list_devices()
    assert devices[0].name == "cpu"


def test_cuda_is_listed_when_torch_or_onnxruntime_report_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [(d.name, d.backends) for d in list_devices()][1] == ("cuda", ("onnxruntime",))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "Mock GPU")
    cuda = list_devices()[1]
    assert cuda.label == "CUDA (Mock GPU)" and cuda.backends == ("onnxruntime", "torch")


def test_providers_for_each_device() -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert ort_providers("cpu", available) == ["CPUExecutionProvider"]
    assert ort_providers("cuda", available) == available
    with pytest.raises(ModelRunError, match="onnxruntime offers only CPUExecutionProvider"):
        ort_providers("cuda", ["CPUExecutionProvider"])
    check_used_providers("cuda", available)
    with pytest.raises(ModelRunError, match="could not start CUDAExecutionProvider"):
        check_used_providers("cuda", ["CPUExecutionProvider"])


class _FakeSession:
    """Stands in for a CUDA session: delegates to a CPU session, reports the providers given."""

    used: ClassVar[list[str]] = []

    def __init__(self, path: str, sess_options: Any = None, providers: list[str] | None = None) -> None:
        self._real = REAL_SESSION(path, providers=["CPUExecutionProvider"])
        self.asked = providers

    def get_providers(self) -> list[str]:
        return self.used

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_cuda_run_reports_the_provider_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(ort, "InferenceSession", _FakeSession)
    monkeypatch.setattr(_FakeSession, "used", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    runner = OnnxRuntimeRunner(CNN, "cuda")
    assert runner.session.asked == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert runner.provider == "CUDAExecutionProvider"
    outputs, _ = runner.run({"image": np.zeros((1, 3, 32, 32), np.float32)})
    assert outputs[0][1].shape == (1, 10)


def test_cuda_falling_back_to_cpu_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(ort, "InferenceSession", _FakeSession)
    monkeypatch.setattr(_FakeSession, "used", ["CPUExecutionProvider"])
    with pytest.raises(ModelRunError, match="would run on CPUExecutionProvider"):
        OnnxRuntimeRunner(CNN, "cuda")


def test_torch_cuda_without_a_gpu_is_an_error(tmp_path: Path) -> None:
    from runtime.torch_runners import TorchScriptRunner
    from tests.runtime_models import build_traced

    with pytest.raises(ModelRunError, match="torch sees no GPU"):
        TorchScriptRunner(build_traced(tmp_path), "cuda")


def test_missing_tensorflow_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = runners.importlib.util.find_spec
    monkeypatch.setattr(
        runners.importlib.util, "find_spec", lambda name: None if name == "tensorflow" else real(name)
    )
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ModelLoadError) as caught:
        runners.make_runner(tmp_path)
    assert 'pip install "modellens[tensorflow]"' in str(caught.value)


@pytest.mark.slow
def test_savedmodel_signature_by_key_bit_equal_to_tensorflow(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    from runtime.engine import run_model
    from runtime.spec_file import loads_spec
    from runtime.worker import WorkerPool

    class Scale(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def project(self, x: Any) -> Any:
            return {"y": tf.matmul(x, self.w), "norm": tf.reduce_sum(x * x, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def double(self, x: Any) -> Any:
            return {"z": 2 * x}

    module = Scale()
    path = tmp_path / "saved"
    tf.saved_model.save(
        module, str(path), signatures={"serving_default": module.project, "double": module.double}
    )
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    with WorkerPool() as pool:
        result = run_model(path, inputs={"x": x}, pool=pool, want_arrays=True)
        expected = tf.saved_model.load(str(path)).signatures["serving_default"](x=tf.constant(x))
        assert result.arrays is not None and result.provider == "tensorflow /CPU:0"
        for name in ("y", "norm"):
            np.testing.assert_array_equal(result.arrays[name], expected[name].numpy())
        spec = loads_spec("inputs:\n  - input_name: x\n    shape: 3x4xf32\n")
        doubled = run_model(path, spec=spec, pool=pool, signature="double")
        assert [(o.name, o.shape) for o in doubled.outputs] == [("z", (3, 4))]
        with pytest.raises(ModelRunError, match="has no signature 'nope'"):
            run_model(path, spec=spec, pool=pool, signature="nope")
