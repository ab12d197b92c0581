"""Relations, ordinals, image regions and superlatives, resolved geometrically over candidates.

Family-agnostic: a :class:`Candidate` is a box with a score (from any grounder: a text match, a
control frame, a field value, an OWL detection). Each rule ranks candidates by a distance (smaller
is better) and :func:`decide` picks the best — or, when the runner-up is too close to call
(:data:`AMBIGUITY_RATIO`), returns both flagged ambiguous with the score divided between them.

Definitions (boxes ``t`` = target, ``a`` = anchor, ``h`` = the anchor's height):

* ``below``: ``t`` starts below the middle of ``a`` and overlaps ``a``'s columns; distance = the
  vertical gap plus half the horizontal offset. Targets that do not overlap the columns count only
  when none does (offset added in full). ``above`` mirrors it.
* ``right_of``: ``t`` is on ``a``'s row (vertical overlap ≥ 30 % of the smaller height) and starts
  right of ``a``'s centre; distance = the horizontal gap. Off-row targets count only when none is on
  the row (twice the vertical offset added). ``left_of`` mirrors it. ``next_to``: either side (the
  right side preferred by 10 %).
* ``near``: the gap between the two rectangles (0 when they touch or overlap).
* ``inside``: ``t`` lies ≥ 80 % inside ``a``; distance = the area of ``a``.
* ``between``: ``t``'s centre lies between the two anchors' centres along the axis they are
  separated on; distance = its offset from their midpoint.
* ``same_row`` / ``same_column``: vertical / horizontal overlap; distance = the gap.
* ordinals: reading order (rows top to bottom, left to right within a row); "under X" keeps the
  candidates below ``X`` up to the next heading at least as tall as ``X`` that starts in ``X``'s
  column, and in ``X``'s column (not left of it, starting before half its width past its end):
  the section.
* regions: distance of the box centre to the named point of the image (corner, edge middle,
  centre), in units of the image size; superlatives: the extreme coordinate / area.

Work is bounded: at most :data:`MAX_CANDIDATES` targets and :data:`MAX_ANCHORS` anchors (best
scores first) enter a relation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from .evidence import Step

__all__ = ["Candidate", "relation_distances", "rank_relation", "rank_ordinal", "rank_region",
           "rank_superlative", "decide", "reading_order", "AMBIGUITY_RATIO", "MAX_CANDIDATES", "MAX_ANCHORS"]

#: the runner-up is "too close to call" when its distance is within this factor of the best's
#: (plus :data:`AMBIGUITY_SLACK` anchor heights, so two touching candidates are not split by noise)
AMBIGUITY_RATIO = 1.25
AMBIGUITY_SLACK = 0.3
#: at most this many target candidates (best scores first) enter a relation, ordinal or region
MAX_CANDIDATES = 2000
#: at most this many anchor candidates per relation
MAX_ANCHORS = 50
#: distances from this value up mark candidates that satisfy a relation only loosely
_TIER = 1e6


@dataclass(frozen=True)
class Candidate:
    """A candidate answer: ``xyxy`` float32[4] image pixels, ``score`` in [0, 1], the recognised
    ``text`` (or category), its ``kind``, and the ``steps`` of evidence that produced it."""

    xyxy: np.ndarray
    score: float
    text: str | None = None
    kind: str = "text"
    steps: tuple[Step, ...] = ()
    lines: tuple[int, ...] = ()
    ref_xyxy: np.ndarray | None = field(default=None)  # the text box a control frame was found around

    def box(self) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = (float(v) for v in self.xyxy)
        return x0, y0, x1, y1

    def with_steps(self, *steps: Step, score: float | None = None) -> "Candidate":
        return replace(self, steps=self.steps + steps, score=self.score if score is None else score)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def relation_distances(name: str, targets: Sequence[Candidate], anchors: Sequence[Candidate]) -> np.ndarray:
    """Distance float64 ``[len(targets), len(anchors)]`` of every target to every anchor under
    relation ``name`` (``inf`` where the relation does not hold). ``between`` takes exactly two
    anchors and returns ``[len(targets), 1]``."""
    t = np.asarray([c.box() for c in targets], np.float64).reshape(-1, 4)
    a = np.asarray([c.box() for c in anchors], np.float64).reshape(-1, 4)
    if name == "between":
        if len(a) != 2:
            return np.full((len(t), 1), np.inf)
        ca = 0.5 * (a[:, :2] + a[:, 2:])
        ct = 0.5 * (t[:, :2] + t[:, 2:])
        axis = int(np.argmax(np.abs(ca[1] - ca[0])))
        lo, hi = sorted((ca[0, axis], ca[1, axis]))
        mid = 0.5 * (ca[0] + ca[1])
        inside = (ct[:, axis] > lo) & (ct[:, axis] < hi)
        d = np.linalg.norm(ct - mid, axis=1)
        return np.where(inside, d, np.inf)[:, None]
    out = np.full((len(t), len(a)), np.inf)
    for j, (ax0, ay0, ax1, ay1) in enumerate(a):
        h = max(ay1 - ay0, 1e-6)
        acx, acy = 0.5 * (ax0 + ax1), 0.5 * (ay0 + ay1)
        for i, (tx0, ty0, tx1, ty1) in enumerate(t):
            th = max(ty1 - ty0, 1e-6)
            tcx, tcy = 0.5 * (tx0 + tx1), 0.5 * (ty0 + ty1)
            hgap = max(0.0, max(tx0 - ax1, ax0 - tx1))
            vgap = max(0.0, max(ty0 - ay1, ay0 - ty1))
            same_place = _overlap(tx0, tx1, ax0, ax1) > 0.8 * min(tx1 - tx0, ax1 - ax0) and \
                _overlap(ty0, ty1, ay0, ay1) > 0.8 * min(th, h)
            if same_place and name not in ("inside", "near"):
                continue  # the anchor itself (or a box on top of it) is not below/right of it
            if name in ("below", "above"):
                ok = tcy > ay1 - 0.25 * h and ty0 > acy if name == "below" else tcy < ay0 + 0.25 * h and ty1 < acy
                if not ok:
                    continue
                gap = max(0.0, ty0 - ay1) if name == "below" else max(0.0, ay0 - ty1)
                cols = _overlap(tx0, tx1, ax0, ax1) > 0
                out[i, j] = gap + (0.5 * abs(tcx - acx) if cols else _TIER + hgap)
            elif name in ("right_of", "left_of", "next_to"):
                row = _overlap(ty0, ty1, ay0, ay1) >= 0.3 * min(th, h)
                best = np.inf
                for side in (("right_of", "left_of") if name == "next_to" else (name,)):
                    ok = tcx > acx and tx0 > ax0 + 0.5 * (ax1 - ax0) if side == "right_of" else \
                        tcx < acx and tx1 < ax1 - 0.5 * (ax1 - ax0)
                    if not ok:
                        continue
                    gap = max(0.0, tx0 - ax1) if side == "right_of" else max(0.0, ax0 - tx1)
                    d = gap if row else _TIER + gap + 2.0 * abs(tcy - acy)
                    if name == "next_to" and side == "left_of":
                        d = d * 1.1 + 0.1 * h
                    best = min(best, d)
                out[i, j] = best
            elif name == "near":
                out[i, j] = float(np.hypot(hgap, vgap))
            elif name == "inside":
                inter = _overlap(tx0, tx1, ax0, ax1) * _overlap(ty0, ty1, ay0, ay1)
                if inter >= 0.8 * max((tx1 - tx0) * (ty1 - ty0), 1e-6):
                    out[i, j] = (ax1 - ax0) * (ay1 - ay0)
            elif name == "same_row":
                if _overlap(ty0, ty1, ay0, ay1) >= 0.3 * min(th, h):
                    out[i, j] = hgap
            elif name == "same_column":
                if _overlap(tx0, tx1, ax0, ax1) > 0:
                    out[i, j] = vgap
    return out


@dataclass(frozen=True)
class Ranked:
    """A candidate with its rule distance (smaller is better) and the anchor it was measured to."""

    candidate: Candidate
    distance: float
    anchor: Candidate | None = None
    scale: float = 1.0  # the length unit for the ambiguity slack (an anchor height)


def _cap(cands: Sequence[Candidate], n: int) -> list[Candidate]:
    if len(cands) <= n:
        return list(cands)
    order = np.argsort([-c.score for c in cands], kind="stable")[:n]
    return [cands[int(i)] for i in sorted(order)]


def rank_relation(name: str, targets: Sequence[Candidate], anchors: Sequence[Sequence[Candidate]]) -> list[Ranked]:
    """Targets satisfying relation ``name`` to the anchors, nearest first.

    ``anchors``: one candidate list per anchor phrase (two for ``between``). Each target is
    measured to its best anchor (distance divided by the anchor's score, so a doubtful anchor
    weighs less).
    """
    targets = _cap(targets, MAX_CANDIDATES)
    if name == "between":
        if len(anchors) != 2 or not anchors[0] or not anchors[1]:
            return []
        a0, a1 = max(anchors[0], key=lambda c: c.score), max(anchors[1], key=lambda c: c.score)
        d = relation_distances(name, targets, [a0, a1])[:, 0]
        h = 0.5 * ((a0.xyxy[3] - a0.xyxy[1]) + (a1.xyxy[3] - a1.xyxy[1]))
        out = [Ranked(t, float(di), a0, float(h)) for t, di in zip(targets, d) if np.isfinite(di)]
        return sorted(out, key=lambda r: r.distance)
    pool = _cap(anchors[0], MAX_ANCHORS) if anchors else []
    if not pool or not targets:
        return []
    d = relation_distances(name, targets, pool)
    weights = np.asarray([max(a.score, 1e-3) for a in pool])
    weighted = d / weights[None, :]
    out = []
    for i, t in enumerate(targets):
        j = int(np.argmin(weighted[i]))
        if np.isfinite(d[i, j]):
            a = pool[j]
            out.append(Ranked(t, float(d[i, j]), a, float(max(a.xyxy[3] - a.xyxy[1], 1.0))))
    return sorted(out, key=lambda r: r.distance)


def reading_order(cands: Sequence[Candidate]) -> list[int]:
    """Indices of ``cands`` in reading order: rows (vertical centres within half the smaller
    height) top to bottom, left to right within a row."""
    boxes = np.asarray([c.box() for c in cands], np.float64).reshape(-1, 4)
    cy = 0.5 * (boxes[:, 1] + boxes[:, 3])
    hh = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    remaining = list(np.argsort(cy, kind="stable"))
    order: list[int] = []
    while remaining:
        first = remaining[0]
        row = [i for i in remaining if abs(cy[i] - cy[first]) < 0.5 * min(hh[i], hh[first])]
        row.sort(key=lambda i: boxes[i, 0])
        order.extend(int(i) for i in row)
        taken = set(row)
        remaining = [i for i in remaining if i not in taken]
    return order


def section_of(scope: Candidate, targets: Sequence[Candidate], headings: Sequence[np.ndarray]) -> list[Candidate]:
    """The targets in the section under heading/label ``scope``: below it, not left of its
    column, and above the next heading at least as tall as it that starts in its column."""
    x0, y0, x1, y1 = scope.box()
    h = max(y1 - y0, 1.0)
    end = np.inf
    for b in headings:
        bx0, by0, bx1, by1 = (float(v) for v in b)
        if by0 > y1 - 0.25 * h and (by1 - by0) >= 0.9 * h and abs(bx0 - x0) <= 2.0 * h:
            end = min(end, by0)
    out = []
    for t in targets:
        tx0, ty0, tx1, ty1 = t.box()
        # in the heading's column: not left of it, and starting before half its width past its end
        # (a sidebar heading's section is the sidebar, not the main column beside it)
        if ty0 >= y1 - 0.25 * h and ty1 <= end + 0.25 * h and tx1 > x0 - 2.0 * h \
                and tx0 < x1 + 0.5 * (x1 - x0) + 2.0 * h:
            out.append(t)
    return out


def rank_ordinal(n: int, targets: Sequence[Candidate]) -> list[Ranked]:
    """The ``n``-th target in reading order (1-based; ``-1``: the last), or ``[]`` when there are
    fewer. Ordinals are exact, never ambiguous."""
    targets = _cap(targets, MAX_CANDIDATES)
    order = reading_order(targets)
    k = n - 1 if n > 0 else len(order) + n
    if not 0 <= k < len(order):
        return []
    return [Ranked(targets[order[k]], 0.0)]


_REGION_POINTS = {
    "top-left": (0.0, 0.0), "top": (None, 0.0), "top-right": (1.0, 0.0), "left": (0.0, None),
    "center": (0.5, 0.5), "right": (1.0, None), "bottom-left": (0.0, 1.0), "bottom": (None, 1.0),
    "bottom-right": (1.0, 1.0),
}


def rank_region(region: str, targets: Sequence[Candidate], image_size: tuple[int, int]) -> list[Ranked]:
    """Targets by the distance of their centre to the named point of the image, in units of the
    image size (``"top"`` measures only the vertical coordinate, ``"left"`` only the horizontal)."""
    targets = _cap(targets, MAX_CANDIDATES)
    w, h = max(1, int(image_size[0])), max(1, int(image_size[1]))
    px, py = _REGION_POINTS[region]
    out = []
    for t in targets:
        x0, y0, x1, y1 = t.box()
        cx, cy = 0.5 * (x0 + x1) / w, 0.5 * (y0 + y1) / h
        dx = 0.0 if px is None else cx - px
        dy = 0.0 if py is None else cy - py
        out.append(Ranked(t, float(np.hypot(dx, dy)), None, 0.0))
    return sorted(out, key=lambda r: r.distance)


def rank_superlative(which: str, targets: Sequence[Candidate], image_size: tuple[int, int]) -> list[Ranked]:
    """Targets by ``which`` (leftmost: centre x ascending, largest: area descending, ...); the
    distance is in image-size units (areas: fraction of the image), so ties are comparable."""
    targets = _cap(targets, MAX_CANDIDATES)
    w, h = max(1, int(image_size[0])), max(1, int(image_size[1]))
    vals = []
    for t in targets:
        x0, y0, x1, y1 = t.box()
        cx, cy, area = 0.5 * (x0 + x1) / w, 0.5 * (y0 + y1) / h, (x1 - x0) * (y1 - y0) / (w * h)
        vals.append({"leftmost": cx, "rightmost": 1 - cx, "topmost": cy, "bottommost": 1 - cy,
                     "largest": 1.0 - area, "smallest": area}[which])
    out = [Ranked(t, float(v), None, 0.0) for t, v in zip(targets, vals)]
    return sorted(out, key=lambda r: r.distance)


def decide(ranked: Sequence[Ranked], *, unit_slack: float = 0.0, ratio: float = AMBIGUITY_RATIO) -> tuple[list[Ranked], bool]:
    """The winner of a ranking, or the tied leaders when the runner-up is too close to call.

    Two candidates tie when ``d2 <= ratio * d1 + slack`` where the slack is
    :data:`AMBIGUITY_SLACK` times the anchor height (geometric relations) or ``unit_slack``
    (regions and superlatives, in image units; call with ``ratio=1``). A candidate that only
    satisfies a relation loosely (off the anchor's row or column: distances from
    :data:`_TIER` up) never ties with one that satisfies it properly. Returns ``(leaders, ambiguous)``.
    """
    if not ranked:
        return [], False
    best = ranked[0]
    slack = AMBIGUITY_SLACK * best.scale if best.scale > 0 else unit_slack
    tier = np.floor(best.distance / _TIER)
    base = best.distance - tier * _TIER
    ties = [best]
    for r in ranked[1:]:
        if r.candidate is best.candidate:
            continue
        if np.floor(r.distance / _TIER) != tier:
            break
        if r.distance - tier * _TIER <= ratio * base + slack and not _same_box(r.candidate, best.candidate):
            ties.append(r)
        else:
            break
    return ties, len(ties) > 1


def _same_box(a: Candidate, b: Candidate) -> bool:
    ax0, ay0, ax1, ay1 = a.box()
    bx0, by0, bx1, by1 = b.box()
    inter = _overlap(ax0, ax1, bx0, bx1) * _overlap(ay0, ay1, by0, by1)
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return union > 0 and inter / union > 0.7
