"""Phrase grounding over recognised text: every occurrence, whole words first, across lines.

Every line (and every pair of consecutive lines in reading order, for phrases that wrap) is
normalised (:mod:`.normalize`: case, accents, spaces and punctuation folded away, so lost or extra
spaces, hyphenation and code punctuation do not break a match), and the C++
``ops.fuzzy_find_all`` finds *every* non-overlapping approximate occurrence of each normalised
phrase within :data:`MAX_EDIT_FRACTION` of its length, in all regions at once. A match span maps
back to the recognised characters, whose boxes give a box tight around the matched characters only
(for a phrase that wraps onto the next line, the union of both line pieces).

Word boundaries come from the recognised text (a space or punctuation before a character) *and*
from the character geometry (a gap between character centres much wider than the line's usual
step: the recogniser often drops the space between two words). An occurrence that starts and ends
at word boundaries is a *whole-word* match and outranks one inside a longer word ("the" in
"These").

Each match carries its similarity (1 - edit distance / phrase length), its confidence (mean
recognition probability of the matched characters), the whole-word flag and the phrase length.
Its ``score`` is the package's calibrated probability (:mod:`.scoring`) when the package has one,
otherwise ``raw_score`` = similarity x confidence (x :data:`SUBWORD_FACTOR` inside a word).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from ..errors import InvalidArgumentError, InvalidPhraseError
from ..phrases import validate_phrases
from .normalize import NormalizedText, normalize
from .scoring import Scoring, features

__all__ = ["LineText", "Match", "build_regions", "check_phrases", "match_phrases", "MAX_EDIT_FRACTION", "SUBWORD_FACTOR"]

#: candidate occurrences may differ from the phrase by at most this fraction of its normalised length
MAX_EDIT_FRACTION = 0.34
#: raw-score factor for an occurrence inside a longer word (used only without a fitted scoring)
SUBWORD_FACTOR = 0.8
#: a centre-to-centre step this many times the line's median step is a word gap (a dropped space)
GAP_FACTOR = 1.6


class LineText(Protocol):
    """What matching needs of a recognised line (:class:`~groundlite.text.TextLine` has it):
    its text, char boxes float32 ``[len(text),4]`` and char scores float32 ``[len(text)]``."""

    text: str
    char_xyxy: np.ndarray
    char_scores: np.ndarray


@dataclass(frozen=True)
class Match:
    """One occurrence of phrase ``label`` spanning ``lines`` (reading-order indices).

    ``pieces`` holds one box per line the occurrence spans (their union is ``xyxy``).
    """

    label: int
    lines: tuple[int, ...]
    xyxy: np.ndarray          # float32 [4]
    similarity: float
    confidence: float
    score: float
    text: str                 # the recognised characters that matched
    whole_word: bool = True
    n_chars: int = 0          # normalised phrase length
    raw_score: float = 0.0
    pieces: tuple[np.ndarray, ...] = ()


def check_phrases(phrases: str | Sequence[str]) -> tuple[tuple[str, ...], list[NormalizedText]]:
    """Validate phrases (:func:`groundlite.phrases.validate_phrases`) and normalise them.

    Raises :class:`InvalidPhraseError` for anything that validator refuses and for a phrase with
    nothing searchable (only whitespace / punctuation).
    """
    phrases = validate_phrases(phrases)
    norms = []
    for i, p in enumerate(phrases):
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
    word_start: np.ndarray    # normalised position -> begins a word
    boundary: int             # normalised length of the first line (pairs only)

    def is_whole_word(self, s: int, e: int) -> bool:
        return bool(self.word_start[s]) and (e >= len(self.text) or bool(self.word_start[e]))


def _geometric_starts(line: LineText, norm: NormalizedText) -> np.ndarray:
    """Word starts of a line's normalised text, adding gaps the recogniser left without a space."""
    starts = norm.word_start.copy()
    boxes = np.asarray(line.char_xyxy, np.float64)
    if len(norm.text) < 3 or len(boxes) != len(line.text):
        return starts
    centres = 0.5 * (boxes[norm.index, 0] + boxes[norm.index, 2])
    steps = np.diff(centres)
    distinct = norm.index[1:] != norm.index[:-1]
    if distinct.sum() < 2:
        return starts
    typical = float(np.median(steps[distinct]))
    if typical <= 0:
        return starts
    starts[1:] |= distinct & (steps > GAP_FACTOR * typical)
    return starts


def _line_pairs(lines: Sequence[LineText]) -> list[tuple[int, int]]:
    """Pairs (i, j) of lines a phrase may wrap across: consecutive in reading order, and each line
    with the nearest line just below it that overlaps it horizontally (a wrapped heading or table
    cell whose continuation is not next in reading order because a neighbouring column is)."""
    pairs = {(i, i + 1) for i in range(len(lines) - 1)}
    boxes = []
    for line in lines:  # a TextLine's detected box; other LineText objects: the bounds of their chars
        xyxy = getattr(line, "xyxy", None)
        b = _bounds(line.char_xyxy) if xyxy is None else np.asarray(xyxy, np.float64).reshape(-1)
        boxes.append(b if len(b) == 4 else np.zeros(4))
    if len(boxes) > 1:
        xyxy = np.stack(boxes)
        h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-6)
        for i in range(len(lines)):
            below = (xyxy[:, 1] > xyxy[i, 1] + 0.5 * h[i]) & (xyxy[:, 1] - xyxy[i, 3] < 0.8 * h[i]) \
                & (xyxy[:, 0] < xyxy[i, 2]) & (xyxy[:, 2] > xyxy[i, 0])
            below[i] = False
            cand = np.nonzero(below)[0]
            if len(cand):
                j = int(cand[np.argmin(xyxy[cand, 1])])
                pairs.add((i, j))
    return sorted(pairs)


