"""TensorFlow SavedModels: each case built in code; expected values come from TensorFlow itself
(the signature's graph with calls followed, tf variables, tf.train.load_checkpoint), never from our
output. Viewing must work without TensorFlow: one test opens the committed sample in a process
where ``import tensorflow`` fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converters import ModelLoadError, UnsupportedFormatError, load_model, validate_graph
from converters.savedmodel.bundle import TensorBundle
from converters.savedmodel.graph import CONTROL_FLOW, PLUMBING_OPS
from viewer.summary import model_summary

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_models" / "savedmodel_cnn"
SAMPLE_ZIP = ROOT / "sample_models" / "savedmodel_cnn.zip"
CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tf() -> Any:
    return pytest.importorskip("tensorflow")


# ------------------------------------------------------------------ builders (need TensorFlow)


def keras_sequential(path: Path) -> Path:
    _tf()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3), name="image"),
            keras.layers.Conv2D(4, 3, padding="same", name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(6.0, name="relu6"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(5, name="fc"),
        ],
        name="seq",
    )
    tf.saved_model.save(model, str(path))
    return path


def keras_two_in_two_out(path: Path) -> Path:
    _tf()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(2)
    a = keras.Input((8,), name="features")
    b = keras.Input((4,), name="extra")
    h = keras.layers.Dense(6, activation="relu", name="hidden")(a)
    joined = keras.layers.Concatenate(name="join")([h, b])
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(joined)
    label = keras.layers.Dense(3, activation="softmax", name="label")(joined)
    model = keras.Model([a, b], {"score": score, "label": label}, name="two_heads")
    tf.saved_model.save(model, str(path))
    return path


def module_two_signatures(path: Path) -> Path:
    tf = _tf()

    class Scaler(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((3, 2), seed=(1, 2)), name="w")
            self.b = tf.Variable(tf.zeros((2,)), name="b")

        @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="x")])
        def project(self, x: Any) -> Any:
            return {"y": tf.matmul(x, self.w) + self.b}

        @tf.function(input_signature=[tf.TensorSpec((None, 2), tf.float32, name="y")])
        def squash(self, y: Any) -> Any:
            return {"z": tf.nn.sigmoid(y - self.b)}

    module = Scaler()
    signatures = {
        "project": module.project.get_concrete_function(),
        "squash": module.squash.get_concrete_function(),
    }
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


def module_control_flow(path: Path) -> Path:
    tf = _tf()

    class Loop(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = tf.Variable(tf.constant([1.5, -0.5, 2.0]), name="scale")

        @tf.function(input_signature=[tf.TensorSpec((3,), tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:
            def body(i: Any, acc: Any) -> Any:
                return i + 1, acc * self.scale + tf.cast(i, tf.float32)

            _, acc = tf.while_loop(lambda i, acc: i < 4, body, [tf.constant(0), x])
            picked = tf.cond(tf.reduce_sum(acc) > 0.0, lambda: tf.nn.relu(acc), lambda: tf.tanh(acc))
            return {"out": picked}

    module = Loop()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def module_nested_calls(path: Path) -> Path:
    """A tf.function calling another tf.function twice, and an embedding lookup (ResourceGather)."""
    tf = _tf()

    class Nested(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = tf.Variable(tf.random.stateless_uniform((10, 4), seed=(3, 4)), name="table")
            self.w = tf.Variable(tf.random.stateless_normal((4, 4), seed=(5, 6)), name="w")

        @tf.function
        def block(self, x: Any) -> Any:
            return tf.nn.gelu(tf.matmul(x, self.w))

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.int32, name="ids")])
        def __call__(self, ids: Any) -> Any:
            h = tf.nn.embedding_lookup(self.table, ids)
            return {"h": self.block(self.block(h))}

    module = Nested()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def keras3_export(path: Path) -> Path:
    _tf()
    import keras

    keras.utils.set_random_seed(3)
    x = keras.Input((12, 12, 2), name="pixels")
    y = keras.layers.DepthwiseConv2D(3, name="dw")(x)
    y = keras.layers.Conv2D(3, 1, activation="relu", name="pw")(y)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    keras.Model(x, y, name="exported").export(str(path), verbose=False)
    return path


def tf1_graph(path: Path) -> Path:
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, (None, 4), name="x")
        w = v1.get_variable("dense/kernel", (4, 3), initializer=v1.random_normal_initializer(seed=4))
        b = v1.get_variable(  # a TF1 reference variable (VariableV2, read through Identity)
            "dense/bias", (3,), initializer=v1.constant_initializer([0.5, -1.0, 2.0]), use_resource=False
        )
        y = tf.nn.relu(tf.matmul(x, w) + b, name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            signature = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(
                session, ["serve", "tf1"], signature_def_map={"serving_default": signature}
            )
            builder.save()
    return path


def keras_rnn(path: Path, export: bool = True) -> Path:
    """Embedding → LSTM → GRU → Dense: While loops, and Keras's first-step cell call that feeds
    nothing (dead code TensorFlow prunes before running)."""
    _tf()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(5)
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(50, 8, name="emb")(tokens)
    x = keras.layers.LSTM(6, return_sequences=True, name="lstm")(x)
    x = keras.layers.GRU(5, name="gru")(x)
    model = keras.Model(tokens, keras.layers.Dense(2, name="out")(x), name="rnn")
    if export:
        model.export(str(path), verbose=False)
    else:
        tf.saved_model.save(model, str(path))
    return path


def module_side_effects(path: Path) -> Path:
    """Ops used only through control dependencies (a numerics check, an assert), an assign and a
    print: all run by TensorFlow, none feeds the output's data."""
    tf = _tf()

    class Checked(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.count = tf.Variable(0, name="count")

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:
            checked = tf.debugging.check_numerics(x, "x has NaN or Inf")
            with tf.control_dependencies([checked, tf.debugging.assert_non_negative(x)]):
                y = x * 2.0
            self.count.assign_add(1)
            tf.print("called")
            return {"y": y}

    module = Checked()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def tf1_two_tag_sets(path: Path) -> Path:
    """A TF1 builder with two meta graphs: ["train", "custom"] (predict, double) and ["serve"]."""
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, (None, 4), name="x")
        w = v1.get_variable("dense/kernel", (4, 3), initializer=v1.random_normal_initializer(seed=4))
        y = tf.nn.relu(tf.matmul(x, w), name="y")
        z = tf.identity(y * 2.0, name="z")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            predict = v1.saved_model.predict_signature_def
            builder.add_meta_graph_and_variables(
                session,
                ["train", "custom"],
                signature_def_map={
                    "predict": predict({"x": x}, {"y": y}),
                    "double": predict({"inp": x}, {"z": z}),
                },
            )
            builder.add_meta_graph(
                ["serve"], signature_def_map={"serving_default": predict({"x": x}, {"y": y})}
            )
            builder.save()
    return path


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "tf1_two_tag_sets": tf1_two_tag_sets,
    "keras_rnn_export": keras_rnn,
    "keras_rnn_save": lambda path: keras_rnn(path, export=False),
    "module_side_effects": module_side_effects,
    "keras_sequential": keras_sequential,
    "keras_two_in_two_out": keras_two_in_two_out,
    "module_two_signatures": module_two_signatures,
    "module_control_flow": module_control_flow,
    "module_nested_calls": module_nested_calls,
    "keras3_export": keras3_export,
    "tf1_graph": tf1_graph,
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    built: dict[str, Path] = {}

    def get(case: str) -> Path:
        if case not in built:
            built[case] = BUILDERS[case](tmp_path_factory.mktemp("savedmodels") / case)
        return built[case]

    return get


