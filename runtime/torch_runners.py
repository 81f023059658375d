"""torch runners: TorchScript archives (``torch.jit.load``) and ExportedPrograms (``.pt2``, read
by ``converters.pt2_loader`` as the viewer reads them, never by ``torch.export.load``), run under
``torch.no_grad`` on the chosen device; the torch profiler gives per-node times
(``runtime.torch_timing``). Imported only by the
worker, when such a model is loaded."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from converters.errors import ModelLoadError, ModelRunError
from runtime.results import NodeTiming
from runtime.runners import TORCH_EXTRA, Runner, first_line, require_module
from runtime.specs import ModelInput

if TYPE_CHECKING:
    import numpy as np


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


def torch_dtype_name(dtype: Any) -> str:
    """torch.float32 → ``float32``."""
    return str(dtype).removeprefix("torch.")


_DECORATION = re.compile(
    r"^(File \"|Traceback|~|\^|The above operation failed|The following operation failed)"
)
_ERROR_LINE = re.compile(r"^(?:[\w.]+(?:Error|Exception)|Error): ")
_TRACE_FRAME = re.compile(r"^\S+\(\d+\): \S+$")  # a traced model's recorded Python stack


def torch_message(err: BaseException, limit: int = 1000) -> str:
    """The framework's own message from a (TorchScript) error: the text after the traceback's
    last ``...Error: `` line (continuation lines joined), without source excerpts and recorded
    stacks; the whole text squeezed when it has no such line."""
    lines = [line.rstrip() for line in str(err).splitlines()]
    starts = [i for i, line in enumerate(lines) if _ERROR_LINE.match(line.strip())]
    if not starts:
        text = " ".join(str(err).split())
        return (text or type(err).__name__)[:limit]
    kept = [lines[starts[-1]].strip().split(": ", 1)[1]]
    for line in lines[starts[-1] + 1 :]:
        stripped = line.strip()
        if stripped and not _DECORATION.match(stripped) and not _TRACE_FRAME.match(stripped):
            kept.append(stripped)
    return " ".join(kept)[:limit]


class _TorchRunner(Runner):
    module: Any
    _torch_device: str

    def _set_threads(self) -> None:
        """``threads`` > 0 sets torch's intra-op threads; ``threads`` then reports what is used."""
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        self.threads = torch.get_num_threads()

    def _arguments(self, feeds: Mapping[str, np.ndarray]) -> tuple[list[Any], dict[str, Any]]:
        """(positional, keyword) arguments: tensors for tensor inputs, Python numbers for scalar
        arguments; inputs with a default that the feeds leave out are not passed."""
        import torch

        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        scalar = {"float": float, "int": int, "bool": bool}
        for model_input in self.inputs:
            if model_input.name not in feeds:
                continue
            array = feeds[model_input.name]
            if model_input.kind in scalar:
                value = scalar[model_input.kind](array.item())
            else:
                value = torch.from_numpy(array).to(self._torch_device)
            if kwargs or any(m.name not in feeds for m in self.inputs[: len(args)]):
                kwargs[model_input.name] = value
            else:
                args.append(value)
        return args, kwargs

    def infer(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        import torch

        args, kwargs = self._arguments(feeds)
        try:
            with torch.no_grad():
                result = self.module(*args, **kwargs)
            if self._torch_device == "cuda":
                torch.cuda.synchronize()
        except Exception as err:
            raise ModelRunError(
                f"torch failed: {torch_message(err)}", "check the input shapes (`modellens shapes`)"
            ) from err
        return flatten_outputs(result)

    def profile(self, feeds: Mapping[str, np.ndarray]) -> list[NodeTiming]:
        import torch
        from torch.profiler import ProfilerActivity, profile

        args, kwargs = self._arguments(feeds)
        activities = [ProfilerActivity.CPU] + (
            [ProfilerActivity.CUDA] if self._torch_device == "cuda" else []
        )
        with profile(activities=activities) as prof, torch.no_grad():
            self.module(*args, **kwargs)
        return [
            NodeTiming(event.key, event.key, float(event.self_cpu_time_total))
            for event in prof.key_averages()
            if event.key.startswith("aten::")
        ]


class TorchScriptRunner(_TorchRunner):
    """A TorchScript archive (scripted or traced) via ``torch.jit.load``; inputs are forward's
    arguments (dtypes and shapes unknown: the spec gives them)."""

    format = "torchscript"

    def profile(self, feeds: Mapping[str, np.ndarray]) -> list[NodeTiming]:
        """Per converter node id, its time (``runtime.torch_timing``); the aten op totals when
        the graph cannot be instrumented or the converter draws none of its values."""
        from runtime.shapes import torchscript_ports
        from runtime.torch_timing import torchscript_node_timings

        ports = torchscript_ports(self)
        if ports:
            try:
                return torchscript_node_timings(self, feeds, ports)
            except RuntimeError:  # a graph the instrumented copy cannot run: aten totals instead
                pass
        return super().profile(feeds)

    def _load(self) -> None:
        require_module("torch", TORCH_EXTRA, "TorchScript")
        import torch

        self._torch_device = _torch_device(self.device)
        try:
            self.module = torch.jit.load(str(self.path), map_location=self._torch_device).eval()
        except Exception as err:
            raise ModelLoadError(
                f"torch.jit.load cannot read {self.path.name}: {first_line(err)}",
                "re-save it with torch.jit.save",
            ) from err
        self.inputs = [torchscript_input(a) for a in self.module.forward.schema.arguments[1:]]
        self._set_threads()
        self.output_names = ["output"]
        self.provider = f"torch {self._torch_device}"
        self.providers = [self.provider]


_SCALAR_TYPES = {"FloatType": "float", "IntType": "int", "BoolType": "bool"}


def torchscript_input(argument: Any) -> ModelInput:
    """A forward argument as a ModelInput: a tensor (dtype and shape unknown), a 0-d float/int/bool
    scalar, ``Optional[Tensor]``; ``optional`` when it has a default."""
    kind_name = argument.type.kind()
    optional = bool(argument.has_default_value())
    default = argument.default_value if optional else None
    if kind_name in _SCALAR_TYPES:
        return ModelInput(
            argument.name, None, (), kind=_SCALAR_TYPES[kind_name], optional=optional, default=default
        )
    if kind_name == "TensorType":
        return ModelInput(argument.name, None, None, optional=optional)
    if kind_name == "OptionalType" and argument.type.getElementType().kind() == "TensorType":
        return ModelInput(argument.name, None, None, optional=True)
    return ModelInput(argument.name, None, None, kind="other", optional=optional, default=default)


class ExportedProgramRunner(_TorchRunner):
    """A .pt2 ExportedProgram via ``pt2_loader.load_program(...).module()``; inputs from the graph
    signature with their dtypes, shapes (symbolic dims by name) and dim ranges."""

    format = "exported_program"

    def profile(self, feeds: Mapping[str, np.ndarray]) -> list[NodeTiming]:
        """Per fx node (the converter's node id), its time (``runtime.torch_timing``)."""
        from runtime.torch_timing import fx_node_timings

        return fx_node_timings(self, feeds)

    def _load(self) -> None:
        require_module("torch", TORCH_EXTRA, "an ExportedProgram")
        import torch

        self._torch_device = _torch_device(self.device)
        self.program = _load_program_safely(self.path, torch)
        check_call_targets(self.program, self.path.name)
        try:
            self.module = self.program.module()
        except Exception as err:
            raise ModelLoadError(
                f"torch.export.load cannot read {self.path.name}: {first_line(err)}",
                "re-save it with torch.export.save",
            ) from err
        if self._torch_device != "cpu":
            self.module = self.module.to(self._torch_device)
        self._set_threads()
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


_SYMBOLIC_FUNCTIONS = frozenset(
    {"sym_int", "sym_float", "sym_max", "sym_min", "sym_not", "sym_ite", "sym_sqrt", "sym_sum"}
)
_BUILTIN_MODULES = frozenset({"_operator", "operator", "math"})


def check_call_targets(program: Any, display_name: str) -> None:
    """Refuse a program whose graph calls anything but operators: every ``call_function`` target
    (in the graph and in higher-order ops' subgraphs) must be a ``torch.ops`` operator (OpOverload,
    packet, higher-order op), a function of ``operator``/``math`` or a torch ``sym_*`` helper, so
    a crafted file cannot make the run call ``torch.load``, ``os.system`` or any other function.
    Raises ModelLoadError naming the first other target."""
    import torch

    operator_types = (torch._ops.OpOverload, torch._ops.OpOverloadPacket, torch._ops.HigherOrderOperator)
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        for node in graph.nodes if graph is not None else ():
            if node.op in ("placeholder", "output", "get_attr"):
                continue
            target = node.target
            function_name = str(getattr(target, "__name__", ""))
            if node.op == "call_function" and (
                isinstance(target, operator_types)
                or getattr(target, "__module__", None) in _BUILTIN_MODULES
                or (function_name in _SYMBOLIC_FUNCTIONS and getattr(torch, function_name, None) is target)
            ):
                continue
            name = getattr(target, "__qualname__", None) or str(target)
            module_name = getattr(target, "__module__", "") or ""
            raise ModelLoadError(
                f"{display_name} calls {module_name + '.' if module_name else ''}{name}, which is not a "
                "torch operator: ModelLens refuses to run it",
                "export the model with torch.export (its graphs call torch.ops operators only); "
                "do not run this file if it comes from an untrusted source",
            )


def _load_program_safely(path: Any, torch: Any) -> Any:
    """The ExportedProgram as the viewer reads it (converters.pt2_loader): never
    ``torch.export.load``, which unpickles payloads and evaluates expressions a crafted file brings.
    Raises ModelLoadError naming the problem."""
    from converters.pt2_archive import check_schema_version, read_header
    from converters.pt2_loader import load_program
    from converters.source import ModelSource

    source = ModelSource.from_path(path)
    header = read_header(source)
    check_schema_version(source, header, torch)
    return load_program(source, torch, header.entry).program


def pt2_dim_ranges(program: Any) -> dict[str, tuple[int, int]]:
    """Symbol name → (lower, upper) from ``range_constraints`` (upper capped at 2**31-1)."""
    ranges: dict[str, tuple[int, int]] = {}
    for symbol, value_range in program.range_constraints.items():
        try:
            lower = int(value_range.lower)
        except (TypeError, ValueError, OverflowError, AttributeError):  # sympy's -oo
            lower = 1
        try:
            upper = int(value_range.upper)
        except (TypeError, ValueError, OverflowError, AttributeError):  # sympy's oo / int_oo
            upper = 2**31 - 1
        ranges[str(symbol)] = (max(lower, 1), min(upper, 2**31 - 1))
    return ranges
