"""The evidence chain of an interpreted result, and its explanation in words.

Every result of an interpreted query carries an :class:`Evidence`: which part of the query matched
which region (``steps``), the relation or rule that picked it, whether the pick was too close to
call (``ambiguous``) and what the parser ignored. :meth:`Evidence.explain` says it for a person or
a screen reader: ``"'Log in' button, top right, below 'Welcome back'"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Step", "Evidence", "position_words"]


@dataclass(frozen=True)
class Step:
    """One link of the chain.

    Attributes:
        role: ``"target"`` (the answer's own text or object), ``"label"`` (a field's label),
            ``"value"``, ``"control"`` (the control frame around a label), ``"anchor"`` (what a
            relation refers to), ``"scope"`` (the heading of "the first K under X").
        text: the phrase or recognised text of that region (``None`` for a frame).
        xyxy: its box in image pixels.
        score: its own score (match probability, control confidence), when it has one.
        how: how it was found: ``"literal"``, ``"meaning"`` (sentence encoder), ``"layout:right"``,
            ``"pixels:border"``, ``"relation:below"``, ``"ordinal:2"``, ``"region:top-right"``, ...
    """

    role: str
    text: str | None
    xyxy: tuple[float, float, float, float] | None
    score: float | None
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "text": self.text,
                "xyxy": None if self.xyxy is None else [round(float(v), 1) for v in self.xyxy],
                "score": None if self.score is None else round(float(self.score), 6), "how": self.how}


@dataclass(frozen=True)
class Evidence:
    """How one result of query ``query`` was produced.

    Attributes:
        query: the query as given.
        interpretation: what the parser understood, in words (:meth:`Query.describe`).
        steps: the chain (:class:`Step`), the answer's own step first.
        ambiguous: the best candidates were too close to call; the result holds each of them
            with its score divided among them, rather than one confident guess.
        ignored: words or parts of the query that were not used.
        kind: the answer's kind (``"button"``, ``"link"``, ``"field"``, ``"value"``, ``"text"``, ``"object"``).
        image_size: ``(width, height)`` of the image, for position words.
        rule: the kind of reasoning (``"field"``, ``"ordinal:link"``, ...; see
            :func:`groundlite.language.interpret.rule_key`), whose measured reliability scaled the score.
    """

    query: str
    interpretation: str
    steps: tuple[Step, ...]
    ambiguous: bool = False
    ignored: tuple[str, ...] = ()
    kind: str = "text"
    image_size: tuple[int, int] | None = None
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "interpretation": self.interpretation, "kind": self.kind, "rule": self.rule,
                "ambiguous": self.ambiguous, "ignored": list(self.ignored),
                "steps": [s.to_dict() for s in self.steps], "explanation": self.explain()}

    def explain(self) -> str:
        """The result in words, e.g. ``"'Log in' button, top right, below 'Welcome back'"``."""
        if not self.steps:
            return f"nothing found for {self.query!r}"
        main = self.steps[0]
        label = next((s for s in self.steps if s.role == "label"), None)
        if self.kind == "value" and label is not None:
            head = f"{main.text!r}, the value of {label.text!r}" if main.text else f"the value of {label.text!r}"
        elif self.kind in ("button", "link", "field", "checkbox", "radio", "menu", "tab", "heading"):
            named = next((s.text for s in self.steps if s.role in ("target", "label") and s.text), None)
            head = f"{named!r} {self.kind}" if named else self.kind
        else:
            head = repr(main.text) if main.text else self.kind
        parts = [head]
        box = next((s.xyxy for s in self.steps if s.xyxy is not None), None)
        if box is not None and self.image_size is not None:
            parts.append(position_words(box, self.image_size))
        for s in self.steps:
            if s.role == "anchor" and s.how.startswith("relation:"):
                rel = s.how.split(":", 1)[1].replace("_", " ")
                parts.append(f"{rel} {s.text!r}" if s.text else rel)
            elif s.role == "scope":
                parts.append(f"under {s.text!r}")
        for s in self.steps:
            if s.how.startswith("superlative:"):
                parts.append(f"the {s.how.split(':', 1)[1]} one")
            elif s.how.startswith("region:"):
                parts.append(f"the one nearest the {s.how.split(':', 1)[1].replace('-', ' ')}")
        how = next((s.how for s in self.steps if s.how.startswith("ordinal:")), None)
        if how is not None:
            n = int(how.split(":")[1])
            parts.append(f"number {n}" if n > 0 else ("the last" if n == -1 else f"number {-n} from the end"))
        if any(s.how == "meaning" for s in self.steps):
            parts.append("matched by meaning")
        if self.ambiguous:
            parts.append("one of several equally likely answers")
        return ", ".join(parts)


def position_words(xyxy: Any, image_size: tuple[int, int]) -> str:
    """Where a box is, in words: "top right", "middle left", "centre", ... (3 x 3 grid of the image)."""
    w, h = max(1, int(image_size[0])), max(1, int(image_size[1]))
    cx = 0.5 * (float(xyxy[0]) + float(xyxy[2])) / w
    cy = 0.5 * (float(xyxy[1]) + float(xyxy[3])) / h
    row = "top" if cy < 1 / 3 else ("bottom" if cy > 2 / 3 else "middle")
    col = "left" if cx < 1 / 3 else ("right" if cx > 2 / 3 else "")
    if row == "middle" and not col:
        return "centre"
    return f"{row} {col}".strip()
