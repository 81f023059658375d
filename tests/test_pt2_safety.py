"""Crafted .pt2 files must never run code in ModelLens, whichever door they come in by (API, CLI,
a .zip holding them, an app upload); torch.export.load itself does run them (pinned below, so these
tests mean something). Also: a transformers output class that is not imported, edited JSON headers,
truncation, and an archive without a program."""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modellens
from converters import ModelLoadError

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.register_buffer("scale", torch.ones(4, 1, 1))

    def forward(self, x: Any, y: Any) -> Any:
        return torch.relu(self.conv(x)) * self.scale + y.mean(dim=1).view(-1, 1, 1, 1)


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .pt2 with weights, a buffer, a dynamic batch (symbolic shapes) and torch-written guards."""
    torch.manual_seed(0)
    auto = torch.export.Dim.AUTO
    program = torch.export.export(
        _Net(), (torch.randn(2, 3, 8, 8), torch.randn(2, 4)), dynamic_shapes=({0: auto}, {0: auto})
    )
    path = tmp_path_factory.mktemp("honest") / "net.pt2"
    torch.export.save(program, path)
    return path


class _Marker:
    """Unpickling this makes the directory ``path``: proof that the file's code ran."""

    def __init__(self, path: Path, returned: str = "None") -> None:
        self.path, self.returned = path, returned

    def __reduce__(self) -> tuple[Any, ...]:
        code = f"__import__('os').mkdir({str(self.path)!r}) or {self.returned}"
        return (builtins.eval, (code,))


