"""Other frameworks' model files: each is recognised from its bytes and told what it is and what to do.

Every row builds a small file in code the way the format's writer lays it out. Protobuf-based
formats (Core ML, PaddlePaddle, Caffe) are encoded by the protobuf library from descriptors with
the formats' own field numbers (Model.proto, framework.proto, caffe.proto). Signatures were checked
against files the real tools wrote (coremltools' Model_pb2, ``openvino.save_model``, ``mnnconvert``,
ncnn's ``Net.load_param``/``load_param_bin``/``load_model``) and against Netron's readers; those
checks are listed in the docstring of each builder; PaddlePaddle against ``save_inference_model``.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import modellens
from converters import ModelSource, onnx_format, registry
from converters.errors import NotAModelError, UnsupportedFormatError

ROOT = Path(__file__).resolve().parents[1]
Field = tuple[str, int, str]  # (name, number, "int32" | "string" | message type name)


def _messages(package: str, specs: dict[str, list[Field]]) -> dict[str, type]:
    """Message classes for a few fields of a format's .proto (the protobuf library encodes them)."""
    file = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto2")
    kinds = {"int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32}
    kinds["string"] = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
    for name, fields in specs.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind in fields:
            field = message.field.add(name=field_name, number=number)
            field.label = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
            if kind in kinds:
                field.type = kinds[kind]
                if kind == "int32":
                    field.label = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
            else:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                field.type_name = f".{package}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
        for name in specs
    }


def coreml_model(tmp: Path) -> Path:
    """Model.proto: specificationVersion = 1, description = 2, neuralNetwork = 500. coremltools'
    Model_pb2 writes ``08 04 12 ...`` for the same content, as here."""
    classes = _messages(
        "coreml",
        {
            "Feature": [("name", 1, "string")],
            "Description": [("input", 1, "Feature"), ("output", 10, "Feature")],
            "Layer": [("name", 1, "string")],
            "NeuralNetwork": [("layers", 1, "Layer")],
            "Model": [
                ("specificationVersion", 1, "int32"),
                ("description", 2, "Description"),
                ("neuralNetwork", 500, "NeuralNetwork"),
            ],
        },
    )
    model = classes["Model"](specificationVersion=4)
    model.description.add().input.add(name="x")
    model.neuralNetwork.add().layers.add(name="relu")
    path = tmp / "model.mlmodel"
    path.write_bytes(model.SerializeToString())
    assert path.read_bytes()[:3] == b"\x08\x04\x12"
    return path


def paddle_program(tmp: Path) -> Path:
    """framework.proto: ProgramDesc.blocks = 1; BlockDesc idx = 1, parent_idx = 2 (block 0 has -1).
    paddlepaddle 3.3 (``FLAGS_enable_pir_api=0``) wrote ``0a f1 13 08 00 10 ff .. ff 01`` likewise."""
    classes = _messages(
        "paddle",
        {
            "VarDesc": [("name", 1, "string")],
            "BlockDesc": [("idx", 1, "int32"), ("parent_idx", 2, "int32"), ("vars", 3, "VarDesc")],
            "ProgramDesc": [("blocks", 1, "BlockDesc")],
        },
    )
    program = classes["ProgramDesc"]()
    block = program.blocks.add(idx=0, parent_idx=-1)
    block.vars.add(name="feed")
    block.vars.add(name="conv2d_0.w_0")
    path = tmp / "inference.pdmodel"
    path.write_bytes(program.SerializeToString())
    return path


def paddle_params(tmp: Path) -> Path:
    """A LoDTensor stream: uint32 version 0, uint64 lod level 0, uint32 tensor version 0 (16 zero
    bytes, Netron's test), the TensorDesc's length and bytes (FP32, dims [3]), the data: the bytes
    paddlepaddle 3.3's ``save_inference_model`` wrote for a 3-element bias."""
    path = tmp / "inference.pdiparams"
    desc = struct.pack("<i", 4) + b"\x08\x05\x10\x03"
    path.write_bytes(bytes(16) + desc + np.ones(3, np.float32).tobytes())
    return path


def paddle_pir_program(tmp: Path) -> Path:
    """Paddle 3 saves programs as PIR JSON (``inference.json``); this is how its file starts."""
    path = tmp / "inference.json"
    path.write_text(
        '{"base_code":{"magic":"pir","trainable":true,"version":4},"program":{"regions":[{"#":"region_0",'
        '"blocks":[{"#":"block_0","args":[],"ops":[]}]}]}}'
    )
    return path


