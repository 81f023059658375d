"""Opening a SavedModel folder: meta graph and signature choice, variables, graph attributes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from converters import schema
from converters.errors import ModelLoadError, UnsupportedFormatError
from converters.op_catalog import tf_op_doc
from converters.savedmodel.bundle import BundleFormatError, TensorBundle
from converters.savedmodel.graph import VARIABLE_OPS, GraphBuilder, Variable
from converters.savedmodel.protos import dtype_name, saved_model_class, shape_of
from converters.savedmodel.values import attr_value, tensor_array
from converters.source import ModelSource

if TYPE_CHECKING:
    import numpy as np

EXTENSIONS = (".pb", ".pbtxt")
PROTO_NAMES = ("saved_model.pb", "saved_model.pbtxt")
DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"
FIX_EXPORT = "save it again with tf.saved_model.save(obj, DIR) or Keras model.export(DIR), and open DIR"


MAX_SEARCH_DEPTH = 6  # how deep a folder or unpacked zip is searched for saved_model.pb


def match(source: ModelSource) -> bool:
    """A folder holding saved_model.pb (or .pbtxt), itself or in folders below it (TF Serving's
    ``name/1``, ``name/2``, a wrapper folder), or that file itself."""
    if source.is_dir:
        return bool(saved_models_in(source.path))
    return source.path.name in PROTO_NAMES


def _holds_proto(folder: Path) -> bool:
    return any((folder / name).is_file() for name in PROTO_NAMES)


def saved_models_in(folder: Path) -> list[Path]:
    """Folders holding saved_model.pb: ``folder`` itself, else those below it (at most
    MAX_SEARCH_DEPTH down, none inside another SavedModel, links not followed), in path order."""
    if _holds_proto(folder):
        return [folder]
    found: list[Path] = []
    level = [folder]
    for _ in range(MAX_SEARCH_DEPTH):
        children = []
        for parent in level:
            try:
                entries = sorted(parent.iterdir())
            except OSError:
                continue
            children += [p for p in entries if p.is_dir() and not p.is_symlink()]
        found += [p for p in children if _holds_proto(p)]
        level = [p for p in children if not _holds_proto(p)]
        if not level:
            break
    return sorted(found)


def choose_saved_model(folder: Path, display_name: str) -> tuple[Path, str]:
    """The SavedModel to open in ``folder``, and a warning saying which when there are several.
    TF Serving's layout (``name/1``, ``name/2``: numbered version folders) opens the highest
    version, as TF Serving serves it; other sets open the first in path order."""
    found = saved_models_in(folder)
    if len(found) <= 1:
        return (found[0] if found else folder), ""

    def shown(path: Path) -> str:
        return path.relative_to(folder).as_posix()

    if all(p.name.isdigit() for p in found) and len({p.parent for p in found}) == 1:
        chosen = max(found, key=lambda p: int(p.name))
        listed = ", ".join(shown(p) for p in sorted(found, key=lambda p: int(p.name)))
        return chosen, (
            f"{display_name} holds {len(found)} versions of a SavedModel (TF Serving layout: {listed}): "
            f"showing the highest, {shown(chosen)}, as TF Serving serves it; "
            "open a version's folder for another"
        )
    chosen = found[0]
    listed = ", ".join(shown(p) for p in found)
    return chosen, (
        f"{display_name} holds {len(found)} SavedModels ({listed}): showing {shown(chosen)}; "
        "open another one's folder (or zip it alone) to see it"
    )


def zip_holds_saved_model(names: list[str]) -> bool:
    """A zip whose entries hold saved_model.pb at any depth."""
    return any(PurePosixPath(n.replace("\\", "/")).name in PROTO_NAMES for n in names)


def explain_missing(names: list[str], display_name: str) -> None:
    """Raise when entries (zip names or folder paths) look like a SavedModel without saved_model.pb."""
    parts = [PurePosixPath(n.replace("\\", "/")).parts for n in names]
    if any("variables" in p[:-1] for p in parts) and not zip_holds_saved_model(names):
        raise UnsupportedFormatError(
            f"{display_name} holds a variables/ folder but no saved_model.pb: a TensorFlow SavedModel "
            "folder needs saved_model.pb (the graph) beside variables/ (the weights)",
            "zip or open the whole folder that tf.saved_model.save / model.export wrote",
        )


_PART_FILES = {
    "variables.index": "variables' index",
    "fingerprint.pb": "fingerprint",
    "keras_metadata.pb": "Keras metadata",
}


def explain_part_file(source: ModelSource) -> None:
    """Raise when the file is one piece of a SavedModel folder (variables.index, a variables data
    shard, fingerprint.pb): name the folder to open instead."""
    if source.is_dir:
        return
    name = source.path.name
    what = _PART_FILES.get(name) or (
        "variables' data" if re.fullmatch(r"variables\.data-\d+-of-\d+", name) else ""
    )
    if not what:
        return
    folder = source.path.parent.parent if source.path.parent.name == "variables" else source.path.parent
    fix = (
        f"open the SavedModel folder instead: {folder}"
        if _holds_proto(folder)
        else "open the SavedModel folder (the one holding saved_model.pb), or upload it as a .zip"
    )
    raise UnsupportedFormatError(
        f"{source.display_name} is the {what} file of a TensorFlow SavedModel, not a model on its own", fix
    )


def explain_missing_in_folder(folder: Path, display_name: str) -> None:
    """Raise when a folder has variables/ but no saved_model.pb (a partial SavedModel copy)."""
    if (folder / "variables.index").is_file() and any((folder.parent / n).is_file() for n in PROTO_NAMES):
        raise UnsupportedFormatError(
            f"{display_name} is the variables/ folder of a TensorFlow SavedModel",
            f"open its parent folder instead: {folder.parent}",
        )
    if (folder / "variables").is_dir() and not any((folder / n).is_file() for n in PROTO_NAMES):
        explain_missing(["variables/variables.index"], display_name)


def model_dir(source: ModelSource) -> tuple[Path, str]:
    """The SavedModel folder of a source (the folder, one below it, or the folder of
    saved_model.pb), and a warning naming the one chosen when there were several."""
    if not source.is_dir:
        return source.path.parent, ""
    return choose_saved_model(source.path, source.display_name)


def read_saved_model(folder: Path, display_name: str) -> Any:
    """The SavedModel proto; ModelLoadError when missing, truncated or corrupt."""
    from google.protobuf import message, text_format

    proto_path = next((folder / n for n in PROTO_NAMES if (folder / n).is_file()), None)
    if proto_path is None:
        raise ModelLoadError(f"{display_name} has no saved_model.pb", FIX_EXPORT)
    saved_model = saved_model_class()()
    try:
        data = proto_path.read_bytes()
        if proto_path.suffix == ".pbtxt":
            text_format.Parse(data.decode("utf-8"), saved_model)
        else:
            saved_model.ParseFromString(data)
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError, RuntimeError) as err:
        raise ModelLoadError(
            f"{display_name}: {proto_path.name} is truncated or corrupt ({str(err).splitlines()[0][:200]})",
            f"copy the SavedModel folder again, or {FIX_EXPORT}",
        ) from err
    except OSError as err:
        raise ModelLoadError(f"{proto_path} cannot be read ({err.strerror})", "check permissions") from err
    if not saved_model.meta_graphs or not any(m.HasField("graph_def") for m in saved_model.meta_graphs):
        raise ModelLoadError(
            f"{display_name}: {proto_path.name} holds no graph (empty, truncated or not a SavedModel)",
            FIX_EXPORT,
        )
    return saved_model


def convert(source: ModelSource, settings: dict[str, Any] | None = None) -> schema.ModelGraph:
    settings = settings or {}
    folder, chosen = model_dir(source)
    name = source.display_name
    source.start_hashing()
    saved_model = read_saved_model(folder, name)
    meta_graph = _pick_meta_graph(saved_model, settings.get("tags"), name)
    signatures = signature_table(meta_graph)
    key = _pick_signature(signatures, settings.get("signature"), name)
    warnings: list[str] = [chosen] if chosen else []
    bundle = _open_bundle(folder, warnings)
    namer = VariableNamer(meta_graph, bundle, warnings)
    builder = GraphBuilder(meta_graph, namer)
    if key:
        signature = meta_graph.signature_def[key]
        inputs = sorted(signature.inputs.items())
        outputs = sorted(signature.outputs.items())
    else:
        inputs, outputs = [], []
        warnings.append("This SavedModel has no signatures: showing its whole graph")
    graph = builder.build_signature(inputs, outputs)
    warnings.extend(builder.warnings)
    if bundle is None and builder.variables and not (folder / "variables").is_dir():
        warnings.append(
            "variables/ is missing next to saved_model.pb: weights show names and shapes only "
            "(open or upload the whole SavedModel folder)"
        )
    _fill_attributes(graph, saved_model, meta_graph, key, signatures, builder, bundle, warnings)
    graph.graph["model_dir"] = str(folder)  # what a runner hands to tf.saved_model.load
    return graph


def _pick_meta_graph(saved_model: Any, wanted: Any, display_name: str) -> Any:
    tag_sets = [sorted(m.meta_info_def.tags) for m in saved_model.meta_graphs]
    if wanted:
        wanted_tags = sorted(t.strip() for t in (wanted.split(",") if isinstance(wanted, str) else wanted))
        for meta_graph, tags in zip(saved_model.meta_graphs, tag_sets, strict=True):
            if tags == wanted_tags:
                return meta_graph
        available = "; ".join(",".join(t) or "(no tags)" for t in tag_sets)
        raise ModelLoadError(
            f"{display_name} has no meta graph tagged {','.join(wanted_tags)!r} (it has: {available})",
            "pick one of those tag sets (--tags in the CLI)",
        )
    for meta_graph, tags in zip(saved_model.meta_graphs, tag_sets, strict=True):
        if "serve" in tags:
            return meta_graph
    return saved_model.meta_graphs[0]


def signature_table(meta_graph: Any) -> dict[str, dict[str, Any]]:
    """Signature key → inputs/outputs (name, tensor, dtype, shape) and method; serving_default first."""
    keys = sorted(k for k in meta_graph.signature_def if k != INIT_OP_SIGNATURE)
    if DEFAULT_SIGNATURE in keys:
        keys.remove(DEFAULT_SIGNATURE)
        keys.insert(0, DEFAULT_SIGNATURE)
    table = {}
    for key in keys:
        signature = meta_graph.signature_def[key]
        table[key] = {
            "inputs": [_io_entry(n, i) for n, i in sorted(signature.inputs.items())],
            "outputs": [_io_entry(n, i) for n, i in sorted(signature.outputs.items())],
            "method_name": signature.method_name,
        }
    return table


def signature_list(saved_model: Any) -> list[dict[str, Any]]:
    """Every signature of every meta graph: key, tags, inputs and outputs (name, dtype, shape)."""
    found = []
    for meta_graph in saved_model.meta_graphs:
        tags = sorted(meta_graph.meta_info_def.tags)
        for key, entry in signature_table(meta_graph).items():
            io = {
                side: [{k: v for k, v in e.items() if k != "tensor"} for e in entry[side]]
                for side in ("inputs", "outputs")
            }
            found.append({"key": key, "tags": tags, **io})
    return found


def _io_entry(name: str, info: Any) -> dict[str, Any]:
    shape = shape_of(info.tensor_shape)
    return {
        "name": name,
        "tensor": info.name,
        "dtype": dtype_name(info.dtype),
        "shape": None if shape is None else list(shape),
    }


def _pick_signature(signatures: dict[str, Any], wanted: str | None, display_name: str) -> str:
    if wanted:
        if wanted not in signatures:
            available = ", ".join(signatures) or "none"
            raise ModelLoadError(
                f"{display_name} has no signature {wanted!r} (it has: {available})",
                "pick one of those (--signature in the CLI)",
            )
        return wanted
    return next(iter(signatures), "")


def _open_bundle(folder: Path, warnings: list[str]) -> TensorBundle | None:
    variables = folder / "variables"
    try:
        bundle = TensorBundle.open(variables)
    except (BundleFormatError, OSError) as err:
        warnings.append(f"variables/variables.index cannot be read ({err}): weights show shapes only")
        return None
    if bundle is None and variables.is_dir() and any(variables.iterdir()):
        warnings.append("variables/variables.index is missing: weights show names and shapes only")
    return bundle


class VariableNamer:
    """Names a variable handle by the SavedObjectGraph (TF2) or its op name (TF1), and finds its
    checkpoint key in the bundle."""

    def __init__(self, meta_graph: Any, bundle: TensorBundle | None, warnings: list[str]) -> None:
        self.bundle = bundle
        objects = meta_graph.object_graph_def
        self.saved_variables = {i: n.variable for i, n in enumerate(objects.nodes) if n.HasField("variable")}
        self.keys: dict[int, str] = {}
        self.keys_by_full_name: dict[str, str] = {}
        checkpoint = _checkpoint_graph(bundle, warnings)
        if checkpoint is not None:
            for index, node in enumerate(checkpoint.nodes):
                for attribute in node.attributes:
                    if attribute.name == "VARIABLE_VALUE":
                        self.keys[index] = attribute.checkpoint_key
                        self.keys_by_full_name.setdefault(attribute.full_name, attribute.checkpoint_key)
        self.handle_objects = _handle_objects(meta_graph)
        self.partitions = _partitions(meta_graph)
        self._named: dict[str, Variable] = {}
        self._names: set[str] = set()

    def __call__(self, node: Any, full_name: str, in_function: bool) -> Variable:
        identity = full_name if in_function else f"graph:{node.name}"
        if identity in self._named:
            return self._named[identity]
        object_id = None if in_function else self.handle_objects.get(node.name)
        shared = node.attr["shared_name"].s.decode("utf-8", "replace") if "shared_name" in node.attr else ""
        dtype = dtype_name(node.attr["dtype"].type) if "dtype" in node.attr else None
        shape = shape_of(node.attr["shape"].shape) if "shape" in node.attr else None
        if object_id is not None and object_id in self.saved_variables:
            saved = self.saved_variables[object_id]
            name = saved.name or shared or full_name
            dtype, shape = dtype_name(saved.dtype), shape_of(saved.shape)
            key = self.keys.get(object_id, "")
        else:
            name = shared or full_name
            key = self._key_for(name, full_name)
        partition = None if in_function else self.partitions.get(node.name)
        part = None
        if partition is not None:
            key, part = partition[0], (partition[1], partition[2])
        resource = "" if node.op in VARIABLE_OPS else node.op
        if resource:
            dtype, shape = "resource", ()
        unique, n = name, 1
        while unique in self._names:
            unique, n = f"{name}_{n}", n + 1
        self._names.add(unique)
        variable = Variable(name=unique, dtype=dtype, shape=shape, key=key, part=part, resource=resource)
        self._named[identity] = variable
        return variable

    def _key_for(self, name: str, full_name: str) -> str:
        entries = self.bundle.entries if self.bundle else {}
        for candidate in (name, full_name):
            if candidate in entries:
                return candidate
        return self.keys_by_full_name.get(name, "")


def _checkpoint_graph(bundle: TensorBundle | None, warnings: list[str]) -> Any | None:
    if bundle is None:
        return None
    from google.protobuf.message import DecodeError

    try:
        return bundle.object_graph()
    except (DecodeError, ModelLoadError) as err:
        warnings.append(
            f"The checkpoint's object graph in variables/ cannot be read ({err}): values unavailable"
        )
        bundle.problem = str(err)
        return None


def _partitions(meta_graph: Any) -> dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]]:
    """TF1 partitioned variables: variable op name → (full tensor's checkpoint key, offset, shape)
    from the VariableDefs' save_slice_info in the meta graph's variable collections."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import variable_pb2

    found = {}
    for collection in ("variables", "trainable_variables"):
        if collection not in meta_graph.collection_def:
            continue
        for blob in meta_graph.collection_def[collection].bytes_list.value:
            try:
                variable = variable_pb2.VariableDef.FromString(blob)
            except DecodeError:
                continue
            info = variable.save_slice_info_def
            if info.full_name and len(info.var_offset) == len(info.var_shape):
                op_name = variable.variable_name.split(":")[0]
                found[op_name] = (info.full_name, tuple(info.var_offset), tuple(info.var_shape))
    return found


def _handle_objects(meta_graph: Any) -> dict[str, int]:
    """Top-level variable handle node → SavedObjectGraph node id, through the calls' bound inputs."""
    concrete = meta_graph.object_graph_def.concrete_functions
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    handles: dict[str, int] = {}
    for node in meta_graph.graph_def.node:
        if node.op not in ("StatefulPartitionedCall", "PartitionedCall"):
            continue
        name = node.attr["f"].func.name
        if name not in concrete or name not in functions:
            continue
        bound = list(concrete[name].bound_inputs)
        data_inputs = [ref for ref in node.input if not ref.startswith("^")]
        captured = data_inputs[len(data_inputs) - len(bound) :] if bound else []
        for ref, object_id in zip(captured, bound, strict=True):
            handles.setdefault(ref.split(":")[0], int(object_id))
    return handles


@dataclass
class SavedModelTensorStore:
    """Values of a graph's weights: variables from the bundle, constants from the graph."""

    bundle: TensorBundle | None
    variables: dict[str, Variable] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [*self.variables, *self.constants]

    def array(self, name: str) -> np.ndarray:
        """A weight's values; ModelLoadError when they cannot be read without TensorFlow."""
        if name in self.constants:
            try:
                return tensor_array(self.constants[name])
            except (ValueError, TypeError, ImportError) as err:
                raise ModelLoadError(
                    f"The values of constant {name!r} cannot be decoded ({err})", ""
                ) from err
        variable = self.variables.get(name)
        if variable is None:
            raise ModelLoadError(f"No stored tensor named {name!r}", "pick a weight listed by the node")
        if variable.resource:
            raise ModelLoadError(
                f"{name!r} is a {variable.resource} resource handle, not stored values: TensorFlow "
                "fills it when the model loads (from the graph's initializers and assets/)",
                "",
            )
        if self.bundle is not None and not variable.key and self.bundle.problem:
            raise ModelLoadError(
                f"The values of {name!r} cannot be read: {self.bundle.problem}",
                "copy the SavedModel folder again",
            )
        if self.bundle is None or variable.key not in self.bundle.entries:
            raise ModelLoadError(
                f"The values of {name!r} are not in variables/ (no checkpoint entry found)",
                "open the whole SavedModel folder (saved_model.pb beside variables/)",
            )
        values = self.bundle.array(variable.key)
        if variable.part is None:
            return values
        offset, shape = variable.part
        return values[tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))]


