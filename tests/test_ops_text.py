"""ctc_greedy_decode / fuzzy_find / edit_similarity against brute-force references."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_ops as ref
from groundlite import ops
from groundlite.errors import InvalidArgumentError, InvalidPhraseError


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), b=st.integers(0, 4), t=st.integers(0, 30), c=st.integers(1, 6),
       blank=st.integers(0, 5), peaky=st.booleans())
def test_ctc_matches_reference(seed, b, t, c, blank, peaky):
    blank = blank % c
    rng = np.random.default_rng(seed)
    probs = _softmax(rng.normal(0, 4 if peaky else 1, (b, t, c)))
    got = ops.ctc_greedy_decode(probs, blank)
    want = ref.ctc_greedy_decode(probs, blank)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6)
    assert got[4].shape == (b + 1,)


def test_ctc_hand_checked():
    # steps: a a - a b b -  (blank = 0, a = 1, b = 2)
    path = [1, 1, 0, 1, 2, 2, 0]
    p = np.full((1, 7, 3), 0.1, np.float32)
    conf = [0.9, 0.7, 0.8, 0.6, 0.5, 0.7, 0.8]
    for i, (k, v) in enumerate(zip(path, conf)):
        p[0, i, k] = v
    labels, scores, start, end, offsets = ops.ctc_greedy_decode(p)
    assert labels.tolist() == [1, 1, 2] and start.tolist() == [0, 3, 4] and end.tolist() == [2, 4, 6]
    np.testing.assert_allclose(scores, [0.8, 0.6, 0.6], rtol=1e-6)
    assert offsets.tolist() == [0, 3]


def test_ctc_nan_steps_count_as_blank():
    p = np.array([[[0.1, 0.9], [np.nan, np.nan], [np.nan, 0.8]]], np.float32)
    labels, scores, start, end, _ = ops.ctc_greedy_decode(p)
    assert labels.tolist() == [1, 1] and start.tolist() == [0, 2]


@settings(max_examples=80, deadline=None)
@given(text=st.text(alphabet="abcé世 ", max_size=9), phrase=st.text(alphabet="abcé世 ", min_size=1, max_size=5))
def test_fuzzy_find_matches_brute_force(text, phrase):
    sim, start, end = ops.fuzzy_find([text], [phrase])
    want_sim, want_start, want_end = ref.fuzzy_find_one(text, phrase)
    assert (start[0, 0], end[0, 0]) == (want_start, want_end)
    assert sim[0, 0] == pytest.approx(want_sim, abs=1e-6)


def test_fuzzy_find_hand_checked_and_code_points():
    sim, start, end = ops.fuzzy_find(["the STOP sign", "café crème", ""], ["stop", "STOP", "crème"])
    assert sim.shape == start.shape == end.shape == (3, 3)
    assert (start[0, 1], end[0, 1], sim[0, 1]) == (4, 8, 1.0)
    assert (start[1, 2], end[1, 2], sim[1, 2]) == (5, 10, 1.0)  # code points, not UTF-8 bytes
    assert sim[2].tolist() == [0.0, 0.0, 0.0] and end[2].tolist() == [0, 0, 0]
    # case-sensitive: "STOP" does not match "stop"; best is 3 edits, earliest such span "the"
    assert (sim[0, 0], start[0, 0], end[0, 0]) == (0.25, 0, 3)


@settings(max_examples=60, deadline=None)
@given(a=st.lists(st.text(alphabet="ab世", max_size=6), max_size=3), b=st.lists(st.text(alphabet="ab世", max_size=6), max_size=3))
def test_edit_similarity_matches_reference(a, b):
    got = ops.edit_similarity(a, b)
    assert got.shape == (len(a), len(b)) and got.dtype == np.float32
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            assert got[i, j] == pytest.approx(ref.edit_similarity_one(x, y), abs=1e-6)


def test_fuzzy_find_releases_gil_two_threads_agree():
    texts = ["lorem ipsum dolor sit amet " * 40] * 20
    phrases = ["dolor", "amet sit", "ipsun"]
    expected = ops.fuzzy_find(texts, phrases)
    out = []
    threads = [threading.Thread(target=lambda: out.append(ops.fuzzy_find(texts, phrases))) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for r in out:
        for g, w in zip(r, expected):
            np.testing.assert_array_equal(g, w)


BAD = [
    ("probs 2-D", lambda: ops.ctc_greedy_decode(np.zeros((4, 5), np.float32)), InvalidArgumentError,
     "probs: expected shape (B, T, C), got (4, 5)"),
    ("blank range", lambda: ops.ctc_greedy_decode(np.zeros((1, 4, 5), np.float32), blank=5), InvalidArgumentError,
     "blank: expected a class id in [0, 5), got 5"),
    ("blank neg", lambda: ops.ctc_greedy_decode(np.zeros((1, 4, 5), np.float32), blank=-1), InvalidArgumentError, "blank"),
    ("empty phrase", lambda: ops.fuzzy_find(["abc"], ["ok", ""]), InvalidPhraseError, "empty string at index 1"),
    ("str not list", lambda: ops.fuzzy_find("abc", ["a"]), InvalidArgumentError, "texts: expected a list of str, got str"),
    ("non-str item", lambda: ops.fuzzy_find(["abc"], ["a", 3]), InvalidArgumentError, "got int at index 1"),
    ("surrogate", lambda: ops.fuzzy_find(["a\ud800b"], ["a"]), InvalidArgumentError, "lone surrogate in the string at index 0"),
    ("edit non-str", lambda: ops.edit_similarity(["a"], [None]), InvalidArgumentError, "b: expected a list of str"),
]


@pytest.mark.parametrize(("case", "call", "exc", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs(case, call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)
