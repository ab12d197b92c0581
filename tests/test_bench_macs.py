"""The benchmark MAC counter against hand-computed counts on a small ViT-like graph."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from bench_modules import load_benchmark  # noqa: E402

macs = load_benchmark("macs")


def _w(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def _vit_like() -> onnx.ModelProto:
    """x [B,3,32,32] -> patch Conv(k=8,s=8) -> [B,16,16] tokens -> QK^T, AV, MLP (MatMul, Gemm, Einsum)."""
    nodes = [
        helper.make_node("Conv", ["x", "wc"], ["c"], kernel_shape=[8, 8], strides=[8, 8], name="patch"),  # [B,16,4,4]
        helper.make_node("Reshape", ["c", "shp"], ["r"], name="flat"),                                     # [B,16,16]
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1], name="tok"),                           # [B,16,16]
        helper.make_node("MatMul", ["t", "wq"], ["q"], name="proj"),                                       # [B,16,24]
        helper.make_node("Transpose", ["q"], ["qt"], perm=[0, 2, 1], name="qt"),                           # [B,24,16]
        helper.make_node("MatMul", ["q", "qt"], ["att"], name="scores"),                                   # [B,16,16]
        helper.make_node("Einsum", ["att", "t"], ["av"], equation="bij,bjc->bic", name="av"),              # [B,16,16]
        helper.make_node("Flatten", ["av"], ["fl"], axis=1, name="fl"),                                    # [B,256]
        helper.make_node("Gemm", ["fl", "wg"], ["y"], transB=1, name="head"),                               # [B,10]
    ]
    graph = helper.make_graph(
        nodes, "vit_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [_w("wc", 16, 3, 8, 8), numpy_helper.from_array(np.array([0, 16, 16], np.int64), "shp"),
         _w("wq", 16, 24), _w("wg", 10, 256)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _hand(b: int) -> dict[str, int]:
    conv = b * 16 * 4 * 4 * (3 * 8 * 8)   # out elements x (C_in/group x kernel)
    proj = b * 16 * 24 * 16                # [B,16,16] x [16,24]
    scores = b * 16 * 16 * 24              # [B,16,24] x [B,24,16]
    einsum = b * 16 * 16 * 16              # b, i, j, c
    gemm = b * 10 * 256
    return {"Conv": conv, "MatMul": proj + scores, "Einsum": einsum, "Gemm": gemm}


@pytest.mark.parametrize("batch", [1, 3])
def test_count_macs_matches_hand_count(batch: int) -> None:
    got = macs.count_macs(_vit_like(), batch=batch)
    assert got.unknown == []
    assert got.by_op == _hand(batch)
    assert got.total == sum(_hand(batch).values())


def test_count_macs_explicit_shape_and_file(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_vit_like(), str(path))
    got = macs.count_macs(path, shapes={"x": (2, 3, 32, 32)})
    assert got.by_op == _hand(2)


def test_count_macs_qdq_matmul_counts_like_float() -> None:
    """A QDQ-quantised MatMul (DequantizeLinear feeding the weight) counts the same MACs."""
    w = numpy_helper.from_array(np.zeros((16, 24), np.int8), "wq_i8")
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.int8), "z")
    nodes = [helper.make_node("DequantizeLinear", ["wq_i8", "s", "z"], ["wq"], name="dq"),
             helper.make_node("MatMul", ["x", "wq"], ["y"], name="mm")]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 7, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 7, 24])], [w, s, z])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert macs.count_macs(model, batch=2).by_op == {"MatMul": 2 * 7 * 24 * 16}


def test_fix_input_shapes_rejects_wrong_rank() -> None:
    with pytest.raises(ValueError, match="rank-4"):
        macs.fix_input_shapes(_vit_like(), {"x": (1, 3, 32)})


def _data_dependent_reshape() -> onnx.ModelProto:
    """x [B,8,16] -> Reshape to [4B?, ...] whose target shape is computed in float (static inference gives up)."""
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["sum"], keepdims=0, name="sum"),
        helper.make_node("Mul", ["sum", "zero"], ["z"], name="zero_it"),
        helper.make_node("Add", ["z", "target_f"], ["tf"], name="target"),
        helper.make_node("Cast", ["tf"], ["target_i"], to=TensorProto.INT64, name="cast"),
        helper.make_node("Reshape", ["x", "target_i"], ["r"], name="reshape"),   # [B*2, 4, 16]
        helper.make_node("MatMul", ["r", "w"], ["y"], name="mm"),                # [B*2, 4, 5]
    ]
    graph = helper.make_graph(
        nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 8, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
         numpy_helper.from_array(np.array([-1, 4, 16], np.float32), "target_f"), _w("w", 16, 5)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_count_macs_probes_shapes_static_inference_cannot_see() -> None:
    pytest.importorskip("onnxruntime")
    blind = macs.count_macs(_data_dependent_reshape(), batch=3, probe=False)
    assert blind.unknown == ["mm"] and blind.total == 0
    probed = macs.count_macs(_data_dependent_reshape(), batch=3)
    assert probed.unknown == [] and probed.by_op == {"MatMul": 3 * 2 * 4 * 5 * 16}


@pytest.mark.parametrize("fixture", ["tiny_owlvit_package", "tiny_owlv2_package"])
def test_openvino_ir_count_equals_onnx_count(fixture, request):
    # OpenVINO-only packages are counted on their IR; OpenVINO folds attention into
    # ScaledDotProductAttention, which must count as the two MatMuls it replaces
    pytest.importorskip("openvino")
    import json

    pkg = request.getfixturevalue(fixture)
    arts = {a["backend"]: a for a in json.loads((pkg / "manifest.json").read_text())["artifacts"]
            if a["graph"] == "image_encoder" and a["precision"] == "fp32"}
    onnx_count = macs.count_macs(pkg / arts["onnxruntime"]["file"])
    ov_count = macs.count_macs_openvino(pkg / arts["openvino"]["file"])
    assert not onnx_count.unknown and not ov_count.unknown
    assert ov_count.total == onnx_count.total > 0
