"""ONNX Runtime's ORT format (``.ort``, a flatbuffer; bytes 4-8 are ``ORTM``) → ModelGraph.

The file is read with the flatbuffers classes the onnxruntime wheel ships
(``onnxruntime.tools.ort_format_model``) into an ``onnx.ModelProto`` — nodes, graph inputs and
outputs, initializers, every value's type, opsets and control-flow bodies — which then becomes the
common graph exactly as an ``.onnx`` file does. Weight bytes stay in the file: each initializer's
``raw_data`` is located by its offset in the flatbuffer and read on demand by the tensor store.
ORT stores every value's type, so no shape inference runs.
"""

from __future__ import annotations

import importlib
import mmap
import struct
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from converters import onnx_format, schema
from converters.errors import ModelLoadError, UnsupportedFormatError
from converters.onnx_lazy import LAZY_MIN_BYTES, Span
from converters.source import ModelSource

if TYPE_CHECKING:
    import onnx

FORMAT = "ort"
EXTENSIONS = (".ort",)
FILE_IDENTIFIER = b"ORTM"
_RAW_DATA_FIELD = 12  # vtable offset of Tensor.raw_data in ort.fbs (see fbs/Tensor.py)
_FIX = "re-save it with onnxruntime (SessionOptions.optimized_model_filepath), or open the .onnx it came from"
_CORRUPT = (
    struct.error,
    IndexError,
    ValueError,
    TypeError,
    UnicodeDecodeError,
    AttributeError,
    OverflowError,
)


def match(source: ModelSource) -> bool:
    """A flatbuffer with the ORT file identifier ``ORTM`` at bytes 4-8."""
    head = source.head
    return not source.is_dir and len(head) >= 8 and head[4:8] == FILE_IDENTIFIER


def convert(source: ModelSource, settings: dict[str, Any] | None = None) -> schema.ModelGraph:
    """The ModelGraph of an .ort file; ModelLoadError when it is truncated or corrupt."""
    fbs = _fbs_modules()
    source.start_hashing()
    try:
        with source.path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            reader = _OrtReader(buf, fbs)
            model, lazy, value_types, ort_version = reader.read_model()
            del reader
    except ModelLoadError:
        raise
    except _CORRUPT as err:
        raise ModelLoadError(
            f"{source.display_name} is a truncated or corrupt ORT file ({type(err).__name__}: {err})"[:300],
            _FIX,
        ) from err
    except OSError as err:
        raise ModelLoadError(
            f"{source.display_name} cannot be read ({err})", "check file permissions"
        ) from err
    graph = onnx_format.graph_from_proto(model, lazy, source, value_types)
    _mark_ort(graph, model, ort_version)
    return graph


def _mark_ort(graph: schema.ModelGraph, model: onnx.ModelProto, ort_version: str) -> None:
    opset = graph.graph.get("opsets", {}).get("ai.onnx")
    graph.graph["format_label"] = f"ONNX Runtime ORT v{ort_version} (ONNX IR v{model.ir_version})" + (
        f", opset {opset}" if opset else ""
    )
    graph.graph["ort_format_version"] = ort_version
    graph.graph["format"] = FORMAT
    for sub in graph.graph["subgraphs"].values():
        sub.graph["format"] = FORMAT


def _fbs_modules() -> dict[str, ModuleType]:
    """The generated flatbuffers classes (importing the package puts them on sys.path)."""
    try:
        importlib.import_module("flatbuffers")
        importlib.import_module("onnxruntime.tools.ort_format_model")
    except ImportError as err:
        raise UnsupportedFormatError(
            "Opening an ONNX Runtime .ort file needs the onnxruntime and flatbuffers packages",
            "pip install onnxruntime flatbuffers (both are ModelLens dependencies: reinstall modellens)",
        ) from err
    names = (
        "InferenceSession",
        "Tensor",
        "TensorTypeAndShape",
        "SequenceType",
        "MapType",
        "TypeInfoValue",
        "DimensionValueType",
        "AttributeType",
    )
    return {name: importlib.import_module(f"ort_flatbuffers_py.fbs.{name}") for name in names}