# ------------------------------------------------------------------ what TensorFlow says


TF1_CONTROL_FLOW = {"Switch", "Merge", "Enter", "Exit", "NextIteration"}


def _tf_stateful(op: str, functions: dict[str, Any]) -> bool:
    from tensorflow.python.framework import op_def_registry

    if op in functions:
        return bool(functions[op].signature.is_stateful)
    op_def = op_def_registry.get(op)
    return op_def is None or op_def.is_stateful or op.removeprefix("Ref") in TF1_CONTROL_FLOW


def _tf_live(nodes: Any, roots: list[str], functions: dict[str, Any]) -> list[Any]:
    """TensorFlow's PruneFunctionBody: the nodes the returns and control returns need (through data
    and control inputs), with every stateful op and TF1 control-flow primitive kept as a root."""
    by_name = {n.name: n for n in nodes}
    stack = [r for r in roots if r in by_name] + [n.name for n in nodes if _tf_stateful(n.op, functions)]
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack += [ref.lstrip("^").split(":")[0] for ref in by_name[name].input]
            stack = [n for n in stack if n in by_name]
    return [n for n in nodes if n.name in seen]


def tf_graph_op_counts(graph_def: Any, roots: list[str]) -> Counter[str]:
    """Op types TensorFlow runs for ``roots`` of a graph: every call followed, each function body
    pruned as TensorFlow's function runtime prunes it, plumbing excluded; from TF's own GraphDef."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    counts: Counter[str] = Counter()

    def visit(nodes: Any, roots: list[str], stack: tuple[str, ...]) -> None:
        for node in _tf_live(nodes, roots, functions):
            callee = node.attr["f"].func.name if node.op in CALL_OPS else node.op
            if callee in functions and callee not in stack:
                body = functions[callee]
                returns = [ref.split(":")[0] for ref in body.ret.values()] + list(body.control_ret.values())
                visit(body.node_def, returns, (*stack, callee))
            elif node.op not in PLUMBING_OPS:
                counts[node.op] += 1

    visit(graph_def.node, roots, ())
    return counts


def tf_op_counts(function: Any) -> Counter[str]:
    """What TensorFlow runs for a loaded signature (a ConcreteFunction): its graph from its outputs."""
    roots = [t.op.name for t in function.outputs] + [op.name for op in function.graph.control_outputs]
    return tf_graph_op_counts(function.graph.as_graph_def(), roots)


def tf_signature(path: Path, key: str) -> tuple[Any, Any]:
    tf = _tf()
    loaded = tf.saved_model.load(str(path))
    return loaded, loaded.signatures[key]


def tf_io(function: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    _, kwargs = function.structured_input_signature
    inputs = {name: (spec.dtype.name, spec.shape.as_list()) for name, spec in kwargs.items()}
    outputs = {name: (t.dtype.name, t.shape.as_list()) for name, t in function.structured_outputs.items()}
    return inputs, outputs


def io_of(summary: dict[str, Any], key: str) -> dict[str, Any]:
    return {io["name"]: (io["dtype"], io["shape"]) for io in summary[key]}


# ------------------------------------------------------------------ cases


@pytest.mark.parametrize(
    ("case", "key"),
    [
        ("keras_sequential", "serving_default"),
        ("keras_two_in_two_out", "serving_default"),
        ("module_two_signatures", "project"),
        ("module_two_signatures", "squash"),
        ("module_nested_calls", "serving_default"),
        ("keras3_export", "serving_default"),
        ("keras3_export", "serve"),
        ("tf1_graph", "serving_default"),
        ("keras_rnn_export", "serving_default"),
        ("keras_rnn_save", "serving_default"),
        ("module_side_effects", "serving_default"),
    ],
)
def test_signature_graph_matches_tensorflow(saved: Callable[[str], Path], case: str, key: str) -> None:
    path = saved(case)
    graph = load_model(path, {"signature": key})
    assert validate_graph(graph) == []
    summary = model_summary(graph)
    _, function = tf_signature(path, key)
    assert summary["format"] == "savedmodel"
    assert graph.graph["signature"] == key
    assert summary["op_types"] == dict(tf_op_counts(function))
    assert summary["nodes"] == sum(summary["op_types"].values())
    inputs, outputs = tf_io(function)
    assert io_of(summary, "inputs") == {k: (d, s) for k, (d, s) in inputs.items()}
    assert io_of(summary, "outputs") == {k: (d, s) for k, (d, s) in outputs.items()}
    expected = tf_variable_values(path, function)
    assert summary["parameters"] == sum(int(np.size(v)) for v in expected.values())
    store = graph.graph["tensor_store"]
    weights = {w.name: w for _, d in graph.nodes(data=True) for w in d["weights"].values()}
    assert len(store.variables) == len(expected)
    for name, variable in store.variables.items():
        assert weights[name].shape == tuple(variable.shape)
        np.testing.assert_array_equal(store.array(name), _match_values(expected, variable))


def tf_variable_values(path: Path, function: Any) -> dict[str, np.ndarray]:
    """The variables a signature reads, as TensorFlow reports them. A TF1 graph's reference
    variables are not tracked by the loaded function: there the checkpoint (keyed by variable name)
    is the truth."""
    tf = _tf()
    values = {v.name.split(":")[0]: v.numpy() for v in function.variables}
    reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    names = reader.get_variable_to_shape_map()
    if "_CHECKPOINTABLE_OBJECT_GRAPH" not in names:
        values = {key: reader.get_tensor(key) for key in names}
    return values


def _match_values(expected: dict[str, np.ndarray], variable: Any) -> np.ndarray:
    """TensorFlow's values for one of our variables: by name, else the only one of that shape."""
    if variable.name in expected:
        return expected[variable.name]
    same_shape = [v for v in expected.values() if tuple(np.shape(v)) == tuple(variable.shape)]
    assert len(same_shape) == 1, f"cannot match {variable.name} among {sorted(expected)}"
    return same_shape[0]


