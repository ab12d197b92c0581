"""OWL-ViT / OWLv2 export: ONNX graphs against transformers, packages, INT8 artifacts, fidelity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from groundlite import schema  # noqa: E402
from groundlite_export import calibration, fidelity  # noqa: E402
from groundlite_export.random_init import build_random_model, weights_sha256  # noqa: E402
from groundlite.package import open_package  # noqa: E402

pytestmark = pytest.mark.slow

PHRASES = ["a photo of a cat", "a cup of coffee", "a rocket", "an astronaut"]


def _tokenize(package: Path, phrases: list[str]) -> dict[str, np.ndarray]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(package / "tokenizer.json"))
    enc = tok.encode_batch(phrases)
    return {schema.INPUT_IDS: np.array([e.ids for e in enc], np.int64),
            schema.ATTENTION_MASK: np.array([e.attention_mask for e in enc], np.int64)}


def _runners(package: Path, backend: str, precision: str) -> dict[str, fidelity.Runner]:
    pkg = open_package(package)
    out = {}
    for graph in schema.FAMILY_GRAPHS[pkg.family]:
        art = pkg.find(graph, backend, precision)
        assert art is not None, (graph, backend, precision)
        runner = fidelity.openvino_runner if backend == "openvino" else fidelity.onnxruntime_runner
        out[graph] = runner(pkg.path(art.file))
    return out


def _real_pixels(family: str, size: int, n: int = 2) -> np.ndarray:
    _, fid = calibration.calibration_and_fidelity(None, 1, n)
    return np.concatenate(calibration.preprocess_images(fid.images, family, size))


def _close(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    # 1e-4 relative to the tensor's range: random-init activations reach O(10-100)
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * scale, err_msg=what)


@pytest.mark.parametrize("fixture,name", [("tiny_owlvit_package", "tiny"), ("tiny_owlv2_package", "tiny-owlv2")])
def test_fp32_onnx_matches_transformers(request, fixture, name):
    package = request.getfixturevalue(fixture)
    manifest = json.loads((package / "manifest.json").read_text())
    model, spec = build_random_model(name)
    assert manifest["source"]["weights_sha256"] == weights_sha256(model)
    pixels = _real_pixels(spec.family, manifest["image_size"])
    text = _tokenize(package, PHRASES)
    run = _runners(package, "onnxruntime", "fp32")
    img = run[schema.GRAPH_IMAGE_ENCODER]({schema.PIXEL_VALUES: pixels})
    q = run[schema.GRAPH_TEXT_ENCODER](text)[schema.QUERY_EMBEDS]

    b = pixels.shape[0]
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(np.tile(text[schema.INPUT_IDS], (b, 1))),
                    attention_mask=torch.from_numpy(np.tile(text[schema.ATTENTION_MASK], (b, 1))),
                    pixel_values=torch.from_numpy(pixels))
        tower = getattr(model, spec.family)
        ref_q = tower.get_text_features(input_ids=torch.from_numpy(text[schema.INPUT_IDS]),
                                        attention_mask=torch.from_numpy(text[schema.ATTENTION_MASK])).pooler_output
        feats = ref.image_embeds.reshape(b, -1, ref.image_embeds.shape[-1])
        head = model.class_head
        ref_region = head.dense0(feats)
        ref_shift = head.logit_shift(feats)
        ref_scale = head.elu(head.logit_scale(feats)) + 1

    n = manifest["num_regions"]
    assert img[schema.REGION_EMBEDS].shape == (b, n, manifest["embed_dim"])
    _close(img[schema.REGION_EMBEDS], ref_region.numpy(), "region_embeds")
    _close(img[schema.BOXES], ref.pred_boxes.numpy(), "boxes")
    _close(img[schema.LOGIT_SHIFT], ref_shift.numpy(), "logit_shift")
    _close(img[schema.LOGIT_SCALE], ref_scale.numpy(), "logit_scale")
    _close(q, ref_q.numpy(), "query_embeds")
    # the head normalises region embeds: transformers' class_embeds are ours after L2 norm
    ours_norm = img[schema.REGION_EMBEDS] / (np.linalg.norm(img[schema.REGION_EMBEDS], axis=-1, keepdims=True) + 1e-6)
    _close(ours_norm, ref.class_embeds.numpy(), "normalised region embeds")
    logits = fidelity.region_phrase_logits(img[schema.REGION_EMBEDS], q, img[schema.LOGIT_SHIFT], img[schema.LOGIT_SCALE])
    _close(logits, ref.logits.numpy(), "logits")
    if spec.family == "owlv2":
        _close(img[schema.OBJECTNESS], ref.objectness_logits.numpy(), "objectness")
    else:
        assert schema.OBJECTNESS not in img


def _post_process(logits: np.ndarray, boxes: np.ndarray, threshold: float, size: tuple[int, int]):
    """numpy version of OWL's post_process_object_detection for one image: best query per region."""
    probs = 1 / (1 + np.exp(-logits))
    scores, labels = probs.max(-1), probs.argmax(-1)
    keep = scores > threshold
    h, w = size
    xyxy = fidelity.cxcywh_to_xyxy(boxes) * np.array([w, h, w, h], np.float32)
    return xyxy[keep], scores[keep], labels[keep]


