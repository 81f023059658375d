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
from converters.varint import read_varint

if TYPE_CHECKING:
    import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class BundleFormatError(ValueError):
    """The index file is not a table we can read (compressed, truncated or corrupt)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    return read_varint(data, pos, error=BundleFormatError)


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


Extent = tuple[int, int]  # (start, length); length -1 = the whole dimension


@dataclass(frozen=True)
class BundleEntry:
    key: str
    dtype: str
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int = 0  # masked CRC-32C of the stored bytes, as TensorFlow writes it
    slices: tuple[tuple[Extent, ...], ...] = ()  # a partitioned tensor: its slices, stored apart

    @property
    def sliced(self) -> bool:
        return bool(self.slices)


@dataclass
class TensorBundle:
    """The entries of ``variables/variables.index``; values are read on demand."""

    prefix: Path
    num_shards: int
    entries: dict[str, BundleEntry] = field(default_factory=dict)
    slice_entries: dict[bytes, BundleEntry] = field(default_factory=dict)  # keyed by encoded slice key
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
            entry = BundleEntry(
                key=key,
                dtype=dtype_name(proto.dtype),
                shape=tuple(d or 0 for d in (shape_of(proto.shape) or ())),
                shard_id=int(proto.shard_id),
                offset=int(proto.offset),
                size=int(proto.size),
                crc32c=int(proto.crc32c),
                slices=tuple(_extents(s) for s in proto.slices),
            )
            if raw_key.startswith(b"\x00"):  # one slice of a partitioned tensor (an encoded key)
                bundle.slice_entries[raw_key] = entry
            else:
                bundle.entries[key] = entry
        return bundle

    def raw(self, key: str) -> bytes:
        return self._raw(self.entries[key])

    def _raw(self, entry: BundleEntry) -> bytes:
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
                f"{shard.name} is truncated: {entry.key!r} needs {entry.size} bytes at offset {entry.offset}",
                "copy the SavedModel folder again",
            )
        return data

    def array(self, key: str) -> np.ndarray:
        """The tensor stored under ``key`` (numpy; strings as an object array of bytes); a
        partitioned tensor is assembled from its slices. ModelLoadError when the bytes fail their
        CRC-32C checksum (corrupt data), as TensorFlow refuses them."""
        entry = self.entries[key]
        if entry.sliced:
            return self._assemble(key, entry)
        return self._decode(entry)

    def _decode(self, entry: BundleEntry) -> np.ndarray:
        import numpy as np

        data = self._raw(entry)
        if entry.dtype == "string":
            values, checksum = _string_elements_checked(data, _count(entry.shape))
            self._verify(entry, checksum)
            return np.array(values, dtype=object).reshape(entry.shape)
        self._verify(entry, crc32c(data))
        dtype = numpy_dtype(entry.dtype)
        count = _count(entry.shape)
        if dtype.itemsize * count != len(data):
            raise ModelLoadError(
                f"{entry.key!r} holds {len(data)} bytes, not {count} × {dtype.itemsize}",
                "copy the SavedModel folder again",
            )
        return np.frombuffer(data, dtype=dtype).reshape(entry.shape)

    @staticmethod
    def _verify(entry: BundleEntry, checksum: int) -> None:
        if entry.crc32c and mask_crc(checksum) != entry.crc32c:
            raise ModelLoadError(  # the numbers TensorFlow's own refusal names (unmasked CRCs)
                f"The stored bytes of {entry.key!r} are corrupt (checksum does not match: stored "
                f"{unmask_crc(entry.crc32c)}, computed {checksum}); TensorFlow refuses them too",
                "copy the SavedModel folder (variables/) again from the original",
            )

    def _assemble(self, key: str, entry: BundleEntry) -> np.ndarray:
        import numpy as np

        dtype = object if entry.dtype == "string" else numpy_dtype(entry.dtype)
        full = np.zeros(entry.shape, dtype=dtype)
        for extents in entry.slices:
            part = self.slice_entries.get(encode_slice_key(key, extents))
            if part is None:
                raise ModelLoadError(
                    f"A slice of the partitioned variable {key!r} is missing from variables.index",
                    "copy the SavedModel folder again",
                )
            index = tuple(slice(start, None if length < 0 else start + length) for start, length in extents)
            full[index] = self._decode(part)
        return full

    def object_graph(self) -> Any | None:
        """The TrackableObjectGraph saved beside TF2 variables (None for TF1 checkpoints)."""
        from converters.savedmodel.protos import trackable_object_graph_class

        if OBJECT_GRAPH_KEY not in self.entries:
            return None
        blob = self.array(OBJECT_GRAPH_KEY).reshape(-1)[0]
        return trackable_object_graph_class().FromString(blob)


def _count(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _string_elements_checked(data: bytes, count: int) -> tuple[list[bytes], int]:
    """A string tensor's elements and the CRC-32C TensorFlow computes over them: each length as
    a little-endian uint32 (uint64 when larger), the 4 stored bytes after the lengths, the bytes."""
    lengths, pos = [], 0
    for _ in range(count):
        length, pos = _varint(data, pos)
        lengths.append(length)
    checksum = 0
    for length in lengths:
        checksum = crc32c(struct.pack("<I" if length <= 0xFFFFFFFF else "<Q", length), checksum)
    checksum = crc32c(data[pos : pos + 4], checksum)
    values = _string_elements(data, count)
    for value in values:
        checksum = crc32c(value, checksum)
    return values, checksum


def _extents(proto: Any) -> tuple[Extent, ...]:
    return tuple((int(e.start), int(e.length) if e.HasField("length") else -1) for e in proto.extent)


def encode_slice_key(name: str, extents: tuple[Extent, ...]) -> bytes:
    """TensorFlow's key for one slice of a partitioned tensor (checkpoint::EncodeTensorNameSlice:
    OrderedCode of 0, the name, the rank, then start and length per dimension)."""
    escapes = {0x00: b"\x00\xff", 0xFF: b"\xff\x00"}
    escaped = b"".join(escapes.get(byte, bytes([byte])) for byte in name.encode("utf-8"))
    key = _num_increasing(0) + escaped + b"\x00\x01" + _num_increasing(len(extents))
    for start, length in extents:
        key += _signed_num_increasing(start) + _signed_num_increasing(length)
    return key


def _num_increasing(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return bytes([len(body)]) + body


def _signed_num_increasing(value: int) -> bytes:
    """OrderedCode's WriteSignedNumIncreasing: a unary length header, then two's complement."""
    magnitude = ~value if value < 0 else value
    length = (magnitude.bit_length() + 1 + 6) // 7 if magnitude else 1
    if length > 8:
        raise BundleFormatError("slice extent too large")
    raw = bytearray((value & ((1 << (8 * length)) - 1)).to_bytes(length, "big"))
    header = (0xFF << (8 - length)) & 0xFF  # `length` leading one bits
    raw[0] ^= header
    return bytes(raw)


def crc32c(data: bytes, value: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, extending ``value``."""
    import google_crc32c

    return int(google_crc32c.extend(value, data))


def mask_crc(crc: int) -> int:
    """TensorFlow's masked CRC (crc32c::Mask): rotate right by 15, add a constant."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rotated = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


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
