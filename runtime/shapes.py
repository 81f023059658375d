"""Per-node output shapes for one set of inputs, and the node where the model fails.

Runs inside the worker (``propagate(runner, feeds)``), one method per format:

* ONNX: ``onnx.shape_inference`` on a weight-free copy with the inputs' concrete shapes (the
  converter's light copy), then confirmed by onnxruntime running the model with every node output
  made a graph output; a failing run names its node (onnxruntime's ``Name:'...'``), whose input
  shapes come from the inference. Node ids are the converter's (``converters.onnx_format``).
* ExportedProgram: the graph module run node by node with a ``torch.fx.Interpreter`` that records
  each node's output shapes (ShapeProp); a failure names the fx node (id = fx node name).
* TorchScript: every tensor value of the top-level inlined graph becomes an extra graph output,
  the graph runs once (so shapes are the ones really produced; values inside if/loop bodies are
  not recorded). A failure is pinned through the TorchScript traceback's source ranges: the
  serialized code line and the original ``file.py:LINE`` are matched to the graph's nodes
  (node ``source`` attribute, as the TorchScript converter sets it).
* SavedModel: the signature rebuilt in a ``tf.compat.v1.Session`` with its calls inlined and
  every op output fetched in one run (``runtime.tf_shapes``); keyed by the converter's node ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from converters.errors import ModelLensError
from runtime.results import FailedNode, ShapesResult

if TYPE_CHECKING:
    import numpy as np

    from runtime.runners import Runner

ShapeList = list[list[int | str | None] | None]
_ORT_NODE = re.compile(r"running (\w+) node\. Name:'([^']*)'")
_INFER_NODE = re.compile(r"\(op_type:(\w+), node name: ([^)]*)\)")
_TS_SOURCE = re.compile(r'File "([^"]+)", line (\d+)')


def propagate(runner: Runner, feeds: Mapping[str, np.ndarray]) -> ShapesResult:
    """Per-node output shapes for ``feeds`` (see the module docstring for each format)."""
    method = {
        "onnx": _onnx_shapes,
        "exported_program": _fx_shapes,
        "torchscript": _torchscript_shapes,
        "savedmodel": _savedmodel_shapes,
    }.get(runner.format, _output_shapes)
    return method(runner, feeds)


def _shape(value: Any) -> list[int | str | None] | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else [int(d) if str(d).isdigit() else str(d) for d in shape]


# --- ONNX -------------------------------------------------------------------------------------


def _onnx_shapes(runner: Runner, feeds: Mapping[str, np.ndarray]) -> ShapesResult:
    import onnx

    from converters.onnx_inference import without_weight_bytes
    from converters.onnx_lazy import load_without_weights
    from converters.onnx_tensors import type_description

    structure, lazy = load_without_weights(runner.path)
    light = without_weight_bytes(structure, set(lazy), nested_sparse=True)
    _set_input_shapes(light.graph, feeds)
    del light.graph.value_info[:]  # the file's own (symbolic) shapes would shadow the spec's
    for value in light.graph.output:
        if value.type.HasField("tensor_type"):
            value.type.tensor_type.ClearField("shape")
    inferred: dict[str, list[int | str | None] | None] = {}
    failed_at: tuple[str, str, str] | None = None
    try:
        onnx.shape_inference.infer_shapes(light, check_type=True, strict_mode=True, data_prop=True)
    except Exception as err:  # noqa: BLE001 - onnx raises InferenceError and others
        match = _INFER_NODE.search(str(err))
        if match:
            failed_at = (match.group(2), match.group(1), _first_line(err))
    light = onnx.shape_inference.infer_shapes(light, strict_mode=False, data_prop=True)
    for value in (*light.graph.input, *light.graph.value_info, *light.graph.output):
        _, shape = type_description(value.type)
        inferred[value.name] = None if shape is None else list(shape)
    for tensor in structure.graph.initializer:
        inferred[tensor.name] = [int(d) for d in tensor.dims]
    for name, array in feeds.items():
        inferred[name] = list(array.shape)
    actual, run_failure = _onnx_run_all_outputs(runner, feeds)
    upstream: dict[str, list[int | str | None] | None] = {}
    constants: list[tuple[str, list[int]]] = []
    if run_failure and run_failure[0]:  # run again up to the failing node: its real input shapes
        upstream, constants = _onnx_run_upstream(runner, feeds, run_failure[0])
    shapes = {**inferred, **actual, **upstream}
    graph = _onnx_graph(runner)
    failure = run_failure or failed_at
    nodes, failed = _onnx_node_shapes(graph, shapes, failure)
    if failed is not None and failed.node in graph:
        nodes = _up_to(graph, nodes, failed.node)
        hint, failed.bound = bound_hint(failed.input_shapes, constants, feeds)
        failed.message += hint
    method = (
        "onnx.shape_inference, confirmed by an onnxruntime run"
        if actual or upstream
        else "onnx.shape_inference"
    )
    return ShapesResult(nodes=nodes, method=method, failed=failed)


def _up_to(graph: Any, nodes: dict[str, ShapeList], failed: str) -> dict[str, ShapeList]:
    """Shapes of the nodes the run reached: none for the failing node's outputs or anything
    downstream of it (inference's guesses there describe values that were never computed)."""
    import networkx as nx

    after = nx.descendants(graph, failed) | {failed}
    return {node: ([None] * len(shapes) if node in after else shapes) for node, shapes in nodes.items()}


def bound_hint(
    input_shapes: ShapeList, constants: list[tuple[str, list[int]]], feeds: Mapping[str, np.ndarray]
) -> tuple[str, tuple[int, int] | None]:
    """When a failing node's input (rank 2 or more) has a size that no input has but a constant
    upstream of it does, while the inputs have a larger size (a 1×128 position table against seq
    600): a clause naming the constants and the bound, e.g. ``; its input 1x128 has 128 from the constant
    position_ids (1x128) where the inputs have 600: that input size may be at most 128``, and
    (the inputs' size, the bound), e.g. (600, 128); ("", None) when nothing fits."""
    fed = {int(d) for array in feeds.values() for d in array.shape if int(d) > 1}
    for shape in input_shapes:
        if not shape or len(shape) < 2:  # a 1-D input is a shape or index list, not a table
            continue
        for size in (d for d in shape if isinstance(d, int) and d > 1 and d not in fed):
            larger = sorted(v for v in fed if v > size)
            owners = [(name, dims) for name, dims in constants if size in dims]
            if not larger or not owners:
                continue
            named = ", ".join(f"{name} ({'x'.join(map(str, dims))})" for name, dims in owners[:2])
            text = "x".join(str(d) for d in shape)
            sizes = " or ".join(map(str, larger))
            constant = "constants" if len(owners[:2]) > 1 else "constant"
            hint = (
                f"; its input {text} has {size} from the {constant} {named} where the inputs have {sizes}: "
                f"that input size may be at most {size}"
            )
            return hint, (larger[0], size)
    return "", None


def _onnx_run_upstream(
    runner: Runner, feeds: Mapping[str, np.ndarray], failing: str
) -> tuple[dict[str, list[int | str | None] | None], list[tuple[str, list[int]]]]:
    """Tensor → shape for every value the failing node (by name) depends on, from an onnxruntime
    run whose outputs are just those values (the failing node itself is not run; {} when that
    run fails too), and the constants (initializers, Constant nodes) upstream with their dims."""


    model = _load_onnx(runner)
    producers = {out: node for node in model.graph.node for out in node.output if out}
    target = next((n for n in model.graph.node if n.name == failing), None)
    if target is None:
        return {}, []
    initializers = {t.name: [int(d) for d in t.dims] for t in model.graph.initializer}
    needed: list[str] = []
    constants: list[tuple[str, list[int]]] = []
    stack = [name for name in target.input if name]
    seen: set[str] = set()
    while stack:
        name = stack.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name in initializers:
            constants.append((name, initializers[name]))
        if name not in producers:
            continue
        needed.append(name)
        node = producers[name]
        if node.op_type == "Constant" and node.attribute and node.attribute[0].HasField("t"):
            constants.append((node.name or name, [int(d) for d in node.attribute[0].t.dims]))
        stack.extend(i for i in node.input if i)
    keep = [node for node in model.graph.node if any(out in seen for out in node.output)]
    del model.graph.node[:]  # onnxruntime would still run the rest (the failing node included)
    model.graph.node.extend(keep)
    del model.graph.output[:]
    try:
        return _run_outputs(runner, model, needed, feeds), constants
    except Exception:  # noqa: BLE001 - another failure upstream: keep what inference says
        return {}, constants


def _set_input_shapes(graph: Any, feeds: Mapping[str, np.ndarray]) -> None:
    for value in graph.input:
        if value.name not in feeds or not value.type.HasField("tensor_type"):
            continue
        shape = value.type.tensor_type.shape
        shape.ClearField("dim")
        for size in feeds[value.name].shape:
            shape.dim.add().dim_value = int(size)


def _onnx_run_all_outputs(
    runner: Runner, feeds: Mapping[str, np.ndarray]
) -> tuple[dict[str, list[int | str | None] | None], tuple[str, str, str] | None]:
    """Run with every node output as a graph output: (tensor → shape, failure or None)."""


    model = _load_onnx(runner)
    declared = {o.name for o in model.graph.output}
    extra = [o for node in model.graph.node for o in node.output if o and o not in declared]
    try:
        return _run_outputs(runner, model, extra, feeds), None
    except Exception as err:  # noqa: BLE001
        match = _ORT_NODE.search(str(err))
        if match:
            return {}, (match.group(2), match.group(1), _first_line(err))
        return {}, ("", "", _first_line(err))


def _load_onnx(runner: Runner) -> Any:
    """The runner's ModelProto with its external data (to edit its outputs and run it again)."""
    import onnx

    model = onnx.load(str(runner.path), load_external_data=False)
    onnx.external_data_helper.load_external_data_for_model(model, str(runner.path.parent))
    return model


def _run_outputs(
    runner: Runner, model: Any, outputs: list[str], feeds: Mapping[str, np.ndarray]
) -> dict[str, list[int | str | None] | None]:
    """Tensor → shape from running ``model`` with ``outputs`` added as graph outputs, on the
    runner's execution providers (onnxruntime's errors propagate)."""
    import onnx
    import onnxruntime as ort

    from runtime.runners import ort_run

    for name in outputs:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(model.SerializeToString(), options, providers=runner.providers)
    names = [o.name for o in session.get_outputs()]
    values = ort_run(session, feeds, names)
    return {name: _shape(value) for name, value in zip(names, values, strict=True)}


def _onnx_graph(runner: Runner) -> Any:
    from converters.onnx_format import convert
    from converters.source import ModelSource

    return convert(ModelSource.from_path(runner.path), {})


def _onnx_node_shapes(
    graph: Any, shapes: Mapping[str, list[int | str | None] | None], failure: tuple[str, str, str] | None
) -> tuple[dict[str, ShapeList], FailedNode | None]:
    nodes: dict[str, ShapeList] = {}
    failed: FailedNode | None = None
    unnamed: list[str] = []  # unnamed nodes of the failing op type (onnxruntime says Name:'')
    for node_id, data in graph.nodes(data=True):
        if data["kind"] not in ("op", "constant", "input"):
            continue
        nodes[str(node_id)] = [shapes.get(info.name) for info in data["outputs"]]
        if not failure or failed is not None or data["kind"] != "op":
            continue
        if failure[0] and data["name"] == failure[0]:
            failed = _onnx_failed(str(node_id), data, shapes, failure[2])
        elif not failure[0] and not data["name"] and data["op_type"] == failure[1]:
            unnamed.append(str(node_id))
    if failure and failed is None and unnamed:
        # the first one whose outputs the run could not confirm (known only from inference or not at all)
        pick = next((n for n in unnamed if any(s is None for s in nodes[n])), unnamed[0])
        failed = _onnx_failed(pick, graph.nodes[pick], shapes, failure[2])
    if failure and failed is None:
        failed = FailedNode(failure[0] or "?", failure[1] or "?", [], failure[2])
    return nodes, failed


def _onnx_failed(
    node_id: str, data: Mapping[str, Any], shapes: Mapping[str, list[int | str | None] | None], message: str
) -> FailedNode:
    inputs: ShapeList = [shapes.get(name) if name else None for name in data["input_names"]]
    return FailedNode(node_id, data["op_type"], inputs, message)


def _first_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    marker = "Status Message:"
    if marker in text:
        text = text.split(marker, 1)[1].strip()
    return text[:500] or type(err).__name__


# --- ExportedProgram (torch.fx) ---------------------------------------------------------------


def _fx_shapes(runner: Runner, feeds: Mapping[str, np.ndarray]) -> ShapesResult:
    import torch
    import torch.fx

    module = runner.module  # type: ignore[attr-defined]
    nodes: dict[str, ShapeList] = {}
    failed: FailedNode | None = None

    user_inputs = {m.name for m in runner.inputs}

    class ShapeRecorder(torch.fx.Interpreter):
        def run_node(self, node: torch.fx.Node) -> Any:
            nonlocal failed
            if node.op == "get_attr" or (node.op == "placeholder" and node.name not in user_inputs):
                return super().run_node(node)
            if node.op == "call_module" and str(node.target).startswith("_guards"):
                return super().run_node(node)  # torch.export's input guards: not a graph node
            try:
                result = super().run_node(node)
            except Exception as err:
                args = [self.env.get(a) for a in node.all_input_nodes]
                failed = FailedNode(node.name, _fx_op(node), [_shape(a) for a in args], _first_line(err))
                raise
            values = result if isinstance(result, (tuple, list)) else [result]
            nodes[node.name] = [_shape(v) for v in values]
            return result

    tensors = [torch.from_numpy(feeds[m.name]) for m in runner.inputs]
    try:
        with torch.no_grad():
            ShapeRecorder(module).run(*tensors)
    except Exception as err:  # noqa: BLE001 - recorded in ``failed``
        if failed is None:
            failed = FailedNode("?", "?", [], _first_line(err))
    return ShapesResult(nodes=nodes, method="torch.fx.Interpreter, node by node", failed=failed)


def _fx_op(node: Any) -> str:
    target = node.target
    return str(getattr(target, "__name__", None) or target)


# --- TorchScript ------------------------------------------------------------------------------


def _torchscript_shapes(runner: Runner, feeds: Mapping[str, np.ndarray]) -> ShapesResult:
    """Shapes keyed by the converter's node ids (``c/_convolution``), one entry per output port;
    a failure is pinned to the first top-level node whose prefix of the graph fails to run."""
    import torch

    module = runner.module  # type: ignore[attr-defined]
    args, kwargs = runner._arguments(feeds)  # type: ignore[attr-defined]
    ports = torchscript_ports(runner)
    function, values, kept = _ts_probe(module, None)
    try:
        with torch.no_grad():
            results = function(module._c, *args, **kwargs)
    except Exception as err:  # noqa: BLE001 - pinned to a node below
        failed = _ts_failed_run(module, args, kwargs, err, ports)
        failed.nodes = {**_ts_inputs(runner, feeds, ports), **failed.nodes}  # the inputs' edges too
        return failed
    nodes = _ts_inputs(runner, feeds, ports)
    for value, result in zip(values, results[kept:], strict=True):
        _ts_record(nodes, ports, value, _shape(result))
    return ShapesResult(nodes=nodes, method="TorchScript graph run (top-level values)")


def torchscript_ports(runner: Runner) -> dict[str, tuple[str, int, int]]:
    """TorchScript value name → (converter node id, output port, port count), from the graph
    ``converters.torchscript_format`` draws (its node outputs carry the value's debug name)."""
    from converters.source import ModelSource
    from converters.torchscript_format import convert

    try:
        graph = convert(ModelSource.from_path(runner.path), {})
    except ModelLensError:
        return {}
    ports: dict[str, tuple[str, int, int]] = {}
    for node_id, data in graph.nodes(data=True):
        if data.get("kind") in ("op", "input"):
            outputs = data.get("outputs") or []
            for port, info in enumerate(outputs):
                ports.setdefault(str(info.name), (str(node_id), port, len(outputs)))
    return ports


def _ts_inputs(
    runner: Runner, feeds: Mapping[str, np.ndarray], ports: Mapping[str, tuple[str, int, int]]
) -> dict[str, ShapeList]:
    nodes: dict[str, ShapeList] = {}
    for model_input in runner.inputs:
        if model_input.name in feeds and model_input.kind == "tensor":
            _ts_record(nodes, ports, model_input.name, list(feeds[model_input.name].shape))
    return nodes


def _ts_record(
    nodes: dict[str, ShapeList],
    ports: Mapping[str, tuple[str, int, int]],
    value: str,
    shape: list[int | str | None] | None,
) -> None:
    """Store ``shape`` at the converter node and port of TorchScript value ``value`` (values the
    converter folds away, such as constants, are left out)."""
    where = ports.get(value)
    if where is None:
        return
    node_id, port, count = where
    shapes = nodes.setdefault(node_id, [None] * count)
    shapes[port] = shape


def _ts_probe(module: Any, stop: int | None) -> tuple[Any, list[str], int]:
    """The inlined forward graph returning (original outputs..., every top-level tensor value)
    and the debug names of those values; with ``stop``, only the values made before top-level
    node ``stop`` (the nodes from it on removed)."""
    import torch

    graph = module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    nodes = list(graph.nodes())
    keep = list(graph.outputs()) if stop is None else []
    if stop is not None:
        while list(graph.outputs()):
            graph.eraseOutput(0)
        for node in reversed(nodes[stop:]):
            node.destroy()
        nodes = nodes[:stop]
    values = [o for node in nodes for o in node.outputs() if o.type().kind() == "TensorType"]
    while list(graph.outputs()):
        graph.eraseOutput(0)
    packed = graph.create("prim::TupleConstruct", keep + values, 1)
    packed.output().setType(torch._C.TupleType([v.type() for v in keep + values]))
    graph.appendNode(packed)
    graph.registerOutput(packed.output())
    function = torch._C._create_function_from_graph("modellens_shapes", graph)
    return function, [v.debugName() for v in values], len(keep)


def _ts_location(node: Any) -> str:
    """``file.py:LINE`` of the node's source range (the original code when the archive has it)."""
    match = _TS_SOURCE.search(str(node.sourceRange()))
    return f"{match.group(1).rsplit('/', 1)[-1]}:{match.group(2)}" if match else ""


def _ts_prefix_runs(module: Any, args: list[Any], kwargs: dict[str, Any], stop: int) -> Any:
    """The top-level values made before node ``stop`` (a tuple), or None when that prefix fails."""
    import torch

    function, _, _ = _ts_probe(module, stop)
    try:
        with torch.no_grad():
            return function(module._c, *args, **kwargs)
    except Exception:  # noqa: BLE001 - the caller searches for the first failing prefix
        return None


def _ts_failed_run(
    module: Any,
    args: list[Any],
    kwargs: dict[str, Any],
    err: BaseException,
    ports: Mapping[str, tuple[str, int, int]],
) -> ShapesResult:
    """Pin the failure to the first top-level node whose graph prefix fails (binary search over
    prefixes: works for traced models, whose source ranges name the user's script, and for two
    ops on one line), and record the shapes made before it."""
    import torch

    from runtime.torch_runners import torch_message

    message = torch_message(err)
    graph = module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    top = list(graph.nodes())
    low, high = 0, len(top)  # prefix [:low] runs; prefix [:high + 1] is assumed to fail
    while low < high:
        middle = (low + high + 1) // 2
        if _ts_prefix_runs(module, args, kwargs, middle) is not None:
            low = middle
        else:
            high = middle - 1
    index = low
    if index >= len(top):
        return ShapesResult({}, "TorchScript graph run", FailedNode("?", "?", [], message))
    node = top[index]
    results = _ts_prefix_runs(module, args, kwargs, index)
    by_value: dict[str, list[int | str | None] | None] = {}
    for graph_input, value in zip(list(graph.inputs())[1:], args, strict=False):
        by_value[graph_input.debugName()] = _shape(value)
    for name, value in kwargs.items():
        by_value[name] = _shape(value)
    nodes: dict[str, ShapeList] = {}
    for name, shape in by_value.items():
        _ts_record(nodes, ports, name, shape)
    _, names, _ = _ts_probe(module, index)
    for name, value in zip(names, results or (), strict=False):
        by_value[name] = _shape(value)
        _ts_record(nodes, ports, name, _shape(value))
    inputs: ShapeList = [
        by_value.get(v.debugName()) for v in node.inputs() if v.type().kind() == "TensorType"
    ]
    outputs = [ports[o.debugName()][0] for o in node.outputs() if o.debugName() in ports]
    node_id = outputs[0] if outputs else f"{node.kind().split('::')[-1]}@{_ts_location(node) or index}"
    failed = FailedNode(node_id, node.kind(), inputs, message, _ts_location(node))
    return ShapesResult(nodes, "TorchScript graph run (top-level values)", failed)


# --- SavedModel --------------------------------------------------------------------------------


def _savedmodel_shapes(runner: Runner, feeds: Mapping[str, np.ndarray]) -> ShapesResult:
    """Per-node shapes from ``runtime.tf_shapes``; a SavedModel TensorFlow's v1 loader cannot
    rebuild falls back to the signature's output shapes, saying why in ``method``."""
    from runtime.tf_shapes import savedmodel_shapes

    try:
        return savedmodel_shapes(runner, feeds)
    except ModelLensError:
        raise
    except Exception as err:  # noqa: BLE001 - degrade to the outputs, with the reason shown
        result = _output_shapes(runner, feeds)
        result.method = f"outputs only (per-node recording failed: {_first_line(err)[:200]})"
        return result


# --- anything else: outputs only ------------------------------------------------


def _output_shapes(runner: Runner, feeds: Mapping[str, np.ndarray]) -> ShapesResult:
    try:
        outputs = runner.infer(feeds)
    except ModelLensError as err:
        return ShapesResult(nodes={}, method="outputs only", failed=FailedNode("?", "?", [], err.message))
    return ShapesResult(
        nodes={f"output:{name}": [_shape(array)] for name, array in outputs}, method="outputs only"
    )