def test_detections_match_transformers_post_process(tiny_owlvit_package):
    from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

    manifest = json.loads((tiny_owlvit_package / "manifest.json").read_text())
    model, _ = build_random_model("tiny")
    pixels = _real_pixels("owlvit", manifest["image_size"], n=1)
    text = _tokenize(tiny_owlvit_package, PHRASES)
    run = _runners(tiny_owlvit_package, "onnxruntime", "fp32")
    img = run[schema.GRAPH_IMAGE_ENCODER]({schema.PIXEL_VALUES: pixels})
    q = run[schema.GRAPH_TEXT_ENCODER](text)[schema.QUERY_EMBEDS]
    logits = fidelity.region_phrase_logits(img[schema.REGION_EMBEDS], q, img[schema.LOGIT_SHIFT], img[schema.LOGIT_SCALE])
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(text[schema.INPUT_IDS]),
                    attention_mask=torch.from_numpy(text[schema.ATTENTION_MASK]), pixel_values=torch.from_numpy(pixels))
    size = (480, 640)
    # a threshold in the middle of the score distribution keeps about half the regions
    threshold = float(np.median(1 / (1 + np.exp(-ref.logits.numpy().max(-1)))))
    expected = OwlViTImageProcessorPil().post_process_object_detection(ref, threshold=threshold, target_sizes=[size])[0]
    boxes, scores, labels = _post_process(logits[0], img[schema.BOXES][0], threshold, size)
    assert 0 < len(scores) < manifest["num_regions"]
    np.testing.assert_array_equal(labels, expected["labels"].numpy())
    np.testing.assert_allclose(scores, expected["scores"].numpy(), atol=1e-4)
    np.testing.assert_allclose(boxes, expected["boxes"].numpy(), atol=0.05)  # pixels, 640 px image


def test_manifest_is_complete_and_opens(tiny_owlvit_package, tiny_owlv2_package):
    for package, family in ((tiny_owlvit_package, "owlvit"), (tiny_owlv2_package, "owlv2")):
        pkg = open_package(package)  # schema, paths, sizes and SHA-256 of every file
        m = pkg.manifest
        assert m["family"] == family and m["schema_version"] == schema.SCHEMA_VERSION
        assert (m["image_size"], m["patch_size"], m["num_regions"], m["embed_dim"]) == (96, 16, 36, 64)
        assert m["max_text_length"] == 16 and m["pad_token_id"] == 0
        assert m["preprocess"]["resize"] == schema.FAMILY_PREPROCESS[family]["resize"]
        assert sorted(pkg.combos()) == sorted([("onnxruntime", "fp32"), ("onnxruntime", "int8"),
                                               ("openvino", "fp32"), ("openvino", "int8")])
        assert "tokenizer" in pkg.files
        assert m["calibration"]["size"] == 8 and m["calibration"]["method"] == "minmax"
        assert "LayerNormalization" in m["calibration"]["excluded_op_types"]
        for art in pkg.artifacts:
            if art.backend == "openvino":
                assert art.extra and art.extra[0].file.endswith(".bin")


