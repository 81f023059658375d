"""SavedModel protobuf classes without TensorFlow.

The large definitions (MetaGraphDef, GraphDef, FunctionDef, SavedObjectGraph, TrackableObjectGraph)
come compiled from the ``tensorboard`` package (``tensorboard.compat.proto``, kept in step with
TensorFlow). Two small wrappers it does not ship are declared here through protobuf's descriptor
API, field for field as in tensorflow/core/protobuf/saved_model.proto and
tensorflow/core/protobuf/tensor_bundle.proto: ``SavedModel`` and ``BundleEntryProto``.
"""

from __future__ import annotations

import functools
from typing import Any

_PACKAGE = "modellens_tf"
_OPTIONAL, _REPEATED = 1, 3
_INT32, _INT64, _UINT32, _BYTES, _MESSAGE, _ENUM, _FIXED32 = 5, 3, 13, 12, 11, 14, 7

DTYPE_NAMES: dict[str, str] = {
    "DT_FLOAT": "float32",
    "DT_DOUBLE": "float64",
    "DT_HALF": "float16",
    "DT_BFLOAT16": "bfloat16",
    "DT_INT8": "int8",
    "DT_INT16": "int16",
    "DT_INT32": "int32",
    "DT_INT64": "int64",
    "DT_UINT8": "uint8",
    "DT_UINT16": "uint16",
    "DT_UINT32": "uint32",
    "DT_UINT64": "uint64",
    "DT_BOOL": "bool",
    "DT_COMPLEX64": "complex64",
    "DT_COMPLEX128": "complex128",
    "DT_STRING": "string",
    "DT_RESOURCE": "resource",
    "DT_VARIANT": "variant",
}


@functools.cache
def _classes() -> dict[str, Any]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from tensorboard.compat.proto import meta_graph_pb2, tensor_shape_pb2, types_pb2

    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("modellens/saved_model.proto")
    except KeyError:
        proto = descriptor_pb2.FileDescriptorProto(
            name="modellens/saved_model.proto",
            package=_PACKAGE,
            syntax="proto3",
            dependency=[
                meta_graph_pb2.DESCRIPTOR.name,
                types_pb2.DESCRIPTOR.name,
                tensor_shape_pb2.DESCRIPTOR.name,
            ],
        )
        saved_model = proto.message_type.add(name="SavedModel")
        saved_model.field.add(name="saved_model_schema_version", number=1, type=_INT64, label=_OPTIONAL)
        saved_model.field.add(
            name="meta_graphs",
            number=2,
            type=_MESSAGE,
            label=_REPEATED,
            type_name=".tensorboard.MetaGraphDef",
        )
        entry = proto.message_type.add(name="BundleEntryProto")
        entry.field.add(
            name="dtype", number=1, type=_ENUM, label=_OPTIONAL, type_name=".tensorboard.DataType"
        )
        entry.field.add(
            name="shape", number=2, type=_MESSAGE, label=_OPTIONAL, type_name=".tensorboard.TensorShapeProto"
        )
        entry.field.add(name="shard_id", number=3, type=_INT32, label=_OPTIONAL)
        entry.field.add(name="offset", number=4, type=_INT64, label=_OPTIONAL)
        entry.field.add(name="size", number=5, type=_INT64, label=_OPTIONAL)
        entry.field.add(name="crc32c", number=6, type=_FIXED32, label=_OPTIONAL)
        entry.field.add(
            name="slices", number=7, type=_MESSAGE, label=_REPEATED, type_name=f".{_PACKAGE}.TensorSliceProto"
        )
        tensor_slice = proto.message_type.add(name="TensorSliceProto")  # tensorflow/core/framework
        extent = tensor_slice.nested_type.add(name="Extent")
        extent.field.add(name="start", number=1, type=_INT64, label=_OPTIONAL)
        extent.oneof_decl.add(name="has_length")
        extent.field.add(name="length", number=2, type=_INT64, label=_OPTIONAL, oneof_index=0)
        tensor_slice.field.add(
            name="extent",
            number=1,
            type=_MESSAGE,
            label=_REPEATED,
            type_name=f".{_PACKAGE}.TensorSliceProto.Extent",
        )
        header = proto.message_type.add(name="BundleHeaderProto")
        header.field.add(name="num_shards", number=1, type=_INT32, label=_OPTIONAL)
        header.field.add(name="endianness", number=2, type=_INT32, label=_OPTIONAL)
        pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in ("SavedModel", "BundleEntryProto", "BundleHeaderProto")
    }


def saved_model_class() -> Any:
    return _classes()["SavedModel"]


def bundle_entry_class() -> Any:
    return _classes()["BundleEntryProto"]


def bundle_header_class() -> Any:
    return _classes()["BundleHeaderProto"]


def trackable_object_graph_class() -> Any:
    from tensorboard.compat.proto import trackable_object_graph_pb2

    return trackable_object_graph_pb2.TrackableObjectGraph


@functools.lru_cache(maxsize=256)
def dtype_name(enum_value: int) -> str:
    """numpy-style name of a TF DataType (``DT_FLOAT`` → ``float32``; ``_REF`` types as their base)."""
    from tensorboard.compat.proto import types_pb2

    if enum_value > 100:
        enum_value -= 100  # reference types (TF1 VariableV2 outputs)
    try:
        name = types_pb2.DataType.Name(enum_value)
    except ValueError:
        return f"type{enum_value}"
    return DTYPE_NAMES.get(name, name.removeprefix("DT_").lower())


def shape_of(shape_proto: Any) -> tuple[int | None, ...] | None:
    """A TensorShapeProto as a tuple (-1 → None); None for unknown rank."""
    if shape_proto.unknown_rank:
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in shape_proto.dim)
