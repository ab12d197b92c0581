"""Metric, calibration and parser code of the text-grounding benchmark (benchmarks/text_grounding.py, ocr_peers.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench_modules import load_benchmark

tg = load_benchmark("text_grounding")
peers = load_benchmark("ocr_peers")

REPO = Path(__file__).resolve().parent.parent


def _p(phrase: str, *pieces: list[float], kind: str = "body"):
    pcs = np.asarray(pieces, np.float32)
    return tg.Phrase(phrase, tg._union(pcs), pcs, kind, len(phrase.split()))


def _f(label: int, score: float, box: list[float], text: str = "") -> object:
    return tg.Found(label, score, np.asarray(box, np.float32), text)


# ---------------------------------------------------------------------------------------------- IoU
def test_iou_known_values():
    assert tg.iou([0, 0, 10, 10], [0, 0, 10, 10]) == pytest.approx(1.0)
    assert tg.iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert tg.iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert tg.iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0  # degenerate, no division by zero


def test_hit_accepts_union_of_wrapped_pieces():
    # a phrase wrapping from the end of one line to the start of the next
    p = _p("object persistence", [300, 10, 400, 30], [0, 40, 120, 60])
    assert tg.is_hit([0, 10, 400, 60], p)            # the union box
    assert not tg.is_hit([300, 10, 400, 30], p)      # one piece alone is not the phrase
    single = tg.Phrase("x", np.array([0, 0, 10, 10], np.float32), np.array([[0, 0, 10, 10]], np.float32))
    assert tg.is_hit([0, 0, 10, 12], single) and not tg.is_hit([0, 0, 10, 30], single)
    # a word printed twice in a photo (``all_xyxy``): either occurrence is correct
    twice = tg._phrase_from({"phrase": "YAMAHA", "xyxy": [0, 0, 10, 10], "all_xyxy": [[0, 0, 10, 10], [50, 50, 60, 60]]})
    assert tg.is_hit([50, 50, 60, 61], twice) and not tg.is_hit([20, 20, 30, 30], twice)


# ------------------------------------------------------------------------------ top-1 / recall / FP
def test_top1_recall_fp_on_a_hand_made_image():
    present = [_p("alpha", [0, 0, 50, 10]), _p("beta gamma", [0, 20, 80, 30]), _p("delta", [0, 40, 40, 50])]
    absent = ["epsilon", "zeta"]
    found = [
        _f(0, 0.95, [0, 0, 50, 10]),       # alpha: best box right -> top1 + recall
        _f(0, 0.85, [100, 0, 150, 10]),
        _f(1, 0.90, [200, 20, 280, 30]),   # beta gamma: best box wrong, second right -> recall only
        _f(1, 0.82, [1, 20, 80, 31]),
        # delta: nothing returned -> neither
        _f(3, 0.81, [0, 60, 10, 70]),      # epsilon (absent): returned -> false positive
    ]
    out = tg.phrase_outcomes(found, present, absent)
    assert [o["top1"] for o in out[:3]] == [True, False, False]
    assert [o["recall"] for o in out[:3]] == [True, True, False]
    assert [o["fp"] for o in out[3:]] == [True, False]
    s = tg.summarize(out)
    assert s["top1_%"] == pytest.approx(100 / 3)
    assert s["recall_%"] == pytest.approx(200 / 3)
    assert s["fp_%"] == pytest.approx(50.0)
    assert (s["n_present"], s["n_absent"]) == (3, 2)


def test_summarize_without_absent_phrases_has_no_fp_rate():
    out = tg.phrase_outcomes([_f(0, 0.9, [0, 0, 5, 5])], [_p("a", [0, 0, 5, 5])], [])
    assert tg.summarize(out)["fp_%"] is None and tg.summarize(out)["top1_%"] == 100.0


def test_calibration_pairs_label_absent_boxes_zero():
    present = [_p("alpha", [0, 0, 50, 10])]
    found0 = [_f(0, 0.9, [0, 0, 50, 10]), _f(0, 0.3, [0, 50, 50, 60]), _f(1, 0.7, [0, 0, 50, 10])]
    assert tg.calibration_pairs(found0, present) == [(0.9, 1), (0.3, 0), (0.7, 0)]


# ------------------------------------------------------------------------------------------- ECE
def test_ece_and_reliability_table_known_answer():
    ece, table = tg.reliability([0.05, 0.15, 0.95, 1.0], [0, 1, 1, 0])
    # bins: [0,.1): 1 box score .05 acc 0; [.1,.2): .15 acc 1; [.9,1]: 2 boxes mean .975 acc .5
    assert ece == pytest.approx((0.05 + 0.85 + 2 * 0.475) / 4)
    assert [r["count"] for r in table] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table[9]["mean_score"] == pytest.approx(0.975) and table[9]["accuracy"] == pytest.approx(0.5)
    assert table[3]["mean_score"] is None
    ece0, _ = tg.reliability([0.25] * 4 + [0.75] * 4, [1, 0, 0, 0, 1, 1, 1, 0])
    assert ece0 == pytest.approx(0.0)
    assert np.isnan(tg.reliability([], [])[0])


# ----------------------------------------------------------------------------------- calibration
def test_logistic_fit_recovers_known_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 3))
    w_true, b_true = np.array([1.5, -2.0, 0.5]), 0.3
    y = (rng.random(len(x)) < tg.sigmoid(x @ w_true + b_true)).astype(np.float64)
    w, b = tg.fit_logistic(x, y, l2=1e-6)
    np.testing.assert_allclose(w, w_true, atol=0.1)
    assert b == pytest.approx(b_true, abs=0.1)
    # the penalty shrinks the weights, never the bias
    w_big, _ = tg.fit_logistic(x, y, l2=1e5)
    assert np.abs(w_big).max() < 0.2


def test_logistic_fit_survives_separable_data():
    x = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    w, b = tg.fit_logistic(x, np.array([0, 0, 1, 1.0]), l2=1.0)
    assert np.isfinite(w).all() and np.isfinite(b) and w[0] > 0


def test_standin_features_columns():
    x = tg._standin_features([0.5, 1.0], [0.5, 0.0], [True, False], [4, 1])
    assert x.shape == (2, 4)
    np.testing.assert_allclose(x[0], [0.0, 0.0, 1.0, 0.25])
    assert x[1, 0] > 9 and x[1, 1] < -9 and x[1, 3] == 1.0   # clipped logits stay finite


def test_threshold_curve_and_chooser():
    best_score = np.array([0.95, 0.85, 0.75, -np.inf])
    best_hit = np.array([1, 1, 0, 0])
    absent_max = np.array([0.80, 0.60] + [-np.inf] * 98)   # 100 absent phrases
    curve = tg.threshold_curve(best_score, best_hit, absent_max, [0.5, 0.7, 0.8, 0.81, 0.9])
    assert [c["top1"] for c in curve] == [0.5, 0.5, 0.5, 0.5, 0.25]
    assert [c["fp"] for c in curve] == [0.02, 0.01, 0.01, 0.0, 0.0]
    # lowest threshold with FP <= 1 % that maximises top-1
    assert tg.choose_threshold(curve, 0.01)["threshold"] == 0.7
    assert tg.choose_threshold(curve, 0.0)["threshold"] == 0.81
    # nothing within budget -> the lowest-FP threshold
    worst = [{"threshold": 0.5, "top1": 1.0, "fp": 0.5}, {"threshold": 0.6, "top1": 0.5, "fp": 0.2},
             {"threshold": 0.7, "top1": 0.2, "fp": 0.2}]
    assert tg.choose_threshold(worst, 0.01)["threshold"] == 0.6


def test_parse_config():
    assert tg.parse_config("v6=text-ppocrv6:openvino:bf16") == ("v6", "text-ppocrv6", "openvino", "bf16")
    assert tg.parse_config("/pkgs/my:pkg:onnxruntime:fp32")[1:] == ("/pkgs/my:pkg", "onnxruntime", "fp32")
    with pytest.raises(ValueError):
        tg.parse_config("text:auto")


def test_whole_word_fallback():
    line = peers.lines_from_words([("object", [0, 0, 60, 10], 0.9), ("persistence", [70, 0, 180, 10], 0.9)])

    class M:
        lines = (0,)

        def __init__(self, text, xyxy):
            self.text, self.xyxy = text, np.asarray(xyxy, np.float32)

    assert tg._whole_word_of(M("object", [0, 0, 60, 10]), [line])
    assert not tg._whole_word_of(M("persist", [70, 0, 140, 10]), [line])


def test_load_realscreens_split_and_limit(tmp_path):
    recs = [{"id": f"s{i}", "image": f"images/s{i}.png", "width": 10, "height": 10, "split": "tune" if i % 2 else "test",
             "source": {"kind": "doc", "package": "p", "url": "u"}, "screen": "1920x1080", "dpr": 1.0, "theme": "dark",
             "present": [{"phrase": "a b", "xyxy": [0, 0, 4, 4], "pieces": [[0, 0, 4, 2], [0, 2, 2, 4]],
                          "kind": "heading", "n_words": 2}], "absent": ["zz"]} for i in range(5)]
    (tmp_path / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    shots = tg.load_realscreens(tmp_path, "test", None)
    assert [s.id for s in shots] == ["s0", "s2", "s4"]
    assert [s.id for s in tg.load_realscreens(tmp_path, "tune", 1)] == ["s1"]
    s = shots[0]
    assert s.phrases == ["a b", "zz"] and s.present[0].pieces.shape == (2, 4) and s.present[0].kind == "heading"
    assert (s.theme, s.dpr, s.source) == ("dark", 1.0, "doc:p")


# ------------------------------------------------------------------------------------ peer lines
TSV = "\t".join(["level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width",
                 "height", "conf", "text"]) + "\n" + "\n".join("\t".join(r) for r in [
    ["1", "1", "0", "0", "0", "0", "0", "0", "200", "100", "-1", ""],
    ["2", "1", "1", "0", "0", "0", "10", "10", "150", "40", "-1", ""],
    ["4", "1", "1", "1", "1", "0", "10", "10", "150", "20", "-1", ""],
    ["5", "1", "1", "1", "1", "1", "10", "10", "50", "20", "90.5", "Hello"],
    ["5", "1", "1", "1", "1", "2", "70", "12", "40", "18", "80", "world"],
    ["5", "1", "1", "1", "1", "3", "120", "12", "5", "18", "95", "  "],   # blank word: dropped
    ["4", "1", "1", "1", "2", "0", "10", "40", "60", "20", "-1", ""],
    ["5", "1", "1", "1", "2", "1", "10", "40", "60", "20", "70", "Second"],
    ["5", "1", "2", "1", "1", "1", "0", "80", "10", "10", "-1", "ghost"],  # conf -1: dropped
])


def test_tesseract_tsv_parser():
    lines = peers.parse_tesseract_tsv(TSV)
    assert [ln.text for ln in lines] == ["Hello world", "Second"]
    a = lines[0]
    assert a.char_xyxy.shape == (11, 4) and a.char_scores.shape == (11,)
    np.testing.assert_allclose(a.char_xyxy[:5, 0], [10, 20, 30, 40, 50])   # "Hello" split evenly over 50 px
    np.testing.assert_allclose(a.char_xyxy[4, 2], 60)
    np.testing.assert_allclose(a.char_xyxy[6:, 0], [70, 78, 86, 94, 102])
    np.testing.assert_allclose(a.char_xyxy[6:, [1, 3]], [[12, 30]] * 5)
    np.testing.assert_allclose(a.char_scores[:5], 0.905, rtol=1e-6)
    np.testing.assert_allclose(a.char_scores[6:], 0.80, rtol=1e-6)
    np.testing.assert_allclose(a.xyxy, [10, 10, 110, 30])
    assert a.char_xyxy[5, 0] == a.char_xyxy[5, 2] == 60   # the space: zero width, right after "Hello"
    assert peers.parse_tesseract_tsv("") == []
    with pytest.raises(ValueError, match="missing"):
        peers.parse_tesseract_tsv("level\ttext\n5\tx")


def test_rapidocr_onnxruntime_char_boxes_grouped_into_words():
    quad = [[0, 0], [100, 0], [100, 10], [0, 10]]
    chars = list("ab cd")
    boxes = [[[x, 0], [x + 10, 0], [x + 10, 10], [x, 10]] for x in (0, 10, 20, 30, 40)]
    words = peers.RapidOCROnnxruntime._words([quad, "ab cd", 0.9, boxes, chars, [0.9, 0.7, 0.5, 1.0, 0.8]])
    assert [w[0] for w in words] == ["ab", "cd"]
    np.testing.assert_allclose(words[1][1], [30, 0, 50, 10])
    assert words[0][2] == pytest.approx(0.8)
    fallback = peers.RapidOCROnnxruntime._words([quad, "ab cd", 0.9])   # no char boxes: the line quad
    np.testing.assert_allclose(fallback[1][1], [60, 0, 100, 10])


def test_matcher_takes_peer_lines():
    from groundlite.text.matching import match_phrases

    lines = peers.parse_tesseract_tsv(TSV)
    ms = match_phrases(lines, ["hello world", "second", "absent words"], 0.6)  # "Second": conf 70
    got = {m.label: m for m in ms}
    assert set(got) == {0, 1}
    np.testing.assert_allclose(got[0].xyxy, [10, 10, 110, 30])
    np.testing.assert_allclose(got[1].xyxy, [10, 40, 70, 60])


# ------------------------------------------------------------------------- real peers (slow, optional)
def _page():
    skimage = pytest.importorskip("skimage")
    from groundlite.images import load_image

    labels = json.loads((REPO / "tests/data/page_phrases.json").read_text())
    box = next(p["xyxy"] for p in labels["present"] if p["phrase"] == "Region-based segmentation")
    return load_image(Path(skimage.__file__).parent / "data" / "page.png"), np.asarray(box, np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("peer", ["rapidocr", "rapidocr-onnxruntime", "tesseract"])
def test_peer_finds_segmentation_on_page(peer):
    if peer == "tesseract":
        if shutil.which("tesseract") is None:
            pytest.skip("no tesseract binary")
    else:
        pytest.importorskip(peer.replace("-", "_"))
    from groundlite.text.matching import match_phrases

    image, box = _page()
    adapter = peers.PEER_CLASSES[peer]()
    lines = adapter.read(image)
    assert lines and all(len(ln.text) == len(ln.char_xyxy) == len(ln.char_scores) for ln in lines)
    ms = [m for m in match_phrases(lines, ["segmentation"], 0.5) if m.label == 0]
    assert ms, [ln.text for ln in lines]
    seg = max(ms, key=lambda m: m.score).xyxy
    # "segmentation" is the right part of the hand-checked "Region-based segmentation" box
    assert seg[0] > box[0] + 0.3 * (box[2] - box[0]) and tg.iou(seg, [seg[0], box[1], box[2], box[3]]) >= 0.5
    if peer == "rapidocr":   # the PP-OCRv6 peer gets the whole heading right
        whole = match_phrases(lines, ["Region-based segmentation"], 0.8)
        assert whole and tg.iou(whole[0].xyxy, box) >= 0.5


def test_run_set_and_report_with_a_fake_reader():
    class Fake:
        name, version, models = "fake", "0", "tsv"

        def read(self, rgb):
            return peers.parse_tesseract_tsv(TSV)

    shot = tg.Shot(id="s", set="real", present=[_p("hello world", [10, 10, 110, 30], kind="heading"),
                                                 _p("missing", [0, 90, 30, 99])],
                   absent=["second", "nowhere"], screen="1920x1080", dpr=1.0, theme="light",
                   array=np.zeros((100, 200, 3), np.uint8))
    runner = tg.Runner("fake", "peer", 0.5, "fake reader", Fake())
    res = tg.run_set([shot], [runner])
    h = tg.headline(runner, res["fake"])
    assert (h["top1_%"], h["recall_%"], h["fp_%"]) == (50.0, 50.0, 50.0)   # "second" is there: a false positive
    assert h["n_shots"] == 1 and h["ms_median"] >= 0 and h["n_read_errors"] == 0
    md, rows = tg.report_set("real", [runner], res, ["kind"], 3)
    assert any(r["group"] == "kind" and r["value"] == "heading" and r["top1_%"] == 100.0 for r in rows)
    assert "missing" in "\n".join(md) and "ABSENT" in "\n".join(md)


def test_rapidocr310_adapter_on_empty_and_word_outputs():
    from types import SimpleNamespace

    adapter = peers.RapidOCR310.__new__(peers.RapidOCR310)   # no model load: a stub engine
    adapter.engine = lambda bgr, return_word_box: SimpleNamespace(txts=None, word_results=(("", 1.0, None),))
    assert adapter.read(np.zeros((8, 8, 3), np.uint8)) == []
    quad = lambda x0, x1: [[x0, 0], [x1, 0], [x1, 10], [x0, 10]]  # noqa: E731
    adapter.engine = lambda bgr, return_word_box: SimpleNamespace(
        txts=("ab cd",), word_results=((("ab", 0.9, quad(0, 20)), ("cd", 0.8, quad(30, 50))),))
    (line,) = adapter.read(np.zeros((8, 8, 3), np.uint8))
    assert line.text == "ab cd" and line.char_xyxy.shape == (5, 4)
    np.testing.assert_allclose(line.char_xyxy[3], [30, 0, 40, 10])
