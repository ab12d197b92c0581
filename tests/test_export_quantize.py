"""quantize.py on a small hand-built ONNX graph: node selection, QDQ INT8 accuracy, OpenVINO INT8,
FP16 with float32 I/O, opset upgrade."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from groundlite.errors import CalibrationError, ExportError  # noqa: E402
from groundlite_export import quantize  # noqa: E402

D = 32


def _mlp(path, opset=17):
    """x [N,D] -> LayerNorm -> MatMul(W1) -> Gelu(Erf) -> MatMul(W2) -> + x -> MatMul(x, x^T) head."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array((rng.standard_normal((D, D)) / np.sqrt(D)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array((rng.standard_normal((D, D)) / np.sqrt(D)).astype(np.float32), "w2")
    wh = numpy_helper.from_array((rng.standard_normal((D, 4)) / np.sqrt(D)).astype(np.float32), "wh")
    scale = numpy_helper.from_array(np.ones(D, np.float32), "ln_s")
    bias = numpy_helper.from_array(np.zeros(D, np.float32), "ln_b")
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    rs2 = numpy_helper.from_array(np.array(1 / np.sqrt(2), np.float32), "rs2")
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ln_s", "ln_b"], ["ln"], name="ln", axis=-1),
        helper.make_node("MatMul", ["ln", "w1"], ["h1"], name="fc1"),
        helper.make_node("Mul", ["h1", "rs2"], ["g0"], name="g0"),
        helper.make_node("Erf", ["g0"], ["g1"], name="erf"),
        helper.make_node("Add", ["g1", "one"], ["g2"], name="g2"),
        helper.make_node("Mul", ["h1", "g2"], ["g3"], name="g3"),
        helper.make_node("Mul", ["g3", "half"], ["g4"], name="g4"),
        helper.make_node("MatMul", ["g4", "w2"], ["h2"], name="fc2"),
        helper.make_node("Add", ["h2", "x"], ["res"], name="residual"),
        helper.make_node("Transpose", ["res"], ["resT"], name="tr", perm=[1, 0]),
        helper.make_node("MatMul", ["res", "resT"], ["gram"], name="act_matmul"),
        helper.make_node("MatMul", ["res", "wh"], ["y"], name="box_head/dense"),
    ]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", D])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4]),
                               helper.make_tensor_value_info("gram", TensorProto.FLOAT, ["N", "N"])],
                              [w1, w2, wh, scale, bias, half, one, rs2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _feeds(n, seed):
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((8, D)).astype(np.float32)} for _ in range(n)]


def _run(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def test_select_quantized_nodes_keeps_sensitive_ops_float(tmp_path):
    model = onnx.load(str(_mlp(tmp_path / "m.onnx")))
    q, keep = quantize.select_quantized_nodes(model, exclude_nodes=["box_head"])
    assert sorted(q) == ["fc1", "fc2"]  # weight matmuls only; not the activation x activation one
    assert {"ln", "erf", "residual", "g2", "box_head/dense"} <= set(keep)
    q_all, _ = quantize.select_quantized_nodes(model, exclude_op_types=())
    assert sorted(q_all) == ["box_head/dense", "fc1", "fc2"]


@pytest.mark.parametrize("method", quantize.CALIBRATION_METHODS)
def test_quantize_onnx_int8_is_qdq_and_accurate(tmp_path, method):
    fp32 = _mlp(tmp_path / "m.onnx")
    out = tmp_path / "q" / "m.int8.onnx"
    seen = []
    quantize.quantize_onnx_int8(fp32, out, _feeds(8, 0), method=method, exclude_nodes=["box_head"],
                                progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (8, 8)
    model = onnx.load(str(out))
    nodes = {n.name: n for n in model.graph.node}
    dq_of_weight = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0].startswith("w")}
    weight_quantized = {n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in dq_of_weight}
    assert weight_quantized == {"fc1", "fc2"}
    # the head and the activation x activation matmul see plain float inputs
    assert not any("DequantizeLinear" in i for i in nodes["box_head/dense"].input)
    assert not any("DequantizeLinear" in i for i in nodes["act_matmul"].input)
    assert {nodes[k].op_type for k in ("ln", "erf", "residual")} == {"LayerNormalization", "Erf", "Add"}
    int8_weights = [i.name for i in model.graph.initializer if i.data_type == TensorProto.INT8 and i.name.endswith("_quantized")]
    assert sorted(int8_weights) == ["w1_quantized", "w2_quantized"]
    test = _feeds(4, 1)
    for f in test:
        ref, got = _run(fp32, f)[0], _run(out, f)[0]
        cos = np.sum(ref * got) / (np.linalg.norm(ref) * np.linalg.norm(got))
        assert cos > 0.995 and not np.array_equal(ref, got)


