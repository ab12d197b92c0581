"""Interpreted queries end to end with the built-in text model on real screenshots.

The screenshots are the committed real subset (Chromium renderings of the real CUPS web UI and
Debian documentation); the expected boxes are the DOM boxes of its ``labels.jsonl`` (the value's
words, the control's label), checked by hand against the images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import groundlite

ROOT = Path(__file__).resolve().parents[1] / "export" / "groundlite_export" / "assets" / "realscreens"
PRINTER = "cups-printer-office-1920x1080-d1-dark-s0"


def _labels(image_id: str) -> dict:
    for line in (ROOT / "labels.jsonl").read_text().splitlines():
        d = json.loads(line)
        if d["id"] == image_id:
            return d
    raise KeyError(image_id)


def _dom_line(label: dict, text: str) -> np.ndarray:
    return np.asarray(next(ln["xyxy"] for ln in label["lines"] if ln["text"] == text), np.float32)


def _iou(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def text_model():
    return groundlite.load("text")


@pytest.fixture(scope="module")
def printer():
    label = _labels(PRINTER)
    return str(ROOT / label["image"]), label


@pytest.mark.parametrize("query,value", [
    ("Description:", "Office laser, second floor"),
    ("the value of Location", "Room 214"),
    ("Driver value", "Generic PostScript Printer (color)"),
    ("what is the Connection", "file:///dev/null"),
])
def test_field_values_on_a_real_cups_page(text_model, printer, query, value):
    image, label = printer
    d = text_model.predict(image, [query], encoder=None)
    assert len(d) == 1, d.unresolved
    assert _iou(d.xyxy[0], _dom_line(label, value)) >= 0.5
    ev = d.evidence[0]
    assert ev.kind == "value" and [s.role for s in ev.steps[:2]] == ["value", "label"]
    assert "the value of" in ev.explain()
    assert d.scores[0] >= text_model.default_threshold


def test_literal_first_and_literal_off(text_model, printer):
    image, label = printer
    d = text_model.predict(image, ["Room 214"], encoder=None)
    assert len(d) == 1 and _iou(d.xyxy[0], _dom_line(label, "Room 214")) >= 0.5
    assert d.evidence[0].steps[0].how == "literal"
    # --literal: "Driver:" is the label itself, not its value
    d = text_model.predict(image, ["Driver:"], interpret=False)
    assert len(d) == 1 and d.evidence is None and d.texts[0].startswith("Driver")
    assert _iou(d.xyxy[0], _dom_line(label, "Driver:")) >= 0.5


def test_a_button_is_its_frame_not_its_text(text_model, printer):
    image, label = printer
    text_box = _dom_line(label, "Show All Jobs")
    d = text_model.predict(image, ["the Show All Jobs button"], encoder=None)
    assert len(d) == 1
    box = d.xyxy[0]
    # the frame contains the label's text with a margin on every side, and is not a whole row
    assert box[0] < text_box[0] and box[1] < text_box[1] and box[2] > text_box[2] and box[3] > text_box[3]
    assert (box[2] - box[0]) < 2.0 * (text_box[2] - text_box[0])
    assert d.evidence[0].kind == "button"


def test_relation_to_a_real_neighbour(text_model, printer):
    image, label = printer
    d = text_model.predict(image, ["the button right of Show Completed Jobs"], encoder=None)
    assert len(d) >= 1
    assert _iou(d.xyxy[0], _dom_line(label, "Show All Jobs")) > 0.3 or \
        (d.xyxy[0][0] <= _dom_line(label, "Show All Jobs")[0] <= d.xyxy[0][2])
    assert any(s.role == "anchor" and s.how == "relation:right_of" for s in d.evidence[0].steps)


def test_not_found_says_which_part_is_missing(text_model, printer):
    image, _ = printer
    d = text_model.predict(image, ["the button below Frobnication settings", "the value of Colour Model"],
                           encoder=None)
    assert len(d) == 0
    missing = {u["query"]: u["missing"] for u in d.unresolved}
    assert "Frobnication settings" in missing["the button below Frobnication settings"]
    assert "Colour Model" in missing["the value of Colour Model"]


def test_repeated_queries_on_a_cached_screen_are_fast_enough_to_measure(text_model, printer):
    """Interpretation reuses the cached read: a second call does no OCR (timings say so)."""
    image, _ = printer
    text_model.predict(image, ["Room 214"], encoder=None)
    text_model.predict(image, ["the value of Location"], encoder=None)
    t = text_model.last_timings
    assert t["ocr_cached"] == 1.0 and "interpret_ms" in t


def test_json_and_annotation_carry_the_evidence(text_model, printer, tmp_path):
    image, _ = printer
    d = text_model.predict(image, ["the value of Location"], encoder=None)
    doc = json.loads(d.to_json())
    ev = doc["detections"][0]["evidence"]
    assert ev["kind"] == "value" and ev["steps"][1]["role"] == "label" and ev["explanation"]
    from groundlite.draw import write_annotated

    out = write_annotated(image, d, tmp_path / "a.png")
    from PIL import Image

    drawn = np.asarray(Image.open(out).convert("RGB"))
    plain = groundlite.images.load_image(image)
    lab = d.evidence[0].steps[1].xyxy  # the label's outline is drawn too
    y = int(round(lab[1]))
    assert (drawn[y - 1:y + 2, int(lab[0]):int(lab[2])] != plain[y - 1:y + 2, int(lab[0]):int(lab[2])]).any()


def test_cli_explain_literal_and_json(capsys, printer):
    from groundlite.cli import main

    image, _ = printer
    rc = main(["explain", image, "-p", "Driver:", "-p", "the button below Frobnication settings"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "the value of 'Driver'" in out
    assert "nothing found" in out and "Frobnication settings" in out
    rc = main(["detect", image, "-p", "Driver:", "--literal", "--json"])
    doc = json.loads(capsys.readouterr().out)
    det = doc["results"][0]["detections"]
    assert rc == 0 and len(det) == 1 and det[0]["text"].startswith("Driver") and "evidence" not in det[0]
    rc = main(["detect", image, "-p", "Driver:", "--json"])
    det = json.loads(capsys.readouterr().out)["results"][0]["detections"]
    assert det[0]["evidence"]["kind"] == "value" and det[0]["evidence"]["rule"] == "field"


def test_bounded_work_with_thousands_of_candidates():
    from groundlite.language.resolve import MAX_CANDIDATES, Candidate, rank_ordinal, rank_relation

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 4000, (5000, 2)).astype(np.float32)
    cands = [Candidate(np.array([x, y, x + 40, y + 12], np.float32), float(s), "w")
             for (x, y), s in zip(xy, rng.uniform(0.1, 1.0, 5000))]
    anchor = [Candidate(np.array([2000, 2000, 2100, 2020], np.float32), 1.0, "a")]
    ranked = rank_relation("below", cands, [anchor])
    assert 0 < len(ranked) <= MAX_CANDIDATES
    assert rank_ordinal(-1, cands)  # the last of the (capped) candidates in reading order


def test_meaning_finds_a_paraphrase_and_not_an_absent_one(text_model, sentence_package):
    """With the real sentence encoder: "the Display All Jobs button" is CUPS's "Show All Jobs"
    button, scored below a literal match; an absent meaning ("the Sign out button") is not found
    confidently. Without the encoder the paraphrase finds nothing."""
    from groundlite.language.encoder import load_encoder

    enc = load_encoder(sentence_package, backend="onnxruntime", precision="int8", decision_cache=False)
    label = _labels(PRINTER)
    image = str(ROOT / label["image"])
    assert len(text_model.predict(image, ["the Display All Jobs button"], encoder=None)) == 0
    d = text_model.predict(image, ["the Display All Jobs button"], encoder=enc)
    assert len(d) == 1
    text_box = _dom_line(label, "Show All Jobs")
    box = d.xyxy[0]
    assert box[0] <= text_box[0] and box[2] >= text_box[2]  # the button's frame around "Show All Jobs"
    assert any(s.how == "meaning" for s in d.evidence[0].steps) and "meaning" in d.evidence[0].explain()
    literal = text_model.predict(image, ["the Show All Jobs button"], encoder=enc)
    assert d.scores[0] < literal.scores[0]
    absent = text_model.predict(image, ["the Sign out button"], encoder=enc)
    assert not (absent.scores >= text_model.default_threshold).any()
