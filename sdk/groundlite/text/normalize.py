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
    ``word_start[i]`` (bool, ``len(text)``) is True where code point ``i`` begins a word of the
    original: the first kept character, or one preceded by a dropped character (space,
    punctuation) — so "the" inside "These" does not start at a word start.
    """

    text: str
    index: np.ndarray
    word_start: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.word_start is None:
            object.__setattr__(self, "word_start", _word_starts(self.index, self.text))

    def is_whole_word(self, start: int, end: int) -> bool:
        """Whether normalised span ``[start, end)`` begins and ends at word boundaries."""
        return bool(self.word_start[start]) and (end >= len(self.text) or bool(self.word_start[end]))

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Half-open span of original characters covering normalised span ``[start, end)``."""
        if end <= start:
            raise ValueError(f"expected a non-empty span, got [{start}, {end})")
        return int(self.index[start]), int(self.index[end - 1]) + 1


def _unsegmented(ch: str) -> bool:
    """Scripts written without spaces between words (CJK ideographs, kana, Thai, Lao, Khmer...):
    every character is its own word boundary."""
    o = ord(ch)
    return (0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF
            or 0x20000 <= o <= 0x2FA1F or 0x0E00 <= o <= 0x0EFF or 0x1780 <= o <= 0x17FF or 0x1000 <= o <= 0x109F)


def _word_starts(index: np.ndarray, text: str = "") -> np.ndarray:
    """True where a normalised code point's original character follows a dropped one (or begins),
    and around every character of a script written without spaces."""
    index = np.asarray(index, np.int64)
    if len(index) == 0:
        return np.zeros(0, bool)
    starts = np.ones(len(index), bool)
    # same original char (an expansion such as ß -> ss) continues the word; the next original char
    # continues it only when no character was dropped in between
    starts[1:] = index[1:] > index[:-1] + 1
    if text and len(text) == len(index):
        cjk = np.fromiter((_unsegmented(c) for c in text), bool, len(text))
        starts[1:] |= cjk[1:] | cjk[:-1]
    return starts


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
