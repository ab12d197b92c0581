"""UI controls from the pixels: the box of the button / field / checkbox / menu around a label.

A text finder returns the box of a label's *text*; "the Save button" means the button's frame.
This module recovers that frame from the screenshot alone (numpy + OpenCV, no model), working in
a bounded window around the label so that one query costs about a millisecond:

* :func:`control_around` -- the smallest rectangle around a text box whose inside differs from
  its outside (a border, or a fill): button, select menu, tab, input with text in it; for
  ``kind="checkbox"/"radio"`` the small square / circle beside the label; for ``kind="link"``
  the text box itself (with its cue: colour / underline) unless the link is drawn as a
  button, tab or navigation-bar cell.
* :func:`field_for_label` -- the input frame that belongs to a label (right of it on its row,
  else below it).
* :func:`classify` -- what a text box is: inside a button-like frame, a link, plain text.
* :func:`find_controls` -- every control of one kind on a screen, from its text lines.

How a frame is found (``_frame_around``): the *inner colour* is the median of a thin ring just
outside the text box (a button's fill, an input's background). From each side of the text box
the search walks outward, row by row (top, bottom) or column by column (left, right), to the
first line whose pixels mostly differ from the inner colour -- a border, or where the fill ends.
The rectangle is kept only if all four sides are found within the window, its whole perimeter is
such an edge and the padding between text and frame is uniform (no other text inside), which
rejects table rules, neighbouring words and far-away containers. Light and dark themes are the
same case (only differences count); HiDPI only scales the window.

All boxes are ``float32 [4]`` ``x0, y0, x1, y1`` in image pixels (``x1``/``y1`` exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from groundlite.errors import InvalidArgumentError, did_you_mean

__all__ = [
    "CONTROL_KINDS",
    "CUES",
    "MAX_LINES",
    "ControlBox",
    "control_around",
    "field_for_label",
    "classify",
    "find_controls",
    "link_spans",
]

#: the control kinds a query may name
CONTROL_KINDS = ("button", "link", "field", "checkbox", "radio", "menu", "tab")

#: what a :class:`ControlBox` was found from
CUES = ("border", "fill", "square", "circle", "underline", "colour", "text-only")

#: :func:`find_controls` refuses more lines than this (bounded work on one screen)
MAX_LINES = 2000

# A pixel "differs" when one channel differs by more than this (8-bit). Subtle fills (a #efefef
# button on white) differ by 16; anti-aliased 1 px borders by 30+.
_DIFF = 10
# a row / column is an edge when this fraction of its pixels differ from the inner colour
_EDGE_FRAC = 0.75
# the whole perimeter of a kept frame must be this consistent, the padding this uniform
_PERIM_FRAC = 0.8
_PAD_UNIFORM = 0.85
# the window around the label, in text heights
_REACH_Y = 2.0
_REACH_X = 8.0
# a control is at most this many text heights tall (taller frames are containers)
_MAX_CONTROL_H = 2.6


@dataclass(frozen=True)
class ControlBox:
    """A control found around (or for) a label.

    Attributes:
        xyxy: float32 ``[4]`` the control's box, image pixels (for links and plain text: the text box).
        kind: one of :data:`CONTROL_KINDS`, or ``"text"`` (:func:`classify` of plain text).
        cue: what it was found from, one of :data:`CUES`: ``"border"`` (a frame line around the
            text), ``"fill"`` (the inside differs from the outside), ``"square"``/``"circle"``
            (a checkbox / radio mark), ``"underline"``/``"colour"`` (a link), ``"text-only"``.
        confidence: in ``[0, 1]``: how clean the evidence is (edge consistency, contrast).
        text: the characters of the text line (or the part of it) the control belongs to: a
            link's span, a button's caption, a checkbox's label; ``None`` when not known (the
            box-only entry points).
    """

    xyxy: np.ndarray
    kind: str
    cue: str
    confidence: float
    text: str | None = None

    def __post_init__(self) -> None:
        box = np.asarray(self.xyxy, np.float32).reshape(-1)
        if box.shape != (4,):
            raise InvalidArgumentError(f"expected xyxy of shape (4,), got {tuple(np.shape(self.xyxy))}")
        object.__setattr__(self, "xyxy", box)
        object.__setattr__(self, "confidence", float(min(1.0, max(0.0, self.confidence))))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"xyxy", "kind", "cue", "confidence"}`` (and ``"text"`` when known)."""
        out = {"xyxy": [round(float(v), 1) for v in self.xyxy], "kind": self.kind, "cue": self.cue,
               "confidence": round(self.confidence, 4)}
        if self.text is not None:
            out["text"] = self.text
        return out


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------


