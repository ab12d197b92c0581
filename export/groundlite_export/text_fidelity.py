"""Fidelity metrics of a quantised text artifact against FP32, on labelled real screenshots.

All functions are pure: a "read" is a sequence of ``(text, xyxy)`` lines (what
``TextGrounder.read`` returns, reduced), a "prediction" maps a phrase to its top box.

* :func:`grounding_accuracy` — fraction of labelled present phrases whose top box has
  IoU >= 0.5 with a labelled box of that phrase;
* :func:`pair_lines` — candidate lines paired with reference lines by IoU >= 0.5 (greedy,
  highest IoU first, one-to-one);
* :func:`cer` — character error rate of the candidate's reads against the reference reads
  (Levenshtein distance summed over paired lines, an unpaired reference line costs its length,
  over the total reference characters);
* :func:`word_accuracy` — fraction of reference words the paired candidate line reproduces exactly;
* :func:`line_agreement` — fraction of reference lines reproduced with IoU >= 0.5 and equal text
  (the older ``detection_agreement``).
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np

__all__ = ["IOU", "Read", "levenshtein", "iou", "pair_lines", "cer_counts", "cer", "word_counts", "top_boxes",
           "word_accuracy", "line_agreement", "grounding_hits", "grounding_accuracy"]

IOU = 0.5
Read = Sequence[tuple[str, Sequence[float]]]


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of code points) between ``a`` and ``b``."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two xyxy boxes (0 when either is empty)."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def pair_lines(reference: Read, candidate: Read, threshold: float = IOU) -> dict[int, int]:
    """Reference line index -> candidate line index, one-to-one, by IoU >= ``threshold``
    (greedy on the highest IoU; ties broken by the lower indices)."""
    pairs = [(iou(r[1], c[1]), i, j) for i, r in enumerate(reference) for j, c in enumerate(candidate)]
    pairs = sorted((p for p in pairs if p[0] >= threshold), key=lambda p: (-p[0], p[1], p[2]))
    out: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in pairs:
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def cer_counts(reference: Read, candidate: Read) -> tuple[int, int]:
    """(edit errors, reference characters) of one screen (see :func:`cer`)."""
    pairs = pair_lines(reference, candidate)
    errors = sum(levenshtein(r[0], candidate[pairs[i]][0]) if i in pairs else len(r[0]) for i, r in enumerate(reference))
    return errors, sum(len(r[0]) for r in reference)


def cer(reference: Read, candidate: Read) -> float:
    """Character error rate of ``candidate`` against ``reference`` (0 = every character kept;
    can exceed 1 when the candidate inserts much). Two empty reads give 0."""
    errors, total = cer_counts(reference, candidate)
    return errors / total if total else 0.0


def word_counts(reference: Read, candidate: Read) -> tuple[int, int]:
    """(reference words reproduced exactly by the paired candidate line, reference words)."""
    pairs = pair_lines(reference, candidate)
    hit = total = 0
    for i, (text, _) in enumerate(reference):
        words = Counter(text.split())
        total += sum(words.values())
        if i in pairs:
            got = Counter(candidate[pairs[i]][0].split())
            hit += sum(min(n, got[w]) for w, n in words.items())
    return hit, total


def word_accuracy(reference: Read, candidate: Read) -> float:
    """Fraction of reference words reproduced exactly (1.0 for an empty reference)."""
    hit, total = word_counts(reference, candidate)
    return hit / total if total else 1.0


def line_agreement(reference: Read, candidate: Read) -> tuple[int, int]:
    """(reference lines with a candidate line of IoU >= 0.5 and the same text, reference lines)."""
    hit = sum(any(iou(r[1], c[1]) >= IOU and c[0] == r[0] for c in candidate) for r in reference)
    return hit, len(reference)


def grounding_hits(labels: Sequence[Mapping[str, object]], top_boxes: Mapping[str, Sequence[float] | None]) -> tuple[int, int]:
    """(labelled phrases whose top box hits a labelled box of the phrase at IoU >= 0.5, phrases).

    ``labels`` are the screen's ``present`` records (``phrase``, ``xyxy``); a phrase labelled more
    than once counts once and any of its boxes is a hit. ``top_boxes`` maps each phrase to the
    predicted top-scoring box, or ``None`` when nothing was found.
    """
    boxes: dict[str, list[Sequence[float]]] = {}
    for rec in labels:
        boxes.setdefault(str(rec["phrase"]), []).append(rec["xyxy"])  # type: ignore[arg-type]
    hit = 0
    for phrase, truth in boxes.items():
        top = top_boxes.get(phrase)
        if top is not None and any(iou(top, t) >= IOU for t in truth):
            hit += 1
    return hit, len(boxes)


def grounding_accuracy(labels: Sequence[Mapping[str, object]], top_boxes: Mapping[str, Sequence[float] | None]) -> float:
    """Fraction of labelled phrases grounded (see :func:`grounding_hits`); 0 for no labels."""
    hit, total = grounding_hits(labels, top_boxes)
    return hit / total if total else 0.0


def top_boxes(detections: object, phrases: Sequence[str]) -> dict[str, list[float] | None]:
    """Phrase -> its highest-scoring box in a :class:`groundlite.Detections` (``None`` if none)."""
    xyxy = np.asarray(getattr(detections, "xyxy"))
    scores = np.asarray(getattr(detections, "scores"))
    labels = np.asarray(getattr(detections, "labels"))
    out: dict[str, list[float] | None] = {}
    for k, phrase in enumerate(phrases):
        idx = np.flatnonzero(labels == k)
        out[phrase] = None if idx.size == 0 else [float(v) for v in xyxy[idx[np.argmax(scores[idx])]]]
    return out