def _caffe_net(tmp: Path, name: str, legacy: bool) -> Path:
    """caffe.proto: NetParameter name = 1, layers (V1) = 2, input = 3, layer = 100."""
    classes = _messages(
        "caffe",
        {
            "LayerParameter": [("name", 1, "string"), ("type", 2, "string"), ("bottom", 3, "string")],
            "NetParameter": [
                ("name", 1, "string"),
                ("layers", 2, "LayerParameter"),
                ("input", 3, "string"),
                ("layer", 100, "LayerParameter"),
            ],
        },
    )
    net = classes["NetParameter"]()
    net.name.append("LeNet")
    layers = net.layers if legacy else net.layer
    layers.add(name="conv1", type="Convolution").bottom.append("data")
    layers.add(name="relu1", type="ReLU").bottom.append("conv1")
    path = tmp / name
    path.write_bytes(net.SerializeToString())
    return path


def caffe_model(tmp: Path) -> Path:
    return _caffe_net(tmp, "lenet_iter_10000.caffemodel", legacy=False)


def caffe_v1_model(tmp: Path) -> Path:
    return _caffe_net(tmp, "old.caffemodel", legacy=True)


def caffe_prototxt(tmp: Path) -> Path:
    path = tmp / "deploy.prototxt"
    path.write_text(
        'name: "LeNet"\ninput: "data"\ninput_shape { dim: 1 dim: 1 dim: 28 dim: 28 }\n'
        'layer {\n  name: "conv1"\n  type: "Convolution"\n  bottom: "data"\n  top: "conv1"\n}\n'
    )
    return path


def caffe_solver(tmp: Path) -> Path:
    path = tmp / "solver.prototxt"
    path.write_text('net: "train_val.prototxt"\nbase_lr: 0.01\nmax_iter: 450000\n')
    return path


def tensorrt_plan(tmp: Path) -> Path:
    """'ftrt' + version + size, the layout Netron's tensorrt.js reads (TensorRT 8.6+ writes 'ftrt')."""
    path = tmp / "model.engine"
    path.write_bytes(b"ftrt" + struct.pack("<IIQ", 0x0057, 0, 1024) + bytes(64))
    return path


def tensorrt_plan_old(tmp: Path) -> Path:
    path = tmp / "model.plan"
    path.write_bytes(b"ptrt" + struct.pack("<IIIQ", 0x002B, 0, 0, 1024) + bytes(64))
    return path


def tensorrt_with_metadata(tmp: Path) -> Path:
    """A uint32 length and JSON metadata before the plan (as Ultralytics exports write engines)."""
    meta = b'{"description": "Ultralytics YOLO", "batch": 1, "imgsz": [640, 640]}'
    path = tmp / "yolo.engine"
    path.write_bytes(struct.pack("<I", len(meta)) + meta + b"ftrt" + struct.pack("<IIQ", 0x0059, 0, 1024))
    return path


OPENVINO_XML = (
    '<?xml version="1.0"?>\n<net name="onnx_Frontend_IR" version="11">\n\t<layers>\n'
    '\t\t<layer id="0" name="X" type="Parameter" version="opset1">\n'
    '\t\t\t<data shape="1,3,8,8" element_type="f32" />\n\t\t</layer>\n\t</layers>\n</net>\n'
)  # the start of what openvino.save_model writes


def openvino_xml(tmp: Path) -> Path:
    path = tmp / "model.xml"
    path.write_text(OPENVINO_XML)
    return path


def openvino_bin(tmp: Path) -> Path:
    """Raw weights with no signature: the .xml beside it names the format."""
    openvino_xml(tmp)
    path = tmp / "model.bin"
    path.write_bytes(np.linspace(-1, 1, 54, dtype=np.float32).tobytes())
    return path


NCNN_PARAM = (
    "7767517\n2 2\nInput            data   0 1 data 0=8 1=8 2=3\nReLU             relu   1 1 data out\n"
)


def ncnn_param(tmp: Path) -> Path:
    """Text param: magic 7767517, then layer and blob counts (ncnn's Net.load_param accepts it)."""
    path = tmp / "model.param"
    path.write_text(NCNN_PARAM)
    return path


def ncnn_param_bin(tmp: Path) -> Path:
    """Binary param: int32 magic 7767517, counts, layers (Input = 16, ReLU = 26), params end -233
    (ncnn's Net.load_param_bin returns 0 for exactly these bytes)."""
    data = struct.pack("<iii", 7767517, 2, 2) + struct.pack("<iiiii", 16, 0, 1, 0, -233)
    path = tmp / "model.param.bin"
    path.write_bytes(data + struct.pack("<iiiiii", 26, 1, 1, 0, 1, -233))
    return path


def _ncnn_weights(tmp: Path, tag: int, name: str) -> Path:
    path = tmp / name
    path.write_bytes(struct.pack("<I", tag) + np.float16([0.5, 0.25]).tobytes())
    return path


