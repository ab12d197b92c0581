"""The built-in ``text`` model: PP-OCR detection + recognition and fuzzy phrase grounding.

``groundlite.load("text")`` assembles the package from the installed wheel's weights
(:func:`builtin.builtin_package`, no build step) and returns a :class:`TextGrounder`;
``grounder.read(image)`` lists every recognised :class:`TextLine`, ``grounder.predict(image,
phrases)`` returns :class:`groundlite.Detections`.
"""

from __future__ import annotations

from .lines import TextLine
from .pipeline import DEFAULT_THRESHOLD, TextGrounder

__all__ = ["TextGrounder", "TextLine", "DEFAULT_THRESHOLD"]