def test_quantize_onnx_int8_bad_inputs(tmp_path):
    fp32 = _mlp(tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="calibration method"):
        quantize.quantize_onnx_int8(fp32, tmp_path / "o.onnx", _feeds(1, 0), method="kl")
    with pytest.raises(CalibrationError, match="empty"):
        quantize.quantize_onnx_int8(fp32, tmp_path / "o.onnx", [])
    with pytest.raises(ExportError, match="at least one"):
        quantize.quantize_onnx_int8(fp32, tmp_path / "o.onnx", _feeds(1, 0), op_types=("Conv",))


def test_quantize_openvino_int8_runs_and_is_close(tmp_path):
    ov = pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    fp32 = _mlp(tmp_path / "m.onnx")
    xml = quantize.quantize_openvino_int8(fp32, tmp_path / "ov" / "m.int8.xml", _feeds(8, 0), model_type=None,
                                          ignored_patterns=["box_head"])
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    model = ov.Core().read_model(str(xml))
    assert any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
    f = _feeds(1, 3)[0]
    ref = _run(fp32, f)[0]
    got = compiled(f)[compiled.output("y")]
    assert np.sum(ref * got) / (np.linalg.norm(ref) * np.linalg.norm(got)) > 0.99


def test_convert_fp16_onnx_keeps_float32_io(tmp_path):
    fp32 = _mlp(tmp_path / "m.onnx")
    out = quantize.convert_fp16_onnx(fp32, tmp_path / "m.fp16.onnx")
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    f = _feeds(1, 2)[0]
    np.testing.assert_allclose(_run(out, f)[0], _run(fp32, f)[0], atol=0.05)


def test_convert_openvino_fp16_weights(tmp_path):
    ov = pytest.importorskip("openvino")
    fp32 = _mlp(tmp_path / "m.onnx")
    x32 = quantize.convert_openvino(fp32, tmp_path / "a" / "m.xml")
    x16 = quantize.convert_openvino(fp32, tmp_path / "b" / "m.xml", fp16=True)
    assert x16.with_suffix(".bin").stat().st_size < x32.with_suffix(".bin").stat().st_size
    compiled = ov.Core().compile_model(str(x32), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    f = _feeds(1, 2)[0]
    np.testing.assert_allclose(compiled(f)[compiled.output("y")], _run(fp32, f)[0], atol=1e-4)


def test_upgrade_opset(tmp_path):
    old = _mlp(tmp_path / "m13.onnx", opset=17)
    model = onnx.load(str(old))
    # rebuild the same graph without LayerNormalization at opset 13
    model.graph.node.remove(model.graph.node[0])
    model.graph.node.insert(0, helper.make_node("Identity", ["x"], ["ln"], name="ln"))
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", 13))
    up = quantize.upgrade_opset(model, 17)
    assert next(o.version for o in up.opset_import if o.domain == "") == 17
    f = _feeds(1, 0)[0]
    onnx.save(up, str(tmp_path / "up.onnx"))
    onnx.save(model, str(tmp_path / "m13b.onnx"))
    np.testing.assert_allclose(_run(tmp_path / "up.onnx", f)[0], _run(tmp_path / "m13b.onnx", f)[0], atol=1e-6)
    same = quantize.upgrade_opset(str(old), 17)
    assert next(o.version for o in same.opset_import if o.domain == "") == 17