def test_bundle_reader_matches_tf_checkpoint_reader(saved: Callable[[str], Path]) -> None:
    tf = _tf()
    for case in ("keras_sequential", "module_two_signatures", "tf1_graph"):
        variables = saved(case) / "variables"
        bundle = TensorBundle.open(variables)
        assert bundle is not None
        reader = tf.train.load_checkpoint(str(variables / "variables"))
        expected = reader.get_variable_to_dtype_map()
        assert set(bundle.entries) == set(expected)
        for key in expected:
            value = reader.get_tensor(key)
            mine = bundle.array(key)
            assert mine.shape == np.shape(value), key
            if mine.dtype == object:
                assert mine.tolist() == np.asarray(value, dtype=object).tolist()
            else:
                np.testing.assert_array_equal(mine, value)


def test_keras_layers_are_namespaces_and_weights_carry_variable_names(saved: Callable[[str], Path]) -> None:
    graph = load_model(saved("keras_sequential"))
    convs = [d for _, d in graph.nodes(data=True) if d["op_type"] == "Conv2D"]
    assert len(convs) == 1
    conv = convs[0]
    assert conv["namespace"].split("/")[-1].startswith("conv")
    assert conv["attributes"]["padding"] == "SAME"
    assert conv["attributes"]["strides"] == [1, 1, 1, 1]
    kernel = conv["weights"][1]
    assert kernel.name.endswith("conv/kernel") and kernel.shape == (3, 3, 3, 4) and kernel.dtype == "float32"
    assert graph.graph["tags"] == ["serve"]


def test_two_signatures_listed_and_selected(saved: Callable[[str], Path]) -> None:
    path = saved("module_two_signatures")
    loaded, _ = tf_signature(path, "project")
    default = load_model(path)
    assert list(default.graph["signatures"]) == sorted(loaded.signatures)
    assert default.graph["signature"] == "project"
    squash = load_model(path, {"signature": "squash", "tags": "serve"})
    assert squash.graph["signature"] == "squash"
    assert "Sigmoid" in model_summary(squash)["op_types"]
    with pytest.raises(ModelLoadError, match=r"no signature 'nope'.*project, squash"):
        load_model(path, {"signature": "nope"})
    with pytest.raises(ModelLoadError, match="no meta graph tagged 'train'"):
        load_model(path, {"tags": "train"})


def test_while_and_cond_bodies_are_subgraphs(saved: Callable[[str], Path]) -> None:
    path = saved("module_control_flow")
    graph = load_model(path)
    assert validate_graph(graph) == []
    _, function = tf_signature(path, "serving_default")
    expected = sorted(tf_control_flow_bodies(function.graph.as_graph_def()))
    subgraphs = graph.graph["subgraphs"]
    mine = []
    for _, node in graph.nodes(data=True):
        if node["op_type"] not in CONTROL_FLOW:
            continue
        for sub_id in node["subgraph_ids"]:
            sub = subgraphs[sub_id]
            ops = Counter(d["op_type"] for _, d in sub.nodes(data=True) if d["kind"] == "op")
            mine.append((node["op_type"], sub_id.rsplit("/", 1)[1], sorted(ops.items())))
    assert sorted(mine) == expected
    assert {op for op, _, _ in mine} >= {"StatelessIf"} and any("While" in op for op, _, _ in mine)
    while_body = next(s for k, s in subgraphs.items() if k.endswith("/body"))
    weights = [w.name for _, d in while_body.nodes(data=True) for w in d["weights"].values()]
    assert "scale" in weights  # the variable read inside the loop body is a weight there


