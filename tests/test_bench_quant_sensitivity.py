"""Unit tests of the pure helpers of benchmarks/quant_sensitivity.py (no models are loaded)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from bench_modules import load_benchmark

qs = load_benchmark("quant_sensitivity")


def _reference_levenshtein(a, b):
    # full-matrix textbook recurrence, independent of the module's two-row version
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


@pytest.mark.parametrize("a,b,expected", [
    ("", "", 0), ("abc", "", 3), ("", "abc", 3), ("kitten", "sitting", 3),
    ("shelve — Python object persistence", "seve - Pytn bject ersistence", 7),
    (["a", "b"], ["a", "c", "b"], 1),
])
def test_levenshtein_table(a, b, expected):
    assert qs.levenshtein(a, b) == expected == _reference_levenshtein(a, b)


def test_levenshtein_matches_reference_on_random_strings():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("abc "), rng.integers(0, 9)))
        b = "".join(rng.choice(list("abc "), rng.integers(0, 9)))
        assert qs.levenshtein(a, b) == _reference_levenshtein(a, b)


def test_text_agreement_counts_characters_words_and_lines():
    ref = ["shelve Python", "object"]
    hyp = ["seve Python", "object"]
    got = qs.text_agreement(ref, hyp)
    assert got["cer"] == pytest.approx(2 / 19)  # "shelve"->"seve": 2 deletions over 13 + 6 chars
    assert got["word_accuracy"] == pytest.approx(1 - 1 / 3)
    assert got["line_exact"] == pytest.approx(0.5)
    assert (got["n_lines"], got["n_chars"], got["n_words"]) == (2, 19, 3)


def test_text_agreement_identical_and_mismatched_lengths():
    same = qs.text_agreement(["a b", "c"], ["a b", "c"])
    assert (same["cer"], same["word_accuracy"], same["line_exact"]) == (0.0, 1.0, 1.0)
    assert qs.text_agreement(["abc"], ["xyzxyzxyz"])["word_accuracy"] == 0.0  # clipped at 0
    with pytest.raises(ValueError, match="expected as many candidate lines"):
        qs.text_agreement(["a"], [])


def test_box_agreement_pairs_one_to_one_just_past_the_threshold():
    ref = np.array([[0, 0, 10, 10]], float)
    # IoU of [0,0,10,10] with [0,0,10,w]: w/10 for w <= 10
    assert qs.box_agreement(ref, np.array([[0, 0, 10, 5.01]]))[0] == 1
    assert qs.box_agreement(ref, np.array([[0, 0, 10, 4.99]]))[0] == 0
    # two candidates on one reference box: only one pairs, the extra box lowers agreement
    matched, agreement = qs.box_agreement(ref, np.array([[0, 0, 10, 10], [0, 0, 10, 9]]))
    assert (matched, agreement) == (1, pytest.approx(2 / 3))
    assert qs.box_agreement(np.zeros((0, 4)), np.zeros((0, 4))) == (0, 1.0)
    assert qs.box_agreement(ref, np.zeros((0, 4))) == (0, 0.0)


def test_box_agreement_prefers_the_best_pairs():
    ref = np.array([[0, 0, 10, 10], [0, 0, 10, 6]], float)
    cand = np.array([[0, 0, 10, 6], [0, 0, 10, 10]], float)  # swapped order
    assert qs.box_agreement(ref, cand) == (2, 1.0)


def test_sqnr_helpers():
    assert qs.power_to_db(100.0, 1.0) == pytest.approx(20.0)
    assert qs.power_to_db(1.0, 0.0) == math.inf
    # two equal noise sources: 3 dB worse than either
    assert qs.combine_db(30.0, 30.0) == pytest.approx(30.0 - 10 * math.log10(2))
    assert qs.combine_db(20.0, math.inf) == pytest.approx(20.0)
    assert qs.combine_db(20.0, math.nan) == pytest.approx(20.0)
    assert qs.combine_db(math.inf) == math.inf
    x = np.random.default_rng(1).normal(size=1000)
    noise = 0.01 * np.random.default_rng(2).normal(size=1000)
    # same definition as onnxruntime's compute_signal_to_quantization_noice_ratio
    expected = 20 * math.log10(np.linalg.norm(x) / np.linalg.norm(noise))
    assert qs.power_to_db(float(x @ x), float(noise @ noise)) == pytest.approx(expected)


def test_rank_layers_worst_first_nan_last_stable():
    rows = [{"node": "b", "local_db": 30.0}, {"node": "a", "local_db": 30.0},
            {"node": "c", "local_db": math.nan}, {"node": "d", "local_db": 12.5}]
    assert [r["node"] for r in qs.rank_layers(rows)] == ["d", "a", "b", "c"]


def test_anchored_patterns_match_exactly_one_name():
    names = ["p2o.pd_op.conv2d.1.0", "p2o.pd_op.conv2d.10.0", "p2oXpd_op.conv2d.1.0", "MatMul.1"]
    pats = qs.anchored(["p2o.pd_op.conv2d.1.0", "MatMul.1"])
    assert [[n for n in names if re.search(p, n)] for p in pats] == [["p2o.pd_op.conv2d.1.0"], ["MatMul.1"]]
    assert qs.unmatched_patterns(pats + qs.anchored(["Conv.7"]), names) == ["^Conv\\.7$"]


def test_openvino_names_prefers_the_weight_op():
    ov = ["p2o.pd_op.conv2d.0.0/WithoutBiases", "p2o.pd_op.conv2d.0.0", "MatMul.12", "Relu.0"]
    got = qs.openvino_names(["p2o.pd_op.conv2d.0.0", "MatMul.12", "Conv.79"], ov)
    assert got == {"p2o.pd_op.conv2d.0.0": ["p2o.pd_op.conv2d.0.0/WithoutBiases"], "MatMul.12": ["MatMul.12"], "Conv.79": []}


def test_acceptance_and_first_passing():
    rows = [{"cer": 0.02, "word_accuracy": 0.9}, {"cer": 0.004, "word_accuracy": 0.985},
            {"cer": 0.005, "word_accuracy": 0.99}, {"cer": 0.0, "word_accuracy": 1.0}]
    assert qs.first_passing(rows, qs.rec_passes) is rows[2]  # both limits are inclusive
    assert qs.first_passing(rows[:2], qs.rec_passes) is None
    assert qs.det_passes({"box_agreement": 0.99}) and not qs.det_passes({"box_agreement": 0.9899})


def test_interleaved_ms_runs_every_graph_warmup_plus_repeat_times_in_turn():
    calls = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def run(self, x):
            calls.append(self.name)

    got = qs.interleaved_ms([(Fake("a"), None), (Fake("b"), None)], repeat=3, warmup=1)
    assert len(got) == 2 and all(v >= 0 for v in got)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-ups first, then round-robin


def test_screens_without_labels_take_the_generators_page_split(tmp_path):
    from PIL import Image

    from realscreens.generate import PAGES, split_of  # on sys.path via the benchmark module

    images = tmp_path / "images"
    images.mkdir()
    keys = [p.key for p in PAGES[:4]]
    for i, key in enumerate(keys):
        Image.new("RGB", (64 + 64 * i, 32), "white").save(images / f"{key}-1280x800-d1-light-s{i}.png")
    Image.new("RGB", (8, 8)).save(images / "unknown-page-1x1.png")  # no page: left out
    rows = qs._label_rows(tmp_path)
    want = {p.key: split_of(p.ident) for p in PAGES[:4]}
    assert [(r["image"].split("/")[1].rsplit("-1280x800", 1)[0], r["split"]) for r in rows] == sorted(want.items())
    _, screens = qs.load_screens(tmp_path, None, False, max_side=128)
    assert sorted(s.name.rsplit("-1280x800", 1)[0] for s in screens) == sorted(keys[:2])  # 64 and 128 px wide


def test_rechoose_prefers_a_passing_variant_over_a_failing_greedy_choice():
    def row(variant, kept, agreement):
        return {"graph": "text_detector", "backend": "onnxruntime", "precision": "int8", "variant": variant,
                "kept": kept, "kept_float": len(kept), "box_agreement": agreement}

    ctx = qs.Context(args=None, work=None, g=None, data=None, paths={})
    ctx.rows = [row("greedy: 0", [], 0.97), row("greedy: 2", ["x", "y"], 0.98), row("edge", ["first", "last"], 0.995),
                row("greedy: 8", list("abcdefgh"), 0.999)]
    ctx.chosen = {"text_detector": {"onnxruntime": qs.anchored(["x", "y"])}}
    qs.rechoose(ctx)
    assert ctx.chosen["text_detector"]["onnxruntime"] == ["^first$", "^last$"]
    # a passing choice with fewer float layers is left alone
    ctx.chosen = {"text_detector": {"onnxruntime": []}}
    ctx.rows[0]["box_agreement"] = 0.99
    qs.rechoose(ctx)
    assert ctx.chosen["text_detector"]["onnxruntime"] == []


def test_rechoose_takes_the_closest_variant_when_none_passes():
    def row(variant, kept, cer):
        return {"graph": "text_recognizer", "backend": "onnxruntime", "precision": "int8", "variant": variant,
                "kept": kept, "kept_float": len(kept), "cer": cer, "word_accuracy": 0.95}

    ctx = qs.Context(args=None, work=None, g=None, data=None, paths={})
    ctx.rows = [row("greedy: 0", [], 0.0083), row("edge", ["c0", "mm"], 0.0054), row("greedy: 4", list("abcd"), 0.0059)]
    ctx.chosen = {"text_recognizer": {"onnxruntime": qs.anchored(list("abcd"))}}
    qs.rechoose(ctx)
    assert ctx.chosen["text_recognizer"]["onnxruntime"] == ["^c0$", "^mm$"]
    assert "no measured variant meets the target" in ctx.notes[-1]


def test_closest_prefers_fewer_float_layers_among_near_ties():
    def row(kept, cer, word):
        return {"kept_float": kept, "cer": cer, "word_accuracy": word}

    rows = [row(0, 0.0042, 0.977), row(2, 0.0036, 0.9846), row(16, 0.0030, 0.9846)]
    assert qs.closest(rows) is rows[1]  # 16 layers buy 0.06 pp: a near tie
    rows.append(row(32, 0.0010, 0.9846))  # a real improvement wins
    assert qs.closest(rows) is rows[3]
    det = [{"kept_float": 0, "box_agreement": 0.976}, {"kept_float": 8, "box_agreement": 0.9804},
           {"kept_float": 2, "box_agreement": 0.9804}]
    assert qs.closest(det) is det[2]
