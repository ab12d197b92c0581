"""OwlGrounder on the real tiny packages (random-init weights: boxes are meaningless, arithmetic is
not), on every backend present, against a plain-numpy decode of the raw encoder outputs."""

from __future__ import annotations

import importlib.util
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import groundlite
from groundlite import schema
from groundlite.backends import get_backend
from groundlite.errors import InvalidArgumentError, InvalidImageError, InvalidPhraseError
from groundlite.grounder import ImageEmbeddings, OwlGrounder, TextEmbeddings
from groundlite.images import load_image
from groundlite.package import open_package
from groundlite.tokenizer import PhraseTruncatedWarning

SKIMAGE_DATA = Path(list(importlib.util.find_spec("skimage").submodule_search_locations)[0]) / "data"
IMAGES = {
    "astronaut": SKIMAGE_DATA / "astronaut.png",        # 512x512 RGB
    "chelsea": SKIMAGE_DATA / "chelsea.png",            # 451x300 RGB, landscape
    "camera": SKIMAGE_DATA / "camera.png",              # 512x512 grey
}
PHRASES = ["a person", "a cat", "a rocket in the sky"]
BACKENDS = [b for b in ("onnxruntime", "openvino") if get_backend(b).is_available()]


@pytest.fixture(scope="module", params=["owlvit", "owlv2"])
def package_dir(request) -> Path:
    return request.getfixturevalue(f"tiny_{request.param}_package")


@pytest.fixture(scope="module")
def grounders(package_dir) -> dict[tuple[str, str], OwlGrounder]:
    pkg = open_package(package_dir)
    out = {}
    for backend, precision in pkg.combos():
        if backend in BACKENDS:
            out[(backend, precision)] = groundlite.load(package_dir, backend, "cpu", precision, cache=False)
    assert {b for b, _ in out} == set(BACKENDS)
    return out


@pytest.fixture(scope="module")
def fp32(grounders) -> OwlGrounder:
    return grounders[("onnxruntime", "fp32")]


# ------------------------------------------------------------------------------------------------
# numpy reference
def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def reference_decode(ie: ImageEmbeddings, te: TextEmbeddings, family: str, threshold: float,
                     nms_iou: float | None = None, top_k: int | None = None):
    """transformers' post_process_object_detection (+ optional per-label NMS and top-k) in numpy."""
    r = ie.region_embeds.astype(np.float64)
    q = te.query_embeds.astype(np.float64)
    r = r / (np.linalg.norm(r, axis=-1, keepdims=True) + 1e-6)
    q = q / (np.linalg.norm(q, axis=-1, keepdims=True) + 1e-6)
    logits = (r @ q.T + ie.logit_shift.reshape(-1, 1)) * ie.logit_scale.reshape(-1, 1)
    label = logits.argmax(1)
    score = sigmoid(logits.max(1))
    h, w = ie.original_size
    sx, sy = (w, h) if family == "owlvit" else (max(h, w), max(h, w))  # OWLv2 boxes live in the padded square
    cx, cy, bw, bh = ie.boxes.astype(np.float64).T
    xyxy = np.stack([(cx - bw / 2) * sx, (cy - bh / 2) * sy, (cx + bw / 2) * sx, (cy + bh / 2) * sy], 1)
    # an OWLv2 region in the bottom/right padding is no box: its centre is outside the image or it
    # clips to a line (ops.boxes_to_original's return_keep rule)
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
    xyxy = np.clip(xyxy, 0, [w, h, w, h])
    real = (cx >= 0) & (cx <= w) & (cy >= 0) & (cy <= h) & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    keep = np.flatnonzero((score > threshold) & real)
    keep = keep[np.argsort(-score[keep], kind="stable")]
    if nms_iou is not None:
        kept: list[int] = []
        for i in keep:
            if all(label[i] != label[j] or iou(xyxy[i], xyxy[j]) <= nms_iou for j in kept):
                kept.append(int(i))
        keep = np.array(kept, dtype=np.int64)
    if top_k is not None:
        keep = keep[:top_k]
    return xyxy[keep], score[keep], label[keep]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def assert_same(det, ref, *, atol_box=1e-2, atol_score=1e-5):
    xyxy, score, label = ref
    assert len(det) == len(score), (len(det), len(score))
    np.testing.assert_allclose(det.scores, score, atol=atol_score, rtol=0)
    np.testing.assert_array_equal(det.labels, label)
    np.testing.assert_allclose(det.xyxy, xyxy, atol=atol_box, rtol=1e-5)


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("image", list(IMAGES))
def test_decode_equals_numpy_reference_without_nms(grounders, package_dir, image):
    family = open_package(package_dir).family
    for key, g in grounders.items():
        ie = g.encode_image(IMAGES[image])
        te = g.encode_text(PHRASES)
        for threshold in (0.0, 0.3, 0.6):
            det = g.decode(ie, te, threshold=threshold, nms_iou=None, top_k=None)
            assert_same(det, reference_decode(ie, te, family, threshold))
            assert np.all(det.scores > threshold)
        # the random-init tiny model puts every region above 0.0, so the comparison is not vacuous;
        # OWLv2 drops the regions in the padding of a non-square image
        n = len(g.decode(ie, te, threshold=0.0, nms_iou=None, top_k=None))
        assert n == len(reference_decode(ie, te, family, 0.0)[1]) > 0, key
        assert (n == ie.boxes.shape[0]) == (family == "owlvit" or ie.original_size[0] == ie.original_size[1]), key


