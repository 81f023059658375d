"""Protocol-buffer / LevelDB base-128 varints, read without decoding anything else."""

from __future__ import annotations

import mmap


def read_varint(
    data: bytes | mmap.mmap,
    pos: int,
    end: int | None = None,
    *,
    max_bytes: int = 10,
    error: type[ValueError] = ValueError,
    too_long: str = "varint too long",
) -> tuple[int, int]:
    """(value, position after it) of the unsigned varint at ``pos`` of ``data[:end]`` (``end``
    defaults to ``len(data)``). Raises ``error("truncated varint")`` when the bytes stop before it
    ends, ``error(too_long)`` when it runs past ``max_bytes`` bytes (10 hold 64 bits)."""
    end = len(data) if end is None else end
    value = shift = 0
    for _ in range(max_bytes):
        if pos >= end:
            raise error("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise error(too_long)
