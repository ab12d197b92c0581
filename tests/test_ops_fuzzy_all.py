"""fuzzy_find_all (every non-overlapping approximate occurrence) against a brute-force reference."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_ops as ref
from groundlite import ops
from groundlite.errors import InvalidArgumentError, InvalidPhraseError


def occurrences(text: str, phrase: str, max_distance: int) -> list[tuple[int, int, int]]:
    """(distance, start, end) rows of one (text, phrase) pair."""
    region, phrase_idx, distance, start, end = ops.fuzzy_find_all([text], [phrase], [max_distance])
    assert (region == 0).all() and (phrase_idx == 0).all()
    return list(zip(distance.tolist(), start.tolist(), end.tolist()))


def assert_matches_reference(texts, phrases, max_distance):
    got = ops.fuzzy_find_all(texts, phrases, np.asarray(max_distance, np.int64))
    want = ref.fuzzy_find_all(texts, phrases, max_distance)
    for g, w in zip(got, want):
        assert g.dtype == np.int64 and g.ndim == 1
        np.testing.assert_array_equal(g, w)


# ------------------------------------------------------------------------------------------------
# hand-checked cases
HAND = [
    # (text, phrase, max_distance, [(distance, start, end)])
    ("the cat and the dog and the bird", "the", 1, [(0, 0, 3), (0, 12, 15), (0, 24, 27)]),
    ("the cat and the dog and the bird", "the", 0, [(0, 0, 3), (0, 12, 15), (0, 24, 27)]),
    ("thethe", "the", 1, [(0, 0, 3), (0, 3, 6)]),  # touching spans do not overlap
    ("aaa", "aa", 0, [(0, 0, 2)]),  # [0,2) and [1,3) overlap: the earlier start wins
    ("a bat sat", "cat", 1, [(1, 2, 5), (1, 6, 9)]),  # one substitution each
    ("a bat sat", "cat", 0, []),  # max_distance 0: exact only
    ("the STOP sign", "stop", 0, []),  # exact comparison: case matters
    ("the STOP sign", "STOP", 0, [(0, 4, 8)]),
    ("straße", "straße", 0, [(0, 0, 6)]),  # code points: ß is one, not two UTF-8 bytes
    ("in der straße, die strasse", "straße", 2, [(0, 7, 13), (2, 19, 25)]),  # length closest to the phrase
    ("café crème", "crème", 0, [(0, 5, 10)]),
    ("", "the", 3, []),  # empty text: nothing
    ("ab", "abcdef", 6, [(4, 0, 2)]),  # the whole text when the phrase is longer
]


@pytest.mark.parametrize(("text", "phrase", "max_distance", "want"), HAND, ids=[f"{c[0]!r}-{c[1]}-{c[2]}" for c in HAND])
def test_hand_checked(text, phrase, max_distance, want):
    assert occurrences(text, phrase, max_distance) == want
    assert ref.fuzzy_find_all_one(text, phrase, max_distance) == want


def test_several_texts_and_phrases_flat_layout_sorted():
    texts = ["the dog", "", "dog the dog", "cat"]
    phrases = ["dog", "the", "cat"]
    region, phrase, distance, start, end = ops.fuzzy_find_all(texts, phrases, np.array([0, 0, 0]))
    rows = list(zip(region.tolist(), phrase.tolist(), distance.tolist(), start.tolist(), end.tolist()))
    assert rows == [
        (0, 0, 0, 4, 7), (0, 1, 0, 0, 3),
        (2, 0, 0, 0, 3), (2, 0, 0, 8, 11), (2, 1, 0, 4, 7),
        (3, 2, 0, 0, 3),
    ]
    assert rows == sorted(rows, key=lambda r: (r[0], r[1], r[3]))


def test_best_distance_equals_fuzzy_find():
    """The closest occurrence found has fuzzy_find's distance (its global minimum is a local one)."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        text = "".join(rng.choice(list("abc "), rng.integers(1, 15)))
        phrase = "".join(rng.choice(list("abc"), rng.integers(1, 5)))
        sim, _, _ = ops.fuzzy_find([text], [phrase])
        d_best = round((1.0 - float(sim[0, 0])) * len(phrase))
        found = occurrences(text, phrase, len(phrase))
        assert min(d for d, _, _ in found) == d_best


def test_rows_capped_per_pair_keep_the_earliest_among_equals():
    cap = ops.FUZZY_FIND_ALL_MAX_PER_PAIR
    assert cap == 256
    text = "a" * (cap + 100)
    region, phrase, distance, start, end = ops.fuzzy_find_all([text, "aaa"], ["a"], [0])
    per_region = np.bincount(region, minlength=2)
    assert per_region.tolist() == [cap, 3]
    np.testing.assert_array_equal(start[:cap], np.arange(cap))  # all equal: earliest starts kept
    # exact matches are taken before fuzzy ones when the cap bites
    text = "ac " * 300 + "ab"  # 300 one-substitution matches, then the exact one
    _, _, distance, start, end = ops.fuzzy_find_all([text], ["ab"], [1])
    assert len(distance) == cap and distance.tolist() == [1] * (cap - 1) + [0]
    np.testing.assert_array_equal(start, np.r_[np.arange(cap - 1) * 3, 900])
    np.testing.assert_array_equal(end - start, 2)


def test_empty_inputs_give_no_rows():
    for texts, phrases, md in (([], ["a"], [1]), ([""], ["a"], [1]), (["abc"], [], []),
                               (["abc"], [], np.zeros(0, np.int64))):
        out = ops.fuzzy_find_all(texts, phrases, md)
        assert len(out) == 5
        for a in out:
            assert a.dtype == np.int64 and a.shape == (0,)


