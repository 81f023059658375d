"""Runners: load a model with its own framework and run it on numpy inputs.

``Runner`` (the contract) checks input names, dtypes and shapes; subclasses implement ``_load``,
``infer`` and optionally ``profile``: ``OnnxRuntimeRunner`` (onnxruntime, here),
``TorchScriptRunner`` and ``ExportedProgramRunner`` (runtime.torch_runners), ``SavedModelRunner``
(runtime.tf_runner); ``make_runner`` imports the one a format needs. A runner is only ever
created inside the worker process (runtime.worker); ``list_devices`` and ``detect_run_format``
are safe anywhere.

Outputs come back flattened in model order: a tensor is ``output`` (or the model's output name),
nested tuples/lists/dicts get dotted names (``output.0``, ``hidden.1``).
"""

from __future__ import annotations

import importlib.util
import re
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from converters.errors import InputSpecError, ModelLoadError, ModelRunError
from runtime.data import check_provided
from runtime.results import NodeTiming
from runtime.specs import ModelInput

if TYPE_CHECKING:
    import numpy as np

ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(bfloat16)": "bfloat16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}
DEVICE_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
}
TORCH_EXTRA = 'pip install "modellens[torch]"'
TF_EXTRA = 'pip install "modellens[tensorflow]"'


@dataclass(frozen=True)
class Device:
    """A device a model can run on: ``cpu`` or ``cuda``, with the backends that report it."""

    name: str
    label: str
    backends: tuple[str, ...]


def list_devices() -> list[Device]:
    """CPU always; CUDA when onnxruntime offers CUDAExecutionProvider or torch sees a GPU."""
    devices = [Device("cpu", "CPU", ("onnxruntime", "torch", "tensorflow"))]
    backends: list[str] = []
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            backends.append("onnxruntime")
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            backends.append("torch")
            devices.append(Device("cuda", f"CUDA ({torch.cuda.get_device_name(0)})", tuple(backends)))
            return devices
    if backends:
        devices.append(Device("cuda", "CUDA", tuple(backends)))
    return devices


def detect_run_format(path: str | Path) -> str:
    """``onnx`` | ``torchscript`` | ``exported_program`` | ``savedmodel`` from the file's content."""
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise ModelLoadError(
            f"The folder {path.name} holds no SavedModel", "open a saved_model folder or a model file"
        )
    if not path.is_file():
        raise ModelLoadError(f"No such file: {path}", "check the path")
    if path.name in SAVED_MODEL_FILES:  # saved_model.pb given for its folder
        return "savedmodel"
    if path.suffix.lower() == ".onnx" and looks_like_model_proto(path):
        return "onnx"  # without importing the converters (networkx, onnx): a one-shot run's cost
    if zipfile.is_zipfile(path):
        from converters.source import zip_entry_names

        fmt = detect_zip_format(zip_entry_names(path, path.name))
        if fmt:
            return fmt
    from converters.onnx_format import match
    from converters.source import ModelSource

    source = ModelSource.from_path(path)
    if match(source):
        return "onnx"
    from converters.sniff import explain_non_model

    explain_non_model(source)  # a torch.save pickle, a state_dict, an image...: say what it is
    raise ModelLoadError(
        f"{path.name} is not a model ModelLens can run",
        "run an ONNX file, a TorchScript archive, a .pt2 ExportedProgram or a SavedModel folder",
    )


SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def looks_like_model_proto(path: Path) -> bool:
    """An ONNX ModelProto as every exporter writes it: field 1 (ir_version, a varint) first."""
    with path.open("rb") as handle:
        head = handle.read(2)
    return len(head) == 2 and head[0] == 0x08 and 0 < head[1] < 0x80


def runnable_path(path: str | Path) -> Path:
    """The path a runner loads: a zip holding a SavedModel folder or an ONNX file is unpacked
    safely (converters.source) into a temp dir removed at exit; anything else is returned as is."""
    path = Path(path)
    if path.name in SAVED_MODEL_FILES and path.is_file():
        return path.parent
    if not path.is_file() or not zipfile.is_zipfile(path):
        return path
    from converters.source import zip_entry_names

    names = zip_entry_names(path, path.name)
    holds_model = any(n.endswith("saved_model.pb") or n.lower().endswith(".onnx") for n in names)
    if not holds_model or detect_zip_format(names) in ("torchscript", "exported_program"):
        return path
    from converters.source import ModelSource

    root = ModelSource.from_path(path).unpacked().path
    saved = sorted(p.parent for p in root.rglob("saved_model.pb"))
    onnx_files = sorted(root.rglob("*.onnx"))
    return saved[0] if saved else onnx_files[0]


def detect_zip_format(names: list[str]) -> str:
    """The format of a zip archive from its entry names ("" when none)."""
    if any(
        n.endswith("serialized_exported_program.json") or ("/models/" in n and n.endswith(".json"))
        for n in names
    ):
        return "exported_program"
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    if any(n.endswith("saved_model.pb") for n in names):
        return "savedmodel"
    return ""


