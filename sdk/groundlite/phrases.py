"""The one phrase validator every family uses (OWL text prompts, text-model phrases, queries)."""

from __future__ import annotations

from typing import Any, Iterable

from .errors import InvalidPhraseError

__all__ = ["validate_phrases", "MAX_PHRASES", "MAX_PHRASE_CHARS"]

#: documented bound: a call takes at most this many phrases (OWL tokenises each one; the text
#: model matches each one against every line)
MAX_PHRASES = 4096
#: no bound on a phrase's length: OWL truncates to its text context (with a warning), the text
#: model skips a phrase that is longer than any line could match (see ``text.matching``)
MAX_PHRASE_CHARS = None


def validate_phrases(phrases: Any) -> tuple[str, ...]:
    """A str or a non-empty sequence of non-blank str -> tuple of phrases (whitespace stripped).

    Raises :class:`InvalidPhraseError` (a ``ValueError``) for a non-str item, a blank phrase, an
    unpaired surrogate, an empty list or more than :data:`MAX_PHRASES` phrases.
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
        out.append(p.strip())
        if len(out) > MAX_PHRASES:
            raise InvalidPhraseError(f"expected at most {MAX_PHRASES} phrases, got more")
    if not out:
        raise InvalidPhraseError("expected at least one phrase, got an empty list")
    return tuple(out)