def ncnn_fp16_weights(tmp: Path) -> Path:
    """Blob tag 0x01306B47: fp16 (ncnn's Net.load_model accepts it for a 1x1 convolution)."""
    return _ncnn_weights(tmp, 0x01306B47, "squeezenet.bin")


def ncnn_int8_weights(tmp: Path) -> Path:
    return _ncnn_weights(tmp, 0x000D4B38, "quant.bin")


def ncnn_scaled_weights(tmp: Path) -> Path:
    """Blob tag 0x0002C056: fp32 with extra scaling (ncnn's Net.load_model accepts it)."""
    return _ncnn_weights(tmp, 0x0002C056, "scaled.bin")


def ncnn_plain_weights(tmp: Path) -> Path:
    """Flag 0 (raw fp32) has no signature: the .param beside it names the format."""
    ncnn_param(tmp)
    path = tmp / "model.bin"
    path.write_bytes(bytes(4) + np.float32([0.1, -0.2, 0.3]).tobytes())
    return path


MNN_HEAD = bytes.fromhex("200000001c002400080000000c00100014000500060018001c00070000002000")


def mnn_model(tmp: Path) -> Path:
    """A flatbuffer whose root table offset is 0x20 (mnnconvert of a Conv+Relu ONNX model wrote
    ``20 00 00 00``; Netron accepts 0x18, 0x1C and 0x20 for .mnn files)."""
    path = tmp / "model.mnn"
    path.write_bytes(MNN_HEAD + bytes(200))
    return path


CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("tensorrt_ftrt", tensorrt_plan, "TensorRT engine"),
    ("tensorrt_ptrt", tensorrt_plan_old, "TensorRT engine"),
    ("tensorrt_metadata", tensorrt_with_metadata, "TensorRT engine"),
    ("openvino_xml", openvino_xml, "OpenVINO IR model definition"),
    ("openvino_bin", openvino_bin, "weights of the OpenVINO IR model model.xml"),
    ("coreml", coreml_model, "Core ML model"),
    ("paddle_pdmodel", paddle_program, "PaddlePaddle program"),
    ("paddle_pdiparams", paddle_params, "PaddlePaddle parameters"),
    ("paddle_pir_json", paddle_pir_program, "PaddlePaddle 3 program"),
    ("caffe_caffemodel", caffe_model, "Caffe model"),
    ("caffe_v1_caffemodel", caffe_v1_model, "Caffe model"),
    ("caffe_prototxt", caffe_prototxt, "Caffe network definition"),
    ("caffe_solver", caffe_solver, "Caffe solver"),
    ("ncnn_param", ncnn_param, "ncnn network definition"),
    ("ncnn_param_bin", ncnn_param_bin, "ncnn binary network definition"),
    ("ncnn_fp16_bin", ncnn_fp16_weights, "ncnn weights"),
    ("ncnn_int8_bin", ncnn_int8_weights, "ncnn weights"),
    ("ncnn_scaled_bin", ncnn_scaled_weights, "ncnn weights"),
    ("ncnn_plain_bin", ncnn_plain_weights, "weights of the ncnn model model.param"),
    ("mnn", mnn_model, "MNN model"),
]


@pytest.mark.parametrize(("builder", "what"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_foreign_model_is_named_with_a_fix(
    builder: Callable[[Path], Path], what: str, tmp_path: Path
) -> None:
    path = builder(tmp_path)
    source = ModelSource.from_path(path)
    assert not onnx_format.match(source)
    with pytest.raises(NotAModelError) as err:
        registry.check_openable(source)
    assert what in err.value.message
    assert err.value.fix and "\n" not in err.value.message
    with pytest.raises(NotAModelError):
        modellens.load(path)


def test_cli_names_a_foreign_model_in_one_line(tmp_path: Path) -> None:
    path = coreml_model(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "modellens", "info", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Core ML" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("model.bin", MNN_HEAD + bytes(200)),  # MNN's bytes alone are a generic flatbuffer
        ("model.bin", bytes(64)),  # zeros without a .pdmodel beside them
        ("weights.bin", np.float32([0.1, -0.2, 0.3, 0.4]).tobytes()),  # no .xml / .param beside it
        ("model.engine", b"xtrt" + bytes(60)),
    ],
)
def test_lookalikes_are_not_claimed(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnsupportedFormatError):
        registry.check_openable(ModelSource.from_path(path))


def test_onnx_still_opens_beside_the_coreml_check(tmp_path: Path) -> None:
    from tests.model_cases import build_mlp

    graph = modellens.load(build_mlp(tmp_path))
    assert graph.graph["format"] == "onnx"
