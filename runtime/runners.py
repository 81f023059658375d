"""Runners: load a model with its own framework and run it on numpy inputs.

``Runner`` (the contract) checks input names, dtypes and shapes; subclasses implement ``_load``,
``infer`` and optionally ``profile``: ``OnnxRuntimeRunner`` (onnxruntime), ``TorchScriptRunner``
(torch.jit.load), ``ExportedProgramRunner`` (torch.export.load), ``SavedModelRunner``
(tf.saved_model.load, one signature). A runner is only ever created inside the worker process
(runtime.worker); ``list_devices`` and ``detect_run_format`` are safe anywhere.

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
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            fmt = detect_zip_format(archive.namelist())
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


def runnable_path(path: str | Path) -> Path:
    """The path a runner loads: a zip holding a SavedModel folder or an ONNX file is unpacked
    safely (converters.source) into a temp dir removed at exit; anything else is returned as is."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return path
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
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
        missing = [m.name for m in self.inputs if m.name not in feeds]
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


def _require(module: str, extra: str, what: str) -> None:
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
            raise ModelLoadError(
                f"onnxruntime cannot load {self.path.name}: {first_line(err)}",
                "check the model with onnx.checker",
            ) from err
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

    def infer(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        try:
            values = self.session.run(None, dict(feeds))
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
            session.run(None, dict(feeds))
            events = json.loads(Path(session.end_profiling()).read_text())
        return ort_node_timings(events)


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


# --- torch ------------------------------------------------------------------------------------


def _torch_device(device: str) -> str:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelRunError(
            "cuda was asked for, but torch sees no GPU", "install a CUDA build of torch, or run on cpu"
        )
    return device


def flatten_outputs(value: Any, prefix: str = "output") -> list[tuple[str, np.ndarray]]:
    """Tensors (torch or tf), numbers, and nested tuples/lists/dicts → [(dotted name, array)]."""
    import numpy as np

    if hasattr(value, "detach"):
        return [(prefix, value.detach().cpu().numpy())]
    if hasattr(value, "numpy"):
        return [(prefix, np.asarray(value.numpy()))]
    if isinstance(value, Mapping):
        return [
            item
            for key, v in value.items()
            for item in flatten_outputs(v, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(value, (tuple, list)):
        return [item for i, v in enumerate(value) for item in flatten_outputs(v, f"{prefix}.{i}")]
    if isinstance(value, (bool, int, float)):
        return [(prefix, np.asarray(value))]
    if value is None:
        return []
    raise ModelRunError(
        f"the model returned a {type(value).__name__}, which ModelLens cannot show", "return tensors"
    )


_TORCH_DTYPES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "char": "int8",
    "byte": "uint8",
    "bool": "bool",
    "bfloat16": "bfloat16",
}


def torch_dtype_name(dtype: Any) -> str:
    """torch.float32 → ``float32``."""
    return str(dtype).removeprefix("torch.")


class _TorchRunner(Runner):
    module: Any
    _torch_device: str

    def _tensors(self, feeds: Mapping[str, np.ndarray]) -> list[Any]:
        import torch

        return [torch.from_numpy(feeds[m.name]).to(self._torch_device) for m in self.inputs]

    def infer(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        import torch

        args = self._tensors(feeds)
        try:
            with torch.no_grad():
                result = self.module(*args)
            if self._torch_device == "cuda":
                torch.cuda.synchronize()
        except Exception as err:
            raise ModelRunError(
                f"torch failed: {first_line(err)}", "check the input shapes (`modellens shapes`)"
            ) from err
        return flatten_outputs(result)

    def profile(self, feeds: Mapping[str, np.ndarray]) -> list[NodeTiming]:
        import torch
        from torch.profiler import ProfilerActivity, profile

        args = self._tensors(feeds)
        activities = [ProfilerActivity.CPU] + (
            [ProfilerActivity.CUDA] if self._torch_device == "cuda" else []
        )
        with profile(activities=activities) as prof, torch.no_grad():
            self.module(*args)
        return [
            NodeTiming(event.key, event.key, float(event.self_cpu_time_total))
            for event in prof.key_averages()
            if event.key.startswith("aten::")
        ]


class TorchScriptRunner(_TorchRunner):
    """A TorchScript archive (scripted or traced) via ``torch.jit.load``; inputs are forward's
    arguments (dtypes and shapes unknown: the spec gives them)."""

    format = "torchscript"

    def _load(self) -> None:
        _require("torch", TORCH_EXTRA, "TorchScript")
        import torch

        self._torch_device = _torch_device(self.device)
        try:
            self.module = torch.jit.load(str(self.path), map_location=self._torch_device).eval()
        except Exception as err:
            raise ModelLoadError(
                f"torch.jit.load cannot read {self.path.name}: {first_line(err)}",
                "re-save it with torch.jit.save",
            ) from err
        arguments = self.module.forward.schema.arguments[1:]
        self.inputs = [ModelInput(a.name, None, None) for a in arguments]
        self.output_names = ["output"]
        self.provider = f"torch {self._torch_device}"
        self.providers = [self.provider]


class ExportedProgramRunner(_TorchRunner):
    """A .pt2 ExportedProgram via ``torch.export.load(...).module()``; inputs from the graph
    signature with their dtypes, shapes (symbolic dims by name) and dim ranges."""

    format = "exported_program"

    def _load(self) -> None:
        _require("torch", TORCH_EXTRA, "an ExportedProgram")
        import torch

        self._torch_device = _torch_device(self.device)
        try:
            self.program = torch.export.load(str(self.path))
            self.module = self.program.module()
        except Exception as err:
            raise ModelLoadError(
                f"torch.export.load cannot read {self.path.name}: {first_line(err)}",
                "re-save it with torch.export.save",
            ) from err
        if self._torch_device != "cpu":
            self.module = self.module.to(self._torch_device)
        ranges = pt2_dim_ranges(self.program)
        placeholders = {n.name: n for n in self.program.graph.nodes if n.op == "placeholder"}
        self.inputs = []
        for spec in self.program.graph_signature.input_specs:
            if spec.kind.name != "USER_INPUT":
                continue
            name = getattr(spec.arg, "name", "")
            value = placeholders[name].meta.get("val") if name in placeholders else None
            if value is None or not hasattr(value, "shape"):
                raise ModelLoadError(
                    f"{self.path.name}: input {name} is not a tensor", "export with tensor inputs only"
                )
            shape = tuple(int(d) if isinstance(d, int) else str(d) for d in value.shape)
            dims = {d: ranges[d] for d in shape if isinstance(d, str) and d in ranges}
            self.inputs.append(ModelInput(name, torch_dtype_name(value.dtype), shape, dims))
        self.output_names = ["output"]
        self.provider = f"torch {self._torch_device}"
        self.providers = [self.provider]


def pt2_dim_ranges(program: Any) -> dict[str, tuple[int, int]]:
    """Symbol name → (lower, upper) from ``range_constraints`` (upper capped at 2**31-1)."""
    ranges: dict[str, tuple[int, int]] = {}
    for symbol, value_range in program.range_constraints.items():
        try:
            lower = int(value_range.lower)
        except (TypeError, ValueError):
            lower = 1
        try:
            upper = int(value_range.upper)
        except (TypeError, ValueError, OverflowError):
            upper = 2**31 - 1
        ranges[str(symbol)] = (max(lower, 1), min(upper, 2**31 - 1))
    return ranges


# --- TensorFlow -------------------------------------------------------------------------------


class SavedModelRunner(Runner):
    """A SavedModel folder via ``tf.saved_model.load``, one signature (``serving_default`` unless
    ``signature`` names another)."""

    format = "savedmodel"

    def _load(self) -> None:
        _require("tensorflow", TF_EXTRA, "a SavedModel")
        import tensorflow as tf

        if self.device == "cuda" and not tf.config.list_physical_devices("GPU"):
            raise ModelRunError(
                "cuda was asked for, but TensorFlow sees no GPU",
                "install tensorflow[and-cuda], or run on cpu",
            )
        self._tf_device = "/GPU:0" if self.device == "cuda" else "/CPU:0"
        try:
            loaded = tf.saved_model.load(str(self.path))
        except Exception as err:
            raise ModelLoadError(
                f"tf.saved_model.load cannot read {self.path.name}: {first_line(err)}",
                "re-save it with tf.saved_model.save",
            ) from err
        keys = list(loaded.signatures.keys())
        key = self.signature or (
            "serving_default" if "serving_default" in keys else (keys[0] if keys else "")
        )
        if key not in keys:
            raise ModelRunError(
                f"{self.path.name} has no signature {key!r}"
                if key
                else f"{self.path.name} has no signatures",
                f"pick one of: {', '.join(keys)}" if keys else "save the model with a serving signature",
            )
        self._loaded = loaded
        self.function = loaded.signatures[key]
        _, kwargs = self.function.structured_input_signature
        self.inputs = [
            ModelInput(
                name,
                spec.dtype.as_numpy_dtype.__name__ if spec.dtype != tf.string else "object",
                None if spec.shape.rank is None else tuple(spec.shape.as_list()),
            )
            for name, spec in kwargs.items()
        ]
        self.output_names = list(self.function.structured_outputs)
        self.provider = f"tensorflow {self._tf_device}"
        self.providers = [self.provider]

    def infer(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        import tensorflow as tf

        try:
            with tf.device(self._tf_device):
                result = self.function(**{k: tf.constant(v) for k, v in feeds.items()})
        except Exception as err:
            raise ModelRunError(f"tensorflow failed: {first_line(err)}", "check the input shapes") from err
        return [(name, result[name].numpy()) for name in self.output_names]


RUNNERS: dict[str, type[Runner]] = {
    "onnx": OnnxRuntimeRunner,
    "torchscript": TorchScriptRunner,
    "exported_program": ExportedProgramRunner,
    "savedmodel": SavedModelRunner,
}


def make_runner(
    path: str | Path, device: str = "cpu", signature: str | None = None, threads: int = 0, fmt: str = ""
) -> Runner:
    """The runner for the file's format (``fmt``, else detected from content), loaded on ``device``."""
    return RUNNERS[fmt or detect_run_format(path)](Path(path), device, signature, threads)
