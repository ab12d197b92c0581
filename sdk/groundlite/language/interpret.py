"""Interpreting queries over a grounder: one entry point for every family.

:func:`interpret_text` (the text family) and :func:`interpret_owl` (OWL-ViT / OWLv2) take the
queries a person typed, and for each:

1. **literal first** — a query that occurs literally on the screen as a whole (text family: a
   match with similarity ≥ :data:`LITERAL_MIN_SIMILARITY` when the query has structure) is
   answered literally, every occurrence, as without interpretation — except a field phrasing
   ("Driver:", "the value of X", "what is the X"), which asks for the value beside the label;
2. otherwise the query is parsed (:func:`groundlite.language.query.parse`) and its parts are
   grounded: the target (literal text, then by meaning when a sentence encoder is installed), a
   field's label then its value (:mod:`.fields`), a control's frame (:mod:`.controls`), the
   anchors of relations; :mod:`.resolve` picks among the candidates;
3. every result carries its :class:`~groundlite.language.evidence.Evidence`.

Scores: a literal match keeps its calibrated score; a composed answer's score is the product of
its parts' scores (label × value, label × control, target × anchor); a meaning match is scored
by :func:`meaning_score` (a logistic map of the cosine fitted on the tuning split, always below a
literal match); an ambiguous pick divides its score among the tied candidates.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidPhraseError
from .colour import COLOUR_NAMES, colour_fraction
from .evidence import Evidence, Step
from .query import Query, Ref, literal, parse
from .resolve import (Candidate, Ranked, decide, rank_ordinal, rank_region, rank_relation, rank_superlative,
                      section_of)

__all__ = ["interpret_text", "interpret_owl", "detections", "meaning_score", "LITERAL_MIN_SIMILARITY", "MEANING",
           "MAX_MEANING_CANDIDATES"]

#: a structured query ("the Add Printer button") is answered literally only by a match at least
#: this similar to the whole query (a looser match of a long query is its parts' text, not it)
LITERAL_MIN_SIMILARITY = 0.85
#: meaning matching: the logistic map cosine -> probability (``weight``, ``bias``), the lowest
#: cosine considered, and the most words a screen text may have to be a meaning candidate
#: (labels, buttons, links, headings are short). Fitted on the tuning split of the real screenshot
#: set (``benchmarks/language_grounding.py --fit-meaning``); see ``fitted_on``.
MEANING: dict[str, Any] = {"weight": 10.6442, "bias": -7.2494, "min_cosine": 0.55, "max_words": 6, "cap": 0.9,
                           "fitted_on": "tune split of benchmarks/realscreens (81 screenshots): 9464 (query, short "
                                        "screen text) pairs of the paraphrase and absent-meaning queries, 110 positive; "
                                        "all-MiniLM-L6-v2 ONNX Runtime INT8"}
#: at most this many screen texts are embedded per screen for meaning matching
MAX_MEANING_CANDIDATES = 600
#: how often an answer of each kind of reasoning (:func:`rule_key`) is right: the fraction of
#: correct answers per key on the tuning split of the real query set, Laplace-smoothed
#: (``benchmarks/language_grounding.py --fit-reliability``); an answer's score is multiplied by it,
#: so an "the third link" answer that is right half the time does not claim 0.9. Keys not listed: 1.
RELIABILITY: dict[str, float] = {
    "control:button": 0.969,
    "control:button+meaning": 0.75,
    "control:checkbox": 0.857,
    "control:field": 0.6,
    "control:heading+meaning": 0.833,
    "control:link": 0.989,
    "control:link+meaning": 0.689,
    "control:radio": 0.8,
    "field": 0.957,
    "field+meaning": 0.167,
    "ordinal:button": 0.944,
    "ordinal:checkbox": 0.6,
    "ordinal:field": 0.375,
    "ordinal:heading": 0.396,
    "ordinal:link": 0.562,
    "ordinal:menu": 0.857,
    "ordinal:radio": 0.667,
    "region": 0.976,
    "relation:button": 0.9,
    "relation:checkbox": 0.6,
    "relation:field": 0.308,
    "relation:link": 0.56,
    "relation:menu": 0.6,
    "relation:radio": 0.75,
    "relation:text": 0.86,
    "relation:text+meaning": 0.25,
    "superlative": 0.992,
}
RELIABILITY_FITTED_ON = ("tune split of benchmarks/realscreens (81 screenshots, 1300 queries), "
                         "benchmarks/language_grounding.py --fit-reliability, 2026-12-01")

_CONTROL_KINDS = ("button", "link", "field", "checkbox", "radio", "menu", "tab")


def meaning_score(cosine: Any) -> np.ndarray:
    """P(match) of a meaning-based candidate from its cosine similarity (:data:`MEANING`), capped
    at ``MEANING["cap"]`` so a meaning match never outranks a clean literal one."""
    z = MEANING["weight"] * np.asarray(cosine, np.float64) + MEANING["bias"]
    return np.minimum(1.0 / (1.0 + np.exp(-z)), MEANING["cap"])


def _box(xyxy: Any) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in np.asarray(xyxy).reshape(4))
    return x0, y0, x1, y1


# =============================================================================================
class _TextScreen:
    """One screen being interpreted: its lines, match regions, pixels (loaded on first need)."""

    def __init__(self, grounder: Any, image: Any, screen: Any, threshold: float, encoder: Any) -> None:
        self.g = grounder
        self.image = image
        self.lines = screen.lines
        self.regions = screen.regions()
        self.threshold = threshold
        self.encoder = encoder
        self._rgb: np.ndarray | None = None
        self.memo: dict[str, Any] = getattr(screen, "memo", {})

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self.g._pixels(self.image)
        return self._rgb

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    # ---- text --------------------------------------------------------------------------------
    def literal(self, text: str, *, min_similarity: float = 0.0) -> list[Candidate]:
        from ..text.matching import match_phrases

        try:
            ms = match_phrases(self.lines, [text], self.threshold, scoring=self.g.scoring, regions=self.regions)
        except InvalidPhraseError:  # a phrase with nothing searchable ("::") has no literal match
            return []
        return [Candidate(np.asarray(m.xyxy, np.float32), float(m.score), m.text, "text",
                          (Step("target", m.text, _box(m.xyxy), float(m.score), "literal"),), m.lines)
                for m in ms if m.similarity >= min_similarity]

    def meaning(self, text: str) -> list[Candidate]:
        """Short screen texts whose meaning is close to ``text`` (empty without an encoder)."""
        if self.encoder is None:
            return []
        key = f"meaning:{id(self.encoder)}"
        if key not in self.memo:
            idx = [i for i, ln in enumerate(self.lines) if 0 < len(ln.text.split()) <= MEANING["max_words"]]
            idx = idx[:MAX_MEANING_CANDIDATES]
            emb = self.encoder.encode([self.lines[i].text for i in idx]) if idx else np.zeros((0, 1), np.float32)
            self.memo[key] = (idx, emb)
        idx, emb = self.memo[key]
        if not idx:
            return []
        q = self.encoder.encode([text])[0]
        cos = emb @ q
        keep = np.nonzero(cos >= MEANING["min_cosine"])[0]
        scores = meaning_score(cos[keep])
        out = []
        for k, s in zip(keep.tolist(), scores.tolist()):
            ln = self.lines[idx[k]]
            out.append(Candidate(np.asarray(ln.xyxy, np.float32), float(s), ln.text, "text",
                                 (Step("target", ln.text, _box(ln.xyxy), float(s), "meaning"),), (idx[k],)))
        return sorted(out, key=lambda c: -c.score)

    def text_candidates(self, text: str) -> list[Candidate]:
        lit = self.literal(text)
        return lit if lit else self.meaning(text)

    def headings(self) -> list[np.ndarray]:
        """Boxes of heading-like lines (:func:`heading_probability` ≥ :data:`HEADING["threshold"]`,
        3+ letters: a logo glyph or a big digit is not a heading)."""
        if "headings" not in self.memo:
            p = heading_probability(self.rgb, self.lines)
            self.memo["headings"] = [np.asarray(ln.xyxy, np.float32) for ln, pi in zip(self.lines, p)
                                     if pi >= HEADING["threshold"] and sum(ch.isalpha() for ch in ln.text) >= 3]
        return self.memo["headings"]

    def all_lines(self) -> list[Candidate]:
        """Every piece of text on the screen: each line cut at "Label:" colons and at gaps wider
        than :data:`SEGMENT_GAP` line heights (OCR joins table cells and "Key: value" into one line)."""
        if "segments" not in self.memo:
            out = []
            for i, ln in enumerate(self.lines):
                for text, box in _segments(ln):
                    out.append(Candidate(box, float(ln.score), text, "text",
                                         (Step("target", text, _box(box), float(ln.score), "line"),), (i,)))
            self.memo["segments"] = out
        return self.memo["segments"]

    # ---- refs --------------------------------------------------------------------------------
    def ground(self, ref: Ref) -> list[Candidate]:
        """Candidates for one target/anchor reference (colour words measured on the pixels)."""
        cands = self._ground(ref)
        if any(a in COLOUR_NAMES for a in ref.attributes):
            cands = _with_colours(self.rgb, cands, ref.attributes, full_at=0.1)  # text ink covers little of its box
        return cands

    def _ground(self, ref: Ref) -> list[Candidate]:
        kind = ref.kind
        if kind is None:
            if ref.text is None:
                return self.all_lines()
            return self.text_candidates(ref.text)
        if kind == "heading":
            heads = self.all_lines() if ref.text is None else self.text_candidates(ref.text)
            hs = self.headings()
            return [c for c in heads if any(np.allclose(c.xyxy, h, atol=0.5) or _inside(c.xyxy, h) for h in hs)] \
                if ref.text is None else heads
        from . import controls

        if ref.text is None:
            if f"controls:{kind}" not in self.memo:
                # bounded: the first MAX_LINES lines in reading order (a screen rarely has more)
                self.memo[f"controls:{kind}"] = controls.find_controls(self.rgb, self.lines[:controls.MAX_LINES], kind)
            found = self.memo[f"controls:{kind}"]
            out = []
            for cb in found:
                text = getattr(cb, "text", None) or _text_in(self.lines, cb.xyxy)
                out.append(Candidate(np.asarray(cb.xyxy, np.float32), float(cb.confidence), text, kind,
                                     (Step("control", text, _box(cb.xyxy), float(cb.confidence), f"pixels:{cb.cue}"),)))
            return out
        out = []
        for lab in self.text_candidates(ref.text):
            if kind in ("field", "menu"):
                # the text may be the field's placeholder or value (inside the frame), else its label
                cb = controls.control_around(self.rgb, lab.xyxy, kind)
                if cb is None:
                    cb = controls.field_for_label(self.rgb, lab.xyxy, self.lines)
            else:
                cb = controls.control_around(self.rgb, lab.xyxy, kind)
            if cb is None:
                # a link (or a text-only tab/button) is its text; other kinds without a frame are doubtful
                factor = 1.0 if kind in ("link", "tab") else 0.5
                steps = (Step("label" if kind == "field" else "target", lab.text, lab.box(), lab.score,
                              lab.steps[0].how),
                         Step("control", None, lab.box(), None, "text-only"))
                out.append(Candidate(lab.xyxy, lab.score * factor, lab.text, kind, steps, lab.lines, lab.xyxy))
                continue
            steps = (Step("control", None, _box(cb.xyxy), float(cb.confidence), f"pixels:{cb.cue}"),
                     Step("label" if kind == "field" else "target", lab.text, lab.box(), lab.score, lab.steps[0].how))
            out.append(Candidate(np.asarray(cb.xyxy, np.float32), lab.score * max(float(cb.confidence), 0.5),
                                 lab.text, kind, steps, lab.lines, lab.xyxy))
        return sorted(out, key=lambda c: -c.score)

    def field_values(self, label: str) -> list[Candidate]:
        from . import fields

        want = fields.expected_type(label)
        out = []
        for lab in self.text_candidates(label):
            for v in fields.find_values(self.lines, tuple(lab.lines), lab.xyxy, want_type=want, limit=3):
                score = lab.score * float(v.score)
                steps = (Step("value", v.text, _box(v.xyxy), float(v.score), f"layout:{v.layout}"),
                         Step("label", lab.text, lab.box(), lab.score, lab.steps[0].how))
                out.append(Candidate(np.asarray(v.xyxy, np.float32), score, v.text, "value", steps, tuple(v.lines)))
        return sorted(out, key=lambda c: -c.score)


#: heading lines: a logistic model over (log line height / median, log ink height / median line
#: height, log word count, ink fraction), fitted on the OCR lines of 40 tuning-split screenshots of
#: the real set against the DOM's h1-h6 boxes (1895 lines, 94 headings; at the threshold:
#: precision 0.71, recall 0.50 there). Headings that look like body text are missed.
HEADING: dict[str, Any] = {"weights": (8.3816, 1.7836, -0.7299, 3.5186), "bias": -3.4226, "threshold": 0.35}


def heading_probability(rgb: np.ndarray, lines: Sequence[Any]) -> np.ndarray:
    """P(heading) per line from its size, ink height, word count and ink fraction (:data:`HEADING`)."""
    if not lines:
        return np.zeros(0)
    boxes = np.asarray([np.asarray(ln.xyxy, np.float64).reshape(4) for ln in lines])
    hs = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    med = float(np.median(hs))
    H, W = rgb.shape[:2]
    feats = []
    for ln, (x0, y0, x1, y1) in zip(lines, boxes):
        a0, b0 = int(np.clip(round(x0), 0, W)), int(np.clip(round(y0), 0, H))
        a1, b1 = int(np.clip(round(x1), 0, W)), int(np.clip(round(y1), 0, H))
        crop = rgb[b0:b1, a0:a1]
        if crop.size == 0:
            feats.append((0.0, 0.0, 0.0, 0.0))
            continue
        g = crop.mean(axis=-1)
        bg = np.median(np.concatenate([g[0], g[-1]]))
        ink = np.abs(g - bg) > 60
        rows = np.nonzero(ink.any(axis=1))[0]
        ih = float(rows[-1] - rows[0] + 1) if len(rows) else 1.0
        words = max(1, len(ln.text.split()))
        feats.append((np.log((y1 - y0) / med), np.log(max(ih, 1.0) / med), np.log(words), float(ink.mean())))
    z = np.asarray(feats) @ np.asarray(HEADING["weights"]) + HEADING["bias"]
    return 1.0 / (1.0 + np.exp(-z))


#: a gap between characters wider than this many line heights cuts a line into segments
SEGMENT_GAP = 0.9


def _segments(line: Any) -> list[tuple[str, np.ndarray]]:
    """A line's text pieces with their boxes (see :meth:`_TextScreen.all_lines`)."""
    text = line.text
    boxes = np.asarray(line.char_xyxy, np.float32).reshape(-1, 4)
    if len(boxes) != len(text) or len(text) < 2:
        return [(text, np.asarray(line.xyxy, np.float32))]
    h = max(float(line.xyxy[3] - line.xyxy[1]), 1.0)
    cuts = [0]
    for k in range(1, len(text)):
        gap = boxes[k, 0] - boxes[k - 1, 2]
        after_colon = text[k - 1] == " " and k >= 2 and text[k - 2] == ":"
        if gap > SEGMENT_GAP * h or after_colon:
            cuts.append(k)
    cuts.append(len(text))
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        piece = text[a:b]
        strip_l = len(piece) - len(piece.lstrip())
        piece_s = piece.strip()
        if not piece_s:
            continue
        bb = boxes[a + strip_l: a + strip_l + len(piece_s)]
        out.append((piece_s, np.array([bb[:, 0].min(), bb[:, 1].min(), bb[:, 2].max(), bb[:, 3].max()], np.float32)))
    return out or [(text, np.asarray(line.xyxy, np.float32))]


