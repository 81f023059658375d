"""PyTorch files that are not models — ``torch.save`` pickles (a whole module, a state_dict, a
training or Lightning checkpoint) and safetensors — told apart from their bytes alone.

Pickles are read with ``pickletools.genops`` (opcodes and their arguments: class names, dict keys),
never executed: loading one would import and run the classes it names. Each finding becomes a
``NotAModelError`` saying what the file is, why it cannot be viewed or run, and the code that turns
the network into a model file (TorchScript or a ``.pt2``).
"""

from __future__ import annotations

import io
import json
import pickletools
import struct
import zipfile
from dataclasses import dataclass, field
from typing import IO

from converters.errors import NotAModelError
from converters.source import ModelSource

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a pre-1.6 torch.save file
MAX_OPCODES = 2_000_000
MAX_SAFETENSORS_HEADER = 100_000_000
_STATE_DICT_GLOBALS = frozenset(
    {
        "collections OrderedDict",
        "torch._utils _rebuild_tensor_v2",
        "torch._utils _rebuild_tensor",
        "torch._utils _rebuild_parameter",
        "torch._utils _rebuild_qtensor",
        "torch.serialization _get_layout",
        "torch device",
        "torch Size",
        "builtins set",
        "__builtin__ set",
    }
)
_DATA_MODULES = ("torch._utils", "collections", "builtins", "__builtin__", "_codecs", "numpy")
_OPTIMIZER_KEYS = ("optimizer", "optimizer_state_dict", "optimizer_states", "optim", "opt_state")
_CHECKPOINT_KEYS = (
    "epoch",
    "global_step",
    "step",
    "model",
    "model_state_dict",
    "state_dict",
    *_OPTIMIZER_KEYS,
    "scheduler",
    "lr_scheduler",
    "scaler",
    "loss",
)

SAVE_MODEL_FILE = (
    '`torch.jit.script(model).save("model.pt")` (control flow kept), '
    '`torch.jit.trace(model, example).save("model.pt")` (straight-line code), or '
    '`torch.export.save(torch.export.export(model, (example,)), "model.pt2")`; see the snippet'
)
WHY_NOT_RUNNABLE = (
    "a pickle holds Python objects, not a graph: reading it needs the original Python classes and "
    "runs their code"
)


@dataclass
class PickleFacts:
    """What a pickle's opcodes reveal: classes it names and the strings (dict keys) it holds."""

    globals: list[str] = field(default_factory=list)  # "module name", in first-use order
    strings: set[str] = field(default_factory=set)
    storages: int = 0  # persistent ids: one per torch storage
    complete: bool = True

    @property
    def classes(self) -> list[str]:
        """Named globals that are neither tensor plumbing nor plain containers."""
        return [
            g
            for g in self.globals
            if g not in _STATE_DICT_GLOBALS
            and not g.startswith(_DATA_MODULES)
            and not (g.startswith("torch ") and g.endswith("Storage"))
            and g not in ("torch dtype", "torch float32", "torch.nn.parameter Parameter")
        ]


def pickle_facts(stream: IO[bytes]) -> PickleFacts:
    """Walk one pickle's opcodes (stops at STOP, at MAX_OPCODES, or at damaged bytes)."""
    facts = PickleFacts()
    recent: list[str] = []
    try:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(stream)):
            if count > MAX_OPCODES:
                facts.complete = False
                break
            name = opcode.name
            if isinstance(arg, str) and name in (
                "SHORT_BINUNICODE",
                "BINUNICODE",
                "BINUNICODE8",
                "UNICODE",
                "STRING",
                "BINSTRING",
                "SHORT_BINSTRING",
            ):
                facts.strings.add(arg)
                recent = [*recent[-1:], arg]
            elif name in ("GLOBAL", "INST") and isinstance(arg, str):
                _add_global(facts, arg)
            elif name == "STACK_GLOBAL" and len(recent) == 2:
                _add_global(facts, f"{recent[0]} {recent[1]}")
            elif name in ("BINPERSID", "PERSID"):
                facts.storages += 1
    except (ValueError, EOFError, struct.error, UnicodeDecodeError):
        facts.complete = False
    return facts


def _add_global(facts: PickleFacts, name: str) -> None:
    if name not in facts.globals:
        facts.globals.append(name)


def explain_torch_zip(source: ModelSource, names: list[str]) -> None:
    """A ``torch.save`` zip (``<name>/data.pkl``): raise NotAModelError describing what it holds."""
    entry = next((n for n in names if n.rsplit("/", 1)[-1] == "data.pkl"), None)
    if entry is None:
        return
    try:
        with zipfile.ZipFile(source.path) as archive:
            data = archive.read(entry)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError):
        data = b""
    explain_pickle(source, pickle_facts(io.BytesIO(data)), "torch.save")


def explain_raw_pickle(source: ModelSource) -> None:
    """A raw pickle: a legacy (pre-1.6) ``torch.save`` file, or any other Python pickle."""
    with source.path.open("rb") as handle:
        if TORCH_LEGACY_MAGIC not in _long_values(source.head):
            explain_pickle(source, pickle_facts(handle), "Python")
        for _ in range(3):  # the magic number, the protocol version and the system info
            pickle_facts(handle)
        explain_pickle(source, pickle_facts(handle), "legacy torch.save")


