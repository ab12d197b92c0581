"""The built-in text model end to end: package build, OCR, grounding, backends, edge cases.

One real package (PP-OCRv4 from the installed wheel; FP32 + INT8 for ONNX Runtime and OpenVINO)
is built per test session into a temporary cache dir and shared by every test here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import groundlite
from groundlite import schema
from groundlite.package import open_package
from groundlite.text import TextGrounder
from groundlite.text.normalize import normalize

DATA = Path(__file__).parent / "data"


def _skimage_file(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None:
        pytest.skip("scikit-image (source of the real page photo) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / name


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


@pytest.fixture(scope="session")
def text_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in package, built once into a session cache dir (unless one is configured)."""
    from groundlite.text.builtin import ensure_text_package

    if not os.environ.get("GROUNDLITE_CACHE_DIR"):
        os.environ["GROUNDLITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("groundlite-cache"))
    return ensure_text_package(progress=False)


_GROUNDERS: dict[tuple[str, str], TextGrounder] = {}


def _grounder(package: Path, backend: str = "onnxruntime", precision: str = "fp32") -> TextGrounder:
    key = (backend, precision)
    if key not in _GROUNDERS:
        g = groundlite.load(package, backend=backend, device="cpu", precision=precision, cache=False, progress=False)
        assert isinstance(g, TextGrounder)
        _GROUNDERS[key] = g
    return _GROUNDERS[key]


# ------------------------------------------------------------------------------------------------
# The package
# ------------------------------------------------------------------------------------------------
def test_package_is_built_once_and_reused(text_package: Path) -> None:
    from groundlite.text.builtin import ensure_text_package

    manifest = text_package / schema.MANIFEST_NAME
    before = manifest.stat().st_mtime_ns
    assert ensure_text_package(progress=False) == text_package
    assert manifest.stat().st_mtime_ns == before
    assert text_package.parent.parent == Path(os.environ["GROUNDLITE_CACHE_DIR"])


def test_manifest_describes_a_complete_text_package(text_package: Path) -> None:
    pkg = open_package(text_package)
    m = pkg.manifest
    assert m["family"] == "text"
    assert set(pkg.combos()) == {("onnxruntime", "fp32"), ("onnxruntime", "int8"),
                                 ("openvino", "fp32"), ("openvino", "int8")}
    charset = pkg.path(pkg.files["charset"]).read_text(encoding="utf-8").split("\n")
    assert len(charset) + 1 == m["text"]["num_classes"] == 6625
    assert charset[-1] == " " and m["text"]["blank_index"] == 0
    for backend in ("onnxruntime", "openvino"):
        fid = pkg.fidelity(backend, "int8")
        assert fid is not None and 0.0 <= fid["detection_agreement"] <= 1.0 and fid["n_lines"] > 10
    assert m["calibration"]["source"] == "builtin"
    assert m["source"]["kind"] == "wheel"


def test_graphs_use_schema_tensor_names(text_package: Path) -> None:
    import onnxruntime as ort

    pkg = open_package(text_package)
    for graph, inp, out in ((schema.GRAPH_TEXT_DETECTOR, schema.DET_IMAGE, schema.DET_PROBABILITY),
                            (schema.GRAPH_TEXT_RECOGNIZER, schema.REC_IMAGE, schema.REC_LOGITS)):
        for precision in ("fp32", "int8"):
            art = pkg.find(graph, "onnxruntime", precision)
            s = ort.InferenceSession(str(pkg.path(art.file)), providers=["CPUExecutionProvider"])
            assert [i.name for i in s.get_inputs()] == [inp]
            assert [o.name for o in s.get_outputs()] == [out]


def test_probe_feeds_run_on_every_graph(text_package: Path) -> None:
    g = _grounder(text_package)
    feeds = TextGrounder.probe_feeds(g.package)
    det = g._det.run(feeds[schema.GRAPH_TEXT_DETECTOR])[schema.DET_PROBABILITY]
    rec = g._rec.run(feeds[schema.GRAPH_TEXT_RECOGNIZER])[schema.REC_LOGITS]
    assert det.shape == (1, 1, *feeds[schema.GRAPH_TEXT_DETECTOR][schema.DET_IMAGE].shape[2:])
    assert rec.shape[0] == g.config.rec_batch and rec.shape[2] == len(g.charset)
    np.testing.assert_allclose(rec.sum(-1), 1.0, atol=1e-3)  # softmax probabilities per step


# ------------------------------------------------------------------------------------------------
# Rendered images with known word boxes
# ------------------------------------------------------------------------------------------------
LINES = ["Invoice total 1250", "Delivery address", "Confirm payment"]


def _render(lines: list[str], size: int = 40, scale: int = 1, canvas: tuple[int, int] = (720, 300),
            offset: tuple[int, int] = (30, 30)) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    font = ImageFont.load_default(size=size * scale)
    img = Image.new("RGB", (canvas[0] * scale, canvas[1] * scale), (250, 250, 245))
    draw = ImageDraw.Draw(img)
    boxes = {}
    y = offset[1] * scale
    for line in lines:
        x = offset[0] * scale
        for word in line.split(" "):
            x0, y0, x1, y1 = font.getbbox(word)
            draw.text((x, y), word, font=font, fill=(20, 20, 30))
            boxes[word] = np.array([x + x0, y + y0, x + x1, y + y1], np.float32)
            x += font.getlength(word + " ")
        y += int(size * scale * 1.8)
    return np.asarray(img), boxes


def test_read_recognises_clean_rendered_lines_in_reading_order(text_package: Path) -> None:
    image, _ = _render(LINES)
    lines = _grounder(text_package).read(image)
    assert [ln.text.replace(" ", "") for ln in lines] == [t.replace(" ", "") for t in LINES]
    assert all(ln.score > 0.9 for ln in lines)
    tops = [ln.xyxy[1] for ln in lines]
    assert tops == sorted(tops)
    d = lines[0].to_dict()
    assert set(d) == {"text", "score", "xyxy", "quad"} and len(d["quad"]) == 4


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_word_boxes_of_rendered_text(text_package: Path, precision: str) -> None:
    image, boxes = _render(LINES)
    g = _grounder(text_package, "onnxruntime", precision)
    words = list(boxes)
    det = g.predict(image, words)
    assert det.texts is not None and len(det.texts) == len(det)
    for i, word in enumerate(words):
        mine = [k for k in range(len(det)) if det.labels[k] == i]
        assert mine, f"{word!r} not found"
        best = max(mine, key=lambda k: det.scores[k])
        assert _iou(det.xyxy[best], boxes[word]) >= 0.5, (word, det.xyxy[best], boxes[word])
        if precision == "fp32":  # INT8 may read the sans-serif "I" of "Invoice" as "l" (still a fuzzy match)
            assert normalize(det.texts[best]).text == normalize(word).text


def test_multi_word_phrase_spanning_two_lines(text_package: Path) -> None:
    image, boxes = _render(LINES)
    det = _grounder(text_package).predict(image, ["total 1250 delivery"])
    assert len(det) == 1
    union = np.array([boxes["Delivery"][0], boxes["total"][1],
                      boxes["1250"][2], boxes["Delivery"][3]], np.float32)
    assert _iou(det.xyxy[0], union) >= 0.5


# ------------------------------------------------------------------------------------------------
# A real photo: scikit-image's page.png, phrase boxes checked by hand
# ------------------------------------------------------------------------------------------------
PAGE = json.loads((DATA / "page_phrases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("backend", "precision"),
                         [("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "int8")])
def test_page_hand_checked_phrases(text_package: Path, backend: str, precision: str) -> None:
    g = _grounder(text_package, backend, precision)
    present = [p["phrase"] for p in PAGE["present"]]
    det = g.predict(_skimage_file("page.png"), present + PAGE["absent"])
    for i, item in enumerate(PAGE["present"]):
        mine = [k for k in range(len(det)) if det.labels[k] == i]
        assert mine, f"{item['phrase']!r} not found on page.png"
        best = max(mine, key=lambda k: det.scores[k])
        assert _iou(det.xyxy[best], np.array(item["xyxy"], np.float32)) >= 0.5, item
    assert not any(det.labels >= len(present)), [det.phrases[k] for k in det.labels if k >= len(present)]


def test_agrees_with_rapidocr_lines_on_page(text_package: Path) -> None:
    from rapidocr_onnxruntime import RapidOCR

    path = _skimage_file("page.png")
    ref, _ = RapidOCR()(str(path))
    ours = _grounder(text_package).read(path)
    agree = 0
    for quad, text, _score in ref:
        q = np.asarray(quad, np.float32)
        box = np.array([*q.min(0), *q.max(0)], np.float32)
        agree += any(_iou(box, ln.xyxy) >= 0.5 and normalize(ln.text).text == normalize(text).text for ln in ours)
    assert len(ref) >= 4 and agree >= 0.8 * len(ref), (agree, len(ref))


# ------------------------------------------------------------------------------------------------
# Edge cases
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["white", "gradient", "noise"])
def test_image_without_text_gives_empty_detections(text_package: Path, kind: str) -> None:
    rng = np.random.default_rng(0)
    if kind == "white":
        image = np.full((240, 320, 3), 255, np.uint8)
    elif kind == "gradient":
        image = np.repeat(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], 240, 0).repeat(3, 2)
    else:
        image = rng.normal(128, 6, (240, 320, 3)).clip(0, 255).astype(np.uint8)
    g = _grounder(text_package)
    assert g.read(image) == []
    det = g.predict(image, ["anything"])
    assert len(det) == 0 and det.texts == () and det.phrases == ("anything",)


def test_tiny_image_does_not_crash(text_package: Path) -> None:
    det = _grounder(text_package).predict(np.zeros((3, 5, 3), np.uint8), ["x"])
    assert len(det) == 0


def test_huge_image_is_downscaled_for_the_detector(text_package: Path) -> None:
    from groundlite.text.detect import prepare_detector_input

    g = _grounder(text_package)
    image, boxes = _render(["Emergency exit"], size=60, scale=8, canvas=(700, 450), offset=(40, 150))
    assert image.shape[:2] == (3600, 5600)
    x = prepare_detector_input(image, g.config)
    assert max(x.shape[2:]) <= g.config.det_side
    det = g.predict(image, ["emergency exit"])
    assert len(det) == 1
    union = np.array([*boxes["Emergency"][:2], *boxes["exit"][2:]], np.float32)
    assert _iou(det.xyxy[0], union) >= 0.5


def test_load_builtin_text_by_name(text_package: Path) -> None:
    g = groundlite.load("text", backend="onnxruntime", device="cpu", precision="int8", cache=False, progress=False)
    assert isinstance(g, TextGrounder) and g.package.root == text_package
    image, _ = _render(LINES)
    det = g.predict(image, "confirm payment")
    assert len(det) == 1 and det.texts is not None
    assert json.loads(det.to_json())["detections"][0]["text"].replace(" ", "").lower() == "confirmpayment"