def _with_colours(rgb: np.ndarray, cands: Sequence[Candidate], attributes: Sequence[str], *,
                  full_at: float) -> list[Candidate]:
    """Candidates scaled by how much of each box is each colour word of ``attributes``
    (:func:`~groundlite.language.colour.colour_fraction`; ``full_at`` of the box counts in full),
    best first; boxes with none of a colour are dropped. Other attributes (bold, ...) are not
    measured."""
    out = list(cands)
    for colour in attributes:
        if colour not in COLOUR_NAMES:
            continue
        scored = []
        for c in out:
            f = colour_fraction(rgb, c.xyxy, colour)
            if f > 0:
                scored.append(c.with_steps(Step("attribute", colour, c.box(), f, f"colour:{colour}"),
                                           score=c.score * min(1.0, f / full_at)))
        out = scored
    return sorted(out, key=lambda c: -c.score)


def detections(answers: Sequence[Sequence[Candidate]], evidence: Sequence[Evidence | None],
               missing: Sequence[dict[str, Any]], phrases: Sequence[str], *, with_texts: bool) -> Any:
    """One :class:`~groundlite.Detections` from per-query answers (label = query index)."""
    from ..detections import Detections

    flat = [(qi, c) for qi, cands in enumerate(answers) for c in cands]
    texts = tuple(c.text or "" for _, c in flat) if with_texts else None
    if not flat:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                          tuple(phrases), texts, (), tuple(missing))
    return Detections(np.stack([c.xyxy for _, c in flat]), np.asarray([c.score for _, c in flat], np.float32),
                      np.asarray([qi for qi, _ in flat], np.int64), tuple(phrases), texts, tuple(evidence),
                      tuple(missing))


