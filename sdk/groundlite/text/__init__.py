"""The built-in ``text`` model: PP-OCRv4 detection + recognition and fuzzy phrase grounding.

``groundlite.load("text")`` builds the package on first use (:func:`builtin.ensure_text_package`)
and returns a :class:`TextGrounder`; ``grounder.read(image)`` lists every recognised
:class:`TextLine`, ``grounder.predict(image, phrases)`` returns :class:`groundlite.Detections`.
"""

from __future__ import annotations

from .lines import TextLine
from .pipeline import DEFAULT_THRESHOLD, TextGrounder

__all__ = ["TextGrounder", "TextLine", "DEFAULT_THRESHOLD"]
