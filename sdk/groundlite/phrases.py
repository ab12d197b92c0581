"""The one phrase validator every family uses (OWL text prompts, text-model phrases, queries)."""

from __future__ import annotations

from typing import Any, Iterable

from .errors import InvalidPhraseError

__all__ = ["validate_phrases", "MAX_PHRASES", "MAX_PHRASE_CHARS"]

#: documented bounds: a call takes at most this many phrases, each at most this many characters
#: (a 1 MB "phrase" would otherwise cost seconds of tokenising / fuzzy matching)
MAX_PHRASES = 1024
MAX_PHRASE_CHARS = 1000


def validate_phrases(phrases: Any) -> tuple[str, ...]:
    """A str or a non-empty sequence of non-blank str -> tuple of phrases (whitespace stripped).

    Raises :class:`InvalidPhraseError` (a ``ValueError``) for a non-str item, a blank phrase, an
    unpaired surrogate, an empty list, more than :data:`MAX_PHRASES` phrases or a phrase longer
    than :data:`MAX_PHRASE_CHARS` characters.
    """
    if isinstance(phrases, str):
        phrases = [phrases]
    if isinstance(phrases, (bytes, bytearray)) or not isinstance(phrases, Iterable):
        raise InvalidPhraseError(f"expected a phrase or a list of phrases, got {type(phrases).__name__}")
    out = []
    for i, p in enumerate(phrases):
        if not isinstance(p, str):
            raise InvalidPhraseError(f"expected phrase {i} to be a str, got {type(p).__name__}")
        if not p.strip():
            raise InvalidPhraseError(f"expected phrase {i} to contain non-blank text, got {p!r}")
        try:
            p.encode("utf-8")
        except UnicodeEncodeError as e:  # lone surrogates: no tokenizer or matcher can take them
            raise InvalidPhraseError(
                f"expected phrase {i} to be valid Unicode text, got {p!r} with an unpaired surrogate at {e.start}"
            ) from None
        if len(p) > MAX_PHRASE_CHARS:
            raise InvalidPhraseError(
                f"expected phrase {i} to have at most {MAX_PHRASE_CHARS} characters, got {len(p)}")
        out.append(p.strip())
        if len(out) > MAX_PHRASES:
            raise InvalidPhraseError(f"expected at most {MAX_PHRASES} phrases, got more")
    if not out:
        raise InvalidPhraseError("expected at least one phrase, got an empty list")
    return tuple(out)