class _OrtReader:
    """Copies the flatbuffer's structure into onnx protos; weight bytes are only located."""

    def __init__(self, buf: mmap.mmap, fbs: dict[str, ModuleType]) -> None:
        self.buf = buf
        self.fbs = fbs
        self.lazy: dict[str, Span] = {}
        self.value_types: dict[str, onnx.TypeProto] = {}

    def read_model(self) -> tuple[onnx.ModelProto, dict[str, Span], dict[str, onnx.TypeProto], str]:
        import onnx

        if len(self.buf) < 8 or self.buf[4:8] != FILE_IDENTIFIER:
            raise ValueError("no ORTM file identifier")
        session = self.fbs["InferenceSession"].InferenceSession.GetRootAs(self.buf, 0)
        fb_model = session.Model()
        if fb_model is None or fb_model.Graph() is None:
            raise ValueError("the file holds no model graph")
        model = onnx.ModelProto(
            ir_version=fb_model.IrVersion(),
            producer_name=_text(fb_model.ProducerName()),
            producer_version=_text(fb_model.ProducerVersion()),
            domain=_text(fb_model.Domain()),
            model_version=fb_model.ModelVersion(),
            doc_string=_text(fb_model.DocString()),
        )
        for opset in self._items(fb_model.OpsetImport, fb_model.OpsetImportLength()):
            model.opset_import.add(domain=_text(opset.Domain()), version=opset.Version())
        for entry in self._items(fb_model.MetadataProps, fb_model.MetadataPropsLength()):
            model.metadata_props.add(key=_text(entry.Key()), value=_text(entry.Value()))
        model.graph.CopyFrom(self._graph(fb_model.Graph(), "main_graph"))
        model.graph.doc_string = _text(fb_model.GraphDocString())
        return model, self.lazy, self.value_types, _text(session.OrtVersion())

    def _items(self, getter: Callable[[int], Any], count: int) -> list[Any]:
        if not 0 <= count <= len(self.buf):
            raise ValueError(f"a list claims {count} entries in a {len(self.buf)}-byte file")
        return [getter(j) for j in range(count)]

    def _strings(self, getter: Callable[[int], bytes], count: int) -> list[str]:
        return [_text(s) for s in self._items(getter, count)]

    def _graph(self, fb_graph: Any, name: str) -> onnx.GraphProto:
        import onnx

        graph = onnx.GraphProto(name=name)
        for value in self._items(fb_graph.NodeArgs, fb_graph.NodeArgsLength()):
            value_name = _text(value.Name())
            type_proto = self._type(value.Type())
            if type_proto is not None:
                self.value_types.setdefault(value_name, type_proto)
        initializers = [
            self._tensor(t) for t in self._items(fb_graph.Initializers, fb_graph.InitializersLength())
        ]
        graph.initializer.extend(initializers)
        for sparse in self._items(fb_graph.SparseInitializers, fb_graph.SparseInitializersLength()):
            graph.sparse_initializer.add().CopyFrom(self._sparse(sparse))
        graph.input.extend(
            self._value_info(n) for n in self._strings(fb_graph.Inputs, fb_graph.InputsLength())
        )
        graph.output.extend(
            self._value_info(n) for n in self._strings(fb_graph.Outputs, fb_graph.OutputsLength())
        )
        nodes = self._items(fb_graph.Nodes, fb_graph.NodesLength())
        graph.node.extend(self._node(n) for n in _topological(nodes, self))
        return graph

    def _value_info(self, name: str) -> onnx.ValueInfoProto:
        import onnx

        info = onnx.ValueInfoProto(name=name)
        if name in self.value_types:
            info.type.CopyFrom(self.value_types[name])
        return info

    def _node(self, fb_node: Any) -> onnx.NodeProto:
        import onnx

        node = onnx.NodeProto(
            name=_text(fb_node.Name()),
            op_type=_text(fb_node.OpType()),
            domain=_text(fb_node.Domain()),
            doc_string=_text(fb_node.DocString()),
        )
        node.input.extend(self._strings(fb_node.Inputs, fb_node.InputsLength()))
        node.output.extend(self._strings(fb_node.Outputs, fb_node.OutputsLength()))
        for attribute in self._items(fb_node.Attributes, fb_node.AttributesLength()):
            node.attribute.add().CopyFrom(self._attribute(attribute, node.name or node.op_type))
        provider = _text(fb_node.ExecutionProviderType())
        if provider:
            node.metadata_props.add(key="ort.execution_provider", value=provider)
        if fb_node.Type() == 1:
            node.metadata_props.add(key="ort.node_type", value="Fused")
        return node

    def _attribute(self, fb_attr: Any, owner: str) -> onnx.AttributeProto:
        import onnx

        kinds = self.fbs["AttributeType"].AttributeType
        kind = fb_attr.Type()
        attr = onnx.AttributeProto(
            name=_text(fb_attr.Name()), doc_string=_text(fb_attr.DocString()), type=kind
        )
        if kind == kinds.FLOAT:
            attr.f = fb_attr.F()
        elif kind == kinds.INT:
            attr.i = fb_attr.I()
        elif kind == kinds.STRING:
            attr.s = fb_attr.S() or b""
        elif kind == kinds.FLOATS:
            attr.floats.extend(self._items(fb_attr.Floats, fb_attr.FloatsLength()))
        elif kind == kinds.INTS:
            attr.ints.extend(self._items(fb_attr.Ints, fb_attr.IntsLength()))
        elif kind == kinds.STRINGS:
            attr.strings.extend(s or b"" for s in self._items(fb_attr.Strings, fb_attr.StringsLength()))
        elif kind == kinds.TENSOR and fb_attr.T() is not None:
            attr.t.CopyFrom(self._tensor(fb_attr.T(), inline=True))
        elif kind == kinds.TENSORS:
            attr.tensors.extend(
                self._tensor(t, inline=True) for t in self._items(fb_attr.Tensors, fb_attr.TensorsLength())
            )
        elif kind == kinds.GRAPH and fb_attr.G() is not None:
            attr.g.CopyFrom(self._graph(fb_attr.G(), f"{owner}/{attr.name}"))
        elif kind == kinds.GRAPHS:
            bodies = self._items(fb_attr.Graphs, fb_attr.GraphsLength())
            attr.graphs.extend(self._graph(g, f"{owner}/{attr.name}[{i}]") for i, g in enumerate(bodies))
        return attr

    def _tensor(self, fb_tensor: Any, inline: bool = False) -> onnx.TensorProto:
        """An onnx TensorProto; raw data over LAZY_MIN_BYTES is left in the file (its span kept)."""
        import onnx

        tensor = onnx.TensorProto(
            name=_text(fb_tensor.Name()),
            doc_string=_text(fb_tensor.DocString()),
            data_type=fb_tensor.DataType(),
        )
        tensor.dims.extend(self._items(fb_tensor.Dims, fb_tensor.DimsLength()))
        tensor.string_data.extend(
            s or b"" for s in self._items(fb_tensor.StringData, fb_tensor.StringDataLength())
        )
        tab = fb_tensor._tab
        field = tab.Offset(_RAW_DATA_FIELD)
        if field:
            start, length = tab.Vector(field), tab.VectorLen(field)
            if start + length > len(self.buf):
                raise ValueError(f"tensor {tensor.name!r} runs past the end of the file")
            if inline or length <= LAZY_MIN_BYTES or tensor.name in self.lazy:
                tensor.raw_data = self.buf[start : start + length]
            else:
                self.lazy[tensor.name] = Span(start, length)
        if fb_tensor.ExternalDataOffset() >= 0:
            raise ModelLoadError(
                f"tensor {tensor.name!r} keeps its values in an external ORT data file, which ModelLens "
                "does not read",
                "open the .onnx model the .ort file was made from",
            )
        return tensor

    def _sparse(self, fb_sparse: Any) -> onnx.SparseTensorProto:
        import onnx

        sparse = onnx.SparseTensorProto()
        sparse.dims.extend(self._items(fb_sparse.Dims, fb_sparse.DimsLength()))
        if fb_sparse.Values() is not None:
            sparse.values.CopyFrom(self._tensor(fb_sparse.Values(), inline=True))
        if fb_sparse.Indices() is not None:
            sparse.indices.CopyFrom(_as_int64_indices(self._tensor(fb_sparse.Indices(), inline=True)))
        return sparse

    def _type(self, fb_type: Any) -> onnx.TypeProto | None:
        """ORT TypeInfo → onnx TypeProto (tensor, sequence, map); None when absent."""
        import onnx

        if fb_type is None or fb_type.Value() is None:
            return None
        kinds = self.fbs["TypeInfoValue"].TypeInfoValue
        table = fb_type.Value()
        kind = fb_type.ValueType()
        type_proto = onnx.TypeProto(denotation=_text(fb_type.Denotation()))
        if kind == kinds.tensor_type:
            tensor = self.fbs["TensorTypeAndShape"].TensorTypeAndShape()
            tensor.Init(table.Bytes, table.Pos)
            type_proto.tensor_type.elem_type = tensor.ElemType()
            shape = tensor.Shape()
            if shape is not None:
                proto_shape = type_proto.tensor_type.shape
                proto_shape.SetInParent()  # a scalar has a shape with no dims
                for dim in self._items(shape.Dim, shape.DimLength()):
                    self._dim(proto_shape.dim.add(), dim)
        elif kind == kinds.sequence_type:
            sequence = self.fbs["SequenceType"].SequenceType()
            sequence.Init(table.Bytes, table.Pos)
            inner = self._type(sequence.ElemType())
            if inner is not None:
                type_proto.sequence_type.elem_type.CopyFrom(inner)
            else:
                type_proto.sequence_type.SetInParent()
        elif kind == kinds.map_type:
            mapping = self.fbs["MapType"].MapType()
            mapping.Init(table.Bytes, table.Pos)
            type_proto.map_type.key_type = mapping.KeyType()
            inner = self._type(mapping.ValueType())
            if inner is not None:
                type_proto.map_type.value_type.CopyFrom(inner)
        else:
            return None
        return type_proto

    def _dim(self, proto_dim: onnx.TensorShapeProto.Dimension, fb_dim: Any) -> None:
        kinds = self.fbs["DimensionValueType"].DimensionValueType
        value = fb_dim.Value()
        proto_dim.denotation = _text(fb_dim.Denotation())
        if value is None:
            return
        if value.DimType() == kinds.VALUE:
            proto_dim.dim_value = value.DimValue()
        elif value.DimType() == kinds.PARAM:
            proto_dim.dim_param = _text(value.DimParam())