def _inside(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] >= b[0] - 1 and a[1] >= b[1] - 1 and a[2] <= b[2] + 1 and a[3] <= b[3] + 1)


def _text_in(lines: Sequence[Any], xyxy: Any) -> str | None:
    b = np.asarray(xyxy, np.float32).reshape(4)
    texts = [ln.text for ln in lines if _inside(np.asarray(ln.xyxy, np.float32), b + np.array([-2, -2, 2, 2]))]
    return " ".join(texts) if texts else None


# =============================================================================================
def _resolve(q: Query, ground: Any, size: Any, scope_section: Any) -> tuple[list[Candidate], bool, str | None]:
    """Apply ``q``'s rules to the candidates ``ground(q.target)``; returns (answers, ambiguous,
    missing) where ``missing`` names the part of the query that was not found."""
    # anchors first: when both are missing, the anchor is the more useful part to name
    anchor_sets = [[ground(a) for a in rel.anchors] for rel in q.relations]
    for rel, sets in zip(q.relations, anchor_sets):
        for a, c in zip(rel.anchors, sets):
            if not c:
                return [], False, f"the anchor {a.describe()}"
    targets = ground(q.target)
    if not targets:
        return [], False, f"the target {q.target.describe()}"
    ranked: list[Ranked] | None = None
    how: str | None = None
    extra: list[Step] = []
    if q.scope is not None:
        scopes = ground(q.scope)
        if not scopes:
            return [], False, f"the heading {q.scope.describe()}"
        sc = max(scopes, key=lambda c: c.score)
        targets = scope_section(sc, targets)
        extra.append(Step("scope", sc.text, sc.box(), sc.score, sc.steps[0].how if sc.steps else "literal"))
        if not targets:
            return [], False, f"a {q.target.describe()} under {q.scope.describe()}"
    for rel, anchors in zip(q.relations, anchor_sets):
        ranked = rank_relation(rel.name, targets, anchors)
        how = f"relation:{rel.name}"
        if not ranked:
            return [], False, f"a {q.target.describe()} {rel.describe()}"
        leaders, amb = decide(ranked)
        if q.ordinal is None and q.region is None and q.superlative is None:
            return _finish(leaders, amb, how, extra), amb, None
        targets = [r.candidate for r in ranked]
        extra += [Step("anchor", leaders[0].anchor.text, leaders[0].anchor.box(), leaders[0].anchor.score, how)] \
            if leaders[0].anchor is not None else []
    if q.ordinal is not None:
        ranked = rank_ordinal(q.ordinal, targets)
        if not ranked:
            return [], False, f"{'a' if q.ordinal > 0 else 'the'} {q.target.describe()} number {q.ordinal}"
        return _finish(ranked, False, f"ordinal:{q.ordinal}", extra), False, None
    if q.region is not None:
        ranked = rank_region(q.region, targets, size())
        leaders, amb = decide(ranked, unit_slack=0.03, ratio=1.0)
        if q.superlative is None:
            return _finish(leaders, amb, f"region:{q.region}", extra), amb, None
        targets = [r.candidate for r in ranked[: max(len(leaders), 1)]]
    if q.superlative is not None:
        ranked = rank_superlative(q.superlative, targets, size())
        leaders, amb = decide(ranked, unit_slack=0.01, ratio=1.0)
        return _finish(leaders, amb, f"superlative:{q.superlative}", extra), amb, None
    # no rule: the best-scored candidate(s) of the target (a control, a literal text)
    best = sorted(targets, key=lambda c: -c.score)
    return best, False, None


