"""The copy of an ONNX model that onnx.shape_inference runs on, and the value types it gives:
large initializers become typed inputs (no bytes copied), small sparse initializers become the
dense tensors they stand for, of their declared element type, in every graph (function bodies
included)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from converters.onnx_sparse import SparseParts, dense_array
from converters.onnx_tensors import element_count, first_line, is_external, model_graphs

if TYPE_CHECKING:
    import onnx

SMALL_INITIALIZER_ELEMENTS = 1024


@dataclass
class ValueTypes:
    """Value types after inference: ``graphs[i]`` holds those of the i-th GraphProto in
    ``model_graphs`` order (so a name used in two bodies keeps each body's type), ``merged`` every
    name's first type (for function bodies, which inference does not annotate)."""

    graphs: list[tuple[tuple[str, int], dict[str, onnx.TypeProto]]] = field(default_factory=list)
    merged: dict[str, onnx.TypeProto] = field(default_factory=dict)

    def of_graph(self, index: int, proto: onnx.GraphProto) -> dict[str, onnx.TypeProto]:
        """The types of the ``index``-th graph, when it is ``proto`` (same name and node count)."""
        if index < len(self.graphs) and self.graphs[index][0] == (proto.name, len(proto.node)):
            return self.graphs[index][1]
        return {}


def infer_value_types(
    model: onnx.ModelProto, lazy_names: set[str], warnings: list[str], nested_sparse: bool = False
) -> ValueTypes:
    """Every known value's TypeProto, per graph: from the file, plus onnx.shape_inference on a light
    copy."""
    import onnx

    light = without_weight_bytes(model, lazy_names, nested_sparse)
    try:
        light = onnx.shape_inference.infer_shapes(light, check_type=True, strict_mode=True, data_prop=True)
    except Exception as strict_err:  # noqa: BLE001 - inference is optional; the graph still shows
        problem = first_line(strict_err)
        warnings.append(f"Shape inference found a problem, some shapes may be missing: {problem}")
        try:
            light = onnx.shape_inference.infer_shapes(light, strict_mode=False, data_prop=True)
        except Exception as err:  # noqa: BLE001
            problem = first_line(err)
            warnings.append(f"Shape inference failed, showing shapes stored in the file only: {problem}")
    result = ValueTypes()
    for graph in model_graphs(light):
        types: dict[str, onnx.TypeProto] = {}
        for value in (*graph.input, *graph.output, *graph.value_info):
            if value.type.WhichOneof("value") is not None:
                types.setdefault(value.name, value.type)
        for tensor in graph.initializer:
            types.setdefault(tensor.name, _tensor_type(tensor))
        for sparse in graph.sparse_initializer:
            types.setdefault(sparse.values.name, _sparse_dense_type(sparse))
        result.graphs.append(((graph.name, len(graph.node)), types))
        for name, type_proto in types.items():
            result.merged.setdefault(name, type_proto)
    return result


def without_weight_bytes(
    model: onnx.ModelProto, lazy_names: set[str], nested_sparse: bool = False
) -> onnx.ModelProto:
    """A copy of ``model`` whose large initializers are declared as typed inputs (no bytes copied)
    and whose small sparse initializers are dense (``nested_sparse``: in control-flow bodies too)."""
    import onnx

    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    source, graph = model.graph, light.graph
    graph.name = source.name
    graph.node.extend(source.node)
    graph.output.extend(source.output)
    graph.value_info.extend(source.value_info)
    declared = {value.name for value in source.input}
    graph.input.extend(source.input)
    for tensor in source.initializer:
        small = element_count(tensor.dims) <= SMALL_INITIALIZER_ELEMENTS
        if small and not is_external(tensor) and tensor.name not in lazy_names:
            graph.initializer.append(tensor)
        elif tensor.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims))
    for sparse in source.sparse_initializer:
        dense = _dense_for_inference(sparse)
        if dense is not None:
            graph.initializer.append(dense)
        elif sparse.values.name not in declared:
            graph.input.append(
                onnx.helper.make_tensor_value_info(sparse.values.name, sparse.values.data_type, sparse.dims)
            )
    for sub in list(model_graphs(light))[1:] if nested_sparse else ():
        _densify_sparse_initializers(sub)
    return light


def _dense_for_inference(sparse: onnx.SparseTensorProto) -> onnx.TensorProto | None:
    """A small sparse initializer as the dense tensor it stands for, of its declared element type
    (bfloat16, int4, float8 included: onnx's type checks reject sparse inputs to most operators;
    runtimes densify them too); None when large or unreadable."""
    from onnx import numpy_helper

    if element_count(sparse.dims) > SMALL_INITIALIZER_ELEMENTS or any(d < 0 for d in sparse.dims):
        return None
    try:
        values = numpy_helper.to_array(sparse.values).reshape(-1)  # ml_dtypes kept, not widened
        parts = SparseParts(values, numpy_helper.to_array(sparse.indices), tuple(sparse.dims))
        dense = numpy_helper.from_array(dense_array(parts, sparse.values.name), sparse.values.name)
    except Exception:  # noqa: BLE001 - inference then sees the sparse tensor as it is
        return None
    return dense if dense.data_type == sparse.values.data_type else None


def _densify_sparse_initializers(graph: onnx.GraphProto) -> None:
    kept = []
    for sparse in graph.sparse_initializer:
        dense = _dense_for_inference(sparse)
        if dense is None:
            kept.append(sparse)
        else:
            graph.initializer.append(dense)
    if len(kept) != len(graph.sparse_initializer):
        del graph.sparse_initializer[:]
        graph.sparse_initializer.extend(kept)


def _tensor_type(tensor: onnx.TensorProto) -> onnx.TypeProto:
    import onnx

    return onnx.helper.make_tensor_type_proto(tensor.data_type, list(tensor.dims))


def _sparse_dense_type(sparse: onnx.SparseTensorProto) -> onnx.TypeProto:
    """A sparse initializer is used as the dense tensor it stands for."""
    import onnx

    return onnx.helper.make_tensor_type_proto(sparse.values.data_type, list(sparse.dims))