def tf_control_flow_bodies(graph_def: Any) -> list[tuple[str, str, list[tuple[str, int]]]]:
    """(op, body attribute, op counts of the body) of each While/If in TF's graph, calls followed."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    found = []

    def visit(nodes: Any) -> None:
        for node in nodes:
            callee = node.attr["f"].func.name if node.op in CALL_OPS else ""
            if callee in functions:
                visit(functions[callee].node_def)
            elif node.op in CONTROL_FLOW:
                for attr in CONTROL_FLOW[node.op][0]:
                    body = _single_function_graph(functions, node.attr[attr].func.name)
                    found.append((node.op, attr, sorted(tf_graph_op_counts(body, ["call"]).items())))

    visit(graph_def.node)
    return found


def _single_function_graph(functions: dict[str, Any], name: str) -> Any:
    """A GraphDef whose only node calls ``name`` (so tf_op_counts follows it), library copied."""
    from tensorboard.compat.proto import graph_pb2

    graph_def = graph_pb2.GraphDef()
    for function in functions.values():
        graph_def.library.function.add().ParseFromString(function.SerializeToString())
    call = graph_def.node.add(name="call", op="PartitionedCall")
    call.attr["f"].func.name = name
    return graph_def


def test_zip_with_nested_folder_opens(saved: Callable[[str], Path], tmp_path: Path) -> None:
    folder = saved("keras3_export")
    archive = tmp_path / "nested.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in folder.rglob("*"):
            handle.write(path, "export/" + path.relative_to(folder).as_posix())
    graph = load_model(archive)
    assert model_summary(graph)["op_types"] == model_summary(load_model(folder))["op_types"]


def test_sample_zip_opens_like_the_folder() -> None:
    zipped, folder = model_summary(load_model(SAMPLE_ZIP)), model_summary(load_model(SAMPLE))
    assert zipped["op_types"] == folder["op_types"] and zipped["parameters"] == folder["parameters"]
    assert folder["op_types"]["Conv2D"] == 2 and folder["op_types"]["DepthwiseConv2dNative"] == 1


def test_zip_without_saved_model_pb_says_what_it_expected(tmp_path: Path) -> None:
    archive = tmp_path / "weights_only.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in (SAMPLE / "variables").iterdir():
            handle.write(path, "model/variables/" + path.name)
    with pytest.raises(UnsupportedFormatError, match=r"variables/ folder but no saved_model\.pb"):
        load_model(archive)


def test_folder_without_saved_model_pb_says_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "variables").mkdir()
    (tmp_path / "variables" / "variables.index").write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError, match=r"no saved_model\.pb"):
        load_model(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.1, 0.9])
def test_truncated_saved_model_pb_is_a_clear_error(tmp_path: Path, keep: float) -> None:
    import shutil

    copy = tmp_path / "cut"
    shutil.copytree(SAMPLE, copy)
    data = (copy / "saved_model.pb").read_bytes()
    (copy / "saved_model.pb").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelLoadError, match=r"saved_model\.pb is truncated or corrupt|holds no graph"):
        load_model(copy)


def test_corrupt_variables_index_keeps_the_graph_with_a_warning(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(SAMPLE, copy)
    index = copy / "variables" / "variables.index"
    index.write_bytes(index.read_bytes()[:-10])
    graph = load_model(copy)
    assert any("variables.index cannot be read" in w for w in graph.graph["warnings"])
    kernel = next(w for _, d in graph.nodes(data=True) for w in d["weights"].values() if "kernel" in w.name)
    with pytest.raises(ModelLoadError, match="not in variables/"):
        graph.graph["tensor_store"].array(kernel.name)


_BLOCK_TF = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith(("tensorflow.", "keras")):
            raise ImportError("tensorflow is blocked in this test")
sys.meta_path.insert(0, _Block())
import json
from converters import load_model
from viewer.summary import model_summary
graph = load_model(sys.argv[1])
store = graph.graph["tensor_store"]
values = {name: float(store.array(name).sum()) for name in store.variables}
summary = model_summary(graph)
print(json.dumps({"ops": summary["op_types"], "params": summary["parameters"], "n": len(values),
                  "tf": any(m.startswith("tensorflow") for m in sys.modules)}))
"""


@pytest.mark.parametrize("target", [SAMPLE, SAMPLE_ZIP])
def test_viewing_works_without_tensorflow(target: Path) -> None:
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _BLOCK_TF, str(target)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["tf"] is False
    assert report["ops"]["Conv2D"] == 2 and report["params"] > 0 and report["n"] > 0


def test_cli_info_and_signature_option(saved: Callable[[str], Path]) -> None:
    import json

    path = saved("module_two_signatures")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "modellens", "info", str(path), "--json", "--signature", "squash"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "savedmodel" and summary["ir_version"] is None
    assert [io["name"] for io in summary["inputs"]] == ["y"]
    bad = subprocess.run([*command[:-1], "nope"], capture_output=True, text=True, env=env, check=False)
    assert bad.returncode == 2 and "no signature 'nope'" in bad.stderr


@pytest.mark.slow
def test_mobilenet_v2_counts(tmp_path: Path) -> None:
    _tf()
    import keras

    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    path = tmp_path / "mobilenet"
    model.export(str(path), verbose=False)
    summary = model_summary(load_model(path))
    assert summary["op_types"]["Conv2D"] == 35
    assert summary["op_types"]["DepthwiseConv2dNative"] == 17
    assert summary["parameters"] == model.count_params()


def test_app_opens_the_sample_and_switches_signature() -> None:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["model"] = "sample:savedmodel_cnn"
    app.run()
    assert not app.exception
    selector = next(s for s in app.selectbox if s.label == "Signature")  # the header's menu
    assert list(selector.options) == ["serving_default", "serve"]
    assert selector.value == "serving_default"
    selector.select("serve").run()
    assert not app.exception
    assert app.session_state.signature == "serve"
    assert next(s for s in app.selectbox if s.label == "Signature").value == "serve"
    text = "\n".join(str(m.value) for m in [*app.markdown, *app.caption])
    assert "signature serve" in text.replace("\\", "")


def test_signature_table_lists_every_signature() -> None:
    from viewer.tables import signature_table

    frame = signature_table(load_model(SAMPLE))
    assert list(frame["signature"]) == ["serving_default", "serve"]
    assert frame["inputs"].tolist() == ["x float32 ?×32×32×3"] * 2


def test_folder_upload_keeps_the_structure_and_opens() -> None:
    from converters import ModelSource, load_source

    paths = [p for p in SAMPLE.rglob("*") if p.is_file()]
    files = [(f"savedmodel_cnn/{p.relative_to(SAMPLE).as_posix()}", p.read_bytes()) for p in paths]
    source = ModelSource.from_folder_upload(files)
    assert source.is_dir and source.display_name == "savedmodel_cnn"
    assert model_summary(load_source(source))["op_types"] == model_summary(load_model(SAMPLE))["op_types"]


@pytest.mark.parametrize("name", ["../evil.pb", "/abs/saved_model.pb", "m/../../x", "C:/x"])
def test_folder_upload_refuses_paths_escaping_the_folder(name: str) -> None:
    from converters import ModelSource

    with pytest.raises(UnsupportedFormatError, match="escaping its folder"):
        ModelSource.from_folder_upload([("m/saved_model.pb", b"x"), (name, b"y")])