def _tsave(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _rewrite(
    src: Path, out: Path, edit: Callable[[str, bytes], bytes | None], extra: dict[str, bytes]
) -> Path:
    with zipfile.ZipFile(src) as source, zipfile.ZipFile(out, "w") as target:
        root = source.namelist()[0].split("/", 1)[0]
        for item in source.infolist():
            data = edit(item.filename.split("/", 1)[1], source.read(item))
            if data is not None:
                target.writestr(item.filename, data)
        for name, data in extra.items():
            target.writestr(f"{root}/{name}", data)
    return out


def _json_edit(name: str, change: Callable[[Any], Any]) -> Callable[[str, bytes], bytes]:
    def edit(entry: str, data: bytes) -> bytes:
        return json.dumps(change(json.loads(data))).encode() if entry == name else data

    return edit


def _use_pickle(config: dict[str, Any]) -> dict[str, Any]:
    entry = next(iter(config["config"].values()))
    entry.update(use_pickle=True, path_name="weight_evil")
    return config


def _opaque(config: dict[str, Any]) -> dict[str, Any]:
    config["config"]["evil"] = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": False}
    return config


def _sympy(document: dict[str, Any], marker: Path) -> dict[str, Any]:
    text = json.dumps(document)
    symbol = "Symbol('s"
    start = text.index(symbol)
    code = f"__import__('os').mkdir({str(marker)!r}) or "
    return dict(json.loads(text[:start] + code.replace('"', '\\"') + text[start:]))


def _sympy_string(document: dict[str, Any], marker: Path) -> dict[str, Any]:
    """Max("code") passes the string to sympify, which evals it (most sympy classes do)."""
    text = json.dumps(document)
    start = text.index("Symbol('s")
    end = text.index(")", start) + 1
    code = f"Max(\"__import__('os').mkdir({str(marker)!r}) or 2\", {text[start:end]})"
    return dict(json.loads(text[:start] + code.replace('"', '\\"') + text[end:]))


def _guard(document: dict[str, Any], marker: Path) -> dict[str, Any]:
    document["guards_code"] = [f"__import__('os').mkdir({str(marker)!r}) or True"]
    return document


MODEL = "models/model.json"
SAMPLE_INPUTS = "data/sample_inputs/"
STEALTH = "((__import__('torch').randn(2,3,8,8), __import__('torch').randn(2,4)), {})"


def _sample_inputs(src: Path, out: Path, marker: Path) -> Path:
    return _rewrite(src, out, lambda n, d: _tsave(_Marker(marker)) if n.startswith(SAMPLE_INPUTS) else d, {})


def _sample_inputs_stealth(src: Path, out: Path, marker: Path) -> Path:
    """Returns valid inputs, so torch.export.load opens the file without a word."""
    payload = _tsave(_Marker(marker, STEALTH))
    return _rewrite(src, out, lambda n, d: payload if n.startswith(SAMPLE_INPUTS) else d, {})


def _weight_use_pickle(src: Path, out: Path, marker: Path) -> Path:
    edit = _json_edit("data/weights/model_weights_config.json", _use_pickle)
    return _rewrite(src, out, edit, {"data/weights/weight_evil": _tsave(_Marker(marker))})


def _opaque_constant(src: Path, out: Path, marker: Path) -> Path:
    edit = _json_edit("data/constants/model_constants_config.json", _opaque)
    return _rewrite(src, out, edit, {"data/constants/opaque_obj_0": pickle.dumps(_Marker(marker))})


def _legacy_weights_pt(src: Path, out: Path, marker: Path) -> Path:
    return _rewrite(src, out, lambda n, d: d, {"data/weights/model.pt": _tsave(_Marker(marker))})


def _sympy_expression(src: Path, out: Path, marker: Path) -> Path:
    return _rewrite(src, out, _json_edit(MODEL, lambda d: _sympy(d, marker)), {})


def _sympy_string_argument(src: Path, out: Path, marker: Path) -> Path:
    return _rewrite(src, out, _json_edit(MODEL, lambda d: _sympy_string(d, marker)), {})


def _guards_code(src: Path, out: Path, marker: Path) -> Path:
    return _rewrite(src, out, _json_edit(MODEL, lambda d: _guard(d, marker)), {})


# id -> (makes the crafted file from the honest one and the marker path, opens (True) or is refused)
EVIL: dict[str, tuple[Callable[[Path, Path, Path], Path], bool]] = {
    "sample_inputs": (_sample_inputs, True),
    "sample_inputs_stealth": (_sample_inputs_stealth, True),
    "weight_use_pickle": (_weight_use_pickle, False),
    "opaque_constant": (_opaque_constant, False),
    "legacy_weights_pt": (_legacy_weights_pt, False),
    "sympy_expression": (_sympy_expression, False),
    "sympy_string_argument": (_sympy_string_argument, False),
    "guards_code": (_guards_code, False),
}


def _evil(kind: str, honest: Path, tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / f"PWNED_{kind}"
    return EVIL[kind][0](honest, tmp_path / f"{kind}.pt2", marker), marker


@pytest.mark.parametrize("kind", list(EVIL))
def test_crafted_files_never_run_code(kind: str, honest: Path, tmp_path: Path) -> None:
    path, marker = _evil(kind, honest, tmp_path)
    opens = EVIL[kind][1]
    if opens:
        graph = modellens.load(path)
        assert modellens.summarize(graph)["op_types"]["aten.conv2d.default"] == 1
    else:
        with pytest.raises(ModelLoadError, match="do not load it") as err:
            modellens.load(path)
        assert "\n" not in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["sample_inputs", "sympy_expression", "sympy_string_argument"])
def test_torch_export_load_itself_runs_them(kind: str, honest: Path, tmp_path: Path) -> None:
    """The hazard is real in this torch (if torch fixes it, these cases still pass ModelLens's test)."""
    path, marker = _evil(kind, honest, tmp_path)
    with contextlib.suppress(Exception):  # the payload has run by the time torch fails
        torch.export.load(path)
    if not marker.exists():
        pytest.skip(f"torch {torch.__version__} no longer runs the {kind} payload")


def test_honest_guards_and_symbols_pass_the_check(honest: Path) -> None:
    with zipfile.ZipFile(honest) as archive:
        document = json.loads(archive.read(next(n for n in archive.namelist() if n.endswith(MODEL))))
    assert document["guards_code"] and "Symbol(" in json.dumps(document)  # torch wrote both
    info = modellens.summarize(modellens.load(honest))
    assert [len(i["shape"]) for i in info["inputs"]] == [4, 2] and info["dim_ranges"]


@pytest.mark.parametrize("kind", ["sample_inputs_stealth", "weight_use_pickle"])
def test_cli_and_zip_bundle_never_run_code(kind: str, honest: Path, tmp_path: Path) -> None:
    path, marker = _evil(kind, honest, tmp_path)
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(path, "m/model.pt2")
    for target in (path, bundle):
        done = subprocess.run(
            [sys.executable, "-m", "modellens", "info", str(target)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=300,
        )
        assert done.returncode == (0 if EVIL[kind][1] else 2), done.stderr
        assert not marker.exists()
        if done.returncode:
            assert done.stderr.count("\n") == 1 and "would run code" in done.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["sample_inputs", "weight_use_pickle"])
def test_app_upload_never_runs_code(kind: str, honest: Path, tmp_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    from converters import ModelSource
    from viewer import app_state

    path, marker = _evil(kind, honest, tmp_path)
    app_state._upload_store()["evil"] = ModelSource.from_uploads([("innocent.pt2", path.read_bytes())])
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["model"] = "upload:evil"
    app.run()
    assert not app.exception
    assert not marker.exists()
    errors = " ".join(str(e.value) for e in app.error).replace("\\", "")
    assert ("would run code" in errors) != EVIL[kind][1]


# ----------------------------------------------------------------- a pytree class not imported

_SAVE_BERT = """
import json, sys, torch, transformers
from tests.test_exported_program_cases import expected_inputs, expected_ops, expected_outputs
torch.manual_seed(0)
config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
model = transformers.BertModel(config).eval()
kwargs = {"input_ids": torch.randint(0, 100, (2, 8)), "attention_mask": torch.ones(2, 8, dtype=torch.int64)}
program = torch.export.export(model, (), kwargs)
torch.export.save(program, sys.argv[1])
tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
with torch.no_grad():
    result = model(**kwargs)
outputs = [("output['" + k + "']", str(v.dtype).removeprefix("torch."), list(v.shape))
    for k, v in result.items()]
json.dump({"op_types": expected_ops(program), "inputs": expected_inputs(program),
    "outputs": outputs, "parameters": sum(t.numel() for t in tensors.values()),
    "class": type(result).__module__ + "." + type(result).__name__}, open(sys.argv[2], "w"))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_transformers_output_opens_in_a_fresh_process(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    path, expected_file = tmp_path / "bert.pt2", tmp_path / "expected.json"
    subprocess.run(
        [sys.executable, "-c", _SAVE_BERT, str(path), str(expected_file)], check=True, env=env, timeout=600
    )
    expected = json.loads(expected_file.read_text())
    done = subprocess.run(
        [sys.executable, "-m", "modellens", "info", "--json", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["op_types"] == expected["op_types"]
    assert info["inputs"] == expected["inputs"]
    assert [(o["name"], o["dtype"], o["shape"]) for o in info["outputs"]] == [
        tuple(o) for o in expected["outputs"]
    ]
    assert info["parameters"] == expected["parameters"]
    (warning,) = info["warnings"]
    assert expected["class"] in warning and "warnings above" not in done.stdout + done.stderr


# ------------------------------------------------------------------------- damaged archives

_WRONG_VALUES: list[Any] = ["x", 1.5, [], {}, None, True, -1]
_FIELDS = [
    "schema_version",
    "schema_version.major",
    "schema_version.minor",
    "opset_version",
    "opset_version.aten",
    "torch_version",
    "verifiers",
    "range_constraints",
    "graph_module",
    "graph_module.graph",
    "graph_module.signature",
    "graph_module.module_call_graph",
    "graph_module.graph.nodes",
    "graph_module.graph.tensor_values",
    "graph_module.graph.outputs",
    "guards_code",
]


def _set(document: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    node = document
    for part in parents:
        node = node[part]
    node[last] = value
    return document


@pytest.mark.parametrize("field", _FIELDS)
def test_every_edited_json_field_opens_or_is_a_corrupt_pt2(field: str, honest: Path, tmp_path: Path) -> None:
    """Each wrong-typed value: what torch.export.load says decides ours — where torch fails, ours is a
    one-line ModelLoadError (exit 2), never another exception; where torch opens it, ours opens it
    or names the bad field."""
    for index, value in enumerate(_WRONG_VALUES):
        out = _rewrite(
            honest, tmp_path / f"m{index}.pt2", _json_edit(MODEL, lambda d, v=value: _set(d, field, v)), {}
        )
        try:
            torch.export.load(out)
            torch_opens = True
        except Exception:  # noqa: BLE001 - any failure of torch's own loader
            torch_opens = False
        try:
            modellens.load(out)
        except ModelLoadError as err:
            assert "\n" not in str(err) and err.fix, (field, value)
            assert torch_opens is False or field.split(".")[-1] in str(err), (field, value, str(err))
        else:
            assert torch_opens, (field, value)


def test_an_edited_header_exits_2_in_the_cli(honest: Path, tmp_path: Path) -> None:
    out = _rewrite(
        honest, tmp_path / "bad.pt2", _json_edit(MODEL, lambda d: _set(d, "opset_version.aten", "ten")), {}
    )
    done = subprocess.run(
        [sys.executable, "-m", "modellens", "info", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: bad.pt2 is a truncated or corrupt .pt2 archive (opset_version.aten")


@pytest.mark.parametrize("keep", [0.02, 0.3, 0.6, 0.9, 0.95, 0.99, 0.999])
def test_a_cut_archive_is_reported_as_a_cut_pt2(keep: float, honest: Path, tmp_path: Path) -> None:
    data = honest.read_bytes()
    cut = tmp_path / "cut.pt2"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelLoadError, match=r"truncated or corrupt \.pt2 archive"):
        modellens.load(cut)


def test_a_sample_inputs_zip_is_nested_uncompressed(honest: Path) -> None:
    """Why the cut case matters: torch stores the sample inputs as a whole zip, so a cut file ends
    in another zip's end-of-directory record."""
    with zipfile.ZipFile(honest) as archive:
        (name,) = [n for n in archive.namelist() if "/sample_inputs/" in n]
        assert archive.read(name)[:4] == b"PK\x03\x04"


def test_an_archive_without_a_program_says_so(honest: Path, tmp_path: Path) -> None:
    out = _rewrite(honest, tmp_path / "empty.pt2", lambda n, d: None if n == MODEL else d, {})
    with pytest.raises(ModelLoadError, match=r"without an exported program in it \(no models/\*\.json\)"):
        modellens.load(out)


@pytest.mark.timeout(300)
def test_the_app_keeps_the_previous_model_after_an_edited_pt2(honest: Path, tmp_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    from converters import ModelSource
    from viewer import app_state

    out = _rewrite(
        honest, tmp_path / "bad.pt2", _json_edit(MODEL, lambda d: _set(d, "opset_version.aten", "ten")), {}
    )
    app_state._upload_store()["bad_header"] = ModelSource.from_uploads([("bad.pt2", out.read_bytes())])
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["model"] = "sample:cnn_dynamic_batch.pt2"
    app.run()
    assert app.session_state.model_key == "sample:cnn_dynamic_batch.pt2"
    app.session_state.model_key = "upload:bad_header"
    app.run()
    assert not app.exception
    errors = " ".join(str(e.value) for e in app.error).replace("\\", "")
    assert "truncated or corrupt .pt2 archive (opset_version.aten" in errors
    assert app.session_state.model_key == "sample:cnn_dynamic_batch.pt2"


def test_a_missing_weight_file_is_named(honest: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(honest) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        config = json.loads(archive.read(f"{root}/data/weights/model_weights_config.json"))["config"]
    name, meta = next(iter(config.items()))
    out = _rewrite(
        honest,
        tmp_path / "gone.pt2",
        lambda n, d: None if n == f"data/weights/{meta['path_name']}" else d,
        {},
    )
    with pytest.raises(
        ModelLoadError, match=rf"its weight '{re.escape(name)}' \(data/weights/\w+\) is missing"
    ):
        modellens.load(out)


def test_an_aten_operator_this_torch_lacks_is_named(honest: Path, tmp_path: Path) -> None:
    def rename(document: dict[str, Any]) -> dict[str, Any]:
        for node in document["graph_module"]["graph"]["nodes"]:
            if node["target"] == "torch.ops.aten.relu.default":
                node["target"] = "torch.ops.aten.relu_from_the_future.default"
        return document

    assert not hasattr(torch.ops.aten, "relu_from_the_future")
    out = _rewrite(honest, tmp_path / "future.pt2", _json_edit(MODEL, rename), {})
    with pytest.raises(ModelLoadError, match=r"does not have: aten\.relu_from_the_future\.default"):
        modellens.load(out)


def _legacy_zip(honest: Path, out: Path, state_dict: Any, example_inputs: Any) -> Path:
    """The PyTorch 2.3-2.7 layout: serialized_exported_program.json beside serialized_*.pt."""
    with zipfile.ZipFile(honest) as archive:
        document = archive.read(next(n for n in archive.namelist() if n.endswith(MODEL)))
    with zipfile.ZipFile(out, "w") as target:
        target.writestr("serialized_exported_program.json", document)
        target.writestr("serialized_state_dict.pt", _tsave(state_dict))
        target.writestr("serialized_constants.pt", _tsave({}))
        target.writestr("serialized_example_inputs.pt", _tsave(example_inputs))
        target.writestr("version", "8.20")
    return out


def test_the_legacy_layout_opens_without_unpickling_its_inputs(honest: Path, tmp_path: Path) -> None:
    program = torch.export.load(honest)
    marker = tmp_path / "PWNED_legacy_inputs"
    path = _legacy_zip(honest, tmp_path / "old.pt2", dict(program.state_dict), _Marker(marker))
    info = modellens.summarize(modellens.load(path))
    assert info["parameters"] == sum(t.numel() for t in program.state_dict.values())
    assert info["op_types"]["aten.conv2d.default"] == 1
    assert not marker.exists()


def test_the_legacy_layout_refuses_a_pickled_state_dict_that_runs_code(honest: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED_legacy_weights"
    path = _legacy_zip(honest, tmp_path / "old.pt2", _Marker(marker, "{}"), {})
    with pytest.raises(ModelLoadError, match=r"safe loader refuses \(it calls eval\).*do not load it"):
        modellens.load(path)
    assert not marker.exists()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["sample_inputs_stealth", "weight_use_pickle", "guards_code"])
def test_the_runtime_worker_never_runs_code_either(kind: str, honest: Path, tmp_path: Path) -> None:
    """The run path loads the program in a worker process: the same safe loader, not torch.export.load."""
    from converters import ModelLensError
    from runtime.engine import run_model
    from runtime.spec_file import loads_spec
    from runtime.worker import WorkerPool

    path, marker = _evil(kind, honest, tmp_path)
    spec = loads_spec(
        "inputs:\n  - input_name: x\n    shape: 2x3x8x8xf32\n  - input_name: y\n    shape: 2x4xf32\n"
    )
    with WorkerPool(max_workers=1, idle_timeout_s=60) as pool:
        if EVIL[kind][1]:
            result = run_model(path, spec=spec, pool=pool)
            assert [o.shape for o in result.outputs] == [(2, 4, 6, 6)]
        else:
            with pytest.raises(ModelLensError, match="do not load it"):
                run_model(path, spec=spec, pool=pool)
    assert not marker.exists()


class _Scripted(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).relu()


@pytest.mark.parametrize("entry", ["data.pkl", "constants.pkl"])
@pytest.mark.parametrize("payload", ["posix.mkdir", "builtins.eval"])
def test_a_crafted_torchscript_archive_never_runs_code(entry: str, payload: str, tmp_path: Path) -> None:
    """torch.jit.load unpickles data.pkl/constants.pkl with TorchScript's own unpickler, which
    resolves only torch's globals: a swapped-in payload is refused, never called."""
    honest = tmp_path / "scripted.pt"
    torch.jit.script(_Scripted()).save(str(honest))
    marker = tmp_path / f"PWNED_{entry}"
    call = _Marker(marker) if payload == "builtins.eval" else _Call(os.mkdir, str(marker))
    out = tmp_path / "crafted.pt"
    with zipfile.ZipFile(honest) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = (
                pickle.dumps(call, protocol=2) if item.filename.endswith("/" + entry) else source.read(item)
            )
            target.writestr(item, data)
    with pytest.raises(ModelLoadError):
        modellens.load(out)
    with contextlib.suppress(Exception):
        torch.jit.load(str(out))
    assert not marker.exists()


class _Call:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)