def _finish(leaders: Sequence[Ranked], ambiguous: bool, how: str, extra: list[Step]) -> list[Candidate]:
    out = []
    k = len(leaders)
    for r in leaders:
        steps: list[Step] = list(extra)
        if r.anchor is not None:
            steps.append(Step("anchor", r.anchor.text, r.anchor.box(), r.anchor.score, how))
        else:
            steps.append(Step("rule", None, None, None, how))
        anchor_score = r.anchor.score if r.anchor is not None else 1.0
        score = r.candidate.score * anchor_score / (k if ambiguous else 1)
        out.append(r.candidate.with_steps(*steps, score=score))
    return out


def _evidence(q: Query, c: Candidate, ambiguous: bool, size: tuple[int, int] | None, rule: str = "") -> Evidence:
    kind = c.kind if c.kind != "text" else ("object" if c.steps and c.steps[0].how == "detector" else "text")
    return Evidence(q.raw, q.describe(), c.steps, ambiguous, q.ignored, kind, size, rule)


def rule_key(q: Query, c: Candidate | None) -> str:
    """The kind of reasoning behind an answer, for :data:`RELIABILITY`: ``"literal"``,
    ``"field"``, ``"control:button"``, ``"relation:link"``, ``"ordinal:heading"``,
    ``"region"``, ``"superlative"``, with ``"+meaning"`` when a part was matched by meaning."""
    if q.intent == "literal" and q.is_literal:
        key = "meaning" if c is not None and any(s.how == "meaning" for s in c.steps) else "literal"
        return key
    kind = q.target.kind or "text"
    if q.intent == "field":
        key = "field"
    elif q.intent == "control":
        key = f"control:{kind}"
    elif q.ordinal is not None:
        key = f"ordinal:{kind}"
    elif q.relations:
        key = f"relation:{kind}"
    elif q.region is not None:
        key = "region"
    elif q.superlative is not None:
        key = "superlative"
    else:
        key = f"attribute:{kind}"
    if c is not None and any(s.how == "meaning" for s in c.steps):
        key += "+meaning"
    return key


