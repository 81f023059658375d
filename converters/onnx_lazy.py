"""Read an ONNX file without copying its weight bytes into memory.

The protobuf wire format is walked over a memory map: every field of the model and its main graph
is copied as is, except the ``raw_data`` of large initializers, whose (offset, length) in the file is
remembered instead. Their pages are never touched, so opening a 400 MB model costs the size of its
structure, and ``read_raw(path, span)`` fetches one weight's bytes when the inspector asks.
"""

from __future__ import annotations

import functools
import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters.varint import read_varint

if TYPE_CHECKING:
    import onnx
    from google.protobuf.message import Message

LAZY_MIN_BYTES = 4096
_MODEL_GRAPH_FIELD = 7
_GRAPH_INITIALIZER_FIELD = 5
_TENSOR_RAW_DATA_FIELD = 9
_LENGTH_DELIMITED = 2


class WireFormatError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated or corrupt)."""


@dataclass(frozen=True)
class Span:
    offset: int
    length: int


def _varint(buf: mmap.mmap | bytes, pos: int, end: int) -> tuple[int, int]:
    return read_varint(buf, pos, end, error=WireFormatError, too_long="truncated varint")


def _fields(buf: mmap.mmap | bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, payload start, payload end) of each field."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, payload_end = _varint(buf, pos, end)
        elif wire_type == 1:
            payload_end = pos + 8
        elif wire_type == _LENGTH_DELIMITED:
            length, pos = _varint(buf, pos, end)
            payload_end = pos + length
        elif wire_type == 5:
            payload_end = pos + 4
        else:
            raise WireFormatError(f"unsupported wire type {wire_type}")
        if payload_end > end or number == 0:
            raise WireFormatError("field runs past the end of its message")
        yield number, wire_type, field_start, pos, payload_end
        pos = payload_end


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number: int, payload: bytes | bytearray) -> bytes:
    return _encode_varint(number << 3 | _LENGTH_DELIMITED) + _encode_varint(len(payload)) + bytes(payload)


def _tensor_without_raw_data(buf: mmap.mmap, start: int, end: int) -> tuple[bytes, Span | None]:
    kept, span = bytearray(), None
    for number, wire_type, field_start, payload_start, payload_end in _fields(buf, start, end):
        if number == _TENSOR_RAW_DATA_FIELD and wire_type == _LENGTH_DELIMITED:
            span = Span(payload_start, payload_end - payload_start)
        else:
            kept += buf[field_start:payload_end]
    return bytes(kept), span


def load_without_weights(path: Path) -> tuple[onnx.ModelProto, dict[str, Span]]:
    """The model with large initializers' raw_data left in the file; returns their spans by name."""
    import onnx

    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        model_bytes, graph_bytes = bytearray(), bytearray()
        spans: list[Span | None] = []
        graph_range: tuple[int, int] | None = None
        for number, wire_type, field_start, payload_start, payload_end in _fields(buf, 0, len(buf)):
            if number == _MODEL_GRAPH_FIELD and wire_type == _LENGTH_DELIMITED:
                graph_range = (payload_start, payload_end)
            else:
                model_bytes += buf[field_start:payload_end]
        if graph_range is not None:
            for number, wire_type, field_start, payload_start, payload_end in _fields(buf, *graph_range):
                is_initializer = number == _GRAPH_INITIALIZER_FIELD and wire_type == _LENGTH_DELIMITED
                if is_initializer and payload_end - payload_start > LAZY_MIN_BYTES:
                    tensor, span = _tensor_without_raw_data(buf, payload_start, payload_end)
                    graph_bytes += _length_delimited(number, tensor)
                    spans.append(span)
                else:
                    graph_bytes += buf[field_start:payload_end]
                    if is_initializer:
                        spans.append(None)
            model_bytes += _length_delimited(_MODEL_GRAPH_FIELD, graph_bytes)
    model = onnx.ModelProto()
    structure = bytes(model_bytes)
    model.ParseFromString(structure)
    if not _all_strings_utf8(structure):
        replace_invalid_utf8(model)
    lazy = {
        tensor.name: span
        for tensor, span in zip(model.graph.initializer, spans, strict=True)
        if span is not None
    }
    return model, lazy


