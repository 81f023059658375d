"""Output arrays in forms numpy, pandas and Arrow all read.

Frameworks hand back dtypes that plain numpy cannot use once saved, and that pandas/Arrow cannot
show: ``ml_dtypes`` bfloat16 / float8 / int4 (numpy kind ``V``: saved by ``numpy.savez`` as raw
``V2`` bytes), other void records, and ``object`` arrays (strings; saving them needs pickle).
``preview_array`` gives the one array the app shows; ``portable_arrays`` / ``save_npz`` give what
the app's download and ``modellens run --save-outputs`` write:

- ml_dtypes floats (bfloat16, float8_*) are saved as ``float32``, ml_dtypes ints (int4) as ``int32``;
- ``object`` arrays of strings/bytes are saved as numpy unicode (``<U``);
- when any array was converted, the .npz gains one entry ``__dtypes__``: a JSON text (0-d unicode
  array) mapping each converted output name to its original dtype, e.g. ``{"y": "bfloat16"}``.
  ``json.loads(str(np.load(f)["__dtypes__"]))`` reads it; no entry means nothing was converted.

Every file written loads with ``numpy.load(path)`` (no pickle).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DTYPES_KEY = "__dtypes__"


def portable_array(array: Any) -> np.ndarray:
    """``array`` as a dtype plain numpy saves and loads and pandas/Arrow show: ml_dtypes floats
    (kind ``V``) → float32, ml_dtypes ints (int4, uint4) → int32; other void records → their raw
    bytes as uint8 (last axis added); object → unicode strings; anything else unchanged."""
    import numpy as np

    values = np.asarray(array)
    kind = values.dtype.kind
    if kind == "V":
        if values.dtype.name.startswith(("int", "uint")):  # ml_dtypes int4 / uint4 / int2
            return values.astype(np.int32)
        try:
            return values.astype(np.float32)
        except (TypeError, ValueError):
            raw = np.frombuffer(values.tobytes(), dtype=np.uint8)
            return raw.reshape(*values.shape, values.dtype.itemsize)
    if kind == "O":
        return np.vectorize(_text, otypes=[str])(values) if values.size else values.astype(str)
    return values


def _text(item: Any) -> str:
    return item.decode("utf-8", errors="replace") if isinstance(item, bytes) else str(item)


def preview_array(array: Any) -> np.ndarray:
    """The array the app previews: ``portable_array``, so bfloat16 and float8 show as float32;
    complex values (which Arrow cannot hold) as text such as ``(1+2j)``."""
    values = portable_array(array)
    if values.dtype.kind == "c":
        return values.astype(str)
    return values


def portable_arrays(arrays: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every array through ``portable_array``, and {name: original dtype} for those changed."""
    out: dict[str, np.ndarray] = {}
    changed: dict[str, str] = {}
    for name, array in arrays.items():
        converted = portable_array(array)
        out[name] = converted
        if converted.dtype != getattr(array, "dtype", converted.dtype):
            changed[name] = str(array.dtype)
    return out, changed


def npz_payload(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """What ``save_npz`` writes: the portable arrays plus, when any changed, ``__dtypes__``."""
    import numpy as np

    out, changed = portable_arrays(arrays)
    if changed:
        out[DTYPES_KEY] = np.array(json.dumps(changed))
    return out


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    """``arrays`` as the bytes of an uncompressed .npz (see the module docstring)."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **npz_payload(arrays))  # type: ignore[arg-type]
    return buffer.getvalue()


def save_npz(path: str | Path, arrays: Mapping[str, Any]) -> None:
    """Write ``arrays`` to ``path`` (.npz). Raises OSError when it cannot be written."""
    Path(path).write_bytes(npz_bytes(arrays))
