"""Recognise files that are not models we open, from their bytes alone — nothing is unpickled.

``explain_non_model(source)`` raises ``NotAModelError`` (with a copyable snippet where one helps)
for known non-models, and returns quietly for anything else.
"""

from __future__ import annotations

from converters import foreign_formats, torch_pickles
from converters.errors import NotAModelError
from converters.source import ModelSource

TORCH_SCRIPT_SNIPPET = torch_pickles.model_file_snippet(
    'model.load_state_dict(torch.load("weights.pt", map_location="cpu"))'
)

MODEL_FILES = "a model file (.onnx, TorchScript .pt, torch.export .pt2, or a TensorFlow SavedModel)"
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF87a": "a GIF image",
    b"GIF89a": "a GIF image",
    b"%PDF": "a PDF document",
}


def explain_non_model(source: ModelSource) -> None:
    """Raise NotAModelError when the bytes are a known non-model."""
    head = source.head
    for magic, what in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            raise NotAModelError(
                f"{source.display_name} is {what}, not a model", f"open {MODEL_FILES} instead"
            )
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        raise NotAModelError(f"{source.display_name} is a WebP image, not a model", f"open {MODEL_FILES}")
    if head.startswith(b"\x93NUMPY"):
        raise NotAModelError(
            f"{source.display_name} is a NumPy array, not a model", "open the model file it belongs to"
        )
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        raise NotAModelError(
            f"{source.display_name} is an HDF5 (Keras .h5) file",
            "export it to ONNX with tf2onnx, e.g. `python -m tf2onnx.convert --keras model.h5 "
            "--output model.onnx`",
        )
    if head.startswith(b"GGUF"):
        raise NotAModelError(f"{source.display_name} is a GGUF (llama.cpp) file", "export the model to ONNX")
    if head[4:8] == b"TFL3":
        raise NotAModelError(
            f"{source.display_name} is a TensorFlow Lite model",
            "convert it to ONNX with `python -m tf2onnx.convert --tflite model.tflite --output model.onnx`",
        )
    if head.startswith(b"\x1f\x8b"):
        raise NotAModelError(
            f"{source.display_name} is a gzip archive",
            "unpack it and open the model file, or re-pack as .zip",
        )
    if _is_safetensors(head):
        torch_pickles.explain_safetensors(source)
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        torch_pickles.explain_raw_pickle(source)
    foreign_formats.explain(source)
    if source.is_zip():
        _explain_zip(source)
    if torch_pickles.is_text_pickle(source):  # protocol 0/1: no \x80 header, often printable
        torch_pickles.explain_raw_pickle(source)
    if _looks_like_text(head):
        raise NotAModelError(
            f"{source.display_name} is a text file, not a model",
            f"open {MODEL_FILES}; text ONNX is read when saved by onnx.save(model, path, "
            "format='textproto' | 'onnxtxt' | 'json')",
        )


def _explain_zip(source: ModelSource) -> None:
    names = source.zip_names()
    leaves = {name.split("/", 1)[-1] for name in names}
    if "archive_format" in leaves and any("/aotinductor/" in f"/{name}" for name in names):
        raise NotAModelError(
            f"{source.display_name} is an AOTInductor package (.pt2 of compiled kernels): it holds "
            "machine code, not a graph",
            "open the ExportedProgram it was compiled from: "
            '`torch.export.save(torch.export.export(model, (example,)), "model.pt2")`',
        )
    if "data.pkl" in leaves:
        torch_pickles.explain_torch_zip(source, names)
    if "config.json" in leaves and "model.weights.h5" in leaves:
        raise NotAModelError(
            f"{source.display_name} is a Keras 3 .keras file",
            "export it as a SavedModel and open that folder: "
            "`keras.saving.load_model('model.keras').export('saved_model')`",
        )


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 10:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return 0 < header_len < 100_000_000 and head[8:10] == b'{"'


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    text = head.decode("utf-8", "ignore")
    if len(text.encode()) < len(head) - 3:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable / len(text) > 0.95
