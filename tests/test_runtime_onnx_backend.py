"""ONNX's own backend test models (shipped in the onnx wheel) through ``modellens run``: every case
that bare onnxruntime passes must pass through ModelLens, bit-equal to bare onnxruntime.

The full table (140 models) is slow; a handful of cases run in the fast suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from runtime.engine import run_model
from runtime.worker import WorkerPool

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
CASE_DIRS = sorted(
    p for group in ("simple", "pytorch-converted", "pytorch-operator") for p in (DATA / group).glob("*/")
)
FAST = {
    "test_sign_model",
    "test_sequence_model8",  # a zero-size input dim
    "test_ConvTranspose2d",
    "test_Embedding",
    "test_operator_chunk",  # several outputs
    "test_strnorm_model_nostopwords_nochangecase",  # string tensors
}
RTOL, ATOL = 1e-3, 1e-7  # onnx.backend.test's defaults


def _read(path: Path) -> np.ndarray | None:
    tensor = onnx.TensorProto()
    try:
        tensor.ParseFromString(path.read_bytes())
        return numpy_helper.to_array(tensor)
    except Exception:  # noqa: BLE001 - a sequence or optional value, not a tensor
        return None


def _case_data(case: Path) -> tuple[dict[str, np.ndarray], list[np.ndarray]] | None:
    data_set = case / "test_data_set_0"
    session = ort.InferenceSession(str(case / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    inputs = [_read(p) for p in sorted(data_set.glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))]
    outputs = [
        _read(p) for p in sorted(data_set.glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    ]
    if any(a is None for a in inputs) or any(a is None for a in outputs) or len(inputs) != len(names):
        return None
    return dict(zip(names, inputs, strict=True)), outputs  # type: ignore[arg-type]


def _params() -> list[object]:
    return [
        pytest.param(
            case, id=f"{case.parent.name}/{case.name}", marks=() if case.name in FAST else pytest.mark.slow
        )
        for case in CASE_DIRS
    ]


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=2) as shared:
        yield shared


def test_the_wheel_ships_the_backend_cases() -> None:
    assert len(CASE_DIRS) >= 130
    assert {case.name for case in CASE_DIRS} >= FAST


@pytest.mark.parametrize("case", _params())
def test_backend_case_runs_through_modellens(case: Path, pool: WorkerPool) -> None:
    try:
        data = _case_data(case)
        if data is None:
            pytest.skip("inputs or outputs are not plain tensors")
        feeds, expected = data
        bare = ort.InferenceSession(str(case / "model.onnx"), providers=["CPUExecutionProvider"]).run(
            None, feeds
        )
        for theirs, want in zip(bare, expected, strict=True):
            _assert_close(theirs, want)
    except (AssertionError, Exception) as err:
        if isinstance(err, pytest.skip.Exception):
            raise
        pytest.skip(f"bare onnxruntime does not pass this case: {str(err).splitlines()[0][:100]}")
    result = run_model(case / "model.onnx", inputs=feeds, pool=pool, want_arrays=True)
    assert result.arrays is not None
    for ours, theirs, want in zip(result.arrays.values(), bare, expected, strict=True):
        np.testing.assert_array_equal(ours, theirs)
        _assert_close(ours, want)


def _assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """onnx.backend.test's comparison: tolerances for numbers, equality for strings."""
    if expected.dtype.kind in "OUS":
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