def test_truncated_variables_data_is_a_clear_error_on_read(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(SAMPLE, copy)
    data = copy / "variables" / "variables.data-00000-of-00001"
    full = data.read_bytes()
    data.write_bytes(full[: len(full) // 2])
    bundle = TensorBundle.open(copy / "variables")
    assert bundle is not None
    last = max(bundle.entries.values(), key=lambda e: e.offset)
    with pytest.raises(ModelLoadError, match="is truncated"):
        bundle.array(last.key)
    graph = load_model(copy)  # the checkpoint's object graph is stored last: it is cut too
    assert any("object graph in variables/ cannot be read" in w for w in graph.graph["warnings"])
    with pytest.raises(ModelLoadError, match=r"cannot be read: .*truncated"):
        graph.graph["tensor_store"].array(next(iter(graph.graph["tensor_store"].variables)))


def test_saved_model_pb_alone_shows_shapes_and_says_variables_are_missing(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes((SAMPLE / "saved_model.pb").read_bytes())
    graph = load_model(tmp_path / "saved_model.pb")
    assert any("variables/ is missing" in w for w in graph.graph["warnings"])
    assert graph.graph["model_dir"] == str(tmp_path.resolve())
    assert model_summary(graph)["parameters"] == model_summary(load_model(SAMPLE))["parameters"]
    with pytest.raises(ModelLoadError, match="not in variables/"):
        graph.graph["tensor_store"].array(next(iter(graph.graph["tensor_store"].variables)))


def test_render_takes_the_signature(saved: Callable[[str], Path], tmp_path: Path) -> None:
    from modellens.cli import main

    out = tmp_path / "squash.dot"
    assert main(["render", str(saved("module_two_signatures")), "-o", str(out), "--signature", "squash"]) == 0
    assert "Sigmoid" in out.read_text()


def test_committed_sample_is_what_the_script_builds(tmp_path: Path) -> None:
    _tf()
    sys.path.insert(0, str(ROOT / "sample_models"))
    try:
        import make_savedmodel
    finally:
        sys.path.remove(str(ROOT / "sample_models"))
    fresh = make_savedmodel.main(tmp_path)
    ours, committed = model_summary(load_model(fresh)), model_summary(load_model(SAMPLE))
    for key in ("op_types", "parameters", "inputs", "outputs"):
        assert ours[key] == committed[key], key
    assert sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 1_000_000
    assert SAMPLE_ZIP.stat().st_size < 1_000_000


def test_sample_input_spec_names_the_signature_inputs() -> None:
    yaml = pytest.importorskip("yaml")  # PyYAML comes with the runtime's input specs
    spec = yaml.safe_load((ROOT / "sample_models" / "savedmodel_cnn.inputs.yaml").read_text())
    summary = model_summary(load_model(SAMPLE))
    assert [i["input_name"] for i in spec["inputs"]] == [i["name"] for i in summary["inputs"]]
    dims = spec["inputs"][0]["shape"].split("x")
    assert dims[-1] == "f32" and summary["inputs"][0]["dtype"] == "float32"
    assert [int(d) for d in dims[1:-1]] == summary["inputs"][0]["shape"][1:]


def test_text_format_saved_model_pbtxt_opens(tmp_path: Path) -> None:
    import shutil

    from google.protobuf import text_format

    from converters.savedmodel.format import read_saved_model

    copy = tmp_path / "text"
    shutil.copytree(SAMPLE, copy)
    proto = read_saved_model(copy, "sample")
    (copy / "saved_model.pb").unlink()
    (copy / "saved_model.pbtxt").write_text(text_format.MessageToString(proto))
    assert model_summary(load_model(copy))["op_types"] == model_summary(load_model(SAMPLE))["op_types"]


@pytest.mark.parametrize(
    ("ref", "graph_style", "function_style"),
    [
        ("conv", ("conv", 0), ("conv", None, 0)),
        ("conv:2", ("conv", 2), ("conv", None, 2)),
        ("bn:batch_mean:0", ("bn:batch_mean", 0), ("bn", "batch_mean", 0)),
        ("scope/call:output:3", ("scope/call:output", 3), ("scope/call", "output", 3)),
        ("^NoOp", ("NoOp", 0), ("NoOp", None, 0)),
    ],
)
def test_tensor_references(ref: str, graph_style: Any, function_style: Any) -> None:
    from converters.savedmodel.refs import split_function_ref, split_graph_ref

    assert split_graph_ref(ref) == graph_style
    assert split_function_ref(ref) == function_style


def test_a_call_to_a_missing_function_is_shown_as_a_call_with_a_warning(tmp_path: Path) -> None:
    import shutil

    from converters.savedmodel.format import read_saved_model

    copy = tmp_path / "m"
    shutil.copytree(SAMPLE, copy)
    proto = read_saved_model(copy, "sample")
    library = proto.meta_graphs[0].graph_def.library.function
    inner = [f for f in library if not f.signature.name.startswith("__inference_signature_wrapper")]
    for function in inner:
        library.remove(function)
    (copy / "saved_model.pb").write_bytes(proto.SerializeToString())
    graph = load_model(copy)
    assert any("not in the function library" in w for w in graph.graph["warnings"])
    assert model_summary(graph)["op_types"] == {"StatefulPartitionedCall": 1}
    assert validate_graph(graph) == []


def test_opening_the_variables_folder_points_at_its_parent() -> None:
    with pytest.raises(UnsupportedFormatError, match=r"variables/ folder of a TensorFlow SavedModel.*parent"):
        load_model(SAMPLE / "variables")


def tf_all_op_counts(graph_def: Any) -> Counter[str]:
    """Every op in TF's graph with calls followed, live or not (plumbing excluded)."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    counts: Counter[str] = Counter()

    def visit(nodes: Any, stack: tuple[str, ...]) -> None:
        for node in nodes:
            callee = node.attr["f"].func.name if node.op in CALL_OPS else node.op
            if callee in functions and callee not in stack:
                visit(functions[callee].node_def, (*stack, callee))
            elif node.op not in PLUMBING_OPS:
                counts[node.op] += 1

    visit(graph_def.node, ())
    return counts


def test_dead_ops_are_pruned_as_tensorflow_does_with_a_warning(saved: Callable[[str], Path]) -> None:
    path = saved("keras_rnn_export")
    graph = load_model(path)
    _, function = tf_signature(path, "serving_default")
    everything = tf_all_op_counts(function.graph.as_graph_def())
    live = tf_op_counts(function)
    dead = everything - live
    assert sum(dead.values()) > 0  # Keras's first-step cell call feeds nothing
    warning = next(w for w in graph.graph["warnings"] if "feed no output" in w)
    assert warning.startswith(f"{sum(dead.values())} ops feed no output")
    op, n = dead.most_common(1)[0]
    assert f"{op} {n}" in warning


def test_control_dependencies_are_kept_as_control_inputs(saved: Callable[[str], Path]) -> None:
    """CheckNumerics and the assert feed `mul` only through control inputs (on mul or on its
    constant): TensorFlow runs them, so they are drawn, as control edges into mul."""
    path = saved("module_side_effects")
    graph = load_model(path)
    assert validate_graph(graph) == []
    _, function = tf_signature(path, "serving_default")
    graph_def = function.graph.as_graph_def()
    body = next(f for f in graph_def.library.function if any(n.op == "CheckNumerics" for n in f.node_def))
    nodes = {n.name: n for n in body.node_def}
    mul = next(n for n in body.node_def if n.op == "Mul")
    sources = [r.split(":")[0] for r in mul.input if not r.startswith("^")]
    feeding = [nodes[name] for name in sources if name in nodes]
    refs = [ref for n in (mul, *feeding) for ref in n.input if ref.startswith("^")]
    expected = set()
    for ref in refs:  # a control input on an Identity stands for the op the Identity reads
        source = nodes[ref[1:]]
        while source.op in PLUMBING_OPS and source.input:
            source = nodes[source.input[0].lstrip("^").split(":")[0]]
        expected.add(source.op)
    assert expected == {"CheckNumerics", "If"}
    ours = next(d for _, d in graph.nodes(data=True) if d["op_type"] == "Mul")
    assert {graph.nodes[c]["op_type"] for c in ours["control_inputs"]} == expected
    output = graph.nodes[graph.graph["outputs"][0]]
    stateful = {n.op for n in body.node_def if n.op in ("AssignAddVariableOp", "PrintV2")}
    assert stateful <= {graph.nodes[c]["op_type"] for c in output["control_inputs"]}


def test_while_bodies_take_loop_carried_values_as_inputs(saved: Callable[[str], Path]) -> None:
    """Every argument of TF's While cond/body that is not a resource (a variable) changes per
    iteration: it is an input of the subgraph, never a constant weight with the first value."""
    _tf()
    from tensorflow.core.protobuf import saved_model_pb2

    path = saved("module_control_flow")
    graph = load_model(path)
    proto = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    functions = {f.signature.name: f for f in proto.meta_graphs[0].graph_def.library.function}
    checked = 0
    for _, data in graph.nodes(data=True):
        if "While" not in data["op_type"]:
            continue
        for sub_id in data["subgraph_ids"]:
            sub = graph.graph["subgraphs"][sub_id]
            tf_body = functions[sub.graph["name"]]
            carried = [a.name for a in tf_body.signature.input_arg if a.type != 20]  # 20: DT_RESOURCE
            assert [sub.nodes[n]["name"] for n in sub.graph["inputs"]] == carried
            body_consts = {n.name for n in tf_body.node_def if n.op == "Const"}
            for _, d in sub.nodes(data=True):
                for weight in d["weights"].values():
                    assert weight.name in body_consts or weight.name == "scale", weight.name
            checked += 1
    assert checked == 2


def test_control_dependencies_are_drawn_dashed(saved: Callable[[str], Path], tmp_path: Path) -> None:
    from modellens.cli import main
    from viewer.canvas_payload import build_payload

    graph = load_model(saved("module_side_effects"))
    payload = build_payload(graph)
    controls = [e for e in payload["edges"] if e[5:] == [1]]
    expected = sum(len(d.get("control_inputs", ())) for _, d in graph.nodes(data=True))
    assert len(controls) == expected > 0
    assert len(payload["edges"]) == graph.number_of_edges() + expected
    out = tmp_path / "g.dot"
    assert main(["render", str(saved("module_side_effects")), "-o", str(out), "--expand", "all"]) == 0
    assert out.read_text().count("style=dashed") == expected
    svg = tmp_path / "g.svg"
    assert main(["render", str(saved("module_side_effects")), "-o", str(svg), "--expand", "all"]) == 0
    assert svg.read_text().count('class="ml-edge ml-control"') == expected


def _zip_folders(archive: Path, folders: dict[str, Path]) -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for prefix, folder in folders.items():
            for path in folder.rglob("*"):
                handle.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return archive


def _tf_counts_of(path: Path) -> dict[str, int]:
    _, function = tf_signature(path, "serving_default")
    return dict(tf_op_counts(function))


@pytest.mark.parametrize("packed", ["zip", "folder", "folder upload"])
def test_tf_serving_layout_opens_the_highest_version(
    saved: Callable[[str], Path], tmp_path: Path, packed: str
) -> None:
    import shutil

    from converters import ModelSource, load_source

    versions = {"mymodel/1": saved("keras_sequential"), "mymodel/2": saved("module_control_flow")}
    if packed == "zip":
        source = ModelSource.from_path(_zip_folders(tmp_path / "serving.zip", versions))
    else:
        for prefix, folder in versions.items():
            shutil.copytree(folder, tmp_path / prefix)
        source = ModelSource.from_path(tmp_path / "mymodel")
        if packed == "folder upload":
            files = [
                (f"mymodel/{p.relative_to(tmp_path / 'mymodel').as_posix()}", p.read_bytes())
                for p in (tmp_path / "mymodel").rglob("*")
                if p.is_file()
            ]
            source = ModelSource.from_folder_upload(files)
    graph = load_source(source)
    assert model_summary(graph)["op_types"] == _tf_counts_of(versions["mymodel/2"])
    assert any(
        "TF Serving layout: " in w and "1, " in w and "showing the highest, " in w and "2, as TF" in w
        for w in graph.graph["warnings"]
    )


def test_zip_with_two_saved_models_says_which_it_shows(saved: Callable[[str], Path], tmp_path: Path) -> None:
    archive = _zip_folders(
        tmp_path / "two.zip", {"seq": saved("keras_sequential"), "ctl": saved("module_control_flow")}
    )
    graph = load_model(archive)
    assert model_summary(graph)["op_types"] == _tf_counts_of(saved("module_control_flow"))  # "ctl" < "seq"
    warning = next(w for w in graph.graph["warnings"] if "holds 2 SavedModels" in w)
    assert "ctl, seq" in warning and "showing ctl" in warning


def test_zip_with_the_saved_model_deep_down_opens(saved: Callable[[str], Path], tmp_path: Path) -> None:
    archive = _zip_folders(tmp_path / "deep.zip", {"a/b/c/seq": saved("keras_sequential")})
    graph = load_model(archive)
    assert model_summary(graph)["op_types"] == _tf_counts_of(saved("keras_sequential"))
    assert graph.graph["warnings"] == []


def tf_tag_sets_and_signatures(path: Path) -> dict[str, list[str]]:
    """Tag set ("a,b", sorted) → its signature keys, as TensorFlow loads them."""
    tf = _tf()
    from tensorflow.python.tools import saved_model_utils

    found = {}
    for tags in saved_model_utils.get_saved_model_tag_sets(str(path)):
        loaded = tf.saved_model.load(str(path), tags=list(tags))
        found[",".join(sorted(tags))] = sorted(loaded.signatures)
    return found


def test_info_lists_every_tag_set_and_signature(saved: Callable[[str], Path]) -> None:
    import json

    path = saved("tf1_two_tag_sets")
    expected = tf_tag_sets_and_signatures(path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "modellens", "info", str(path)]
    result = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, check=True)
    summary = json.loads(result.stdout)
    assert sorted(",".join(t) for t in summary["tag_sets"]) == sorted(expected)
    mine: dict[str, list[str]] = {}
    for signature in summary["signatures"]:
        mine.setdefault(",".join(signature["tags"]), []).append(signature["key"])
    assert {k: sorted(v) for k, v in mine.items()} == expected
    double = next(s for s in summary["signatures"] if s["key"] == "double")
    assert [i["name"] for i in double["inputs"]] == ["inp"] and [o["name"] for o in double["outputs"]] == [
        "z"
    ]
    text = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    for tags, keys in expected.items():
        for key in keys:
            assert f"[{tags}] {key}:" in text
    assert "* [serve] serving_default:" in text


def test_app_has_a_tag_set_selector(saved: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    path = saved("tf1_two_tag_sets")
    expected = tf_tag_sets_and_signatures(path)
    monkeypatch.setattr(sys, "argv", ["app.py", "--model", str(path)])
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    assert not app.exception
    tags = next(s for s in app.selectbox if s.label == "Tag set")
    assert sorted(tags.options) == sorted(expected) and tags.value == "serve"
    tags.select("custom,train").run()
    assert not app.exception
    signature = next(s for s in app.selectbox if s.label == "Signature")
    assert sorted(signature.options) == expected["custom,train"]
    signature.select("predict").run()
    assert not app.exception
    assert app.session_state.tags == "custom,train" and app.session_state.signature == "predict"
    # the URL names them, so a reload (a new session on that URL) shows the same graph
    params = {k: str(v[0] if isinstance(v, list) else v) for k, v in app.query_params.items()}
    assert params["tags"] == "custom,train" and params["signature"] == "predict"
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in params.items():
        again.query_params[key] = value
    again.run()
    assert not again.exception
    assert next(s for s in again.selectbox if s.label == "Tag set").value == "custom,train"
    assert next(s for s in again.selectbox if s.label == "Signature").value == "predict"


def tf1_partitioned(path: Path) -> Path:
    """A TF1 variable split in 3 partitions (part/w/part_0..2), stored as slices of one tensor."""
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, (None, 6), name="x")
        w = v1.get_variable(
            "part/w",
            (6, 4),
            partitioner=v1.fixed_size_partitioner(3),
            initializer=v1.random_uniform_initializer(),
        )
        y = tf.matmul(x, w, name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            signature = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature}
            )
            builder.save()
    return path


def test_partitioned_variable_values_come_from_their_slices(tmp_path: Path) -> None:
    tf = _tf()
    path = tf1_partitioned(tmp_path / "part")
    full = tf.train.load_checkpoint(str(path / "variables" / "variables")).get_tensor("part/w")
    bundle = TensorBundle.open(path / "variables")
    assert bundle is not None
    np.testing.assert_array_equal(bundle.array("part/w"), full)
    graph = load_model(path)
    store = graph.graph["tensor_store"]
    parts = sorted(n for n in store.variables if n.startswith("part/w/part_"))
    assert len(parts) == 3
    # TF's own partitions of the loaded meta graph, in row order
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        tf.compat.v1.saved_model.load(session, ["serve"], str(path))
        expected = {
            v.op.name: session.run(v)
            for v in tf.compat.v1.global_variables()
            if v.op.name.startswith("part/w")
        }
    assert sorted(expected) == parts
    for name in parts:
        np.testing.assert_array_equal(store.array(name), expected[name])
    assert graph.graph["parameters"] == full.size


def module_strings(path: Path) -> Path:
    tf = _tf()

    class Words(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = tf.Variable(tf.constant(["hello", "", "wörld"]), name="words")

        @tf.function(input_signature=[tf.TensorSpec((), tf.string, name="tok")])
        def __call__(self, tok: Any) -> Any:
            return {"w": tf.strings.join([self.words[0], tok])}

    module = Words()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


@pytest.mark.parametrize(("case", "dtype"), [("keras_sequential", "float32"), ("module_strings", "string")])
def test_corrupt_weight_bytes_fail_their_checksum_as_in_tensorflow(
    saved: Callable[[str], Path], tmp_path: Path, case: str, dtype: str
) -> None:
    import shutil

    tf = _tf()
    source = saved(case) if case in BUILDERS else module_strings(tmp_path / case)
    copy = tmp_path / "corrupt"
    shutil.copytree(source, copy)
    bundle = TensorBundle.open(copy / "variables")
    assert bundle is not None
    entry = max((e for e in bundle.entries.values() if e.dtype == dtype), key=lambda e: e.size)
    data = copy / "variables" / "variables.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    at = entry.offset + entry.size - 2  # inside the values (a string's last bytes)
    raw[at : at + 2] = bytes(b ^ 0x5A for b in raw[at : at + 2])
    data.write_bytes(bytes(raw))
    reader = tf.train.load_checkpoint(str(copy / "variables" / "variables"))
    with pytest.raises(tf.errors.OpError, match="Checksum does not match") as refused:
        reader.get_tensor(entry.key)
    stored, calculated = re.search(r"stored (\d+) vs\. calculated [^\d]*(\d+)", str(refused.value)).groups()  # type: ignore[union-attr]
    with pytest.raises(ModelLoadError, match="corrupt \\(checksum does not match") as caught:
        TensorBundle.open(copy / "variables").array(entry.key)  # type: ignore[union-attr]
    assert "\n" not in str(caught.value)
    assert f"stored {stored}, computed {calculated}" in str(caught.value)  # the same CRC-32C as TF's
    for key in bundle.entries:  # every other entry still reads, and equals TensorFlow's values
        if key != entry.key:
            mine, theirs = bundle.array(key), reader.get_tensor(key)
            assert np.asarray(mine).tolist() == np.asarray(theirs, dtype=mine.dtype).tolist()


def module_lookup_table(path: Path) -> Path:
    tf = _tf()

    class Lookup(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            keys, values = tf.constant(["a", "b", "c"]), tf.constant([1, 2, 3], tf.int64)
            self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), -1)
            self.scale = tf.Variable(tf.constant([2], tf.int64), name="scale")

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="tok")])
        def __call__(self, tok: Any) -> Any:
            return {"ids": self.table.lookup(tok) * self.scale}

    module = Lookup()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def test_lookup_tables_are_resource_handles_not_ops(tmp_path: Path) -> None:
    path = module_lookup_table(tmp_path / "lookup")
    graph = load_model(path)
    _, function = tf_signature(path, "serving_default")
    summary = model_summary(graph)
    assert summary["op_types"] == dict(tf_op_counts(function))  # TF: the table is a captured input
    assert "HashTableV2" not in summary["op_types"]
    assert summary["parameters"] == sum(int(np.size(v.numpy())) for v in function.variables)
    find = next(d for _, d in graph.nodes(data=True) if d["op_type"] == "LookupTableFindV2")
    handle = find["weights"][0]
    assert handle.dtype == "resource"
    with pytest.raises(ModelLoadError, match="HashTableV2 resource handle"):
        graph.graph["tensor_store"].array(handle.name)


@pytest.mark.parametrize("export", [True, False])
def test_keras_groups_are_named_after_the_layer_that_owns_the_weights(tmp_path: Path, export: bool) -> None:
    """Layers `dense` and `dense_1`: TF's trace runs them under scopes `dense_1` and `dense_1_2`;
    the groups must carry the Keras layer names, as Keras reports them."""
    _tf()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(6)
    x = keras.Input((4, 2), name="x")
    h = keras.layers.Flatten(name="flat")(x)
    h = keras.layers.Dense(3, name="dense")(h)
    y = keras.layers.Dense(2, name="dense_1")(h)
    model = keras.Model(x, y, name="m")
    path = tmp_path / "clash"
    if export:
        model.export(str(path), verbose=False)
    else:
        tf.saved_model.save(model, str(path))
    graph = load_model(path)
    for layer in model.layers:
        if not layer.weights:
            continue
        kernel = layer.kernel.path
        users = [d for _, d in graph.nodes(data=True) if any(w.name == kernel for w in d["weights"].values())]
        assert users and all(d["namespace"].split("/")[-1] == layer.name for d in users), (kernel, users)
    spaces = {part for _, d in graph.nodes(data=True) for part in d["namespace"].split("/")}
    assert {model.name, "flat"} <= spaces
    assert not spaces & {"dense_1_2", "m_1", "flat_1"}


@pytest.mark.parametrize(
    "args",
    [
        ("info", "sample_models/cnn_branches.onnx", "--signature", "serving_default"),
        ("info", "sample_models/cnn_branches.onnx", "--json", "--tags", "serve"),
        ("render", "sample_models/cnn_dynamic_batch.pt2", "-o", "OUT.svg", "--signature", "x"),
    ],
)
def test_savedmodel_options_on_other_formats_are_user_errors(args: tuple[str, ...], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = tuple(str(tmp_path / a) if a == "OUT.svg" else a for a in args)
    result = subprocess.run(
        [sys.executable, "-m", "modellens", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "applies to TensorFlow SavedModels only" in lines[0]
    assert not (tmp_path / "OUT.svg").exists()


@pytest.mark.parametrize(
    "part", ["variables/variables.index", "variables/variables.data-00000-of-00001", "fingerprint.pb"]
)
def test_a_piece_of_a_saved_model_names_the_folder_to_open(part: str) -> None:
    with pytest.raises(
        UnsupportedFormatError, match=r"of a TensorFlow SavedModel.*open the SavedModel folder"
    ):
        load_model(SAMPLE / part)
    from converters import ModelSource, load_source

    with pytest.raises(UnsupportedFormatError, match=r"of a TensorFlow SavedModel.*upload it as a \.zip"):
        load_source(ModelSource.from_uploads([(Path(part).name, (SAMPLE / part).read_bytes())]))


def test_float32_attributes_print_as_stored() -> None:
    """A float32 constant folded into an attribute reads as TensorFlow prints it (0.001), not as the
    float64 expansion of the float32 (0.0010000000474974513)."""
    graph = load_model(SAMPLE)
    floats = [
        v for _, d in graph.nodes(data=True) for v in d["attributes"].values() if isinstance(v, float)
    ]
    assert floats
    for value in floats:
        assert float(np.float32(value)) == float(np.float32(str(np.float32(value))))
        assert str(value) == str(np.float32(value))
