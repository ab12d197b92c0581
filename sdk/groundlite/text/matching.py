"""Phrase grounding over recognised text: fuzzy, normalised, across words and across lines.

Every line (and every pair of consecutive lines in reading order, for phrases that wrap) is
normalised (:mod:`.normalize`), and the C++ ``ops.fuzzy_find`` finds the best approximate
occurrence of each normalised phrase in every region at once. A match span maps back to the
recognised characters, whose boxes give a box tight around the matched characters only (for a
phrase that wraps onto the next line the box is the union of both line pieces).

score = similarity x mean recognition probability of the matched characters, where
similarity = 1 - edit distance / phrase length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from ..errors import InvalidArgumentError, InvalidPhraseError
from .normalize import NormalizedText, normalize

__all__ = ["LineText", "Match", "check_phrases", "match_phrases"]


class LineText(Protocol):
    """What matching needs of a recognised line (:class:`~groundlite.text.TextLine` has it):
    its text, char boxes float32 ``[len(text),4]`` and char scores float32 ``[len(text)]``."""

    text: str
    char_xyxy: np.ndarray
    char_scores: np.ndarray


@dataclass(frozen=True)
class Match:
    """One occurrence of phrase ``label`` spanning ``lines`` (reading-order indices)."""

    label: int
    lines: tuple[int, ...]
    xyxy: np.ndarray          # float32 [4]
    similarity: float
    confidence: float
    score: float
    text: str                 # the recognised characters that matched


def check_phrases(phrases: str | Sequence[str]) -> tuple[tuple[str, ...], list[NormalizedText]]:
    """Validate phrases; a single str is one phrase. Returns the phrases and their normal forms.

    Raises :class:`InvalidPhraseError` for an empty list or a phrase with nothing searchable
    (only whitespace / punctuation), :class:`InvalidArgumentError` for non-str items.
    """
    if isinstance(phrases, str):
        phrases = (phrases,)
    try:
        phrases = tuple(phrases)
    except TypeError:
        raise InvalidArgumentError(f"expected a phrase or a list of phrases, got {type(phrases).__name__}") from None
    if not phrases:
        raise InvalidPhraseError("expected at least one phrase, got an empty list")
    norms = []
    for i, p in enumerate(phrases):
        if not isinstance(p, str):
            raise InvalidArgumentError(f"expected phrase {i} to be a str, got {type(p).__name__}")
        n = normalize(p)
        if not n.text:
            raise InvalidPhraseError(
                f"expected phrase {i} to contain a letter, digit or symbol, got {p!r} (only whitespace/punctuation)"
            )
        norms.append(n)
    return phrases, norms


@dataclass(frozen=True)
class _Region:
    lines: tuple[int, ...]
    text: str
    line_of: np.ndarray       # normalised position -> line index
    char_of: np.ndarray       # normalised position -> char index inside that line
    boundary: int             # normalised length of the first line (pairs only)


def _regions(norm_lines: list[NormalizedText]) -> list[_Region]:
    regions = []
    for i, n in enumerate(norm_lines):
        if n.text:
            regions.append(_Region((i,), n.text, np.full(len(n.text), i), n.index, len(n.text)))
    for i in range(len(norm_lines) - 1):
        a, b = norm_lines[i], norm_lines[i + 1]
        if a.text and b.text:
            regions.append(_Region(
                (i, i + 1), a.text + b.text,
                np.concatenate([np.full(len(a.text), i), np.full(len(b.text), i + 1)]),
                np.concatenate([a.index, b.index]), len(a.text),
            ))
    return regions


def match_phrases(lines: Sequence[LineText], phrases: Sequence[str], threshold: float) -> list[Match]:
    """Ground ``phrases`` in recognised ``lines`` (reading order).

    Returns at most one match per (phrase, line), best score first per phrase, every score
    ``>= threshold``. A pair-of-lines match is kept only when it really crosses the line break.
    """
    phrases, norm_phrases = check_phrases(phrases)
    if not (0.0 <= float(threshold) <= 1.0):
        raise InvalidArgumentError(f"expected threshold in [0, 1], got {threshold!r}")
    norm_lines = [normalize(line.text) for line in lines]
    regions = _regions(norm_lines)
    if not regions:
        return []
    from .. import ops

    sim, start, end = ops.fuzzy_find([r.text for r in regions], [p.text for p in norm_phrases])
    candidates: list[Match] = []
    for r, region in enumerate(regions):
        for q in range(len(phrases)):
            s, e = int(start[r, q]), int(end[r, q])
            if e <= s or float(sim[r, q]) < threshold:  # score <= similarity
                continue
            if len(region.lines) == 2 and not (s < region.boundary < e):
                continue  # the single-line regions already cover it
            m = _build(q, region, s, e, float(sim[r, q]), lines)
            if m is not None and m.score >= threshold:
                candidates.append(m)
    candidates.sort(key=lambda m: (m.label, -m.score))
    taken: set[tuple[int, int]] = set()
    out = []
    for m in candidates:
        if any((m.label, li) in taken for li in m.lines):
            continue
        taken.update((m.label, li) for li in m.lines)
        out.append(m)
    return out


def _build(label: int, region: _Region, s: int, e: int, similarity: float, lines: Sequence[LineText]) -> Match | None:
    boxes, scores, pieces = [], [], []
    for li in dict.fromkeys(region.line_of[s:e].tolist()):
        sel = region.line_of[s:e] == li
        chars = region.char_of[s:e][sel]
        c0, c1 = int(chars.min()), int(chars.max()) + 1
        line = lines[li]
        boxes.append(line.char_xyxy[c0:c1])
        scores.append(line.char_scores[c0:c1])
        pieces.append(line.text[c0:c1])
    b = np.concatenate(boxes)
    if len(b) == 0:
        return None
    xyxy = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()], np.float32)
    confidence = float(np.concatenate(scores).mean())
    return Match(label, tuple(int(x) for x in dict.fromkeys(region.line_of[s:e].tolist())), xyxy,
                 similarity, confidence, similarity * confidence, " ".join(pieces))
