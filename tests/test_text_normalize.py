"""Normalisation for text matching: folding rules and the map back to original characters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from groundlite.text.normalize import is_searchable, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Region-based segmentation", "regionbasedsegmentation"),
        ("  HeLLo,   World! ", "helloworld"),
        ("Crème Brûlée", "cremebrulee"),
        ("Straße", "strasse"),              # casefold expands ß
        ("ﬁle", "file"),                    # NFKD splits the ligature
        ("np.zeros_like(coins)", "npzeroslikecoins"),
        ("$12.99 + tax", "$1299+tax"),      # symbols are kept, punctuation dropped
        ("東京タワー", "東京タワー"),           # CJK letters are kept (ー is a letter modifier)
        ("café ☕", "cafe☕"),               # emoji are symbols
        ("...!?", ""),
        ("", ""),
    ],
)
def test_normalize_table(text: str, expected: str) -> None:
    assert normalize(text).text == expected


def test_index_maps_each_normalised_char_to_its_source() -> None:
    n = normalize("A-ß é")
    assert n.text == "asse"
    # a (0), s s from ß (2), e from é (4, its combining accent dropped)
    assert n.index.tolist() == [0, 2, 2, 4]
    assert n.original_span(1, 3) == (2, 3)
    assert n.original_span(0, 4) == (0, 5)


def test_original_span_rejects_empty_span() -> None:
    with pytest.raises(ValueError):
        normalize("abc").original_span(2, 2)


@given(st.text(max_size=40))
def test_index_is_monotonic_and_in_range(text: str) -> None:
    n = normalize(text)
    assert len(n.index) == len(n.text)
    assert n.index.dtype == np.int64
    if len(n.index):
        assert np.all(np.diff(n.index) >= 0)
        assert 0 <= n.index.min() and n.index.max() < len(text)
        # every normalised char comes from folding its source char
        for i, src in enumerate(n.index.tolist()):
            assert n.text[i] in normalize(text[src]).text


def test_is_searchable() -> None:
    assert is_searchable("a")
    assert is_searchable("😀")
    assert not is_searchable(" \t-–—.,;:!?")
