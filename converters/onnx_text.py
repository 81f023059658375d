"""ONNX saved in a text serialization: ``onnx.save(model, path, format="textproto" | "json" | "onnxtxt")``.

The format is decided from the file's first bytes, never from its name:

* ``textproto``: protobuf text format, a ModelProto field name (``ir_version: 9``, ``graph {``);
* ``json``: protobuf JSON, an object whose first key is a ModelProto field (``"irVersion"``,
  ``"ir_version"``, ``"graph"`` ...);
* ``onnxtxt``: the ONNX textual syntax of ``onnx.parser``, a ``<ir_version: 9, ...>`` header or
  a graph signature ``name (float[N] X) => (float[N] Y)``.

The file is parsed with the serializer the installed onnx registers for that format
(``onnx.serialization.registry``), so every format onnx reads opens the same way onnx.load does.
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import TYPE_CHECKING

from converters.errors import ModelLoadError
from converters.onnx_tensors import first_line
from converters.source import ModelSource

if TYPE_CHECKING:
    import onnx

BINARY = "protobuf"
TEXT_HEAD_BYTES = 4096
_COMMENT = re.compile(r"(?m)^\s*#[^\n]*$")
_TEXTPROTO_FIELD = re.compile(r"([A-Za-z_]\w*)\s*(?::|\{|<)")
_JSON_FIRST_KEY = re.compile(r'\{\s*"([A-Za-z_]\w*)"\s*:')
_ONNXTXT_HEADER = re.compile(r"<\s*([A-Za-z_]\w*)\s*:")
_ONNXTXT_SIGNATURE = re.compile(r"[A-Za-z_][\w.\-]*\s*\([^()]*\)\s*=>\s*\(", re.S)


def serialization_of(source: ModelSource) -> str | None:
    """The onnx serialization format name of a text ONNX file, or None (binary or not ONNX)."""
    if source.is_dir or not _text_like(source.head):
        return None
    with source.path.open("rb") as handle:
        text = handle.read(TEXT_HEAD_BYTES).decode("utf-8", "ignore").lstrip("\ufeff")
    text = _COMMENT.sub("", text).lstrip()
    if text.startswith("{"):
        found = _JSON_FIRST_KEY.match(text)
        return "json" if found and found.group(1) in _model_field_names() else None
    if text.startswith("<"):
        found = _ONNXTXT_HEADER.match(text)
        return "onnxtxt" if found and found.group(1) in _model_field_names() else None
    found = _TEXTPROTO_FIELD.match(text)
    if found and found.group(1) in _model_field_names():
        return "textproto"
    if _ONNXTXT_SIGNATURE.match(text):
        return "onnxtxt"
    return None


def load_model(source: ModelSource, serialization: str) -> onnx.ModelProto:
    """Parse ``source`` with the installed onnx's serializer for ``serialization``.

    Raises ModelLoadError naming the format when the text does not parse as a model.
    """
    import onnx

    serializer = onnx.serialization.registry.get(serialization)
    if serializer is None:  # pragma: no cover - detection only names registered formats
        raise ModelLoadError(
            f"{source.display_name} is ONNX {serialization}, which the installed onnx cannot read",
            "upgrade onnx (`pip install -U onnx`) or save the model in binary form",
        )
    try:
        data = source.path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # editors add BOMs; onnx chokes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # onnxtxt is "experimental" for onnx; not the user's problem
            model = serializer.deserialize_proto(data, onnx.ModelProto())
    except OSError as err:
        message = f"{source.display_name} cannot be read ({err})"
        raise ModelLoadError(message, "check file permissions") from err
    except Exception as err:  # every parser raises its own type
        raise ModelLoadError(
            f"{source.display_name} looks like ONNX {serialization} but does not parse ({first_line(err)})",
            f"fix the text, or re-save it with onnx.save(model, path, format={serialization!r})",
        ) from err
    return model


@functools.lru_cache(maxsize=1)
def _model_field_names() -> frozenset[str]:
    """ModelProto's field names as the installed onnx defines them, snake_case and JSON camelCase."""
    import onnx

    fields = onnx.ModelProto.DESCRIPTOR.fields
    return frozenset([f.name for f in fields] + [f.json_name for f in fields])


def _text_like(head: bytes) -> bool:
    """No NUL byte and starts (after a BOM/whitespace) with a printable ASCII character."""
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return bool(stripped) and b"\x00" not in head and 0x20 < stripped[0] < 0x7F
