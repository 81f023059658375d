"""Other frameworks' model files, recognised from their bytes so the message says what they are.

``explain(source)`` raises ``NotAModelError`` naming the format and the way to an ONNX model for:
TensorRT engines (plans), OpenVINO IR (.xml and its .bin), Core ML (.mlmodel), PaddlePaddle
(.pdmodel, Paddle 3 PIR .json, .pdiparams), Caffe (.prototxt, .caffemodel), ncnn (.param,
.param.bin, .bin) and MNN.
Signatures follow the formats' own writers (see tests/test_foreign_formats.py for each one and how
it was checked); where a format has no signature of its own (OpenVINO and ncnn weights) the file
beside it that names it decides, and where the bytes are generic (MNN) the extension must agree.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Callable
from pathlib import Path

from converters.errors import NotAModelError
from converters.source import ModelSource
from converters.varint import read_varint

TEXT_HEAD_BYTES = 4096
_TENSORRT_SIGNATURES = (b"ptrt", b"ftrt")
_NCNN_PARAM_MAGIC = 7767517
_NCNN_WEIGHT_TAGS = (0x01306B47, 0x000D4B38, 0x0002C056)  # fp16, int8, fp32 raw-with-scale blobs
_MNN_ROOT_OFFSETS = (0x18, 0x1C, 0x20)
_PADDLE_BLOCK0 = b"\x08\x00\x10" + b"\xff" * 9 + b"\x01"  # BlockDesc idx=0, parent_idx=-1
_PADDLE_PIR = re.compile(rb'\s*\{\s*"base_code"\s*:\s*\{[^}]*"magic"\s*:\s*"pir"')  # Paddle 3 programs
_COREML_TYPE_FIELDS = range(200, 3001)  # Model's oneof Type (pipeline = 200 ... mlProgram = 502 ...)
_CAFFE_NET_FIELDS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 100})
_OPENVINO_ROOT = re.compile(rb"^\s*(<\?xml[^>]*\?>\s*)?(<!--.*?-->\s*)*<net\b[^>]*\bversion=", re.S)
_CAFFE_TEXT = re.compile(r"(?m)^(layers?|input_shape|input_dim)\s*[:{]")
_CAFFE_SOLVER = re.compile(r"(?m)^(net|train_net|net_param|base_lr)\s*[:{]")

FROM_SOURCE = "export the original PyTorch/TensorFlow model to ONNX and open that"


def explain(source: ModelSource) -> None:
    """Raise NotAModelError for another framework's model file; return quietly otherwise."""
    if source.is_dir:
        return
    for detect in _DETECTORS:
        found = detect(source)
        if found is not None:
            what, fix = found
            raise NotAModelError(f"{source.display_name} is {what}", fix)


def is_coreml(source: ModelSource) -> bool:
    """A Core ML Model protobuf: specificationVersion (field 1, varint) and a model type field
    (200 and up) at the top level — an ONNX ModelProto has no field above 25."""
    fields = protobuf_top_fields(source.path)
    return bool(fields) and fields[0] == (1, 0) and any(f in _COREML_TYPE_FIELDS for f, _ in fields)


def protobuf_top_fields(path: Path, limit: int = 64) -> list[tuple[int, int]]:
    """(field number, wire type) of the first ``limit`` top-level protobuf fields; [] when the
    bytes are not a well-formed protobuf message (lengths are skipped, nothing is decoded)."""
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _walk(buf, limit)
    except (OSError, ValueError):
        return []