def _check_image(rgb: Any) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise InvalidArgumentError(f"expected rgb as a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise InvalidArgumentError(f"expected rgb of shape (H, W, 3), got {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise InvalidArgumentError(f"expected rgb of dtype uint8, got {rgb.dtype}")
    return rgb


def _check_box(box: Any, shape: tuple[int, ...], name: str = "text_xyxy") -> np.ndarray:
    try:
        b = np.asarray(box, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"expected {name} as 4 numbers x0, y0, x1, y1, got {box!r}") from None
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise InvalidArgumentError(f"expected {name} as 4 finite numbers x0, y0, x1, y1, got {box!r}")
    if b[2] <= b[0] or b[3] <= b[1]:
        raise InvalidArgumentError(f"expected {name} with x1 > x0 and y1 > y0, got {b.tolist()}")
    h, w = shape[:2]
    if b[0] < -1 or b[1] < -1 or b[2] > w + 1 or b[3] > h + 1:
        raise InvalidArgumentError(f"expected {name} inside the {w}x{h} image, got {b.tolist()}")
    return np.clip(b, 0, [w, h, w, h])


def _check_kind(kind: Any, allow_none: bool = True) -> str | None:
    if kind is None and allow_none:
        return None
    if not isinstance(kind, str) or kind not in CONTROL_KINDS:
        raise InvalidArgumentError(
            f"expected kind one of {', '.join(CONTROL_KINDS)}, got {kind!r}{did_you_mean(kind, CONTROL_KINDS)}")
    return kind


# ------------------------------------------------------------------------------------------------
# pixel helpers
# ------------------------------------------------------------------------------------------------


def _differs(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Bool mask of the pixels (``[..., 3]`` uint8) differing from ``colour`` by more than _DIFF."""
    if pixels.size == 0:
        return np.zeros(pixels.shape[:-1], bool)
    import cv2

    # OpenCV's absdiff / max are ~10x faster than a numpy reduction over the 3-long channel axis
    c = np.asarray(colour, np.float64)
    src = np.ascontiguousarray(pixels).reshape(-1, pixels.shape[-2] if pixels.ndim > 2 else 1, 3)
    b, g, r = cv2.split(cv2.absdiff(src, (c[0], c[1], c[2], 0.0)))
    return (cv2.max(cv2.max(b, g), r) > _DIFF).reshape(pixels.shape[:-1])


def _ring(rgb: np.ndarray, ix: tuple[int, int, int, int], gap: int, width: int) -> np.ndarray:
    """Pixels ``[N, 3]`` of a ring ``gap..gap+width`` px outside the integer box ``ix``."""
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = ix
    parts = []
    for ya, yb in ((y0 - gap - width, y0 - gap), (y1 + gap, y1 + gap + width)):
        ya, yb = max(0, ya), min(H, yb)
        if yb > ya:
            parts.append(rgb[ya:yb, max(0, x0):min(W, x1)].reshape(-1, 3))
    for xa, xb in ((x0 - gap - width, x0 - gap), (x1 + gap, x1 + gap + width)):
        xa, xb = max(0, xa), min(W, xb)
        if xb > xa:
            parts.append(rgb[max(0, y0):min(H, y1), xa:xb].reshape(-1, 3))
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts) if parts else np.zeros((0, 3), np.uint8)


def _int_box(b: np.ndarray, W: int, H: int) -> tuple[int, int, int, int]:
    x0, y0 = int(np.floor(b[0])), int(np.floor(b[1]))
    x1, y1 = int(np.ceil(b[2])), int(np.ceil(b[3]))
    return max(0, x0), max(0, y0), min(W, max(x1, x0 + 1)), min(H, max(y1, y0 + 1))


def _background(rgb: np.ndarray, ix: tuple[int, int, int, int], h: float) -> tuple[np.ndarray, float] | None:
    """The colour behind a text box and how uniform the 1 px ring just outside it is.

    The colour is the median of the box's own pixels (ink covers a minority of a text box) and
    of that ring; a wider ring would reach the border of a tightly padded button.
    """
    x0, y0, x1, y1 = ix
    ring = _ring(rgb, ix, 0, 1)
    if len(ring) < 8:
        return None
    step = max(1, int((y1 - y0) * (x1 - x0) // 4096))
    inside = rgb[y0:y1, x0:x1].reshape(-1, 3)[::step]
    colour = np.median(np.concatenate([inside, ring]), axis=0).astype(np.uint8)
    return colour, float(1.0 - _differs(ring, colour).mean())


# ------------------------------------------------------------------------------------------------
# frames around a text box
# ------------------------------------------------------------------------------------------------


def _walk(rgb: np.ndarray, colour: np.ndarray, span: tuple[int, int], start: int, stop: int,
          vertical: bool, chunk: int) -> int | None:
    """Walk from line ``start`` towards ``stop`` (exclusive; either direction) and return the
    distance to the first line that is an edge: most of its pixels over ``span`` (columns for
    rows, rows for columns) differ from ``colour``. Lines are compared a chunk at a time, so a
    near edge costs only its neighbourhood."""
    step = 1 if stop > start else -1
    done = 0
    total = abs(stop - start)
    while done < total:
        n = min(chunk, total - done)
        a = start + step * done
        lo, hi = (a, a + n) if step > 0 else (a - n + 1, a + 1)
        if vertical:
            band = rgb[lo:hi, span[0]:span[1]]
            frac = _differs(band, colour).mean(axis=1)
        else:
            band = rgb[span[0]:span[1], lo:hi]
            frac = _differs(band, colour).mean(axis=0)
        if step < 0:
            frac = frac[::-1]
        hit = np.flatnonzero(frac >= _EDGE_FRAC)
        if len(hit):
            return done + int(hit[0])
        done += n
        chunk *= 2
    return None


def _uniformity(line: np.ndarray) -> float:
    """Fraction of a line's pixels (``[N, 3]``) within 3 * _DIFF of its median colour."""
    if len(line) == 0:
        return 0.0
    med = np.median(line, axis=0)
    return float((np.abs(line.astype(np.float32) - med).max(axis=1) <= 3 * _DIFF).mean())


def _thickness(lines: list[np.ndarray], k: int) -> int:
    """How many lines after ``lines[0]`` (an edge line, then lines further out) continue it:
    those of its colour, if a line of another colour follows within ``k`` lines, else 0."""
    if len(lines) < 2:
        return 0
    edge = np.median(lines[0], axis=0)
    for j, ln in enumerate(lines[1:k + 2], start=1):
        if float(np.abs(np.median(ln, axis=0) - edge).max()) > _DIFF:
            return j - 1
    return 0


def _frame_around(rgb: np.ndarray, b: np.ndarray, reach_x: float | None = None) -> tuple[np.ndarray, str, float] | None:
    """The bordered / filled rectangle enclosing text box ``b``: ``(xyxy, cue, confidence)`` or None."""
    H, W = rgb.shape[:2]
    ix = _int_box(b, W, H)
    x0, y0, x1, y1 = ix
    h = float(max(4.0, b[3] - b[1]))
    bg = _background(rgb, ix, h)
    # the 1 px ring may touch a tightly padded frame on two sides, never on all four
    if bg is None or bg[1] < 0.35:
        return None
    inner = bg[0]
    ry = int(np.ceil(_REACH_Y * h))
    rx = int(np.ceil(reach_x if reach_x is not None else min(max(_REACH_X * h, 0.2 * W), 0.4 * W)))
    wx0, wx1 = max(0, x0 - rx), min(W, x1 + rx)
    wy0, wy1 = max(0, y0 - ry), min(H, y1 + ry)
    chunk = max(4, int(h))
    t = _walk(rgb, inner, (x0, x1), y0 - 1, wy0 - 1, True, chunk)
    if t is None:
        return None
    bo = _walk(rgb, inner, (x0, x1), y1, wy1, True, chunk)
    if bo is None:
        return None
    le = _walk(rgb, inner, (y0, y1), x0 - 1, wx0 - 1, False, chunk)
    if le is None:
        return None
    ri = _walk(rgb, inner, (y0, y1), x1, wx1, False, chunk)
    if ri is None:
        return None
    # edge lines as box coordinates: the edge line itself is part of the frame (a border)
    fy0, fy1 = y0 - 1 - t, y1 + bo + 1
    fx0, fx1 = x0 - 1 - le, x1 + ri + 1
    # a thick border (HiDPI): the lines past the first edge line that still have its colour,
    # when the colour beyond them differs again (else the "edge" is just the outside: a fill)
    k = max(2, int(round(0.25 * h)))
    et = _thickness([rgb[y, x0:x1] for y in range(fy0, max(-1, fy0 - k - 2), -1)], k)
    eb = _thickness([rgb[y - 1, x0:x1] for y in range(fy1, min(H, fy1 + k + 1) + 1)], k)
    el = _thickness([rgb[y0:y1, x] for x in range(fx0, max(-1, fx0 - k - 2), -1)], k)
    er = _thickness([rgb[y0:y1, x - 1] for x in range(fx1, min(W, fx1 + k + 1) + 1)], k)
    fy0, fy1, fx0, fx1 = fy0 - et, fy1 + eb, fx0 - el, fx1 + er
    fh, fw = fy1 - fy0, fx1 - fx0
    # validate the whole perimeter (corners excluded: rounded) and the padding
    r = max(1, int(round(min(fh, fw) * 0.25)))
    mask = _differs(rgb[fy0:fy1, fx0:fx1], inner)
    sides = [mask[0, r:fw - r], mask[-1, r:fw - r], mask[r:fh - r, 0], mask[r:fh - r, -1]]
    perim = [float(s.mean()) if s.size else 0.0 for s in sides]
    if min(perim) < _PERIM_FRAC:
        return None
    # each side is one colour along its length (a border or the outside), not a row of glyphs
    lines = [rgb[fy0, fx0 + r:fx1 - r], rgb[fy1 - 1, fx0 + r:fx1 - r], rgb[fy0 + r:fy1 - r, fx0], rgb[fy0 + r:fy1 - r, fx1 - 1]]
    if min(_uniformity(ln) for ln in lines) < _PERIM_FRAC:
        return None
    # the padding: inside the border lines, outside the text box
    pad = mask[1 + et:fh - 1 - eb, 1 + el:fw - 1 - er].copy()
    oy, ox = fy0 + 1 + et, fx0 + 1 + el
    pad[max(0, y0 - oy):max(0, y1 - oy), max(0, x0 - ox):max(0, x1 - ox)] = False
    n_pad = pad.size - (y1 - y0) * (x1 - x0)
    uniform = 1.0 - float(pad.sum()) / max(1, n_pad)
    # a select's arrow and an input's caret are small; other text inside is not
    if n_pad > 0 and uniform < _PAD_UNIFORM:
        return None
    # cue: does the outside (just past the frame) differ from the inside?
    outside = _ring(rgb, (fx0, fy0, fx1, fy1), 1, max(2, int(round(0.1 * h))))
    cue = "border"
    contrast = 0.0
    if len(outside):
        out_col = np.median(outside, axis=0)
        contrast = float(np.abs(out_col - inner.astype(np.float64)).max())
        if contrast > _DIFF:
            cue = "fill"
            # a fill without a border: the edge line found is the first line outside
            edges = (mask[0], mask[-1], mask[:, 0], mask[:, -1])
            lines = (rgb[fy0, fx0:fx1], rgb[fy1 - 1, fx0:fx1], rgb[fy0:fy1, fx0], rgb[fy0:fy1, fx1 - 1])
            shrink = [float(np.abs(np.median(ln, axis=0) - out_col).max()) <= _DIFF and e.mean() > 0
                      for ln, e in zip(lines, edges)]
            fy0, fy1, fx0, fx1 = fy0 + shrink[0], fy1 - shrink[1], fx0 + shrink[2], fx1 - shrink[3]
    conf = min(perim) * uniform * bg[1]
    box = np.array([fx0, fy0, fx1, fy1], np.float32)
    return box, cue, conf


def _bar_cell(rgb: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float] | None:
    """A link / tab drawn as a cell of a filled bar (a navigation bar): ``(xyxy, confidence)``.

    The bar's top and bottom are the nearest edges above / below the text (the screen border
    counts), at most 0.8 text heights away (a tight bar: a
    taller one is a page header with ordinary links in it), and its fill differs from what lies beyond it. The
    cell has no visible sides: it extends half-way to the nearest ink left and right (CSS
    padding is symmetric), at most 2 text heights.
    """
    H, W = rgb.shape[:2]
    ix = _int_box(b, W, H)
    x0, y0, x1, y1 = ix
    h = float(max(4.0, b[3] - b[1]))
    bg = _background(rgb, ix, h)
    if bg is None or bg[1] < 0.8:
        return None
    inner = bg[0]
    reach = int(np.ceil(0.8 * h))
    chunk = max(4, int(h))
    t = _walk(rgb, inner, (x0, x1), y0 - 1, max(-1, y0 - 1 - reach), True, chunk)
    if t is None:
        t = y0 if y0 <= reach else None      # the bar touches the top of the screen
    bo = _walk(rgb, inner, (x0, x1), y1, min(H, y1 + reach), True, chunk)
    if bo is None:
        bo = H - y1 if H - y1 <= reach else None
    if t is None or bo is None:
        return None
    fy0, fy1 = y0 - t, y1 + bo
    # the bar's edges run well past the text on both sides (not a neighbouring line's glyphs)
    ext = int(np.ceil(1.0 * h))
    xa, xb = max(0, x0 - ext), min(W, x1 + ext)
    for yy in (fy0 - 1, fy1):
        if 0 <= yy < H and (_differs(rgb[yy, xa:xb], inner).mean() < 0.95 or _uniformity(rgb[yy, xa:xb]) < 0.9):
            return None
    # the fill must differ from what lies beyond the bar (else it is the page itself)
    beyond = [rgb[yy, x0:x1] for yy in (fy0 - 2, fy1 + 1) if 0 <= yy < H]
    if not beyond or not any(_differs(row, inner).mean() >= _EDGE_FRAC for row in beyond):
        return None
    # the rows of the bar must be the fill nearly everywhere between text and neighbours
    side = int(np.ceil(2.0 * h))
    band_l = _differs(rgb[fy0:fy1, max(0, x0 - 2 * side):x0], inner)
    band_r = _differs(rgb[fy0:fy1, x1:min(W, x1 + 2 * side)], inner)
    gaps = []
    for band, flip in ((band_l, True), (band_r, False)):
        cols = band.any(axis=0)
        if flip:
            cols = cols[::-1]
        hit = np.flatnonzero(cols)
        gaps.append(int(hit[0]) if len(hit) else None)
    known = [g for g in gaps if g is not None]
    pad = min(known) / 2.0 if known else float(side)
    pad = min(pad, float(side))
    box = np.array([max(0.0, b[0] - pad), fy0, min(float(W), b[2] + pad), fy1], np.float32)
    return box, 0.6 * bg[1]


def _mark_beside(rgb: np.ndarray, b: np.ndarray, sides: tuple[str, ...] = ("left", "right"),
                 inside: bool = True) -> tuple[np.ndarray, str, float] | None:
    """A checkbox / radio mark (0.5-1.7 text heights, square-ish, closed) just left or right of a
    label, standing alone: no ink within 0.3 text heights on its far side (else it is the first
    or last letter of a neighbouring word).

    With ``inside`` the left search also covers the first 1.2 text heights of the box itself: an
    OCR line often starts at the mark (read as "O", "口" or nothing). A mark found there must be
    followed by a gap of at least 0.2 text heights before the next ink (a letter "O" at the start
    of a word touches its neighbour; a mark is set apart from its label by a margin)."""
    import cv2

    H, W = rgb.shape[:2]
    ix = _int_box(b, W, H)
    x0, y0, x1, y1 = ix
    h = float(max(4.0, b[3] - b[1]))
    bg = _background(rgb, ix, h)
    if bg is None:
        return None
    cy = 0.5 * (b[1] + b[3])
    wy0, wy1 = max(0, int(cy - 1.3 * h)), min(H, int(np.ceil(cy + 1.3 * h)))
    best = None
    for side in sides:
        if side == "left":
            wx0, wx1 = max(0, int(x0 - 3.0 * h)), (min(x1, int(x0 + 4.0 * h)) if inside else x0)
        else:
            wx0, wx1 = x1, min(W, int(np.ceil(x1 + 3.0 * h)))
        if wx1 - wx0 < 3 or wy1 - wy0 < 3:
            continue
        mask = _differs(rgb[wy0:wy1, wx0:wx1], bg[0]).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for i in range(1, n):
            x, y, w, hh, area = (int(v) for v in stats[i])
            s = 0.5 * (w + hh)
            if not (0.5 * h <= s <= 1.7 * h) or not (0.75 <= w / hh <= 1.33):
                continue
            if abs(wy0 + y + 0.5 * hh - cy) > 0.45 * h:
                continue
            comp = mask[y:y + hh, x:x + w]
            # a mark is closed: its outline runs round all four sides
            k = max(1, int(round(0.15 * s)))    # anti-aliased circles touch their box at a point
            perim = float(min(comp[:k].any(0).mean(), comp[-k:].any(0).mean(),
                              comp[:, :k].any(1).mean(), comp[:, -k:].any(1).mean()))
            if perim < 0.4:             # a small anti-aliased circle ~0.47 (its chords); an "H" ~0.3
                continue
            # a letter with a crossbar ("H"): a middle row inked across, the middle column not
            mid = comp[int(0.2 * hh):max(int(0.2 * hh) + 1, int(np.ceil(0.8 * hh)))]
            if mid.size and mid.mean(axis=1).max() >= 0.9 and comp[:, w // 2].mean() < 0.5:
                continue
            c = max(1, int(round(0.12 * s)))
            corners = float(np.mean([comp[:c, :c].mean(), comp[:c, -c:].mean(), comp[-c:, :c].mean(), comp[-c:, -c:].mean()]))
            shape = "circle" if corners < 0.25 else "square"
            gap = (x0 - (wx0 + x + w)) if side == "left" else (wx0 + x - x1)
            if side == "left" and wx0 + x + w > x0:
                # inside the box: the mark starts it and stands apart from the text after it
                if wx0 + x > x0 + 0.5 * h or wx0 + x + w > x0 + 1.7 * h:
                    continue
                band = mask[max(0, y0 - wy0):max(0, y1 - wy0), x + w:]
                after = np.flatnonzero(band.any(axis=0)) if band.size else np.zeros(0, np.int64)
                gap = int(after[0]) if len(after) else int(2.0 * h)
                if gap < max(2.0, 0.2 * h):
                    continue
            if gap > 2.0 * h or gap < 1:
                continue
            far = int(np.ceil(0.3 * h))
            ya, yb = wy0 + y, wy0 + y + hh
            if side == "left":
                beyond = rgb[ya:yb, max(0, wx0 + x - far):wx0 + x]
            else:
                beyond = rgb[ya:yb, wx0 + x + w:min(W, wx0 + x + w + far)]
            if beyond.size and _differs(beyond, bg[0]).any():
                continue
            box = np.array([wx0 + x, wy0 + y, wx0 + x + w, wy0 + y + hh], np.float32)
            conf = float(min(1.0, perim + 0.3)) * (1.0 - 0.3 * gap / (2.0 * h)) * (0.9 if side == "right" else 1.0)
            if best is None or conf > best[2]:
                best = (box, shape, conf)
    return best


def _link_cue(rgb: np.ndarray, b: np.ndarray) -> tuple[str, float]:
    """``("underline" | "colour" | "text-only", confidence)`` from the ink of a text box."""
    H, W = rgb.shape[:2]
    ix = _int_box(b, W, H)
    x0, y0, x1, y1 = ix
    h = float(max(4.0, b[3] - b[1]))
    bg = _background(rgb, ix, h)
    if bg is None:
        return "text-only", 0.3
    crop = rgb[y0:y1, x0:x1]
    ink = _differs(crop, bg[0])
    if not ink.any():
        return "text-only", 0.3
    # underline: a row in the lower third (or just below the box) that is ink nearly all along
    yb = min(H, y1 + max(2, int(round(0.15 * h))))
    low = _differs(rgb[y0 + int(0.6 * (y1 - y0)):yb, x0:x1], bg[0])
    if low.size and low.mean(axis=1).max() >= 0.8:
        return "underline", 0.9
    colours = crop[ink].astype(np.int16)
    strong = colours[np.abs(colours - bg[0].astype(np.int16)).max(axis=1) > 4 * _DIFF]
    if len(strong):
        med = np.median(strong, axis=0)
        if med.max() - med.min() >= 40:
            return "colour", 0.8
    return "text-only", 0.5


# ------------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------------


def control_around(rgb: np.ndarray, text_xyxy: Any, kind: str | None = None) -> ControlBox | None:
    """The control whose label is the text in ``text_xyxy``, found from the pixels around it.

    Args:
        rgb: uint8 ``[H, W, 3]`` screenshot.
        text_xyxy: the label's text box ``x0, y0, x1, y1`` (image pixels), e.g. from OCR.
        kind: ``None`` (any framed control), one of :data:`CONTROL_KINDS`.

    Returns:
        ``kind`` None / "button" / "field" / "menu" / "tab": the smallest rectangle enclosing the
        text whose inside differs from its outside (cue ``"border"`` or ``"fill"``), searched
        within 2 text heights above/below and max(8 heights, 20 % of the width) -- at most 40 %
        -- left/right; ``None`` when the text sits on plain background. ``"tab"`` also accepts a
        cell of a tight filled bar without visible sides (a navigation bar): the bar's height,
        extended sideways half-way to the neighbouring text. ``"field"`` / ``"menu"`` fall back to
        :func:`field_for_label` when no frame encloses the text (the text is the label). ``"checkbox"`` / ``"radio"``: the small
        square / circle (0.5-1.7 text heights) just left (or right) of the label, else None.
        ``"link"``: a link styled as a button / tab (a centred frame) or a navigation-bar cell
        has that box; a plain link has no frame and gets its text box, cue ``"underline"`` /
        ``"colour"`` / ``"text-only"`` (never None).

    Raises:
        InvalidArgumentError: bad image shape/dtype, a box outside the image, an unknown kind.
    """
    rgb = _check_image(rgb)
    kind = _check_kind(kind)
    b = _check_box(text_xyxy, rgb.shape)
    if kind == "link":
        # a link styled as a button / tab (a centred frame) or as a cell of a navigation bar has
        # that box; a plain link has no frame: its text box
        f = _frame_around(rgb, b)
        if f is not None and _guess_kind(rgb, f[0], b) == "button":
            return ControlBox(f[0], "link", f[1], f[2])
        cell = _bar_cell(rgb, b)
        if cell is not None:
            return ControlBox(cell[0], "link", "fill", cell[1])
        cue, conf = _link_cue(rgb, b)
        return ControlBox(b.astype(np.float32), "link", cue, conf)
    if kind in ("checkbox", "radio"):
        m = _mark_beside(rgb, b)
        if m is None:
            return None
        box, shape, conf = m
        if (shape == "circle") != (kind == "radio"):
            conf *= 0.7     # a rounded checkbox / a square-ish radio: still the nearest mark
        return ControlBox(box, kind, shape, conf)
    f = _frame_around(rgb, b)
    if f is None:
        if kind in ("field", "menu"):
            # not a placeholder / value inside a frame: the text may be the field's label
            g = field_for_label(rgb, b)
            return None if g is None else ControlBox(g.xyxy, kind, g.cue, g.confidence)
        if kind == "tab":
            cell = _bar_cell(rgb, b)
            if cell is not None:
                return ControlBox(cell[0], "tab", "fill", cell[1])
        return None
    box, cue, conf = f
    guess = _guess_kind(rgb, box, b)
    if kind is None and guess is None:
        return None                      # a container around the text, not a control
    if kind is not None and box[3] - box[1] > _MAX_CONTROL_H * 1.4 * (b[3] - b[1]):
        return None
    return ControlBox(box, kind or guess, cue, conf if guess is not None else 0.5 * conf)


def _guess_kind(rgb: np.ndarray, frame: np.ndarray, text: np.ndarray) -> str | None:
    """button / field / menu from the frame's geometry, or None for a container (a note box, a
    code block, a table cell): too tall for its text, text off-centre vertically, or a frame
    whose edges run on past its corners (a grid)."""
    H, W = rgb.shape[:2]
    h = float(text[3] - text[1])
    fx0, fy0, fx1, fy1 = (int(v) for v in frame)
    pad_l, pad_r = text[0] - frame[0], frame[2] - text[2]
    pad_t, pad_b = text[1] - frame[1], frame[3] - text[3]
    if fy1 - fy0 > _MAX_CONTROL_H * h or abs(pad_t - pad_b) > max(3.0, 0.4 * h):
        return None
    if _in_grid(rgb, (fx0, fy0, fx1, fy1), h):
        return None
    if pad_r > pad_l + 0.5 * h and pad_l <= 1.5 * h:
        # ink between the text and the right end (a select's arrow): a menu
        inner = _background(rgb, _int_box(text, W, H), h)
        za = max(fx0, fx1 - int(1.6 * h), int(np.ceil(text[2])) + 1)
        zone = rgb[fy0 + 2:fy1 - 2, za:fx1 - 2]
        if inner is not None and zone.size and _differs(zone, inner[0]).mean() > 0.03:
            return "menu"
    if pad_r > max(2.5 * pad_l, 1.5 * h):
        # text at the left of a wide, empty frame: a field (value or placeholder)
        return None if pad_l > 1.5 * h else "field"
    if abs(pad_l - pad_r) > max(0.6 * h, 0.4 * (pad_l + pad_r)) or max(pad_l, pad_r) > 4.0 * h:
        return None
    return "button"


def _in_grid(rgb: np.ndarray, f: tuple[int, int, int, int], h: float) -> bool:
    """Whether a frame's edge lines run on past its corners (table cells share their borders;
    a control stands alone -- a neighbour is at least a few pixels away -- or is joined on one
    side, like a search field and its button)."""
    H, W = rgb.shape[:2]
    fx0, fy0, fx1, fy1 = f
    k = max(2, int(round(0.15 * h)))
    out = _ring(rgb, f, 1, k)
    if not len(out):
        return False
    out_col = np.median(out, axis=0).astype(np.uint8)
    runs = []
    for y in (fy0, fy1 - 1):          # the top / bottom edge continued left and right
        for xa, xb in ((fx0 - k, fx0), (fx1, fx1 + k)):
            if 0 <= xa and xb <= W:
                runs.append(_differs(rgb[y, xa:xb], out_col).mean())
    for x in (fx0, fx1 - 1):          # the left / right edge continued up and down
        for ya, yb in ((fy0 - k, fy0), (fy1, fy1 + k)):
            if 0 <= ya and yb <= H:
                runs.append(_differs(rgb[ya:yb, x], out_col).mean())
    # an input with its button attached continues on one side only (2 runs); a table cell on 3+
    return sum(r >= 0.99 for r in runs) >= 3


def field_for_label(rgb: np.ndarray, label_xyxy: Any, lines: Sequence[Any] | None = None) -> ControlBox | None:
    """The input frame belonging to the label in ``label_xyxy``.

    The nearest rectangle-like frame (a closed outline or a filled box, 0.8-4 label heights tall,
    at least 1.5 heights wide) whose vertical centre is on the label's row, right of the label
    (a gap of at most ``min(40 % of the width, 40 heights)``); else the nearest one directly
    below it (columns overlapping the label), its top within 5 heights. With ``lines`` (objects with ``.xyxy`` and
    ``.text``, e.g. :class:`groundlite.text.TextLine`), a frame is skipped when another line sits
    between the label and it (the frame is that line's), or when it encloses the label.

    Returns:
        ``ControlBox(kind="field", cue="border"|"fill")`` or None.

    Raises:
        InvalidArgumentError: bad image, a box outside the image.
    """
    rgb = _check_image(rgb)
    b = _check_box(label_xyxy, rgb.shape, "label_xyxy")
    H, W = rgb.shape[:2]
    ix = _int_box(b, W, H)
    h = float(max(4.0, b[3] - b[1]))
    bg = _background(rgb, ix, h)
    if bg is None:
        return None
    others = []
    for ln in lines or ():
        ob = np.asarray(getattr(ln, "xyxy", ln), np.float64).reshape(-1)[:4]
        if _iou(ob, b) < 0.5 and not _contains(b, ob):
            others.append(ob)
    cy = 0.5 * (b[1] + b[3])
    max_gap = min(0.4 * W, 40 * h)
    # a first window wide enough for most fields; a frame cut by its right end is looked for
    # again in a window to the screen's right edge
    near = int(min(W, b[2] + 30 * h))
    for where, wy0, wy1, wx0 in (
        ("right", int(max(0, cy - 2.2 * h)), int(min(H, cy + 2.2 * h)), int(b[2])),
        ("below", int(b[3]), int(min(H, b[3] + 5 * h)), int(max(0, b[0] - 2 * h))),
    ):
        for wx1 in dict.fromkeys((near, W)):
            found, cut = _field_in(rgb, bg[0], b, h, where, (wx0, wy0, wx1, wy1), max_gap, others)
            if found is not None or not cut:
                break
        if found is not None:
            gap, box, cue, perim = found
            conf = perim * bg[1] * (1.0 - 0.5 * min(1.0, gap / (20 * h)))
            return ControlBox(box.astype(np.float32), "field", cue, conf)
    return None


def _field_in(rgb, colour, b, h, where, window, max_gap, others):
    """The nearest field frame in ``window``: ``((gap, box, cue, perim) | None, cut)``, where
    ``cut`` says a candidate touched the window's right end."""
    import cv2

    wx0, wy0, wx1, wy1 = window
    if wx1 - wx0 < 4 or wy1 - wy0 < 4:
        return None, False
    cy = 0.5 * (b[1] + b[3])
    mask = _differs(rgb[wy0:wy1, wx0:wx1], colour).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    cands, cut = [], False
    for i in range(1, n):
        x, y, w, hh, _area = (int(v) for v in stats[i])
        if not (0.8 * h <= hh <= 4.0 * h) or w < 1.5 * h:
            continue
        box = np.array([wx0 + x, wy0 + y, wx0 + x + w, wy0 + y + hh], np.float64)
        if where == "right":
            if abs(0.5 * (box[1] + box[3]) - cy) > 0.5 * max(h, hh / 2) or box[0] < b[2] - 1:
                continue
            gap = box[0] - b[2]
        else:
            if box[2] <= b[0] or box[0] >= b[2] or box[1] < b[3] - 1:
                continue
            gap = box[1] - b[3]
        if gap > max_gap:
            continue
        if x + w >= wx1 - wx0 and wx1 < rgb.shape[1]:
            cut = True
            continue
        comp = mask[y:y + hh, x:x + w]
        r = max(1, int(round(0.25 * min(w, hh))))
        sides = [comp[0, r:w - r], comp[-1, r:w - r], comp[r:hh - r, 0], comp[r:hh - r, -1]]
        perim = min(float(s.mean()) if s.size else 0.0 for s in sides)
        if perim < _PERIM_FRAC or _contains(box, b):
            continue
        if any(_between(b, ob, box, where) for ob in others):
            continue
        fill = float(comp[1:-1, 1:-1].mean()) if hh > 2 and w > 2 else 1.0
        cands.append((gap, box, "fill" if fill > 0.5 else "border", perim))
    if not cands:
        return None, cut
    return min(cands, key=lambda c: c[0]), cut


def classify(rgb: np.ndarray, text_xyxy: Any) -> ControlBox:
    """What the text in ``text_xyxy`` is: a framed control, a checkbox label, a link or plain text.

    Returns:
        a framed control (``kind`` "button" / "field" / "menu", guessed from where the text sits in
        the frame and an arrow at its right end; frames too tall for the text, with the text
        off-centre, or part of a grid are containers, not controls), else a checkbox / radio (a
        mark just left of it), else
        ``kind="link"`` when the text is underlined or coloured, else ``kind="text"`` with the text
        box and cue ``"text-only"``.

    Raises:
        InvalidArgumentError: bad image, a box outside the image.
    """
    rgb = _check_image(rgb)
    b = _check_box(text_xyxy, rgb.shape)
    found = control_around(rgb, b)
    if found is not None:
        return found
    m = _mark_beside(rgb, b, ("left",))
    if m is not None and m[2] >= 0.6:
        return ControlBox(m[0], "radio" if m[1] == "circle" else "checkbox", m[1], m[2])
    cue, conf = _link_cue(rgb, b)
    if cue in ("underline", "colour"):
        return ControlBox(b.astype(np.float32), "link", cue, conf)
    return ControlBox(b.astype(np.float32), "text", "text-only", conf)


# ------------------------------------------------------------------------------------------------
# text lines: characters, words, link spans
# ------------------------------------------------------------------------------------------------

# characters OCR reads a checkbox / radio mark as, when the line starts at the mark
_MARK_CHARS = frozenset("Oo0Q口□☐☑☒■▢◯○●◉◎[]()")
# a link's ink is chromatic: max - min channel of its colour at least this (8-bit)
_LINK_CHROMA = 40
# ... and differs from the page's body ink by at least this in one channel
_LINK_VS_BODY = 40
# ... and is at least this fraction as chromatic as the page's most chromatic span (of 3+ chars)
_LINK_CHROMA_REL = 0.6
# a line this many times taller than the screen's median line is a heading (colour is no link cue)
_HEADING_H = 1.35
# a character has ink when its strongest pixels differ from the background by this much
_INK_DIFF = 4 * _DIFF


@dataclass
class _Line:
    """One text line prepared once per screen: its box, characters, per-character ink."""

    box: np.ndarray            # float64 [4], clipped to the image
    text: str
    chars: np.ndarray          # float64 [n, 4] character boxes (even split when OCR gave none)
    bg: np.ndarray | None      # uint8 [3] background colour behind the line
    ink: np.ndarray | None     # float64 [n, 3] ink colour of each character (NaN: no ink)
    underline: np.ndarray | None   # bool [n] the character sits on an underline


def _line_of(ln: Any, W: int, H: int) -> _Line | None:
    b = np.asarray(getattr(ln, "xyxy", ln), np.float64).reshape(-1)[:4]
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1] \
            or b[0] >= W or b[1] >= H or b[2] <= 0 or b[3] <= 0:
        return None
    b = np.clip(b, 0, [W, H, W, H])
    if b[2] - b[0] < 1 or b[3] - b[1] < 1:
        return None
    text = getattr(ln, "text", None)
    text = text if isinstance(text, str) else ""
    cb = getattr(ln, "char_xyxy", None)
    chars = None
    if cb is not None and text:
        cb = np.asarray(cb, np.float64).reshape(-1, 4) if np.size(cb) else np.zeros((0, 4))
        if len(cb) == len(text) and np.all(np.isfinite(cb)):
            chars = cb.copy()
            chars[:, [0, 2]] = np.clip(chars[:, [0, 2]], b[0], b[2])
            chars[:, 1], chars[:, 3] = b[1], b[3]
    if chars is None:
        n = max(1, len(text))
        xs = np.linspace(b[0], b[2], n + 1)
        chars = np.stack([xs[:-1], np.full(n, b[1]), xs[1:], np.full(n, b[3])], axis=1)
    return _Line(b, text, chars, None, None, None)


def _measure_ink(rgb: np.ndarray, ln: _Line) -> None:
    """Fill ``ln.bg``, ``ln.ink`` and ``ln.underline`` (vectorised over the line's columns).

    Per column the pixel farthest from the background is the ink sample; a character's ink colour
    is the mean of its columns whose sample is at least 60 % as far as its farthest one (stems,
    not anti-aliased edges). An underline is a horizontal run of ink >= 1.5 text heights long in
    the lower 40 % of the box or just below it that does not run on past the line (a table rule).
    """
    import cv2

    H, W = rgb.shape[:2]
    ix = _int_box(ln.box, W, H)
    x0, y0, x1, y1 = ix
    h = float(max(4.0, ln.box[3] - ln.box[1]))
    n = len(ln.chars)
    ln.ink = np.full((n, 3), np.nan)
    ln.underline = np.zeros(n, bool)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    # the background: median of a subsample of rows inside the box (ink covers a minority of a
    # text box); not its edge rows or the rows around it, which may be a frame the box encloses
    sx = max(1, (x1 - x0) // 256)
    rows = sorted({min(y1 - y0 - 1, int(f * (y1 - y0))) for f in (0.15, 0.35, 0.5, 0.65, 0.85)})
    sample = crop[rows, ::sx].reshape(-1, 3)
    if n == 0 or len(sample) < 8:
        return
    ln.bg = np.median(sample, axis=0).astype(np.uint8)
    c = ln.bg.astype(np.float64)
    d = _chan_max(cv2.absdiff(crop, (c[0], c[1], c[2], 0.0)))
    arg = d.argmax(axis=0)
    dcol = d[arg, np.arange(d.shape[1])].astype(np.float64)
    ccol = crop[arg, np.arange(d.shape[1])].astype(np.float64)
    # each character owns the columns from the midpoint with its left neighbour's box to the
    # midpoint with its right neighbour's: a partition, so per-character sums are prefix sums
    cs = np.clip(np.floor(ln.chars[:, 0]).astype(int) - x0, 0, x1 - x0)
    ce = np.clip(np.ceil(ln.chars[:, 2]).astype(int) - x0, 0, x1 - x0)
    cuts = np.empty(n + 1, int)
    cuts[0], cuts[-1] = cs[0], max(cs[0], ce[-1])
    cuts[1:-1] = np.round(0.5 * (cs[1:] + ce[:-1])).astype(int)
    cuts = np.maximum.accumulate(np.clip(cuts, 0, x1 - x0))
    lo, hi = cuts[:-1], cuts[1:]
    nonempty = hi > lo
    peak = np.zeros(n)
    if nonempty.any():
        peak[nonempty] = np.maximum.reduceat(dcol[:cuts[-1]], lo[nonempty])
    owner = np.clip(np.searchsorted(cuts[1:-1], np.arange(len(dcol)), side="right"), 0, n - 1)
    keep = dcol >= np.maximum(0.6 * peak[owner], 1.0)
    w = keep.astype(np.float64)
    cum_n = np.concatenate([[0.0], np.cumsum(w)])
    cum_c = np.concatenate([np.zeros((1, 3)), np.cumsum(ccol * w[:, None], axis=0)])
    cnt = cum_n[hi] - cum_n[lo]
    col = (cum_c[hi] - cum_c[lo]) / np.maximum(cnt, 1)[:, None]
    has = (peak >= _INK_DIFF) & (cnt > 0)
    ln.ink[has] = col[has]
    cs, ce = lo, np.maximum(hi, lo + 1)
    # underline
    hh = y1 - y0
    ua, ub = y0 + int(0.6 * hh), min(H, y1 + max(2, int(round(0.15 * h))))
    ext = int(np.ceil(h))
    xa, xb = max(0, x0 - ext), min(W, x1 + ext)
    if ub > ua and xb > xa:
        # an underline has the contrast of the text's stems (not a faint box edge below)
        strong = peak[has]
        thr = max(3 * _DIFF, 0.5 * float(np.median(strong))) if len(strong) else 3 * _DIFF
        band = (_chan_max(cv2.absdiff(np.ascontiguousarray(rgb[ua:ub, xa:xb]), (c[0], c[1], c[2], 0.0)))
                > thr).astype(np.uint8)
        L = max(3, int(round(1.5 * h)))
        if band.shape[1] >= L:
            runs = cv2.morphologyEx(band, cv2.MORPH_OPEN, np.ones((1, L), np.uint8))
            if runs.any():
                # drop rows whose run reaches the widened band's ends (a rule, a border)
                rows = runs.astype(bool)
                # an underline spans the text; a frame's bottom edge or a rule runs on past it
                top = d[:max(1, int(0.6 * hh))].max(axis=0) >= _INK_DIFF
                on = np.flatnonzero(top)
                if len(on):
                    pad = int(np.ceil(0.3 * h))
                    lo_x, hi_x = x0 - xa + on[0] - pad, x0 - xa + on[-1] + 1 + pad
                    outside = rows[:, :max(0, lo_x)].any(axis=1) | rows[:, max(0, hi_x):].any(axis=1)
                    rows[outside] = False
                else:
                    rows[:] = False
                colu = rows.any(axis=0)[x0 - xa:x1 - xa].astype(np.float64)
                cu = np.zeros(len(colu) + 1)
                cu[1:] = np.cumsum(colu)
                frac = (cu[np.minimum(ce, len(colu))] - cu[np.minimum(cs, len(colu))]) / (ce - cs)
                ln.underline = frac >= 0.7


def _chan_max(a: np.ndarray) -> np.ndarray:
    """Per-pixel max over the 3 channels of a uint8 ``[h, w, 3]`` image (OpenCV: ~10x numpy)."""
    import cv2

    if a.size == 0:
        return np.zeros(a.shape[:2], np.uint8)
    b, g, r = cv2.split(a)
    return cv2.max(cv2.max(b, g), r)


def _word_runs(ln: _Line, gap: float) -> list[tuple[int, int]]:
    """``[(c0, c1), ...]`` character ranges of the words (or word groups) of a line: cut at spaces
    in the text and where the gap between neighbouring character boxes exceeds ``gap`` px."""
    n = len(ln.text)
    runs: list[tuple[int, int]] = []
    start = None
    for i in range(n):
        if ln.text[i].isspace():
            if start is not None:
                runs.append((start, i))
                start = None
            continue
        if start is not None and ln.chars[i, 0] - ln.chars[i - 1, 2] > gap:
            runs.append((start, i))
            start = i
        if start is None:
            start = i
    if start is not None:
        runs.append((start, n))
    return runs


def _groups(ln: _Line, h: float) -> list[tuple[int, int]]:
    """Word groups of a line separated by a wide gap (> 0.9 text heights, or two spaces):
    the separate buttons / bar cells / labels OCR joined into one line."""
    words = _word_runs(ln, 0.9 * h)
    out: list[list[int]] = []
    for c0, c1 in words:
        if out:
            p0, p1 = out[-1]
            gap = ln.chars[c0, 0] - ln.chars[p1 - 1, 2]
            if gap <= 0.9 * h and "  " not in ln.text[p1:c0]:
                out[-1][1] = c1
                continue
        out.append([c0, c1])
    return [(a, b) for a, b in out]


def _span_box(ln: _Line, c0: int, c1: int) -> np.ndarray:
    ch = ln.chars[c0:c1]
    return np.array([ch[:, 0].min(), ln.box[1], ch[:, 2].max(), ln.box[3]], np.float32)


def _is_link_ink(ink: np.ndarray, body: np.ndarray | None) -> np.ndarray:
    """Bool per character: chromatic ink that differs from the body ink (NaN ink: False)."""
    ok = np.isfinite(ink).all(axis=1)
    out = np.zeros(len(ink), bool)
    if not ok.any():
        return out
    k = ink[ok]
    chroma = k.max(axis=1) - k.min(axis=1)
    link = chroma >= _LINK_CHROMA
    if body is not None and np.all(np.isfinite(body)):
        link &= np.abs(k - body).max(axis=1) >= _LINK_VS_BODY
    out[ok] = link
    return out


def _spans_of(ln: _Line, body: np.ndarray | None) -> list[tuple[int, int, np.ndarray, str]]:
    if ln.ink is None or not ln.text:
        return []
    h = float(max(4.0, ln.box[3] - ln.box[1]))
    colour = _is_link_ink(ln.ink, body)
    under = ln.underline & np.isfinite(ln.ink).all(axis=1)
    flag = colour | under
    inked = np.isfinite(ln.ink).all(axis=1)
    out = []
    # runs of words whose inked characters are mostly link-coloured; a link of several words
    # bridges single spaces, a word of body ink ends it
    for c0, c1 in _word_runs(ln, 0.7 * h):
        idx = np.arange(c0, c1)
        ink_i = idx[inked[c0:c1]]
        if len(ink_i) == 0 or flag[ink_i].mean() < 0.5:
            continue
        # trim body-ink characters at the ends (punctuation after a link: "basename().")
        on = ink_i[flag[ink_i]]
        a, b = int(on[0]), int(on[-1]) + 1
        cue = "underline" if under[a:b].mean() >= 0.5 else "colour"
        if out and out[-1][1] <= a and not ln.text[out[-1][1]:a].strip(" ") and \
                ln.chars[a, 0] - ln.chars[out[-1][1] - 1, 2] <= 0.7 * h and out[-1][3] == cue:
            p = out[-1]
            out[-1] = (p[0], b, None, cue)
        else:
            out.append((a, b, None, cue))
    return [(a, b, _span_box(ln, a, b), cue) for a, b, _, cue in out]


def _body_ink(lines: list[_Line]) -> dict[bool, np.ndarray]:
    """The page's body-text ink for light and dark backgrounds: the median ink colour of the
    neutral (grey) characters on such a background (none: only chroma tells links)."""
    out = {}
    for light in (True, False):
        inks = [ln.ink[np.isfinite(ln.ink).all(axis=1)] for ln in lines
                if ln.bg is not None and (float(ln.bg.astype(np.float64).mean()) >= 128) == light]
        inks = [k for k in inks if len(k)]
        if inks:
            k = np.concatenate(inks)
            grey = k[k.max(axis=1) - k.min(axis=1) < _LINK_CHROMA]
            if len(grey):
                out[light] = np.median(grey, axis=0)
    return out


def link_spans(rgb: np.ndarray, line: Any, body_ink: Any = None) -> list[tuple[int, int, np.ndarray, str]]:
    """The links inside one text line: runs of characters drawn in a link colour or underlined.

    Each character's ink colour is measured from its character box (the pixels farthest from the
    line's background). A character is a link character when its ink is chromatic (max - min
    channel >= 40: blue / purple on light pages, light blue on dark ones) and differs from the
    body ink (``body_ink``; default: the median ink of this line's characters when that is not
    itself chromatic -- a line that is all link), or when it sits on an underline. Spans are
    whole words (cut at spaces in the text or at gaps > 0.7 text heights between character boxes)
    whose inked characters are mostly link characters, trimmed to their link characters (a
    trailing "." in body ink is left out); neighbouring link words one space apart are one span.

    Args:
        rgb: uint8 ``[H, W, 3]`` screenshot.
        line: an object with ``.xyxy``, ``.text`` and ``.char_xyxy`` (``[len(text), 4]``), e.g.
            :class:`groundlite.text.TextLine`; without ``char_xyxy`` the characters are spread
            evenly over the box.
        body_ink: optional RGB of the page's body text.

    Returns:
        ``[(c0, c1, xyxy float32[4], cue), ...]`` left to right: characters ``text[c0:c1]``, the
        span's box (characters' x extent, the line's y extent), cue ``"colour"`` / ``"underline"``.

    Raises:
        InvalidArgumentError: bad image.
    """
    rgb = _check_image(rgb)
    H, W = rgb.shape[:2]
    ln = _line_of(line, W, H)
    if ln is None or not ln.text:
        return []
    _measure_ink(rgb, ln)
    body = None
    if body_ink is not None:
        body = np.asarray(body_ink, np.float64).reshape(-1)[:3]
    elif ln.ink is not None:
        k = ln.ink[np.isfinite(ln.ink).all(axis=1)]
        if len(k):
            med = np.median(k, axis=0)
            body = med if med.max() - med.min() < _LINK_CHROMA else None
    return _spans_of(ln, body)


def find_controls(rgb: np.ndarray, lines: Sequence[Any], kind: str) -> list[ControlBox]:
    """Every control of ``kind`` on the screen, in reading order, from its (OCR) text lines.

    Lines are objects with ``.xyxy`` (and, for the best results, ``.text`` and ``.char_xyxy``,
    e.g. :class:`groundlite.text.TextLine`) or plain boxes. An OCR line is a whole visual line, so
    a line may hold several controls or a control and prose:

    * ``"link"``: one box per link span (:func:`link_spans`; body ink = the page's median ink);
      a line with no coloured span that sits in a tight filled bar (a navigation bar) gives one
      bar cell per word group; a span that is a whole line drawn as a button gets its frame.
    * ``"button"`` / ``"menu"`` / ``"tab"`` / ``"field"``: the frame around the whole line, else
      around each word group of it (groups cut at gaps > 0.9 text heights: "Add Printer  Find
      New Printers" gives two buttons); fields also the frame each line labels
      (:func:`field_for_label`).
    * ``"checkbox"`` / ``"radio"``: the mark beside the line or at the left end of its box (OCR
      often starts the line at the mark).

    ``ControlBox.text`` is the span's / group's / line's characters (a leading mark character
    such as "O" or "口" dropped). Controls found twice (IoU > 0.7) are kept once. Reading order:
    rows (boxes whose vertical centre lies in the row's first box, by centre), top to bottom,
    then left to right.

    Work is bounded per line: links cost one vectorised ink pass over the line's pixels plus, for
    lines on another fill than the page's, a frame / bar-cell search; buttons and friends a frame
    search per short line or word group (prose lines of > 5 words are skipped). Measured on the
    real screens (``benchmarks/results/ui_controls.ocr.md``, one shared, loaded core): about
    1-2 ms per OCR line, i.e. 20-60 ms for a typical 20-60-line screen but ~0.3-0.6 s for a
    300-line one -- above the ~50 ms aim; callers cache the result per screen and kind.

    Raises:
        InvalidArgumentError: bad image, unknown kind, more than :data:`MAX_LINES` lines.
    """
    rgb = _check_image(rgb)
    kind = _check_kind(kind, allow_none=False)
    lines = list(lines)
    if len(lines) > MAX_LINES:
        raise InvalidArgumentError(f"expected at most {MAX_LINES} lines, got {len(lines)}")
    H, W = rgb.shape[:2]
    prepared = [p for p in (_line_of(ln, W, H) for ln in lines) if p is not None]
    found: list[ControlBox] = []

    def add(c: ControlBox | None) -> None:
        if c is not None and all(_iou(c.xyxy, o.xyxy) <= 0.7 for o in found):
            found.append(c)

    if kind == "link":
        for ln in prepared:
            _measure_ink(rgb, ln)
        body = _body_ink(prepared)
        # headings (lines much taller than the screen's typical line) are often coloured, rarely links
        heights = np.array([ln.box[3] - ln.box[1] for ln in prepared]) if prepared else np.zeros(0)
        tall = float(np.median(heights)) * _HEADING_H if len(heights) >= 5 else np.inf
        # frames and bar cells (~1 ms each) are looked for only around lines on another colour
        # than the page's (a filled button, a navigation bar), or on every line of a short list
        page_bg = np.median(rgb[::16, ::16].reshape(-1, 3), axis=0) if H >= 32 and W >= 32 else None

        def on_fill(ln: _Line) -> bool:
            return page_bg is None or ln.bg is None or float(np.abs(ln.bg - page_bg).max()) > _DIFF

        cands = []                       # (line, c0, c1, box, cue, colour)
        heading_inks = []
        for ln in prepared:
            light = ln.bg is not None and float(ln.bg.astype(np.float64).mean()) >= 128
            spans = _spans_of(ln, body.get(light)) if ln.text else []
            if ln.box[3] - ln.box[1] > tall:
                # a heading: a span of all of it is its colour; a part of it may be a link
                n_text = len(ln.text.strip())
                whole = [sp for sp in spans if sp[1] - sp[0] >= 0.9 * n_text]
                for c0, c1, _, _ in whole:
                    k = ln.ink[c0:c1][np.isfinite(ln.ink[c0:c1]).all(axis=1)]
                    if len(k):
                        heading_inks.append(np.median(k, axis=0))
                spans = [sp for sp in spans if sp[3] == "underline" or sp not in whole]
            for c0, c1, box, cue in spans:
                k = ln.ink[c0:c1][np.isfinite(ln.ink[c0:c1]).all(axis=1)]
                cands.append((ln, c0, c1, box, cue, np.median(k, axis=0) if len(k) else None))
        # a page may colour more than its links: headings (the colour of its tall lines) and
        # code (asciidoc's navy beside its #00f links). Coloured spans in a heading's colour, or
        # far less chromatic than the page's most chromatic link colour, are not links
        # a heading colour is one at least two tall lines agree on (one inflated OCR box of a
        # link line must not make the page's link colour a heading colour)
        heading_inks = [hk for i, hk in enumerate(heading_inks)
                        if sum(float(np.abs(hk - o).max()) <= _LINK_VS_BODY for o in heading_inks) >= 2]
        chroma = [float(col.max() - col.min()) for _, c0, c1, _, cue, col in cands
                  if col is not None and c1 - c0 >= 3]
        top = max(chroma) if chroma else 0.0
        spans_by_line: dict[int, list] = {}
        for ln, c0, c1, box, cue, col in cands:
            if cue == "colour" and col is not None:
                if any(float(np.abs(col - hk).max()) <= _LINK_VS_BODY for hk in heading_inks):
                    continue
                if float(col.max() - col.min()) < _LINK_CHROMA_REL * top:
                    continue
            spans_by_line.setdefault(id(ln), []).append((c0, c1, box, cue))
        for ln in prepared:
            h = float(max(4.0, ln.box[3] - ln.box[1]))
            if not ln.text:
                c = control_around(rgb, ln.box, "link")
                if c.cue != "text-only":
                    add(c)
                continue
            spans = spans_by_line.get(id(ln), [])
            for c0, c1, box, cue in spans:
                conf = 0.9 if cue == "underline" else 0.8
                if c1 - c0 >= len(ln.text.strip()) - 1 and on_fill(ln):
                    # the whole line is the link: it may be drawn as a button / bar cell
                    bb = ln.box
                    f = _control_in(rgb, bb)
                    if f is not None and f.kind == "button":
                        if cue == "colour":      # a link drawn as a button: its frame
                            add(ControlBox(f.xyxy, "link", f.cue, f.confidence, ln.text[c0:c1]))
                        continue                 # else the "underline" was the frame's bottom
                    cell = _bar_cell(rgb, bb)
                    if cell is not None:
                        add(ControlBox(cell[0], "link", "fill", cell[1], ln.text[c0:c1]))
                        continue
                add(ControlBox(box, "link", cue, conf, ln.text[c0:c1]))
            if spans or not on_fill(ln):
                continue
            if _bar_cell(rgb, ln.box) is not None:
                for g0, g1 in _groups(ln, h):
                    if len(ln.text[g0:g1].split()) > 4:
                        continue                 # prose in a bar (a footer), not a menu entry
                    gb = _span_box(ln, g0, g1).astype(np.float64)
                    cell = _bar_cell(rgb, gb)
                    f = _control_in(rgb, gb) if cell is not None else None
                    if f is not None and f.kind == "button":
                        continue                 # a button's fill is a tight bar too
                    if cell is not None:
                        add(ControlBox(cell[0], "link", "fill", cell[1], ln.text[g0:g1]))
            elif page_bg is not None and ln.bg is not None and len(ln.text.split()) <= 4 and \
                    (float(page_bg.mean()) >= 128) != (float(ln.bg.astype(np.float64).mean()) >= 128):
                # a short line on an inverted fill (a light page's dark menu, a dark page's light
                # one): a menu entry -- a link unless it is framed as a button
                if _control_in(rgb, ln.box) is None:
                    add(ControlBox(ln.box.astype(np.float32), "link", "fill", 0.5, ln.text))
    elif kind in ("checkbox", "radio"):
        for ln in prepared:
            c = control_around(rgb, ln.box, kind)
            if c is not None and c.cue == ("circle" if kind == "radio" else "square"):
                t = ln.text
                if t and c.xyxy[2] > ln.box[0] + 1:
                    # the mark is inside the line box: drop the characters OCR read it as
                    inside = [i for i in range(len(t)) if 0.5 * (ln.chars[i, 0] + ln.chars[i, 2]) < c.xyxy[2] + 1]
                    k = len(inside) if inside and all(t[i] in _MARK_CHARS or t[i].isspace() for i in inside) else 0
                    if k == 0 and t[0] in _MARK_CHARS and len(t) > 1 and t[1].isspace():
                        k = 1
                    t = t[k:]
                add(ControlBox(c.xyxy, kind, c.cue, c.confidence, t.strip() or None))
    else:
        for ln in prepared:
            h = float(max(4.0, ln.box[3] - ln.box[1]))
            groups = _groups(ln, h) if ln.text else []
            if not groups:
                groups = [(0, len(ln.text))]
            hits = []
            # a caption is short (<= 5 words), so a prose line costs no frame search;
            # several groups: each one's frame (two joined buttons), else the whole line's
            tries = groups + [(0, len(ln.text))] if len(groups) > 1 else [(0, len(ln.text))]
            for g0, g1 in tries:
                if hits and (g0, g1) == (0, len(ln.text)):
                    break
                if kind != "field" and len(ln.text[g0:g1].split()) > 5:
                    continue
                gb = ln.box if (g0, g1) == (0, len(ln.text)) else _span_box(ln, g0, g1).astype(np.float64)
                c = _control_in(rgb, gb)
                if c is not None and (c.kind == kind or kind == "tab" and c.kind == "button"):
                    hits.append((c, ln.text[g0:g1] or None))
            for c, t in hits:
                add(ControlBox(c.xyxy, kind, c.cue, c.confidence, t))
            if kind == "field":
                f = field_for_label(rgb, ln.box, lines)
                if f is not None:
                    add(ControlBox(f.xyxy, "field", f.cue, f.confidence, ln.text or None))
    return _reading_order(found)


def _control_in(rgb: np.ndarray, b: np.ndarray) -> ControlBox | None:
    """:func:`control_around` for an OCR box, retried with the box shrunk to its ink: an OCR box
    often runs into a tightly padded button's border, and then no padding is uniform."""
    c = control_around(rgb, b)
    if c is not None:
        return c
    t = _ink_box(rgb, b)
    if t is None or np.abs(t - b).max() < 1.0:
        return None
    return control_around(rgb, t)


def _ink_box(rgb: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The bounds of the glyph ink inside box ``b``, the box's border ink left out: connected
    ink touching the box's sides (a frame the OCR box runs into or encloses, the page outside
    it) does not count."""
    import cv2

    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = _int_box(b, W, H)
    crop = rgb[y0:y1, x0:x1]
    if crop.shape[0] < 3 or crop.shape[1] < 3:
        return None
    bg = np.median(crop[::max(1, crop.shape[0] // 6), ::max(1, crop.shape[1] // 64)].reshape(-1, 3), axis=0)
    m = _differs(crop, bg.astype(np.uint8)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    hh, ww = m.shape
    keep = [i for i in range(1, n) if stats[i, 0] > 0 and stats[i, 1] > 0
            and stats[i, 0] + stats[i, 2] < ww and stats[i, 1] + stats[i, 3] < hh]
    if not keep:
        return None
    st = stats[keep]
    return np.array([x0 + st[:, 0].min(), y0 + st[:, 1].min(), x0 + (st[:, 0] + st[:, 2]).max(),
                     y0 + (st[:, 1] + st[:, 3]).max()], np.float64)


def _reading_order(found: list[ControlBox]) -> list[ControlBox]:
    """Rows (a box joins a row when its vertical centre lies inside the row's first box), top to
    bottom by centre, then left to right."""
    rest = sorted(found, key=lambda c: (float(c.xyxy[1] + c.xyxy[3]), float(c.xyxy[0])))
    out: list[ControlBox] = []
    while rest:
        first = rest[0]
        row = [c for c in rest if first.xyxy[1] <= 0.5 * (c.xyxy[1] + c.xyxy[3]) <= first.xyxy[3]]
        ids = {id(c) for c in row}
        rest = [c for c in rest if id(c) not in ids]
        out += sorted(row, key=lambda c: float(c.xyxy[0]))
    return out


# ------------------------------------------------------------------------------------------------
# box helpers
# ------------------------------------------------------------------------------------------------


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _contains(outer: np.ndarray, inner: np.ndarray, tol: float = 1.0) -> bool:
    return bool(outer[0] - tol <= inner[0] and outer[1] - tol <= inner[1]
                and inner[2] <= outer[2] + tol and inner[3] <= outer[3] + tol)


def _between(label: np.ndarray, other: np.ndarray, frame: np.ndarray, where: str) -> bool:
    """Whether ``other`` lies between ``label`` and ``frame`` (so the frame is ``other``'s)."""
    ocx, ocy = 0.5 * (other[0] + other[2]), 0.5 * (other[1] + other[3])
    if where == "right":
        return bool(label[2] <= ocx <= frame[0] and label[1] <= ocy <= label[3])
    return bool(label[3] <= ocy <= frame[1] and frame[0] <= ocx <= frame[2])
