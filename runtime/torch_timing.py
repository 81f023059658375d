"""Per-node times for torch models, keyed by the graph's node ids (for the run page's heat colours
and slowest-nodes list). Imported only by the worker.

Each graph node runs inside a ``torch.profiler.record_function`` scope named by its node id, and
the torch profiler's total time of that scope (the node's aten ops and everything they dispatch)
is the node's time:

* ExportedProgram (.pt2): the graph module runs node by node through a ``torch.fx.Interpreter``
  whose ``run_node`` opens the scope (node id = fx node name, as ``converters`` draws it).
* TorchScript: the inlined forward graph gets ``profiler::_record_function_enter_new`` /
  ``_record_function_exit`` nodes around every top-level node that the converter draws (the
  converter's id of its first output), and runs with optimisations off so the graph executes as
  written. Nodes inside if/loop bodies are timed as part of their ``prim::If``/``prim::Loop``.

One warm-up run precedes the profiled run (first-call allocations and lazy initialisation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from runtime.results import NodeTiming

if TYPE_CHECKING:
    import numpy as np

    from runtime.runners import Runner

_ENTER = "profiler::_record_function_enter_new"
_EXIT = "profiler::_record_function_exit"


def profile_scopes(run: Callable[[], Any], scopes: Mapping[str, str], cuda: bool) -> list[NodeTiming]:
    """Run ``run`` once to warm up, then once under the torch profiler; the time of each
    record_function scope named in ``scopes`` (scope name → op type), microseconds."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.no_grad():
        run()
        with profile(activities=activities) as prof:
            run()
            if cuda:
                torch.cuda.synchronize()
    timings = []
    for event in prof.key_averages():
        if event.key not in scopes:
            continue
        device = float(getattr(event, "device_time_total", 0.0) or 0.0) if cuda else 0.0
        timings.append(NodeTiming(event.key, scopes[event.key], max(float(event.cpu_time_total), device)))
    return timings


# --- ExportedProgram --------------------------------------------------------------------------


def fx_node_timings(runner: Runner, feeds: Mapping[str, np.ndarray]) -> list[NodeTiming]:
    """Per fx node (id = node name), the time of its call; placeholders, get_attr and the
    output node are not timed."""
    import torch
    import torch.fx

    module = runner.module  # type: ignore[attr-defined]
    scopes: dict[str, str] = {}

    class Timed(torch.fx.Interpreter):
        def run_node(self, node: torch.fx.Node) -> Any:
            if node.op not in ("call_function", "call_method", "call_module"):
                return super().run_node(node)
            if node.op == "call_module" and str(node.target).startswith("_guards"):
                return super().run_node(node)  # torch.export's input guards: not a graph node
            scopes[node.name] = _fx_op(node)
            with torch.profiler.record_function(node.name):
                return super().run_node(node)

    args, kwargs = runner._arguments(feeds)  # type: ignore[attr-defined]
    interpreter = Timed(module)
    return profile_scopes(lambda: interpreter.run(*args, *kwargs.values()), scopes, _on_cuda(runner))


def _fx_op(node: Any) -> str:
    target = node.target
    return str(getattr(target, "__name__", None) or target)


def _on_cuda(runner: Runner) -> bool:
    return str(getattr(runner, "_torch_device", "cpu")).startswith("cuda")


# --- TorchScript ------------------------------------------------------------------------------


def torchscript_node_timings(
    runner: Runner, feeds: Mapping[str, np.ndarray], ports: Mapping[str, tuple[str, int, int]]
) -> list[NodeTiming]:
    """Per converter node id (``ports``: TorchScript value name → (node id, port, count), as
    ``runtime.shapes`` builds it), the time of the top-level graph node that makes that value."""
    import torch

    module = runner.module  # type: ignore[attr-defined]
    function, scopes = instrumented_forward(module, ports)
    args, kwargs = runner._arguments(feeds)  # type: ignore[attr-defined]

    def run() -> Any:
        with torch.jit.optimized_execution(False):
            return function(module._c, *args, **kwargs)

    return profile_scopes(run, scopes, _on_cuda(runner))


def instrumented_forward(
    module: Any, ports: Mapping[str, tuple[str, int, int]]
) -> tuple[Any, dict[str, str]]:
    """The inlined forward graph with a record_function scope around every top-level node whose
    output the converter draws, as a callable ``function(module._c, *args)``; and scope name (the
    converter's node id) → the node's kind (``aten::conv2d``)."""
    import torch

    graph = module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    nodes = list(graph.nodes())
    scopes: dict[str, str] = {}
    if not nodes:
        return torch._C._create_function_from_graph("modellens_timed", graph), scopes
    handle_type = _record_function_type()
    none = graph.insertConstant(None)
    none.node().moveBefore(nodes[0])
    for node in nodes:
        node_id = next((ports[o.debugName()][0] for o in node.outputs() if o.debugName() in ports), None)
        if node_id is None or node_id in scopes or node.kind() == "prim::Constant":
            continue
        scopes[node_id] = node.kind()
        name = graph.insertConstant(node_id)
        name.node().moveBefore(node)
        enter = graph.create(_ENTER, [name, none], 1)
        enter.output().setType(handle_type)
        enter.insertBefore(node)
        graph.create(_EXIT, [enter.output()], 0).insertAfter(node)
    return torch._C._create_function_from_graph("modellens_timed", graph), scopes


def _record_function_type() -> Any:
    """The TorchScript type of a record_function handle (``_RecordFunction``), read from the
    graph TorchScript compiles for the profiler ops."""
    import torch

    def scope(name: str) -> None:
        handle = torch.ops.profiler._record_function_enter_new(name, None)
        torch.ops.profiler._record_function_exit(handle)

    compiled = torch.jit.script(scope)
    return next(n for n in compiled.graph.nodes() if n.kind() == _ENTER).output().type()