def test_decode_with_nms_and_top_k_equals_reference(grounders, package_dir):
    family = open_package(package_dir).family
    for g in grounders.values():
        ie, te = g.encode_image(IMAGES["chelsea"]), g.encode_text(PHRASES)
        for nms_iou, top_k in ((0.3, 100), (0.5, 5), (0.1, None)):
            det = g.decode(ie, te, threshold=0.05, nms_iou=nms_iou, top_k=top_k)
            assert_same(det, reference_decode(ie, te, family, 0.05, nms_iou, top_k))
        assert len(g.decode(ie, te, threshold=0.0, nms_iou=None, top_k=7)) == 7


def test_encoder_outputs_equal_a_direct_session_run(grounders, package_dir):
    pkg = open_package(package_dir)
    rgb = load_image(IMAGES["chelsea"])
    for (backend, precision), g in grounders.items():
        ie = g.encode_image(rgb)
        pre = pkg.manifest["preprocess"]
        pixels, _ = groundlite.ops.preprocess(rgb, pkg.manifest["image_size"], tuple(pre["mean"]), tuple(pre["std"]),
                                              pre["resize"], float(pre["pad_value"]))
        art = pkg.find(schema.GRAPH_IMAGE_ENCODER, backend, precision)
        raw = get_backend(backend).load(pkg.path(art.file), "cpu").run({schema.PIXEL_VALUES: pixels})
        np.testing.assert_allclose(ie.region_embeds, raw[schema.REGION_EMBEDS][0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ie.boxes, raw[schema.BOXES][0], rtol=1e-5, atol=1e-5)
        assert ie.original_size == (300, 451)
        assert (ie.objectness is not None) == (pkg.family == "owlv2")


def test_backends_agree_at_fp32(grounders):
    """ONNX Runtime and OpenVINO run the same FP32 graph: the decoded detections must match."""
    if ("openvino", "fp32") not in grounders:
        pytest.skip("openvino is not installed")
    a = grounders[("onnxruntime", "fp32")].predict(IMAGES["astronaut"], PHRASES, threshold=0.2)
    b = grounders[("openvino", "fp32")].predict(IMAGES["astronaut"], PHRASES, threshold=0.2)
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.scores, b.scores, atol=2e-3)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.5)


def test_boxes_are_clipped_original_pixels(fp32):
    for name in IMAGES:
        h, w = load_image(IMAGES[name]).shape[:2]
        det = fp32.predict(IMAGES[name], PHRASES, threshold=0.0, nms_iou=None, top_k=None)
        assert det.xyxy[:, [0, 2]].min() >= 0 and det.xyxy[:, [0, 2]].max() <= w
        assert det.xyxy[:, [1, 3]].min() >= 0 and det.xyxy[:, [1, 3]].max() <= h


def test_exif_rotated_jpeg_maps_boxes_to_the_displayed_image(fp32):
    photo = Image.open(IMAGES["chelsea"]).convert("RGB")  # 451 wide x 300 tall
    stored = photo.transpose(Image.Transpose.ROTATE_90)  # what a sideways camera stores
    exif = Image.Exif()
    exif[0x0112] = 6  # viewer rotates 90 CW -> the upright photo
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=95, exif=exif)
    upright = load_image(buf.getvalue())
    assert upright.shape[:2] == (300, 451)
    a = fp32.predict(buf.getvalue(), PHRASES, threshold=0.0, nms_iou=None, top_k=None)
    b = fp32.predict(upright, PHRASES, threshold=0.0, nms_iou=None, top_k=None)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    assert a.xyxy[:, 2].max() <= 451 and a.xyxy[:, 3].max() <= 300
    assert a.xyxy[:, 2].max() > 300  # some box extends past the stored image's width: mapped upright