def test_onnx_graphs_have_contract_names_axes_and_metadata(tiny_owlv2_package):
    import onnx

    pkg = open_package(tiny_owlv2_package)
    for precision in ("fp32", "int8"):
        for graph, inputs, outputs in ((schema.GRAPH_IMAGE_ENCODER, schema.IMAGE_ENCODER_INPUTS,
                                        schema.IMAGE_ENCODER_OUTPUTS_OWLV2),
                                       (schema.GRAPH_TEXT_ENCODER, schema.TEXT_ENCODER_INPUTS, schema.TEXT_ENCODER_OUTPUTS)):
            model = onnx.load(str(pkg.path(pkg.find(graph, "onnxruntime", precision).file)))
            assert tuple(i.name for i in model.graph.input) == inputs
            assert tuple(o.name for o in model.graph.output) == outputs
            assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
            first_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
            assert first_dim.dim_param in ("B", "Q")  # dynamic batch / query axis
            meta = {p.key: p.value for p in model.metadata_props}
            assert set(schema.ONNX_META_KEYS) <= set(meta)
            assert (meta["groundlite.family"], meta["groundlite.graph"], meta["groundlite.precision"]) == ("owlv2", graph, precision)
            if precision == "int8":
                ops = {n.op_type for n in model.graph.node}
                assert "QuantizeLinear" in ops and "DequantizeLinear" in ops


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int8_artifacts_run_and_fidelity_is_sane(tiny_owlvit_package, backend):
    pkg = open_package(tiny_owlvit_package)
    block = pkg.fidelity(backend, "int8")
    assert block is not None
    for key in ("region_cosine", "query_cosine", "logit_max_abs", "logit_mean_abs", "box_l1", "detection_agreement"):
        assert np.isfinite(block[key])
    assert block["n_images"] == 4 and block["phrases"] == list(fidelity.FIDELITY_PHRASES)
    assert 0.95 < block["region_cosine"] <= 1.0 + 1e-6 and 0.95 < block["query_cosine"] <= 1.0 + 1e-6
    assert 0.5 <= block["detection_agreement"] <= 1.0
    assert 0 <= block["logit_mean_abs"] <= block["logit_max_abs"]
    # hold-out photos only: none of the calibration photos is used for fidelity
    calib_names = {n for _, n in calibration.BUILTIN_CALIBRATION}
    assert not calib_names & {n.split("#")[0] for n in block["images"]}
    # recomputing from the shipped files reproduces the recorded numbers
    _, fid = calibration.calibration_and_fidelity(None, 1, 4)
    pixels = calibration.preprocess_images(fid.images, "owlvit", 96)
    text = _tokenize(tiny_owlvit_package, list(fidelity.FIDELITY_PHRASES))
    again = fidelity.compare(_runners(tiny_owlvit_package, "onnxruntime", "fp32"),
                             _runners(tiny_owlvit_package, backend, "int8"), pixels, text, fidelity.FIDELITY_PHRASES)
    assert again["region_cosine"] == pytest.approx(block["region_cosine"], abs=1e-5)
    assert again["detection_agreement"] == pytest.approx(block["detection_agreement"], abs=1e-6)
    # INT8 is genuinely quantised: it differs from FP32, but little
    assert 0 < again["logit_max_abs"] < 5.0


def test_openvino_fp32_matches_onnxruntime_fp32(tiny_owlv2_package):
    pkg = open_package(tiny_owlv2_package)
    assert pkg.fidelity("openvino", "fp32")["detection_agreement"] == 1.0
    assert pkg.fidelity("openvino", "fp32")["logit_max_abs"] < 1e-3


def test_local_checkpoint_dir_exports_same_graphs_as_random_init(tiny_owlvit_hf_dir, tiny_owlvit_package, tmp_path):
    from groundlite_export import export_owl

    out = export_owl(str(tiny_owlvit_hf_dir), tmp_path / "from-dir", precisions="fp32", backends="onnxruntime",
                     fidelity_images=0, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    ref = json.loads((tiny_owlvit_package / "manifest.json").read_text())
    assert m["source"]["kind"] == "local"
    assert m["source"]["weights_sha256"] == ref["source"]["weights_sha256"]
    pixels = _real_pixels("owlvit", 96, n=1)
    a = _runners(out, "onnxruntime", "fp32")[schema.GRAPH_IMAGE_ENCODER]({schema.PIXEL_VALUES: pixels})
    b = _runners(tiny_owlvit_package, "onnxruntime", "fp32")[schema.GRAPH_IMAGE_ENCODER]({schema.PIXEL_VALUES: pixels})
    for name in schema.IMAGE_ENCODER_OUTPUTS:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)
    # the checkpoint's own tokenizer was converted and gives the same ids
    np.testing.assert_array_equal(_tokenize(out, PHRASES)[schema.INPUT_IDS], _tokenize(tiny_owlvit_package, PHRASES)[schema.INPUT_IDS])


def test_image_size_below_native_matches_interpolated_transformers(tmp_path):
    from groundlite_export import export_owl

    out = export_owl(random_init="tiny-owlv2", out=tmp_path / "small", image_size=64, precisions="fp32",
                     backends="onnxruntime", fidelity_images=0, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    assert (m["image_size"], m["num_regions"], m["native_image_size"]) == (64, 16, 96)
    assert m["name"] == "tiny-owlv2-64"
    model, _ = build_random_model("tiny-owlv2")
    pixels = _real_pixels("owlv2", 64, n=2)
    text = _tokenize(out, PHRASES[:2])
    img = _runners(out, "onnxruntime", "fp32")[schema.GRAPH_IMAGE_ENCODER]({schema.PIXEL_VALUES: pixels})
    assert img[schema.BOXES].shape == (2, 16, 4)
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(np.tile(text[schema.INPUT_IDS], (2, 1))),
                    attention_mask=torch.from_numpy(np.tile(text[schema.ATTENTION_MASK], (2, 1))),
                    pixel_values=torch.from_numpy(pixels), interpolate_pos_encoding=True)
    _close(img[schema.BOXES], ref.pred_boxes.numpy(), "boxes at 64 px")
    _close(img[schema.OBJECTNESS], ref.objectness_logits.numpy(), "objectness at 64 px")