def _walk(buf: mmap.mmap, limit: int) -> list[tuple[int, int]]:
    fields: list[tuple[int, int]] = []
    pos, end = 0, len(buf)
    while pos < end and len(fields) < limit:
        key, pos = read_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            return []
        if wire == 0:
            _, pos = read_varint(buf, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = read_varint(buf, pos, end)
            pos += length
        elif wire == 5:
            pos += 4
        else:
            return []
        if pos > end:
            return []
        fields.append((number, wire))
    return fields


def _text_head(source: ModelSource) -> str | None:
    head = source.head
    if not head or any(byte < 0x20 and byte not in b"\t\n\r" for byte in head):
        return None  # control bytes: binary
    with source.path.open("rb") as handle:
        return handle.read(TEXT_HEAD_BYTES).decode("utf-8", "ignore").lstrip("\ufeff")


def _sibling(source: ModelSource, suffix: str) -> Path | None:
    """The file beside ``source`` with the same stem and ``suffix`` (``a.bin`` -> ``a.xml``)."""
    candidate = source.path.with_suffix(suffix)
    return candidate if candidate != source.path and candidate.is_file() else None


def _uint32(head: bytes, offset: int = 0) -> int | None:
    return struct.unpack_from("<I", head, offset)[0] if len(head) >= offset + 4 else None


# ------------------------------------------------------------------------------------ detectors
Found = tuple[str, str] | None


def _tensorrt(source: ModelSource) -> Found:
    """'ptrt'/'ftrt' at byte 0, or after a length-prefixed JSON metadata block (uint32 + '{')."""
    head = source.head
    signature = head[:4]
    if len(head) >= 5 and head[3] == 0 and head[4] == 0x7B:
        offset = (_uint32(head) or 0) + 4
        with source.path.open("rb") as handle:
            handle.seek(offset)
            signature = handle.read(4)
    if signature not in _TENSORRT_SIGNATURES:
        return None
    return (
        "a TensorRT engine (plan): compiled for one GPU and TensorRT version, it holds no portable graph",
        "open the ONNX model the engine was built from (`trtexec --onnx=model.onnx`); "
        "`polygraphy inspect model model.engine` lists an engine's layers",
    )


def _openvino(source: ModelSource) -> Found:
    if _is_openvino_xml(source.path):
        return (
            "an OpenVINO IR model definition (.xml with its .bin weights)",
            "open the ONNX model it was converted from (the input of `ovc`/Model Optimizer), or "
            + FROM_SOURCE,
        )
    xml = _sibling(source, ".xml") if source.suffix == ".bin" else None
    if xml is not None and _is_openvino_xml(xml):
        return (
            f"the weights of the OpenVINO IR model {xml.name}",
            "open the ONNX model the IR was converted from (the input of `ovc`), or " + FROM_SOURCE,
        )
    return None


def _is_openvino_xml(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return bool(_OPENVINO_ROOT.match(handle.read(TEXT_HEAD_BYTES)))
    except OSError:
        return False


def _coreml(source: ModelSource) -> Found:
    if source.head[:1] != b"\x08" or not is_coreml(source):
        return None
    return (
        "a Core ML model (.mlmodel), Apple's on-device format",
        "open the model it was converted from: "
        + FROM_SOURCE
        + " (coremltools converts to Core ML, not back)",
    )


def _paddle(source: ModelSource) -> Found:
    head = source.head
    fix = (
        "convert it with paddle2onnx: `paddle2onnx --model_dir DIR --model_filename model.pdmodel "
        "--params_filename model.pdiparams --save_file model.onnx`"
    )
    if head[:1] == b"\x0a":
        _, pos = _varint_bytes(head, 1)
        if pos and head[pos : pos + len(_PADDLE_BLOCK0)] == _PADDLE_BLOCK0:
            return "a PaddlePaddle program (.pdmodel)", fix
    if _PADDLE_PIR.match(head):
        return "a PaddlePaddle 3 program (PIR .json)", fix.replace("model.pdmodel", "model.json")
    paired = source.suffix in (".pdiparams", ".pdparams") or any(
        _sibling(source, suffix) is not None for suffix in (".pdmodel", ".json")
    )
    if len(head) >= 16 and head[:16] == bytes(16) and paired:
        return (
            "PaddlePaddle parameters (.pdiparams): weights only, the graph is in the .pdmodel or .json",
            fix,
        )
    return None


def _varint_bytes(head: bytes, pos: int) -> tuple[int, int]:
    """The varint (at most 5 bytes) at ``pos`` of ``head`` and the position after it; (0, 0) when
    there is none."""
    try:
        return read_varint(head, pos, max_bytes=5)
    except ValueError:
        return 0, 0


def _caffe(source: ModelSource) -> Found:
    fix = "convert it to ONNX (for example with caffe2onnx or MMdnn), or " + FROM_SOURCE
    text = _text_head(source)
    if text is not None:
        if _CAFFE_TEXT.search(text):
            return "a Caffe network definition (prototxt)", fix
        if _CAFFE_SOLVER.search(text):
            return "a Caffe solver definition (prototxt), training settings without a graph", fix
        return None
    if source.head[:1] not in (b"\x0a", b"\x12", b"\xa2"):
        return None
    fields = protobuf_top_fields(source.path, limit=16)
    numbers = {number for number, _ in fields}
    modern = (100, 2) in fields
    legacy = (2, 2) in fields and source.suffix == ".caffemodel"
    if fields and numbers <= _CAFFE_NET_FIELDS and (modern or legacy):
        return "a Caffe model (.caffemodel)", fix
    return None


def _ncnn(source: ModelSource) -> Found:
    fix = "open the model it was converted from (the input of pnnx or onnx2ncnn), or " + FROM_SOURCE
    head = source.head
    text = _text_head(source)
    if text is not None and text.split("\n", 1)[0].strip() == str(_NCNN_PARAM_MAGIC):
        return "an ncnn network definition (.param, with its .bin weights)", fix
    if _uint32(head) == _NCNN_PARAM_MAGIC:
        return "an ncnn binary network definition (.param.bin)", fix
    if _uint32(head) in _NCNN_WEIGHT_TAGS:
        return "ncnn weights (.bin): the graph is in the .param file beside it", fix
    param = _sibling(source, ".param") if source.suffix == ".bin" else None
    if param is not None and _first_line(param) == str(_NCNN_PARAM_MAGIC):
        return f"the weights of the ncnn model {param.name}", fix
    return None


def _first_line(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(32).split(b"\n", 1)[0].strip().decode("ascii", "ignore")


def _mnn(source: ModelSource) -> Found:
    if source.suffix != ".mnn" or _uint32(source.head) not in _MNN_ROOT_OFFSETS:
        return None
    return (
        "an MNN model (Alibaba's on-device format)",
        "open the model it was converted from (the input of MNNConvert, usually ONNX), or " + FROM_SOURCE,
    )


_DETECTORS: tuple[Callable[[ModelSource], Found], ...] = (
    _tensorrt,
    _coreml,
    _paddle,
    _ncnn,
    _mnn,
    _openvino,
    _caffe,
)