def test_predict_batch_equals_predict(fp32):
    images = [IMAGES["astronaut"], IMAGES["chelsea"], IMAGES["camera"]]
    calls = CountingSession.wrap(fp32, "_image")
    batch = fp32.predict_batch(images, PHRASES, threshold=0.1)
    assert len(calls.feeds) == 1 and calls.feeds[0][schema.PIXEL_VALUES].shape[0] == 3
    for image, det in zip(images, batch):
        single = fp32.predict(image, PHRASES, threshold=0.1)
        np.testing.assert_array_equal(det.labels, single.labels)
        np.testing.assert_allclose(det.scores, single.scores, atol=1e-5)
        np.testing.assert_allclose(det.xyxy, single.xyxy, atol=1e-2)
    CountingSession.unwrap(fp32, "_image")


class CountingSession:
    """Forwards to the real session and records every call's feeds."""

    def __init__(self, inner):
        self.inner, self.feeds = inner, []
        self.input_names, self.output_names = inner.input_names, inner.output_names

    def run(self, feeds):
        self.feeds.append(dict(feeds))
        return self.inner.run(feeds)

    @classmethod
    def wrap(cls, g, attr):
        wrapper = cls(getattr(g, attr))
        setattr(g, attr, wrapper)
        return wrapper

    @staticmethod
    def unwrap(g, attr):
        setattr(g, attr, getattr(g, attr).inner)


def test_text_cache_repeated_phrase_costs_no_inference(package_dir):
    g = groundlite.load(package_dir, "onnxruntime", "cpu", "fp32", cache=False)
    calls = CountingSession.wrap(g, "_text")
    first = g.encode_text(["a cat", "a dog"])
    assert len(calls.feeds) == 1
    again = g.encode_text(["a dog", "a cat", "a bird"])
    assert len(calls.feeds) == 2 and calls.feeds[1][schema.INPUT_IDS].shape[0] == 1  # only "a bird"
    np.testing.assert_allclose(again.query_embeds[1], first.query_embeds[0], atol=1e-6)
    g.encode_text("a cat")
    g.predict(IMAGES["camera"], ["a dog", "a cat"])
    assert len(calls.feeds) == 2
    assert g.last_timings["text_encoder_ms"] < 50


def test_text_cache_is_lru_bounded(package_dir):
    pkg = open_package(package_dir)
    g0 = groundlite.load(package_dir, "onnxruntime", "cpu", "fp32", cache=False)
    g = OwlGrounder(pkg, {"image_encoder": g0._image, "text_encoder": g0._text}, g0.backend_info, text_cache_size=2)
    calls = CountingSession.wrap(g, "_text")
    g.encode_text(["a"]), g.encode_text(["b"]), g.encode_text(["a"]), g.encode_text(["c"])  # evicts "b"
    assert len(calls.feeds) == 3
    g.encode_text(["a"])
    assert len(calls.feeds) == 3
    g.encode_text(["b"])
    assert len(calls.feeds) == 4
    with pytest.raises(InvalidArgumentError, match="text_cache_size"):
        OwlGrounder(pkg, {"image_encoder": g0._image, "text_encoder": g0._text}, None, text_cache_size=-1)


@pytest.mark.parametrize("key", [("onnxruntime", "fp32"), ("openvino", "int8")])
def test_thread_safety_equals_serial(grounders, key):
    if key not in grounders:
        pytest.skip(f"{key[0]} is not installed")
    g = grounders[key]
    jobs = [(img, PHRASES[: 1 + i % 3]) for i, img in enumerate(list(IMAGES.values()) * 3)][:8]
    serial = [g.predict(img, ph, threshold=0.1) for img, ph in jobs]
    g._cache.clear()  # make the threads race on the text cache too
    barrier = threading.Barrier(8)

    def work(job):
        barrier.wait(timeout=30)  # start all eight at once
        return g.predict(job[0], job[1], threshold=0.1)

    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(work, jobs))
    for s, p in zip(serial, parallel):
        assert s.phrases == p.phrases
        np.testing.assert_array_equal(s.labels, p.labels)
        np.testing.assert_allclose(s.scores, p.scores, atol=1e-6)
        np.testing.assert_allclose(s.xyxy, p.xyxy, atol=1e-3)


