"""Checks that a TorchScript archive's tensor data is whole, which ``torch.jit.load`` does not do.

torch reads a storage record without checking the zip entry's CRC, and a record shorter than its
tensor is read past its end: a damaged file opens with wrong values. Here every storage record the
pickles (``data.pkl``, ``constants.pkl``) refer to is checked: it exists and holds at least
``numel × itemsize`` bytes (when the file is opened), and its bytes match the entry's CRC-32 (the
first time a weight's values are read: the inspector's statistics and .npy). The pickles are read as opcodes
(``pickletools.genops``), never unpickled, so nothing in the file runs.
"""

from __future__ import annotations

import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path

from converters.errors import ModelLoadError
from converters.source import ZIP_READ_ERRORS

_ITEMSIZES = {
    "Float": 4, "Double": 8, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1,
    "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16, "QInt8": 1, "QUInt8": 1, "QInt32": 4,
    "Untyped": 1, "Float8_e4m3fn": 1, "Float8_e5m2": 1,
}  # fmt: skip
_FIX = "re-save the model with torch.jit.save, or copy the file again completely (compare its checksum)"


@dataclass(frozen=True)
class StorageRef:
    """A storage a pickle refers to: record key (``data/3``), element type, element count."""

    record: str
    type_name: str
    numel: int

    @property
    def nbytes(self) -> int:
        return self.numel * _ITEMSIZES.get(self.type_name, 1)


def storage_refs(pickle_bytes: bytes, folder: str) -> list[StorageRef]:
    """The ``('storage', torch.XStorage, key, location, numel)`` persistent ids of a pickle, read
    from its opcodes; ``folder`` is the records' folder (``data`` or ``constants``)."""
    memo: dict[int, object] = {}
    stack: list[object] = []
    marks: list[int] = []
    refs: list[StorageRef] = []
    last: object = None
    for opcode, arg, _ in pickletools.genops(pickle_bytes):
        name = opcode.name
        if name in ("BINUNICODE", "SHORT_BINUNICODE", "UNICODE", "BININT", "BININT1", "BININT2", "LONG1"):
            last = arg
            stack.append(arg)
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            last = str(arg or "")
            stack.append(last)
        elif name in ("BINPUT", "LONG_BINPUT", "MEMOIZE"):
            memo[arg if arg is not None else len(memo)] = last
        elif name in ("BINGET", "LONG_BINGET"):
            last = memo.get(int(arg or 0))
            stack.append(last)
        elif name == "MARK":
            marks.append(len(stack))
        elif name == "TUPLE" and marks:
            items = stack[marks.pop() :]
            del stack[len(stack) - len(items) :]
            ref = _storage_ref(items, folder)
            if ref is not None:
                refs.append(ref)
            stack.append(None)
            last = None
        else:
            last = None
    return refs


def _storage_ref(items: list[object], folder: str) -> StorageRef | None:
    if len(items) != 5 or items[0] != "storage" or not isinstance(items[4], int):
        return None
    type_text = str(items[1]).split(" ")[-1]
    type_name = type_text.removesuffix("Storage")
    return StorageRef(f"{folder}/{items[2]}", type_name, int(items[4]))


def check_storages(path: Path, display_name: str, *, crc: bool) -> None:
    """ModelLoadError when a storage record is missing or too short (cheap: only the pickles are
    read), or with ``crc`` fails its CRC-32 check (reads every record: done when values are read)."""
    try:
        with zipfile.ZipFile(path) as archive:
            by_leaf = {name.split("/", 1)[-1]: name for name in archive.namelist()}
            for pickle_name, folder in (("data.pkl", "data"), ("constants.pkl", "constants")):
                if pickle_name not in by_leaf:
                    continue
                for ref in storage_refs(archive.read(by_leaf[pickle_name]), folder):
                    _check_record(archive, by_leaf, ref, display_name, crc)
    except ModelLoadError:
        raise
    except ZIP_READ_ERRORS as err:  # includes zipfile's "Bad CRC-32" on a damaged pickle
        raise ModelLoadError(
            f"{display_name} is a truncated or corrupt TorchScript archive ({err})", _FIX
        ) from err


def _check_record(
    archive: zipfile.ZipFile, by_leaf: dict[str, str], ref: StorageRef, display_name: str, crc: bool
) -> None:
    corrupt = f"{display_name} is a corrupt TorchScript archive: the tensor data {ref.record}"
    entry = by_leaf.get(ref.record)
    if entry is None:
        raise ModelLoadError(f"{corrupt} is missing", _FIX)
    info = archive.getinfo(entry)
    if info.file_size < ref.nbytes:
        raise ModelLoadError(
            f"{corrupt} holds {info.file_size} bytes where its tensor needs {ref.nbytes}", _FIX
        )
    if not crc:
        return
    try:
        with archive.open(info) as handle:  # zipfile compares the CRC-32 once the entry is read
            while handle.read(1 << 22):
                pass
    except zipfile.BadZipFile as err:
        raise ModelLoadError(f"{corrupt} fails its CRC check (its values are damaged)", _FIX) from err