def _long_values(head: bytes) -> set[int]:
    """LONG1/LONG4 values of the first pickle in ``head`` (the legacy torch magic number lives there)."""
    values: set[int] = set()
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(head)):
            if opcode.name in ("LONG1", "LONG4") and isinstance(arg, int):
                values.add(arg)
    except (ValueError, EOFError, struct.error):
        pass
    return values


def explain_pickle(source: ModelSource, facts: PickleFacts, how: str) -> None:
    """Raise the NotAModelError for a pickle with these facts (``how``: torch.save / pickle / ...)."""
    name = source.display_name
    quoted = json.dumps(name)
    strings, classes = facts.strings, facts.classes
    if "pytorch-lightning_version" in strings or any("lightning" in c for c in classes):
        raise NotAModelError(
            f"{name} is a PyTorch Lightning checkpoint (weights, optimizer and callback state saved by "
            f"the Trainer, a {how} pickle): no graph, and {WHY_NOT_RUNNABLE}",
            "in your project, load it with YourLightningModule.load_from_checkpoint, then save it: "
            + SAVE_MODEL_FILE,
            model_file_snippet(
                "from my_project import MyLitModule  # your LightningModule class\n\n"
                f'model = MyLitModule.load_from_checkpoint({quoted}, map_location="cpu")'
            ),
        )
    found_keys = [key for key in _CHECKPOINT_KEYS if key in strings]
    if any(key in strings for key in _OPTIMIZER_KEYS) or (
        "epoch" in strings and any(k in strings for k in ("state_dict", "model_state_dict", "model"))
    ):
        state_key = next((k for k in ("model_state_dict", "state_dict", "model") if k in strings), "model")
        raise NotAModelError(
            f"{name} is a PyTorch training checkpoint (a {how} pickle of a dict with "
            f"{', '.join(found_keys)}): weights and optimizer state, no graph; {WHY_NOT_RUNNABLE}",
            "load its weights into your model class, then save it: " + SAVE_MODEL_FILE,
            model_file_snippet(
                f'checkpoint = torch.load({quoted}, map_location="cpu")\n'
                f'model.load_state_dict(checkpoint["{state_key}"])  # the key your training script used'
            ),
        )
    if classes:
        top = _class_text(classes[0])
        raise NotAModelError(
            f"{name} is a whole model pickled with torch.save(model) ({top}), not a model file: "
            f"{WHY_NOT_RUNNABLE}, so ModelLens cannot view or run it",
            "where the class is importable, load it, then save it: " + SAVE_MODEL_FILE,
            model_file_snippet(
                "# only for a file you trust: unpickling runs the code of the classes it names\n"
                f'model = torch.load({quoted}, map_location="cpu", weights_only=False)',
                define_model=False,
            ),
        )
    if facts.storages or any(g.startswith("torch") for g in facts.globals):
        count = f"{facts.storages} stored tensors" if facts.storages else "tensors"
        raise NotAModelError(
            f"{name} is a PyTorch state_dict ({count} by parameter name, a {how} pickle): weights "
            "only, no graph; the network's structure lives in its Python class",
            "load it into your model class, then save it: " + SAVE_MODEL_FILE,
            model_file_snippet(f'model.load_state_dict(torch.load({quoted}, map_location="cpu"))'),
        )
    raise NotAModelError(
        f"{name} is a Python pickle, not a model file: {WHY_NOT_RUNNABLE}",
        "build the network from its class, then save it: " + SAVE_MODEL_FILE,
        model_file_snippet(f"# {name} holds Python data; build the network from its class"),
    )


def _class_text(global_name: str) -> str:
    module, _, cls = global_name.partition(" ")
    return f"class {cls} from {module}" if module != "__main__" else f"class {cls} defined in a script"


def explain_safetensors(source: ModelSource) -> None:
    """Raise NotAModelError for a safetensors file, counting its tensors from the JSON header."""
    detail = ""
    try:
        with source.path.open("rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if length <= MAX_SAFETENSORS_HEADER:
                header = json.loads(handle.read(length))
                tensors = {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
                elements = sum(_product(v.get("shape", [])) for v in tensors.values())
                detail = f" ({len(tensors)} tensors, {elements:,} values)"
    except (OSError, ValueError, AttributeError, TypeError):
        detail = ""
    raise NotAModelError(
        f"{source.display_name} is a safetensors weights file{detail}: weights only, no graph; the "
        "network's structure lives in its Python class",
        "load the weights into your model class, then save it: " + SAVE_MODEL_FILE,
        model_file_snippet(
            "from safetensors.torch import load_file\n\n"
            f"model.load_state_dict(load_file({json.dumps(source.display_name)}))"
        ),
    )


def _product(shape: list[int]) -> int:
    count = 1
    for dim in shape:
        count *= int(dim)
    return count


def model_file_snippet(load_lines: str, *, define_model: bool = True) -> str:
    """Code that turns a network into a file ModelLens opens: TorchScript (script or trace) or .pt2."""
    define = "model = MyModel()  # the Python class that defines the network\n" if define_model else ""
    return f"""\
import torch

{define}{load_lines}
model.eval()
example = torch.randn(1, 3, 224, 224)  # an input of the shape and dtype forward() takes

# Python if/else or loops that depend on the input? Script it (keeps the control flow):
torch.jit.script(model).save("model.pt")
# A straight-line network? Trace it (records the operators run for `example`):
torch.jit.trace(model, example).save("model.pt")
# Or, with PyTorch 2, export a .pt2 (torch.export.Dim makes sizes dynamic):
torch.export.save(torch.export.export(model, (example,)), "model.pt2")
"""
