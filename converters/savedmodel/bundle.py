"""The ``variables/`` tensor bundle read without TensorFlow.

``variables.index`` is a LevelDB-format table (uncompressed blocks, as TensorFlow writes it)
mapping checkpoint keys to ``BundleEntryProto`` (dtype, shape, shard, offset, size);
``variables.data-NNNNN-of-MMMMM`` hold the raw little-endian bytes. String tensors are stored as
varint lengths, a 4-byte checksum of them, then the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters.errors import ModelLoadError
from converters.savedmodel.protos import bundle_entry_class, bundle_header_class, dtype_name, shape_of

if TYPE_CHECKING:
    import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class BundleFormatError(ValueError):
    """The index file is not a table we can read (compressed, truncated or corrupt)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise BundleFormatError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise BundleFormatError("varint too long")


def _block(data: bytes, offset: int, size: int) -> bytes:
    if offset + size + _BLOCK_TRAILER > len(data):
        raise BundleFormatError("block runs past the end of the file")
    if data[offset + size] != 0:
        raise BundleFormatError("compressed table blocks are not supported")
    return data[offset : offset + size]


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise BundleFormatError("block too short")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise BundleFormatError("bad restart count")
    entries, key, pos = [], b"", 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_size, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_size > end:
            raise BundleFormatError("bad block entry")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_size]))
        pos += value_size
    return entries


def read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB-format table, in key order."""
    if len(data) < _FOOTER_SIZE:
        raise BundleFormatError("file shorter than a table footer")
    footer = data[-_FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)
    if magic != _TABLE_MAGIC:
        raise BundleFormatError("no table magic number at the end")
    _, pos = _varint(footer, 0)
    _, pos = _varint(footer, pos)  # metaindex handle
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    entries = []
    for _, handle in _block_entries(_block(data, index_offset, index_size)):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        entries.extend(_block_entries(_block(data, offset, size)))
    return entries


@dataclass(frozen=True)
class BundleEntry:
    key: str
    dtype: str
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    sliced: bool


@dataclass
class TensorBundle:
    """The entries of ``variables/variables.index``; values are read on demand."""

    prefix: Path
    num_shards: int
    entries: dict[str, BundleEntry] = field(default_factory=dict)
    problem: str = ""  # why values cannot be matched to variables (set by the reader of the object graph)

    @classmethod
    def open(cls, variables_dir: Path) -> TensorBundle | None:
        """The bundle in ``variables_dir``, or None when there is none; BundleFormatError when unreadable."""
        index = variables_dir / "variables.index"
        if not index.is_file():
            return None
        entry_cls, header_cls = bundle_entry_class(), bundle_header_class()
        bundle = cls(prefix=variables_dir / "variables", num_shards=1)
        for raw_key, value in read_table(index.read_bytes()):
            if not raw_key:
                header = header_cls.FromString(value)
                bundle.num_shards = max(1, int(header.num_shards))
                if header.endianness != 0:
                    raise BundleFormatError("big-endian bundles are not supported")
                continue
            proto = entry_cls.FromString(value)
            key = raw_key.decode("utf-8", "replace")
            bundle.entries[key] = BundleEntry(
                key=key,
                dtype=dtype_name(proto.dtype),
                shape=tuple(d or 0 for d in (shape_of(proto.shape) or ())),
                shard_id=int(proto.shard_id),
                offset=int(proto.offset),
                size=int(proto.size),
                sliced=bool(proto.slices),
            )
        return bundle

    def raw(self, key: str) -> bytes:
        entry = self.entries[key]
        shard = Path(f"{self.prefix}.data-{entry.shard_id:05d}-of-{self.num_shards:05d}")
        try:
            with shard.open("rb") as handle:
                handle.seek(entry.offset)
                data = handle.read(entry.size)
        except OSError as err:
            raise ModelLoadError(
                f"The variable data file {shard.name} cannot be read ({err.strerror})",
                "open the whole SavedModel folder, including variables/",
            ) from err
        if len(data) != entry.size:
            raise ModelLoadError(
                f"{shard.name} is truncated: {key!r} needs {entry.size} bytes at offset {entry.offset}",
                "copy the SavedModel folder again",
            )
        return data

    def array(self, key: str) -> np.ndarray:
        """The tensor stored under ``key`` (numpy; strings as an object array of bytes)."""
        import numpy as np

        entry = self.entries[key]
        if entry.sliced:
            raise ModelLoadError(
                f"{key!r} is stored in slices (a partitioned variable)",
                'install the extra to read it: pip install "modellens[tensorflow]"',
            )
        data = self.raw(key)
        if entry.dtype == "string":
            return np.array(_string_elements(data, _count(entry.shape)), dtype=object).reshape(entry.shape)
        dtype = numpy_dtype(entry.dtype)
        count = _count(entry.shape)
        if dtype.itemsize * count != len(data):
            raise ModelLoadError(
                f"{key!r} holds {len(data)} bytes, not {count} × {dtype.itemsize}",
                "copy the SavedModel folder again",
            )
        return np.frombuffer(data, dtype=dtype).reshape(entry.shape)

    def object_graph(self) -> Any | None:
        """The TrackableObjectGraph saved beside TF2 variables (None for TF1 checkpoints)."""
        from converters.savedmodel.protos import trackable_object_graph_class

        if OBJECT_GRAPH_KEY not in self.entries:
            return None
        (blob,) = _string_elements(self.raw(OBJECT_GRAPH_KEY), 1)
        return trackable_object_graph_class().FromString(blob)


def _count(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _string_elements(data: bytes, count: int) -> list[bytes]:
    lengths, pos = [], 0
    for _ in range(count):
        length, pos = _varint(data, pos)
        lengths.append(length)
    pos += 4  # masked crc32c of the lengths
    values = []
    for length in lengths:
        values.append(data[pos : pos + length])
        pos += length
    return values


def numpy_dtype(name: str) -> np.dtype[Any]:
    import numpy as np

    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    try:
        return np.dtype(name).newbyteorder("<")
    except TypeError as err:
        raise ModelLoadError(f"Values of dtype {name} cannot be shown", "") from err