def _not_found(q: Query, missing: str | None) -> dict[str, Any]:
    return {"query": q.raw, "interpretation": q.describe(), "missing": missing, "ignored": list(q.ignored)}


def interpret_text(grounder: Any, image: Any, queries: Sequence[str], threshold: float, *,
                   interpret: bool = True, encoder: Any = None) -> tuple[list[list[Candidate]], list[Evidence | None],
                                                                        list[dict[str, Any]], dict[str, float]]:
    """Answer ``queries`` on one screen with a text grounder.

    Returns ``(answers, evidence, not_found, timings)``: per query its answer candidates (best
    first; every occurrence for a literal query; the tied leaders for an ambiguous one), one
    :class:`Evidence` per answer in the same flat order as the answers, a record for each query
    with no answer (which part was missing), and stage times in ms.
    """
    screen = grounder._read_screen(image)
    timings = dict(grounder._timings)
    t0 = time.perf_counter()
    ctx = _TextScreen(grounder, image, screen, threshold, encoder)
    answers: list[list[Candidate]] = []
    evidence: list[Evidence | None] = []
    missing: list[dict[str, Any]] = []
    for raw in queries:
        q = parse(raw) if interpret else literal(raw)
        # a field phrasing ("Driver:", "the value of X") asks for the value, never the label itself
        lit = [] if (interpret and q.intent == "field") else \
            ctx.literal(raw, min_similarity=0.0 if q.is_literal else LITERAL_MIN_SIMILARITY)
        ambiguous = False
        if lit or not interpret:
            found = lit
            q_used = literal(raw) if not q.is_literal else q
        else:
            q_used = q
            if q.intent == "field":
                found = ctx.field_values(q.target.text or "")
                gone = f"the field {q.target.text!r} or its value" if not found else None
            elif q.intent == "literal":
                from . import fields

                found = ctx.meaning(raw)
                gone = None if found else f"the text {q.target.text!r}"
                if not found and q.target.text and fields.expected_type(q.target.text) is not None:
                    found = ctx.field_values(q.target.text)  # "the invoice date": its value
                    if found:
                        q_used = Query(raw, "field", q.target, understood=q.understood, ignored=q.ignored)
            else:
                found, ambiguous, gone = _resolve(q, ctx.ground, lambda: ctx.size, lambda sc, t: section_of(sc, t, ctx.headings()))
            if not found:
                missing.append(_not_found(q, gone))
            elif q.intent in ("field", "control") or (q.intent == "literal" and q_used.intent == "field"):
                found = found[:1]  # one answer: the best value / control (ties are handled by the rules)
        rule = rule_key(q_used, found[0] if found else None) if interpret else "literal"
        factor = RELIABILITY.get(rule, RELIABILITY.get(rule.split("+")[0], 1.0)) if rule != "literal" else 1.0
        if factor != 1.0:
            found = [replace(c, score=c.score * factor) for c in found]
        answers.append(found)
        size = getattr(screen, "size", None) or (ctx.size if ctx._rgb is not None else None)
        for c in found:
            evidence.append(_evidence(q_used, c, ambiguous, size, rule) if interpret else None)
    timings["interpret_ms"] = (time.perf_counter() - t0) * 1e3
    timings["match_ms"] = timings["interpret_ms"]  # matching is part of the interpretation
    return answers, evidence, missing, timings