def _bounds(char_xyxy: np.ndarray) -> np.ndarray:
    b = np.asarray(char_xyxy, np.float64).reshape(-1, 4)
    if not len(b):
        return np.zeros(4)
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])


def _regions(lines: Sequence[LineText], norm_lines: list[NormalizedText]) -> list[_Region]:
    regions = []
    starts = [_geometric_starts(line, n) if n.text else n.word_start for line, n in zip(lines, norm_lines)]
    for i, n in enumerate(norm_lines):
        if n.text:
            regions.append(_Region((i,), n.text, np.full(len(n.text), i), n.index, starts[i], len(n.text)))
    for i, j in _line_pairs(lines):
        a, b = norm_lines[i], norm_lines[j]
        if a.text and b.text:
            regions.append(_Region(
                (i, j), a.text + b.text,
                np.concatenate([np.full(len(a.text), i), np.full(len(b.text), j)]),
                np.concatenate([a.index, b.index]), np.concatenate([starts[i], starts[j]]), len(a.text),
            ))
    return regions


def build_regions(lines: Sequence[LineText]) -> list[_Region]:
    """The searchable regions of ``lines`` (each line and each pair a phrase may wrap across),
    normalised once; pass them to :func:`match_phrases` to match many phrases against one screen."""
    return _regions(lines, [normalize(line.text) for line in lines])


def match_phrases(lines: Sequence[LineText], phrases: Sequence[str] | str, threshold: float, *,
                  scoring: Scoring | None = None, regions: list[_Region] | None = None) -> list[Match]:
    """Every occurrence of each of ``phrases`` in recognised ``lines`` (reading order).

    Returns matches with ``score >= threshold``, grouped by phrase (``label`` ascending) and best
    first within a phrase (score, then whole-word before sub-word, then reading order). A
    pair-of-lines occurrence is kept only when it really crosses the line break.
    """
    phrases, norm_phrases = check_phrases(phrases)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) <= 1.0:
        raise InvalidArgumentError(f"expected threshold in [0, 1], got {threshold!r}")
    if regions is None:
        regions = build_regions(lines)
    if not regions:
        return []
    from .. import ops

    # a phrase longer than any region could hold even with every allowed edit cannot match: skip it
    # (bounds the work for a pasted paragraph or a 100k-character "phrase")
    longest = max(len(r.text) for r in regions)
    searched = [q for q, p in enumerate(norm_phrases) if len(p.text) - int(MAX_EDIT_FRACTION * len(p.text)) <= longest]
    if not searched:
        return []
    max_dist = np.asarray([int(MAX_EDIT_FRACTION * len(norm_phrases[q].text)) for q in searched], np.int64)
    region, label, dist, start, end = ops.fuzzy_find_all([r.text for r in regions],
                                                         [norm_phrases[q].text for q in searched], max_dist)
    label = np.asarray(searched, np.int64)[label] if len(label) else label
    raw: list[tuple[int, _Region, int, int, float, bool]] = []
    for r, q, d, s, e in zip(region.tolist(), label.tolist(), dist.tolist(), start.tolist(), end.tolist()):
        reg = regions[r]
        if e <= s or (len(reg.lines) == 2 and not (s < reg.boundary < e)):
            continue  # the single-line regions already cover it
        n = len(norm_phrases[q].text)
        raw.append((q, reg, s, e, max(0.0, 1.0 - d / n), reg.is_whole_word(s, e)))
    built = [m for m in (_build(q, reg, s, e, sim, whole, len(norm_phrases[q].text), lines)
                         for q, reg, s, e, sim, whole in raw) if m is not None]
    if not built:
        return []
    if scoring is not None:
        x = features([m.similarity for m in built], [m.confidence for m in built], [m.whole_word for m in built],
                     [m.n_chars for m in built])
        calibrated = scoring(x)
        built = [_with_score(m, float(p)) for m, p in zip(built, calibrated)]
    out = [m for m in built if m.score >= threshold]
    out.sort(key=lambda m: (m.label, -m.score, not m.whole_word, m.lines, float(m.xyxy[0])))
    return out


def _with_score(m: Match, score: float) -> Match:
    return Match(m.label, m.lines, m.xyxy, m.similarity, m.confidence, score, m.text, m.whole_word, m.n_chars,
                 m.raw_score, m.pieces)


def _build(label: int, region: _Region, s: int, e: int, similarity: float, whole: bool, n_chars: int,
           lines: Sequence[LineText]) -> Match | None:
    boxes, scores, pieces, texts = [], [], [], []
    for li in dict.fromkeys(region.line_of[s:e].tolist()):
        sel = region.line_of[s:e] == li
        chars = region.char_of[s:e][sel]
        c0, c1 = int(chars.min()), int(chars.max()) + 1
        line = lines[li]
        b = np.asarray(line.char_xyxy[c0:c1], np.float32)
        if len(b) == 0:
            return None
        boxes.append(b)
        scores.append(np.asarray(line.char_scores[c0:c1], np.float32))
        pieces.append(np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()], np.float32))
        texts.append(line.text[c0:c1])
    b = np.concatenate(boxes)
    xyxy = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()], np.float32)
    confidence = float(np.concatenate(scores).mean())
    raw = similarity * confidence * (1.0 if whole else SUBWORD_FACTOR)
    return Match(label, tuple(int(x) for x in dict.fromkeys(region.line_of[s:e].tolist())), xyxy,
                 similarity, confidence, raw, " ".join(texts), whole, n_chars, raw, tuple(pieces))