def _fill_attributes(
    graph: schema.ModelGraph,
    saved_model: Any,
    meta_graph: Any,
    key: str,
    signatures: dict[str, Any],
    builder: GraphBuilder,
    bundle: TensorBundle | None,
    warnings: list[str],
) -> None:
    info = meta_graph.meta_info_def
    tags = sorted(info.tags)
    variables = builder.variables
    sizes = [
        schema.TensorInfo(v.name, v.dtype, v.shape).size or 0 for v in variables.values() if not v.resource
    ]
    from converters.savedmodel.graph import _nbytes

    store = SavedModelTensorStore(bundle, dict(variables), dict(builder.constants))
    version = info.tensorflow_version
    label = "TensorFlow SavedModel" + (f", signature {key}" if key else "")
    graph.graph.update(
        format_label=label,
        producer=f"TensorFlow {version}" if version else "TensorFlow",
        metadata={
            k: v
            for k, v in (
                ("signature", key),
                ("tags", ",".join(tags)),
                ("method_name", signatures.get(key, {}).get("method_name", "")),
                ("tensorflow_version", version),
                ("tensorflow_git_version", info.tensorflow_git_version),
                ("saved_model_schema_version", str(saved_model.saved_model_schema_version)),
            )
            if v
        },
        signature=key,
        signatures=signatures,
        tags=tags,
        tag_sets=[sorted(m.meta_info_def.tags) for m in saved_model.meta_graphs],
        signature_list=signature_list(saved_model),
        parameters=sum(sizes),
        parameter_bytes=sum(_nbytes(v) or 0 for v in variables.values()),
        warnings=warnings,
        tensor_store=store,
        op_docs=_op_docs(graph, builder),
    )
    for sub in builder.subgraphs.values():
        sub.graph["op_docs"] = graph.graph["op_docs"]
        sub.graph["tensor_store"] = store


def _op_docs(graph: schema.ModelGraph, builder: GraphBuilder) -> dict[str, Any]:
    op_types = {d["op_type"] for g in (graph, *builder.subgraphs.values()) for _, d in g.nodes(data=True)}
    docs = {}
    for op_type in sorted(op_types):
        op_def = builder.op_defs.get(op_type)
        if op_def is None:
            continue
        docs[op_type] = tf_op_doc(
            op_type,
            inputs=_formal_names(op_def.input_arg),
            outputs=_formal_names(op_def.output_arg),
            attribute_defaults={
                a.name: attr_value(a.default_value)
                for a in op_def.attr
                if a.HasField("default_value") and not a.name.startswith("_")
            },
        )
    return docs


def _formal_names(args: Any) -> tuple[str, ...]:
    """Argument names when each is one tensor (a list argument shifts ports: then none)."""
    if any(a.number_attr or a.type_list_attr for a in args):
        return ()
    return tuple(a.name for a in args)
