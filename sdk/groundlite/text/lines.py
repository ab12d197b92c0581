"""``TextLine``: one recognised line with its geometry, and reading-order sorting."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TextLine", "reading_order"]


@dataclass(frozen=True, eq=False)
class TextLine:
    """A recognised line of text.

    Attributes:
        text: the recognised characters.
        score: mean recognition probability of the characters (0 for an empty line).
        quad: float32 ``[4,2]`` detected line corners (top-left, top-right, bottom-right, bottom-left), image pixels.
        xyxy: float32 ``[4]`` axis-aligned bounds of ``quad``.
        char_xyxy: float32 ``[len(text),4]`` box of each character, image pixels.
        char_scores: float32 ``[len(text)]`` recognition probability of each character.
    """

    text: str
    score: float
    quad: np.ndarray
    xyxy: np.ndarray
    char_xyxy: np.ndarray
    char_scores: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"text", "score", "xyxy", "quad"}`` (pixels rounded to 0.1)."""
        return {
            "text": self.text,
            "score": round(float(self.score), 6),
            "xyxy": [round(float(v), 1) for v in self.xyxy],
            "quad": [[round(float(x), 1), round(float(y), 1)] for x, y in self.quad],
        }

    def words(self) -> list[tuple[str, np.ndarray]]:
        """Whitespace-separated words with their boxes: ``[(word, xyxy float32[4]), ...]``.

        The recogniser often drops spaces between words, so a "word" may hold several.
        """
        out = []
        for m in re.finditer(r"\S+", self.text):
            b = self.char_xyxy[m.start() : m.end()]
            out.append((m.group(), np.array([*b[:, :2].min(0), *b[:, 2:].max(0)], np.float32)))
        return out

    def __repr__(self) -> str:
        return f"TextLine({self.text!r}, score={self.score:.3f}, xyxy={[round(float(v)) for v in self.xyxy]})"


def reading_order(quads: np.ndarray) -> np.ndarray:
    """Indices ordering line quads ``[N,4,2]`` top-to-bottom, then left-to-right within a row.

    Two lines are in the same row when their vertical centres differ by less than half the
    smaller line height (robust to the slight skew of photographed pages).
    """
    quads = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    n = len(quads)
    if n == 0:
        return np.zeros(0, np.int64)
    cy = quads[:, :, 1].mean(axis=1)
    cx = quads[:, :, 0].min(axis=1)
    height = np.maximum(quads[:, :, 1].max(axis=1) - quads[:, :, 1].min(axis=1), 1.0)
    order: list[int] = []
    remaining = list(np.argsort(cy, kind="stable"))
    while remaining:
        first = remaining[0]
        row = [i for i in remaining if abs(cy[i] - cy[first]) < 0.5 * min(height[i], height[first])]
        row.sort(key=lambda i: cx[i])
        order.extend(row)
        remaining = [i for i in remaining if i not in row]
    return np.asarray(order, np.int64)