class Runner:
    """Loads a model once, then runs it on named numpy arrays.

    ``inputs``: what the model declares (ModelInput); ``output_names``; ``provider``: what actually
    runs (an onnxruntime provider, ``torch cpu``, ``tensorflow /CPU:0``); ``load_ms``.
    """

    format: ClassVar[str] = ""

    def __init__(
        self, path: Path, device: str = "cpu", signature: str | None = None, threads: int = 0
    ) -> None:
        if device not in DEVICE_PROVIDERS:
            raise ModelRunError(f"Unknown device {device!r}", "use cpu or cuda")
        self.path, self.device, self.signature, self.threads = Path(path), device, signature, threads
        self.inputs: list[ModelInput] = []
        self.output_names: list[str] = []
        self.provider = ""
        self.providers: list[str] = []
        start = time.perf_counter()
        self._load()
        self.load_ms = (time.perf_counter() - start) * 1000.0

    def _load(self) -> None:
        raise NotImplementedError

    def check(self, feeds: Mapping[str, np.ndarray]) -> None:
        """Names, dtypes and shapes against the declared inputs (InputSpecError)."""
        check_provided(feeds, self.inputs, "the inputs")
        missing = [m.name for m in self.inputs if m.name not in feeds and not m.optional]
        if missing:
            raise InputSpecError(
                f"inputs missing: {', '.join(missing)}", "give every model input a spec or array"
            )

    def run(self, feeds: Mapping[str, np.ndarray]) -> tuple[list[tuple[str, np.ndarray]], float]:
        """Checked inference: (flattened outputs, latency in ms)."""
        self.check(feeds)
        start = time.perf_counter()
        outputs = self.infer(feeds)
        return outputs, (time.perf_counter() - start) * 1000.0

    def infer(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        """Run once without checks (the benchmark loop); raises ModelRunError."""
        raise NotImplementedError

    def profile(self, feeds: Mapping[str, np.ndarray]) -> list[NodeTiming]:
        """Per-node times of one run; empty when the backend reports none."""
        return []


def require_module(module: str, extra: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ModelLoadError(f"Running {what} needs {module}, which is not installed", extra)


def first_line(err: BaseException, limit: int = 600) -> str:
    text = " ".join(str(err).split())
    return (text or type(err).__name__)[:limit]


# --- ONNX -------------------------------------------------------------------------------------


def ort_providers(device: str, available: Sequence[str]) -> list[str]:
    """The providers to ask onnxruntime for; CUDA not available → ModelRunError (no fallback)."""
    wanted = DEVICE_PROVIDERS[device]
    if wanted[0] not in available:
        raise ModelRunError(
            f"{device} was asked for, but onnxruntime offers only {', '.join(available)}",
            "install onnxruntime-gpu with a matching CUDA, or run on cpu",
        )
    return wanted


def check_used_providers(device: str, used: Sequence[str]) -> None:
    """onnxruntime silently falls back to CPU when CUDA cannot start: refuse that."""
    wanted = DEVICE_PROVIDERS[device][0]
    if wanted not in used:
        raise ModelRunError(
            f"onnxruntime could not start {wanted} (it would run on {', '.join(used)})",
            "check the CUDA and cuDNN libraries onnxruntime-gpu needs, or run on cpu",
        )


class OnnxRuntimeRunner(Runner):
    format = "onnx"

    def _load(self) -> None:
        import onnxruntime as ort

        providers = ort_providers(self.device, ort.get_available_providers())
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        self._options = options
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as err:
            message = first_line(err)
            fix = "check the model with onnx.checker"
            if "Could not find an implementation" in message:
                fix = (
                    f"onnxruntime on {self.device} has no kernel for that op with these types "
                    "(bfloat16 has few on CPU): cast to float32 or float16 in the model, or try cuda"
                )
            raise ModelLoadError(f"onnxruntime cannot load {self.path.name}: {message}", fix) from err
        self.providers = list(self.session.get_providers())
        check_used_providers(self.device, self.providers)
        self.provider = self.providers[0]
        self.inputs = [
            ModelInput(
                i.name,
                ORT_TYPES.get(i.type, i.type),
                tuple(_ort_dim(d) for d in i.shape) if i.shape is not None else None,
            )
            for i in self.session.get_inputs()
        ]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._bfloat16 = has_bfloat16(self.session)

    def infer(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        try:
            values = ort_run(self.session, feeds, self.output_names, self._bfloat16)
        except Exception as err:
            raise ModelRunError(
                f"onnxruntime failed: {first_line(err)}", "check the input shapes (`modellens shapes`)"
            ) from err
        return list(zip(self.output_names, values, strict=True))

    def profile(self, feeds: Mapping[str, np.ndarray]) -> list[NodeTiming]:
        """Node times from onnxruntime's profiler, on a session with basic graph optimizations so
        that node names are the file's (constant-folded nodes are absent)."""
        import json
        import os
        import tempfile

        import onnxruntime as ort

        options = ort.SessionOptions()
        options.enable_profiling = True
        # basic optimizations only: extended fusions and the NCHWc layout rename and merge nodes,
        # and every time reported here must belong to a node of the file's graph
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if self.threads:
            options.intra_op_num_threads = self.threads
        with tempfile.TemporaryDirectory() as tmp:
            options.profile_file_prefix = os.path.join(tmp, "profile")
            session = ort.InferenceSession(str(self.path), sess_options=options, providers=self.providers)
            ort_run(session, feeds)
            events = json.loads(Path(session.end_profiling()).read_text())
        return ort_node_timings(events)


def ort_run(
    session: Any,
    feeds: Mapping[str, np.ndarray],
    names: Sequence[str] | None = None,
    bfloat16: bool | None = None,
) -> list[np.ndarray]:
    """``session.run`` for output ``names`` (all when None); a model with a bfloat16 input or
    output (``bfloat16``: known already, else looked up) goes through OrtValues, since
    onnxruntime's numpy API knows no bfloat16."""
    wanted = list(names) if names is not None else [o.name for o in session.get_outputs()]
    if bfloat16 is None:
        bfloat16 = has_bfloat16(session, wanted)
    if not bfloat16:
        return list(session.run(wanted, dict(feeds)))
    return _run_bfloat16(session, feeds, wanted)


def has_bfloat16(session: Any, names: Sequence[str] | None = None) -> bool:
    """Whether a session input, or one of the outputs ``names`` (all when None), is bfloat16."""
    outputs = [o for o in session.get_outputs() if names is None or o.name in names]
    return any(t.type == "tensor(bfloat16)" for t in [*session.get_inputs(), *outputs])


def _run_bfloat16(session: Any, feeds: Mapping[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    """bfloat16 tensors go in as OrtValues made from their raw 16-bit words, and come out copied
    from the OrtValue's buffer (on CPU) as ``ml_dtypes.bfloat16`` arrays."""
    import ctypes

    import ml_dtypes
    import numpy as np
    import onnxruntime as ort

    bfloat16_type = 16  # onnx.TensorProto.BFLOAT16
    values = {}
    for name, array in feeds.items():
        if array.dtype == ml_dtypes.bfloat16:
            words = np.ascontiguousarray(array).view(np.uint16)
            values[name] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(words, bfloat16_type)
        else:
            values[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array))
    outputs = []
    for value in session.run_with_ort_values(names, values):
        if value.data_type() != "tensor(bfloat16)":
            outputs.append(value.numpy())
            continue
        if value.device_name().lower() != "cpu":
            raise ModelRunError(
                "a bfloat16 output on the GPU cannot be read back by onnxruntime's Python API",
                "run on cpu, or cast the output to float32 in the model",
            )
        count = int(np.prod(value.shape()))
        words = np.zeros(count, dtype=np.uint16)
        if count:
            ctypes.memmove(words.ctypes.data, value.data_ptr(), 2 * count)
        outputs.append(words.view(ml_dtypes.bfloat16).reshape(value.shape()))
    return outputs


def ort_node_timings(events: list[dict[str, Any]]) -> list[NodeTiming]:
    """Sum onnxruntime profile ``Node`` events (``<name>_kernel_time``) per node."""
    totals: dict[str, tuple[str, float]] = {}
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        node = str(event["name"])[: -len("_kernel_time")]
        op_type = str(event.get("args", {}).get("op_name", ""))
        previous = totals.get(node, (op_type, 0.0))[1]
        totals[node] = (op_type, previous + float(event.get("dur", 0)))
    return [NodeTiming(node, op, dur) for node, (op, dur) in totals.items()]


def _ort_dim(dim: Any) -> int | str | None:
    if isinstance(dim, int):
        return dim if dim >= 0 else None
    if isinstance(dim, str) and dim and not re.match(r"^unk__\d+$", dim):
        return dim
    return None


RUNNERS: dict[str, str] = {
    "onnx": "runtime.runners:OnnxRuntimeRunner",
    "torchscript": "runtime.torch_runners:TorchScriptRunner",
    "exported_program": "runtime.torch_runners:ExportedProgramRunner",
    "savedmodel": "runtime.tf_runner:SavedModelRunner",
}


def runner_class(fmt: str) -> type[Runner]:
    """The Runner subclass for a format (its module is imported on demand)."""
    import importlib

    module, name = RUNNERS[fmt].split(":")
    cls: type[Runner] = getattr(importlib.import_module(module), name)
    return cls


def make_runner(
    path: str | Path, device: str = "cpu", signature: str | None = None, threads: int = 0, fmt: str = ""
) -> Runner:
    """The runner for the file's format (``fmt``, else detected from content), loaded on ``device``."""
    return runner_class(fmt or detect_run_format(path))(Path(path), device, signature, threads)
