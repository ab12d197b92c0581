"""Backends: real ONNX Runtime and OpenVINO sessions on a small hand-built graph, against numpy."""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from groundlite.backends import Backend, Session, all_backends, get_backend
from groundlite.errors import BackendError, BackendUnavailableError, InvalidArgumentError

RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 3)).astype(np.float32)
B = RNG.standard_normal(3).astype(np.float32)


def reference(x: np.ndarray) -> dict[str, np.ndarray]:
    y = x @ W + B
    return {"y": y, "s": y * 2.0}


def write_affine_onnx(path: Path) -> Path:
    """``x [B,4] -> y = x @ W + b [B,3], s = 2y``, dynamic batch, opset 17."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"]),
         helper.make_node("Mul", ["y", "two"], ["s"])],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "b"),
         numpy_helper.from_array(np.array(2.0, np.float32), "two")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def write_affine_ir(path_xml: Path) -> Path:
    import openvino as ov

    onnx_path = write_affine_onnx(path_xml.with_suffix(".onnx"))
    ov.save_model(ov.convert_model(str(onnx_path)), str(path_xml), compress_to_fp16=False)
    return path_xml


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("affine")
    return {"onnxruntime": write_affine_onnx(d / "affine.onnx"), "openvino": write_affine_ir(d / "affine.xml")}


REAL = ["onnxruntime", "openvino"]


@pytest.mark.parametrize("name", REAL)
def test_protocol_and_cpu_device(name):
    b = get_backend(name)
    assert isinstance(b, Backend) and b.name == name
    assert b is get_backend(name)  # singleton
    assert b.is_available()
    assert "cpu" in b.devices()
    assert b.describe()["version"]


@pytest.mark.parametrize("name", REAL)
@pytest.mark.parametrize("threads", [None, 1])
def test_run_matches_numpy(name, threads, artifacts):
    s = get_backend(name).load(artifacts[name], "cpu", threads=threads)
    assert isinstance(s, Session)
    assert s.input_names == ("x",) and set(s.output_names) == {"y", "s"}
    for batch in (1, 5):  # dynamic batch axis
        x = RNG.standard_normal((batch, 4)).astype(np.float32)
        out = s.run({"x": x})
        ref = reference(x)
        for k in ("y", "s"):
            np.testing.assert_allclose(out[k], ref[k], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", REAL)
def test_outputs_are_owned_by_caller(name, artifacts):
    s = get_backend(name).load(artifacts[name], "cpu")
    a = s.run({"x": np.ones((1, 4), np.float32)})["y"].copy()
    first = s.run({"x": np.ones((1, 4), np.float32)})
    s.run({"x": np.zeros((1, 4), np.float32)})  # must not overwrite the earlier result
    np.testing.assert_array_equal(first["y"], a)


@pytest.mark.parametrize("name", REAL)
def test_thread_safe_run(name, artifacts):
    s = get_backend(name).load(artifacts[name], "cpu")
    xs = [RNG.standard_normal((2, 4)).astype(np.float32) for _ in range(32)]
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda x: s.run({"x": x}), xs))
    for x, out in zip(xs, outs):
        np.testing.assert_allclose(out["y"], reference(x)["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", REAL)
def test_run_errors_are_backend_errors(name, artifacts):
    s = get_backend(name).load(artifacts[name], "cpu")
    with pytest.raises(BackendError, match="missing \\['x'\\]"):
        s.run({"z": np.ones((1, 4), np.float32)})
    with pytest.raises(BackendError, match=f"expected {name} to run"):
        s.run({"x": np.ones((1, 7), np.float32)})  # wrong width


@pytest.mark.parametrize("name", REAL)
def test_load_errors(name, tmp_path):
    bad = tmp_path / ("bad.onnx" if name == "onnxruntime" else "bad.xml")
    bad.write_bytes(b"not a model")
    with pytest.raises(BackendError, match=bad.name):
        get_backend(name).load(bad, "cpu")


def test_onnxruntime_unavailable_device(artifacts):
    b = get_backend("onnxruntime")
    if "npu" in b.devices():
        pytest.skip("this machine has an NPU provider")
    with pytest.raises(BackendUnavailableError, match="provider for 'npu'"):
        b.load(artifacts["onnxruntime"], "npu")


def test_openvino_unavailable_device(artifacts):
    b = get_backend("openvino")
    if "npu" in b.devices():
        pytest.skip("this machine has an NPU")
    with pytest.raises(BackendError, match="for npu"):
        b.load(artifacts["openvino"], "npu")


def test_unknown_backend_name_hint():
    with pytest.raises(InvalidArgumentError, match="did you mean 'openvino'"):
        get_backend("openvin")
    assert set(all_backends()) == {"onnxruntime", "openvino", "tensorrt"}


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_tensorrt_reports_unavailable_without_library(artifacts):
    b = get_backend("tensorrt")
    assert not b.is_available() and b.devices() == []
    with pytest.raises(BackendUnavailableError, match="tensorrt"):
        b.load(artifacts["onnxruntime"], "gpu")


@pytest.mark.tensorrt
def test_tensorrt_runs_affine(artifacts):
    pytest.importorskip("tensorrt")
    b = get_backend("tensorrt")
    if not b.is_available():
        pytest.skip("tensorrt is installed but no NVIDIA GPU or engine helpers are usable")
    s = b.load(artifacts["onnxruntime"], "gpu")
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(s.run({"x": x})["y"], reference(x)["y"], rtol=1e-3, atol=1e-3)