def _all_strings_utf8(data: bytes) -> bool:
    """True when every string field in the ModelProto ``data`` is valid UTF-8, checked in C by
    parsing it once more as a proto3 copy of onnx.proto (proto3 parsers reject bad UTF-8; walking
    the message from Python costs ~10x more on a 50,000-node model). False when unsure."""
    from google.protobuf.message import DecodeError

    checking_class = _utf8_checking_model_class()
    if checking_class is None:
        return False
    try:
        checking_class().ParseFromString(data)
    except DecodeError:
        return False
    return True


@functools.cache
def _utf8_checking_model_class() -> type | None:
    """ModelProto from a proto3 copy of onnx's own descriptor (same field numbers and types)."""
    import onnx
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    package = "modellens_utf8_check"
    try:
        file_proto = descriptor_pb2.FileDescriptorProto()
        onnx.ModelProto.DESCRIPTOR.file.CopyToProto(file_proto)
        original = file_proto.package
        file_proto.name, file_proto.package, file_proto.syntax = f"{package}.proto", package, "proto3"
        file_proto.ClearField("options")
        _as_proto3(file_proto.message_type, f".{original}.", f".{package}.")
        pool = descriptor_pool.DescriptorPool()
        pool.Add(file_proto)
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.ModelProto"))
    except Exception:  # noqa: BLE001 - a protobuf that refuses the copy: walk every string instead
        return None


def _as_proto3(messages: Any, old_prefix: str, new_prefix: str) -> None:
    for message in messages:
        for field in message.field:
            if field.type_name.startswith(old_prefix):
                field.type_name = new_prefix + field.type_name[len(old_prefix) :]
            field.ClearField("default_value")
            field.ClearField("options")
            if field.label == field.LABEL_REQUIRED:
                field.label = field.LABEL_OPTIONAL
        message.ClearField("extension_range")
        _as_proto3(message.nested_type, old_prefix, new_prefix)


def replace_invalid_utf8(message: Message, _texts: _Replacements | None = None) -> None:
    """Make every string field of ``message`` (and the messages in it) text: protobuf hands back
    the bytes of a string that is not valid UTF-8, which are decoded here with U+FFFD for the bad
    bytes. The same bytes always give the same text, so names still match each other; different
    bytes that decode alike (b"x\\xff", b"x\\xfe") get ``#2``, ``#3``... so they stay different."""
    from google.protobuf.descriptor import FieldDescriptor

    texts = _Replacements() if _texts is None else _texts
    for descriptor, value in message.ListFields():
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value if descriptor.is_repeated else (value,):
                replace_invalid_utf8(item, texts)
        elif descriptor.type == FieldDescriptor.TYPE_STRING:
            if descriptor.is_repeated:
                try:
                    "".join(value)  # fails (in C, fast) only when an item came back as bytes
                except TypeError:
                    value[:] = [texts.text(item) if isinstance(item, bytes) else item for item in value]
            elif isinstance(value, bytes):
                setattr(message, descriptor.name, texts.text(value))


class _Replacements:
    """One text per distinct invalid byte string of a model."""

    def __init__(self) -> None:
        self._by_bytes: dict[bytes, str] = {}
        self._used: set[str] = set()

    def text(self, raw: bytes) -> str:
        if raw not in self._by_bytes:
            decoded = raw.decode("utf-8", "replace")
            text, number = decoded, 1
            while text in self._used:
                number += 1
                text = f"{decoded}#{number}"
            self._used.add(text)
            self._by_bytes[raw] = text
        return self._by_bytes[raw]


def read_raw(path: Path, span: Span) -> bytes:
    with path.open("rb") as handle:
        handle.seek(span.offset)
        data = handle.read(span.length)
    if len(data) != span.length:
        raise WireFormatError("the file is shorter than when it was opened")
    return data