def test_last_timings(fp32):
    fp32.predict(IMAGES["astronaut"], PHRASES)
    t = fp32.last_timings
    assert set(t) == {"preprocess_ms", "image_encoder_ms", "text_encoder_ms", "decode_ms", "total_ms"}
    assert all(v >= 0 for v in t.values()) and t["image_encoder_ms"] > 0
    assert t["total_ms"] == pytest.approx(sum(v for k, v in t.items() if k != "total_ms"))


@pytest.mark.parametrize("phrases,message", [
    ([], "at least one phrase"),
    ([""], "non-blank"),
    (["ok", "   "], "phrase 1 to contain non-blank"),
    ([3], "phrase 0 to be a str"),
    (None, "a phrase or a list of phrases"),
])
def test_bad_phrases(fp32, phrases, message):
    with pytest.raises(InvalidPhraseError, match=message):
        fp32.predict(IMAGES["camera"], phrases)


def test_long_phrase_is_truncated_with_warning(fp32):
    long = " ".join(["very"] * 40) + " long phrase"
    with pytest.warns(PhraseTruncatedWarning, match="truncated"):
        det = fp32.predict(IMAGES["camera"], [long, "a cat"], threshold=0.0)
    assert det.phrases[0] == long
    with pytest.warns(PhraseTruncatedWarning):
        ids, mask = fp32.tokenizer.encode([long])
    L = fp32.tokenizer.max_length
    assert ids.shape == (1, L) and mask.sum() == L
    short_ids, short_mask = fp32.tokenizer.encode(["a cat"])
    assert ids[0, -1] == short_ids[0, short_mask[0].sum() - 1]  # ends with the end-of-text token
    assert np.all(short_ids[0, short_mask[0].sum():] == fp32.tokenizer.pad_id)


@pytest.mark.parametrize("kwargs,message", [
    (dict(threshold=1.0), "threshold"), (dict(threshold=-0.1), "threshold"), (dict(nms_iou=0.0), "nms_iou"),
    (dict(top_k=0), "top_k"), (dict(top_k=2.5), "top_k"),
])
def test_bad_decode_arguments(fp32, kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        fp32.predict(IMAGES["camera"], PHRASES, **kwargs)


def test_bad_image_is_typed_error(fp32):
    with pytest.raises(InvalidImageError):
        fp32.predict(b"\x89PNG\r\n\x1a\n broken", PHRASES)


def test_precomputed_text_embeddings_and_json(fp32):
    te = fp32.encode_text(PHRASES)
    det = fp32.predict(IMAGES["chelsea"], te, threshold=0.2)
    assert det.phrases == tuple(PHRASES)
    json.loads(det.to_json())


def test_auto_load_on_real_package_respects_fidelity_and_caches(package_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GROUNDLITE_CACHE_DIR", str(tmp_path))
    pkg = open_package(package_dir)
    first = groundlite.load(package_dir)
    info = first.backend_info
    assert not info.from_cache
    cpu = [c for c in info.candidates if c.device == "cpu"]
    assert len(cpu) >= 2 and all(c.probe_ms is not None for c in cpu)  # really probed on this machine
    chosen = next(c for c in info.candidates if c.status == "chosen")
    assert chosen.probe_ms == min(c.probe_ms for c in cpu if c.status in ("chosen", "probed"))
    for c in info.candidates:  # every quantised candidate passed the gate ...
        if c.precision != "fp32":
            assert pkg.fidelity(c.backend, c.precision)["detection_agreement"] >= schema.MIN_FIDELITY_AGREEMENT
    for e in info.excluded:  # ... and every gated one failed it
        if "below min_agreement" in e.reason:
            assert pkg.fidelity(e.backend, e.precision)["detection_agreement"] < schema.MIN_FIDELITY_AGREEMENT
    second = groundlite.load(package_dir)
    assert second.backend_info.from_cache
    assert (second.backend_info.backend, second.backend_info.precision) == (info.backend, info.precision)
    a = first.predict(IMAGES["chelsea"], PHRASES)
    b = second.predict(IMAGES["chelsea"], PHRASES)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
