"""Property tests of the phrase paths with arbitrary Unicode (hypothesis): OWL's
``validate_phrases`` + ``PhraseTokenizer`` on the real tiny package's tokenizer.json, and the text
model's ``check_phrases`` / ``normalize``. Each input gives well-formed ids / normal forms or a typed
``InvalidArgumentError`` (``InvalidPhraseError`` is a subclass) — never another exception.

Lone surrogates are left to ``test_hostile_images.py::test_phrase_with_lone_surrogate_is_typed``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groundlite.errors import InvalidArgumentError
from groundlite.grounder import validate_phrases
from groundlite.text.matching import check_phrases
from groundlite.text.normalize import normalize
from groundlite.tokenizer import PhraseTokenizer, PhraseTruncatedWarning

unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
phrase_lists = st.one_of(unicode_text, st.lists(unicode_text, max_size=6),
                         st.lists(st.sampled_from(["", " ", "\u200b", "\x00", "...", "a"]), max_size=4))
PHRASE_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def tokenizer(tiny_owlvit_package):
    import json

    m = json.loads((tiny_owlvit_package / "manifest.json").read_text())
    pad = m.get("pad_token_id", m.get("pad_id", 0))
    return PhraseTokenizer(tiny_owlvit_package / m["files"]["tokenizer"]["file"], int(m["max_text_length"]), int(pad))


@pytest.mark.slow
@PHRASE_FUZZ
@given(phrases=phrase_lists)
def test_owl_phrase_path(tokenizer, phrases):
    try:
        valid = validate_phrases(phrases)
    except InvalidArgumentError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert valid and all(isinstance(p, str) and p.strip() for p in valid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PhraseTruncatedWarning)  # long phrases are cut by design
        ids, mask = tokenizer.encode(valid)
    assert ids.dtype == np.int64 and mask.dtype == np.int64
    assert ids.shape == mask.shape == (len(valid), tokenizer.max_length)
    assert set(np.unique(mask)) <= {0, 1} and (mask.sum(axis=1) >= 1).all()
    assert (mask[:, 1:] <= mask[:, :-1]).all(), "the mask must be a prefix of ones"


@PHRASE_FUZZ
@given(phrases=phrase_lists)
def test_text_phrase_path(phrases):
    try:
        valid, norms = check_phrases(phrases)
    except InvalidArgumentError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert len(valid) == len(norms) >= 1
    for n in norms:
        assert n.text  # something searchable is left


@settings(max_examples=500, deadline=None)
@given(text=unicode_text)
def test_normalize_never_raises(text):
    normalize(text)