# =============================================================================================
def interpret_owl(grounder: Any, image: Any, queries: Sequence[str], threshold: float, *,
                  interpret: bool = True, **options: Any) -> tuple[list[list[Candidate]], list[Evidence | None],
                                                                  list[dict[str, Any]]]:
    """Answer ``queries`` with an OWL grounder: a query with no structure is a category phrase as
    before; otherwise the target category and the anchors are detected in one pass (at half the
    threshold, so a rule can choose among weaker candidates), colour words are measured on the
    pixels (:mod:`.colour`), and :mod:`.resolve` applies the relations, ordinals, regions and
    superlatives."""
    from ..images import load_image

    parsed = [parse(q) if interpret else literal(q) for q in queries]
    # without rules a query is a category phrase, colour words included ("a red block")
    parsed = [q if q.has_rules else literal(q.raw) for q in parsed]
    needed: list[str] = []
    for q in parsed:
        if q.is_literal or not interpret:
            needed.append(q.raw)
        else:
            for ref in (q.target, q.scope, *(a for r in q.relations for a in r.anchors)):
                if ref is not None and _owl_phrase(ref):
                    needed.append(_owl_phrase(ref))  # type: ignore[arg-type]
    needed = list(dict.fromkeys(needed))
    rgb = load_image(image)
    size = (int(rgb.shape[1]), int(rgb.shape[0]))
    dets = grounder._predict_literal(rgb, needed, threshold * 0.5, **options) if needed else None
    by_phrase: dict[str, list[Candidate]] = {p: [] for p in needed}
    if dets is not None:
        for d in dets:
            by_phrase[d.phrase].append(Candidate(np.asarray(d.xyxy, np.float32), float(d.score), d.phrase, "object",
                                                 (Step("target", d.phrase, d.xyxy, float(d.score), "detector"),)))

    def ground(ref: Ref) -> list[Candidate]:
        return _with_colours(rgb, by_phrase.get(_owl_phrase(ref) or "object", []), ref.attributes, full_at=0.3)

    answers: list[list[Candidate]] = []
    evidence: list[Evidence | None] = []
    missing: list[dict[str, Any]] = []
    for q in parsed:
        if q.is_literal or not interpret:
            found = [c for c in by_phrase.get(q.raw, []) if c.score >= threshold]
            ambiguous = False
        else:
            found, ambiguous, gone = _resolve(q, ground, lambda: size, lambda sc, t: section_of(sc, t, []))
            found = [c for c in found if c.score >= threshold * 0.5]
            if not found:
                missing.append(_not_found(q, gone))
        answers.append(found)
        for c in found:
            evidence.append(_evidence(q, c, ambiguous, size) if interpret else None)
    return answers, evidence, missing


def _owl_phrase(ref: Ref) -> str | None:
    """The detector phrase of a reference: its text (with a kind word put back: "search box");
    "object" for anything ("the black object on the right", "what is at the top left")."""
    if ref.text is None and ref.kind is None:
        return "object"
    words = [ref.text] if ref.text else []
    if ref.kind and ref.kind != "heading":
        words.append({"field": "box", "menu": "menu"}.get(ref.kind, ref.kind))
    return " ".join(w for w in words if w) or None

