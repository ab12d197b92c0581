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


# ------------------------------------------------------------------------------------------------
# precision reaches the backend
class _FakeCompiled:
    inputs: list = []
    outputs: list = []


class _FakeCore:
    """Stands in for ``ov.Core``: fixed OPTIMIZATION_CAPABILITIES, records each compile config."""

    def __init__(self, caps: dict[str, list[str]]) -> None:
        self.caps, self.configs = caps, []

    def get_property(self, device, name):
        assert name == "OPTIMIZATION_CAPABILITIES"
        if device not in self.caps:
            raise RuntimeError(f"device {device} is not registered")
        return self.caps[device]

    def compile_model(self, path, device, config):
        self.configs.append((device, dict(config)))
        return _FakeCompiled()


def _fake_openvino(caps):
    from groundlite.backends.openvino import OpenVinoBackend

    b = OpenVinoBackend()  # a private instance, not the process-wide singleton
    b._core = _FakeCore(caps)
    return b


CPU_BF16 = ["FP32", "INT8", "BIN", "BF16", "EXPORT_IMPORT"]
CPU_PLAIN = ["FP32", "INT8", "BIN", "EXPORT_IMPORT"]
CPU_FP16 = ["FP32", "FP16", "INT8", "BF16"]
GPU = ["FP32", "FP16", "INT8", "BIN"]


@pytest.mark.parametrize("caps,device,precision,hint", [
    ({"CPU": CPU_BF16}, "cpu", "fp32", "f32"),
    ({"CPU": CPU_BF16}, "cpu", "int8", "f32"),
    ({"CPU": CPU_BF16}, "cpu", "bf16", "bf16"),
    ({"CPU": CPU_BF16}, "cpu", "fp16", "f32"),     # no FP16 arithmetic on this CPU: f32 over FP16 weights
    ({"CPU": CPU_FP16}, "cpu", "fp16", "f16"),
    ({"CPU": CPU_PLAIN}, "cpu", "fp32", "f32"),
    ({"GPU": GPU}, "gpu", "fp16", "f16"),
    ({"GPU": GPU}, "gpu", "fp32", None),          # the plug-in's default
    ({"GPU.1": GPU}, "gpu:1", "fp16", "f16"),
    ({"NPU": []}, "npu", "int8", None),
])
def test_openvino_inference_precision_hint(tmp_path, caps, device, precision, hint):
    b = _fake_openvino(caps)
    assert b.inference_precision(device, precision) == hint
    b.load(tmp_path / "m.xml", device, precision=precision)
    (ov_device, config), = b._core.configs
    assert ov_device == device.upper().replace(":", ".")
    assert config.get("INFERENCE_PRECISION_HINT") == hint
    assert config["PERFORMANCE_HINT"] == "LATENCY"


@pytest.mark.parametrize("caps,device,precision,message", [
    ({"CPU": CPU_PLAIN}, "cpu", "bf16", "expected a CPU with BF16"),
    ({"GPU": GPU}, "gpu", "bf16", "expected a cpu device for openvino bf16, got 'gpu'"),
    ({}, "cpu", "bf16", "got \\[\\]"),  # capabilities unreadable: refused, not guessed
])
def test_openvino_bf16_refused_where_unsupported(tmp_path, caps, device, precision, message):
    b = _fake_openvino(caps)
    with pytest.raises(BackendUnavailableError, match=message) as info:
        b.load(tmp_path / "m.xml", device, precision=precision)
    assert "\n" not in str(info.value) and b._core.configs == []  # refused before compiling


def test_unknown_precision_is_an_argument_error(artifacts):
    for name in REAL:
        with pytest.raises(InvalidArgumentError, match="did you mean 'int8'"):
            get_backend(name).load(artifacts[name], "cpu", precision="int4")


def test_onnxruntime_refuses_bf16(artifacts):
    expected = "expected a onnxruntime precision in \\['fp32', 'fp16', 'int8'\\], got 'bf16'"
    with pytest.raises(BackendUnavailableError, match=expected):
        get_backend("onnxruntime").load(artifacts["onnxruntime"], "cpu", precision="bf16")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_onnxruntime_accepts_its_precisions(artifacts, precision):
    s = get_backend("onnxruntime").load(artifacts["onnxruntime"], "cpu", precision=precision)
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(s.run({"x": x})["y"], reference(x)["y"], rtol=1e-5, atol=1e-5)


def _cpu_has_bf16() -> bool:
    try:
        return "BF16" in get_backend("openvino").capabilities("cpu")
    except Exception:
        return False


def _ppocr_rec() -> Path | None:
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0], "models", "PP-OCRv6_rec_small.onnx")
    return path if path.is_file() else None


@pytest.mark.skipif(_cpu_has_bf16(), reason="this CPU has BF16; the refusal is checked where it does not")
def test_openvino_bf16_refused_on_this_cpu(artifacts):
    with pytest.raises(BackendUnavailableError, match="expected a CPU with BF16"):
        get_backend("openvino").load(artifacts["onnxruntime"], "cpu", precision="bf16")


@pytest.mark.skipif(not _cpu_has_bf16(), reason="OpenVINO reports no BF16 for this CPU")
@pytest.mark.skipif(_ppocr_rec() is None, reason="the rapidocr wheel (PP-OCRv6 recogniser) is not installed")
def test_openvino_bf16_runs_a_real_recogniser_close_to_f32():
    """bf16 really computes in bfloat16 (outputs differ from f32) and stays close: the recogniser's
    per-step softmax probabilities within 0.1 absolute, 97 % of greedy labels identical (bfloat16
    keeps 8 significant bits; not yet run on BF16 hardware here, the tolerances are the stated bound)."""
    rec = _ppocr_rec()
    b = get_backend("openvino")
    f32, bf16 = b.load(rec, "cpu", precision="fp32"), b.load(rec, "cpu", precision="bf16")
    rng = np.random.default_rng(0)
    x = np.clip(rng.normal(0.0, 0.5, (2, 3, 48, 320)), -1, 1).astype(np.float32)
    x[:, :, 16:32, 20:300:12] = 1.0  # stroke-like bright bars, so the logits are not all blank
    name = f32.output_names[0]
    a, c = f32.run({f32.input_names[0]: x})[name], bf16.run({bf16.input_names[0]: x})[name]
    assert a.shape == c.shape
    assert not np.array_equal(a, c), "bf16 output is bit-identical to f32: the hint did not take effect"
    assert np.max(np.abs(a - c)) <= 0.1
    assert np.mean(a.argmax(-1) == c.argmax(-1)) >= 0.97
