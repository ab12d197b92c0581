"""Text normalisation for phrase matching, with a map back to the original characters.

Matching must ignore case, accents, whitespace and punctuation ("Region-based  Segmentation" and
"regionbasedsegmentation" are the same), because the recogniser often drops spaces and confuses
punctuation. Normalisation works character by character so every normalised code point remembers
which original character produced it; a match span in normalised text then maps back to the
recognised characters (and their boxes).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

__all__ = ["NormalizedText", "normalize", "is_searchable"]

#: Unicode general-category prefixes kept: letters, numbers and symbols ($, +, emoji).
#: Punctuation (P*), separators/whitespace (Z*), marks (M*) and control/format (C*) are dropped.
_KEEP = ("L", "N", "S")


@dataclass(frozen=True)
class NormalizedText:
    """``text`` normalised for matching.

    ``index[i]`` (int64, ``len(text)``) is the position in the original string of the character
    that produced normalised code point ``i`` (one original char may produce several: "ß" → "ss").
    """

    text: str
    index: np.ndarray

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Half-open span of original characters covering normalised span ``[start, end)``."""
        if end <= start:
            raise ValueError(f"expected a non-empty span, got [{start}, {end})")
        return int(self.index[start]), int(self.index[end - 1]) + 1


def _fold(ch: str) -> str:
    decomposed = unicodedata.normalize("NFKD", ch)
    out = []
    for c in decomposed:
        if unicodedata.combining(c):
            continue
        for f in c.casefold():
            if unicodedata.category(f)[0] in _KEEP:
                out.append(f)
    return "".join(out)


def normalize(text: str) -> NormalizedText:
    """Normalise ``text``: NFKD, drop combining marks, casefold, keep only letters/digits/symbols.

    Returns a :class:`NormalizedText` whose ``index`` maps each kept code point to its original
    character index.
    """
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold(ch)
        chars.append(folded)
        index.extend([i] * len(folded))
    return NormalizedText("".join(chars), np.asarray(index, dtype=np.int64))


def is_searchable(phrase: str) -> bool:
    """True if ``phrase`` keeps at least one character after :func:`normalize`."""
    return bool(normalize(phrase).text)
