"""Text fidelity metrics on hand-made reads, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from groundlite_export import text_fidelity as tf


@pytest.mark.parametrize(("a", "b", "d"), [
    ("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3), ("Save", "Save", 0),
    ("Save", "Sava", 1), ("flaw", "lawn", 2), ("ünï", "uni", 2),
])
def test_levenshtein_table(a, b, d):
    assert tf.levenshtein(a, b) == d == tf.levenshtein(b, a)


def test_levenshtein_matches_the_kernel_similarity():
    ops = pytest.importorskip("groundlite.ops")
    words = ["Settings", "Setings", "Sign in", "Sign-in", "", "x"]
    sim = ops.edit_similarity(words, words)
    for i, a in enumerate(words):
        for j, b in enumerate(words):
            longest = max(len(a), len(b))
            expected = 1.0 if longest == 0 else 1.0 - tf.levenshtein(a, b) / longest
            assert sim[i, j] == pytest.approx(expected, abs=1e-6)


def test_iou_just_past_the_threshold():
    assert tf.iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert tf.iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert tf.iou([0, 0, 10, 10], [0, 0, 0, 0]) == 0.0
    # width 10 vs 15 (nested): IoU 10/15 = 0.667; vs 20: 0.5 exactly; vs 21: just below
    assert tf.iou([0, 0, 10, 1], [0, 0, 20, 1]) == pytest.approx(0.5)
    assert tf.pair_lines([("a", [0, 0, 10, 1])], [("a", [0, 0, 20, 1])]) == {0: 0}
    assert tf.pair_lines([("a", [0, 0, 10, 1])], [("a", [0, 0, 21, 1])]) == {}


REF = [("Sign in", [0, 0, 100, 20]), ("Forgot password?", [0, 30, 200, 50]), ("Help", [0, 60, 40, 80])]


def test_identical_reads_are_perfect():
    assert tf.cer(REF, REF) == 0.0
    assert tf.word_accuracy(REF, REF) == 1.0
    assert tf.line_agreement(REF, REF) == (3, 3)


def test_one_substitution_one_missing_line():
    cand = [("Forgot passw0rd?", [1, 31, 199, 50]), ("Sign in", [0, 0, 100, 20])]  # reordered, "Help" lost
    # errors: 0 (Sign in) + 1 (o->0) + 4 (Help missing); characters 7 + 16 + 4 = 27
    assert tf.cer_counts(REF, cand) == (5, 27)
    assert tf.cer(REF, cand) == pytest.approx(5 / 27)
    # words: Sign, in (2) + Forgot (1 of 2) + Help (0 of 1) = 3 of 5
    assert tf.word_counts(REF, cand) == (3, 5)
    assert tf.line_agreement(REF, cand) == (1, 3)


def test_pairing_is_one_to_one():
    ref = [("ab", [0, 0, 10, 10]), ("ab", [0, 0, 10, 10])]
    cand = [("ab", [0, 0, 10, 10])]
    assert tf.pair_lines(ref, cand) == {0: 0}
    assert tf.cer_counts(ref, cand) == (2, 4)  # the second reference line is unpaired


def test_repeated_words_count_once_each():
    ref = [("ok ok ok", [0, 0, 10, 10])]
    cand = [("ok ok", [0, 0, 10, 10])]
    assert tf.word_counts(ref, cand) == (2, 3)


def test_grounding_hits_and_accuracy():
    labels = [{"phrase": "Sign in", "xyxy": [0, 0, 100, 20]},
              {"phrase": "Help", "xyxy": [0, 60, 40, 80]},
              {"phrase": "Help", "xyxy": [300, 60, 340, 80]},        # labelled twice: counts once
              {"phrase": "Cancel", "xyxy": [0, 90, 60, 110]}]
    tops = {"Sign in": [0, 0, 100, 20], "Help": [301, 60, 340, 80], "Cancel": None}
    assert tf.grounding_hits(labels, tops) == (2, 3)
    assert tf.grounding_accuracy(labels, tops) == pytest.approx(2 / 3)
    assert tf.grounding_accuracy([], {}) == 0.0
    tops["Sign in"] = [0, 0, 100, 60]  # IoU 1/3
    assert tf.grounding_hits(labels, tops) == (1, 3)


def test_top_boxes_takes_the_best_scoring_box_per_phrase():
    from groundlite.detections import Detections

    det = Detections(xyxy=np.array([[0, 0, 1, 1], [5, 5, 6, 6], [2, 2, 3, 3]], np.float32),
                     scores=np.array([0.5, 0.9, 0.7], np.float32), labels=np.array([0, 0, 1], np.int64),
                     phrases=("a", "b", "c"))
    assert tf.top_boxes(det, ["a", "b", "c"]) == {"a": [5, 5, 6, 6], "b": [2, 2, 3, 3], "c": None}