def test_releases_gil_two_threads_agree():
    texts = ["lorem ipsum dolor sit amet, dolor sit " * 30] * 10
    phrases = ["dolor", "amet sit", "ipsun"]
    md = np.array([1, 2, 1])
    expected = ops.fuzzy_find_all(texts, phrases, md)
    out = []
    threads = [threading.Thread(target=lambda: out.append(ops.fuzzy_find_all(texts, phrases, md))) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(out) == 2
    for r in out:
        for g, w in zip(r, expected):
            np.testing.assert_array_equal(g, w)


# ------------------------------------------------------------------------------------------------
# properties against the brute-force reference
@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab", max_size=12), phrase=st.text(alphabet="ab", min_size=1, max_size=4),
       max_distance=st.integers(0, 4))
def test_matches_reference_binary_alphabet(text, phrase, max_distance):
    assert_matches_reference([text], [phrase], [max_distance])


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(alphabet="abcß ", max_size=10), max_size=3),
       phrases=st.lists(st.tuples(st.text(alphabet="abcß", min_size=1, max_size=5), st.integers(0, 3)),
                        min_size=1, max_size=3))
def test_matches_reference_many_pairs(texts, phrases):
    assert_matches_reference(texts, [p for p, _ in phrases], [d for _, d in phrases])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_matches_reference_seeded(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        texts = ["".join(rng.choice(list("abé "), rng.integers(0, 14))) for _ in range(2)]
        phrases = ["".join(rng.choice(list("abé"), rng.integers(1, 5))) for _ in range(2)]
        md = np.floor(0.34 * np.array([len(p) for p in phrases]) + rng.integers(0, 2, 2)).astype(np.int64)
        assert_matches_reference(texts, phrases, md)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="abc", max_size=14), phrase=st.text(alphabet="abc", min_size=1, max_size=4),
       max_distance=st.integers(0, 3))
def test_invariants(text, phrase, max_distance):
    rows = occurrences(text, phrase, max_distance)
    for d, s, e in rows:
        assert 0 <= s < e <= len(text) and d <= max_distance
        assert d == ref.levenshtein(text[s:e], phrase)
    for (_, _, e0), (_, s1, _) in zip(rows, rows[1:]):
        assert e0 <= s1  # sorted by start and disjoint
    if phrase in text:
        assert any(d == 0 for d, _, _ in rows)


# ------------------------------------------------------------------------------------------------
BAD = [
    ("empty phrase", lambda: ops.fuzzy_find_all(["abc"], ["ok", ""], [0, 0]), InvalidPhraseError,
     "phrases: expected non-empty strings, got an empty string at index 1"),
    ("texts str", lambda: ops.fuzzy_find_all("abc", ["a"], [0]), InvalidArgumentError,
     "texts: expected a list of str, got str"),
    ("text non-str", lambda: ops.fuzzy_find_all(["abc", b"x"], ["a"], [0]), InvalidArgumentError,
     "texts: expected a list of str, got bytes at index 1"),
    ("phrase non-str", lambda: ops.fuzzy_find_all(["abc"], ["a", 3], [0, 0]), InvalidArgumentError,
     "phrases: expected a list of str, got int at index 1"),
    ("surrogate", lambda: ops.fuzzy_find_all(["a\ud800b"], ["a"], [0]), InvalidArgumentError,
     "lone surrogate in the string at index 0"),
    ("md short", lambda: ops.fuzzy_find_all(["abc"], ["a", "b"], [1]), InvalidArgumentError,
     "max_distance: expected shape (2,), one per phrase, got (1,)"),
    ("md long", lambda: ops.fuzzy_find_all(["abc"], ["a"], [1, 2]), InvalidArgumentError,
     "max_distance: expected shape (1,), one per phrase, got (2,)"),
    ("md 2-D", lambda: ops.fuzzy_find_all(["abc"], ["a"], [[1]]), InvalidArgumentError,
     "max_distance: expected shape (1,), one per phrase, got (1, 1)"),
    ("md scalar", lambda: ops.fuzzy_find_all(["abc"], ["a"], 1), InvalidArgumentError,
     "max_distance: expected shape (1,), one per phrase, got ()"),
    ("md float", lambda: ops.fuzzy_find_all(["abc"], ["a"], np.array([1.0])), InvalidArgumentError,
     "max_distance: expected integer edit counts, got dtype float64"),
    ("md bool", lambda: ops.fuzzy_find_all(["abc"], ["a"], [True]), InvalidArgumentError,
     "max_distance: expected integer edit counts, got dtype bool"),
    ("md str", lambda: ops.fuzzy_find_all(["abc"], ["a"], "1"), InvalidArgumentError,
     "max_distance: expected an int64 array, got str"),
    ("md None", lambda: ops.fuzzy_find_all(["abc"], ["a"], None), InvalidArgumentError,
     "max_distance: expected an int64 array, got NoneType"),
    ("md negative", lambda: ops.fuzzy_find_all(["abc"], ["a", "b"], [0, -1]), InvalidArgumentError,
     "max_distance: expected edit counts >= 0, got -1 at index 1"),
    ("md uint64 huge", lambda: ops.fuzzy_find_all(["abc"], ["a"], np.array([2**63], np.uint64)), InvalidArgumentError,
     "max_distance: expected values that fit int64"),
]


@pytest.mark.parametrize(("case", "call", "exc", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs(case, call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)