def _as_int64_indices(indices: onnx.TensorProto) -> onnx.TensorProto:
    """ONNX Runtime stores sparse indices in the narrowest integer type (int8 for small tensors);
    an onnx SparseTensorProto's indices are int64 (onnx.checker.check_sparse_tensor)."""
    import onnx
    from onnx import numpy_helper

    if indices.data_type == onnx.TensorProto.INT64:
        return indices
    return numpy_helper.from_array(numpy_helper.to_array(indices).astype("int64"), indices.name)


def _topological(nodes: list[Any], reader: _OrtReader) -> list[Any]:
    """ORT stores nodes by index, not in dependency order: order them as ONNX requires (Kahn's
    algorithm, lowest index first among ready nodes; nodes in a cycle keep their stored order)."""
    import heapq

    outputs = [reader._strings(n.Outputs, n.OutputsLength()) for n in nodes]
    inputs = [reader._strings(n.Inputs, n.InputsLength()) for n in nodes]
    producer = {name: i for i, names in enumerate(outputs) for name in names if name}
    waiting = [0] * len(nodes)
    consumers: list[list[int]] = [[] for _ in nodes]
    for i, names in enumerate(inputs):
        for src in {producer[name] for name in names if name in producer and producer[name] != i}:
            waiting[i] += 1
            consumers[src].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in consumers[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    placed = set(order)
    order.extend(i for i in range(len(nodes)) if i not in placed)
    return [nodes[i] for i in order]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.decode("utf-8", "replace")