def test_interrupted_export_leaves_nothing(tmp_path, monkeypatch):
    import tempfile

    from groundlite_export import export_owl, quantize

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(quantize, "convert_openvino", boom)
    out = tmp_path / "pkg"
    with pytest.raises(KeyboardInterrupt):
        export_owl(random_init="tiny", out=out, precisions="fp32", backends="onnxruntime,openvino",
                   fidelity_images=0, progress=False)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]  # no .pkg.*.partial staging dir
    assert list(scratch.iterdir()) == []                      # scratch ONNX dir removed too


def test_tensorrt_backend_points_at_onnx_files(tmp_path):
    from groundlite_export import export_owl

    out = export_owl(random_init="tiny", out=tmp_path / "trt", precisions="fp32,fp16,int8",
                     backends="onnxruntime,tensorrt", calib_size=2, fidelity_images=2, progress=False)
    pkg = open_package(out)
    for precision in ("fp32", "fp16"):
        for graph in schema.FAMILY_GRAPHS["owlvit"]:
            trt = pkg.find(graph, "tensorrt", precision)
            assert trt is not None and trt.file.file.endswith(f"{graph}.{precision}.onnx")
            assert trt.file == pkg.find(graph, "onnxruntime", precision).file
    # FP16 ONNX keeps float32 I/O and runs on ONNX Runtime CPU close to FP32
    block = pkg.fidelity("onnxruntime", "fp16")
    assert block["region_cosine"] > 0.999 and block["detection_agreement"] >= 0.9
    assert pkg.fidelity("tensorrt", "fp16") is None  # engines exist only on the target
    # TensorRT's explicit quantisation needs zero-point-0 activations: a separate symmetric QDQ file
    import onnx
    from onnx import numpy_helper

    for graph in schema.FAMILY_GRAPHS["owlvit"]:
        trt = pkg.find(graph, "tensorrt", "int8").file
        assert trt.file == f"tensorrt/{graph}.int8.onnx" != pkg.find(graph, "onnxruntime", "int8").file.file
        model = onnx.load(str(pkg.path(trt)))
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        zero_points = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
        assert zero_points and all(np.all(z == 0) for z in zero_points)


HEAD_MATMULS = ("/box_head/dense0/MatMul", "/box_head/dense1/MatMul", "/box_head/dense2/MatMul", "/dense0/MatMul",
                "/logit_shift/MatMul", "/logit_scale/MatMul")


def test_int8_keeps_detection_heads_float_and_quantises_the_encoder(tiny_owlv2_package):
    import onnx
    import openvino as ov

    pkg = open_package(tiny_owlv2_package)
    model = onnx.load(str(pkg.path(pkg.find(schema.GRAPH_IMAGE_ENCODER, "onnxruntime", "int8").file)))
    nodes = {n.name: n for n in model.graph.node}
    dq_outputs = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    for name in HEAD_MATMULS:
        assert not set(nodes[name].input) & dq_outputs, name
    objectness = [n for n in nodes if n.startswith("/objectness_head/") and nodes[n].op_type == "MatMul"]
    assert len(objectness) == 3 and not any(set(nodes[n].input) & dq_outputs for n in objectness)
    fc1 = nodes["/vision_model/encoder/layers.0/mlp/fc1/MatMul"]
    assert set(fc1.input) <= dq_outputs  # weight and activation both quantised

    ir = ov.Core().read_model(str(pkg.path(pkg.find(schema.GRAPH_IMAGE_ENCODER, "openvino", "int8").file)))
    fq_fed = {op.get_friendly_name() for op in ir.get_ops() if op.get_type_name() == "MatMul"
              and any(op.input_value(i).get_node().get_type_name() == "FakeQuantize" for i in range(op.get_input_size()))}
    assert any("fc1" in n for n in fq_fed)
    assert not [n for n in fq_fed if any(k in n for k in ("box_head", "objectness_head", "dense0", "logit_", "region_embeds"))]


def test_low_detection_agreement_warns_loudly(tmp_path, monkeypatch, caplog):
    import logging

    from groundlite_export import export_owl

    monkeypatch.setattr(schema, "MIN_FIDELITY_AGREEMENT", 1.01)  # no artifact can reach it
    with caplog.at_level(logging.WARNING, logger="groundlite_export"):
        out = export_owl(random_init="tiny", out=tmp_path / "pkg", precisions="fp32,int8", backends="onnxruntime",
                         calib_size=2, fidelity_images=1, progress=False)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    agreement = open_package(out).fidelity("onnxruntime", "int8")["detection_agreement"]
    assert warned == [f"onnxruntime:int8 reproduces only {agreement:.1%} of the FP32 detections (< 101%); "
                      "try another calib_method, a larger calib_size or more exclude_op_types, or ship FP32"]
