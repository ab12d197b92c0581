"""Text recognition: rectify each detected line, batch it through the recogniser, CTC-decode it.

Lines are rectified with a perspective warp (tall crops are rotated, as PaddleOCR does), sorted by
aspect ratio and batched with one shared width per batch (rounded up to a bucket so the backends
see few distinct shapes). The C++ CTC decoder returns, for every emitted character, the range of
time steps that produced it; a step covers a fixed number of input columns, so character
positions along the rectified line are known and map back to image coordinates through the
inverse warp. That is what makes word- and character-level phrase boxes possible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .config import TextConfig

__all__ = ["LineCrop", "crop_line", "prepare_batch", "plan_batches", "char_boxes", "DecodedLine", "decode", "ink_band",
           "split_long"]

#: recogniser widths are rounded up to a multiple of this (fewer distinct shapes → cached kernels)
WIDTH_BUCKET = 32
#: narrowest recogniser input; PP-OCR uses 320 (ratio 6.7), but short words need not pay for it
MIN_WIDTH = 96
#: a batch may be this much wider than its narrowest crop needs
PAD_SLACK = 0.25


@dataclass(frozen=True)
class LineCrop:
    """A rectified line image (BGR uint8 ``[h,w,3]``) and the 3x3 map from its pixels to the image's."""

    image: np.ndarray
    to_image: np.ndarray


def crop_line(bgr: np.ndarray, quad: np.ndarray) -> LineCrop:
    """Warp the quad (float32 ``[4,2]``, tl/tr/br/bl) of ``bgr`` to an upright rectangle.

    Crops at least 1.5x taller than wide are rotated 90° counter-clockwise (vertical text reads
    left-to-right afterwards); ``to_image`` includes that rotation.
    """
    quad = np.asarray(quad, np.float32)
    w = max(1, int(round(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))))
    h = max(1, int(round(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(quad, dst)
    crop = cv2.warpPerspective(bgr, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    to_image = np.linalg.inv(m)
    if h >= 1.5 * w:
        crop = np.ascontiguousarray(np.rot90(crop))
        # rot90 (counter-clockwise): rotated (x', y') came from unrotated (w - y', x')
        unrotate = np.array([[0, -1, w], [1, 0, 0], [0, 0, 1]], np.float64)
        to_image = to_image @ unrotate
    return LineCrop(crop, to_image)


def plan_batches(ratios: Sequence[float], cfg: TextConfig) -> list[tuple[np.ndarray, int]]:
    """Group crops by aspect ratio (width / height) into batches sharing one input width.

    Recogniser cost is close to linear in batch x width on CPU (measured: ~0.04 ms per column
    for PP-OCRv4 at any batch size), so padding is pure waste: crops are sorted by ratio and a
    new batch starts when the next crop would widen the batch by more than ``1 + PAD_SLACK``
    or the batch holds ``cfg.rec_batch`` crops.
    Returns ``[(indices int64[b], width), ...]``; each width is a multiple of ``WIDTH_BUCKET``.
    """
    ratios = np.minimum(np.asarray(ratios, np.float64), cfg.rec_max_ratio)
    order = np.argsort(ratios, kind="stable")
    groups: list[list[int]] = []
    for i in order.tolist():
        if groups and len(groups[-1]) < cfg.rec_batch and ratios[i] <= (1 + PAD_SLACK) * ratios[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    batches = []
    for g in groups:
        width = max(MIN_WIDTH, math.ceil(cfg.rec_height * float(ratios[g].max())))
        width = int(math.ceil(width / WIDTH_BUCKET) * WIDTH_BUCKET)
        batches.append((np.asarray(g, np.int64), width))
    return batches


def prepare_batch(crops: Sequence[np.ndarray], width: int, cfg: TextConfig) -> tuple[np.ndarray, np.ndarray]:
    """Resize crops to height ``cfg.rec_height`` (aspect kept, at most ``width``), normalise to
    [-1, 1] and right-pad with 0 (mid grey, as PaddleOCR pads).

    Returns ``(batch float32[B,3,H,width], used_width int64[B])`` where ``used_width[b]`` is the
    number of columns holding crop ``b``.
    """
    h = cfg.rec_height
    batch = np.zeros((len(crops), 3, h, width), np.float32)
    used = np.zeros(len(crops), np.int64)
    for b, crop in enumerate(crops):
        ch, cw = crop.shape[:2]
        rw = int(min(width, max(1, math.ceil(h * cw / ch))))
        resized = cv2.resize(crop, (rw, h), interpolation=cv2.INTER_LINEAR)
        batch[b, :, :, :rw] = resized.transpose(2, 0, 1).astype(np.float32) * (2.0 / 255.0) - 1.0
        used[b] = rw
    return batch, used


def split_long(crop: LineCrop, max_ratio: float) -> list[LineCrop]:
    """Cut a line crop wider than ``max_ratio`` heights into pieces at gaps between words.

    A 3840-px screen has lines 150 heights long; squeezed into the recogniser's widest input they
    become unreadable. Each cut goes in the widest ink-free gap (a word gap) between 0.375 and
    0.75 ``max_ratio`` heights after the previous cut (a hard cut at 0.75 if there is no gap). Each piece keeps a map back to
    the image, so its characters' boxes stay exact.
    """
    img = crop.image
    h, w = img.shape[:2]
    if w <= max_ratio * h:
        return [crop]
    gray = img.astype(np.float32).mean(axis=2) if img.ndim == 3 else img.astype(np.float32)
    dev = np.abs(gray - np.median(gray))
    strong = max(float(np.percentile(dev, 99)), 1.0)
    ink = (dev > 0.5 * strong).sum(axis=0)
    empty = ink == 0
    target = int(0.75 * max_ratio * h)
    pieces, start = [], 0
    while w - start > max_ratio * h:
        lo, hi = start + target // 2, min(w - 1, start + target)
        cut = _widest_gap(empty[lo:hi + 1])
        cut = hi if cut is None else lo + cut  # no gap at all: a hard cut at the target width
        pieces.append((start, cut))
        start = cut
    pieces.append((start, w))
    out = []
    for a, b in pieces:
        shift = np.array([[1, 0, a], [0, 1, 0], [0, 0, 1]], np.float64)
        out.append(LineCrop(np.ascontiguousarray(img[:, a:b]), crop.to_image @ shift))
    return out


def _widest_gap(empty: np.ndarray) -> int | None:
    """Centre of the widest run of ink-free columns (the later one on ties): a word gap, not the
    narrower gaps between letters of a word."""
    best, best_len, run = None, 0, 0
    for i, e in enumerate(empty.tolist()):
        run = run + 1 if e else 0
        if run and run >= best_len:
            best, best_len = i - run // 2, run
    return best


def ink_band(crop: np.ndarray, pad: float = 1.0) -> tuple[float, float]:
    """Rows ``[top, bottom)`` of a rectified line crop (uint8 ``[h,w,3]``) that hold its glyphs.

    Ink is what differs from the crop's background (its median grey level) by more than half the
    strong contrast in the crop (light text on dark backgrounds included). A row holds ink when
    its ink fraction exceeds the emptiest row's (the paper texture of a photo, zero on a screen)
    by a margin: 0.3 % of the width on a clean background (so the few ascenders of a lowercase
    word count), 12 % of the inkiest row's excess on a textured one. The band is the run of such
    rows containing the inkiest row, so a neighbour line's descenders at the crop edge are not
    included. Falls back to the whole crop when it holds no clear ink.
    """
    h = crop.shape[0]
    if h < 4:
        return 0.0, float(h)
    gray = crop.astype(np.float32).mean(axis=2) if crop.ndim == 3 else crop.astype(np.float32)
    dev = np.abs(gray - np.median(gray))
    strong = float(np.percentile(dev, 99))
    if strong < 24.0:
        return 0.0, float(h)
    rule = (dev > 0.5 * strong).mean(axis=1) > 0.8  # a border or underline across the crop is no glyph
    if rule.all():
        return 0.0, float(h)
    strong = float(np.percentile(dev[~rule], 99))  # the glyphs' own contrast (a placeholder is faint)
    if strong < 24.0:
        return 0.0, float(h)
    rows = (dev > 0.5 * strong).mean(axis=1)
    base = float(rows[~rule].min())
    excess = rows - base
    excess[rule] = 0.0
    margin = 0.003 if base <= 0.01 else max(0.003, 0.12 * float(excess.max()))
    inked = excess > margin
    if not inked.any():
        return 0.0, float(h)
    # the run of inked rows holding the most ink: the glyphs, not a link's underline or a
    # neighbour line's descenders at the crop edge
    best, best_mass, start = (0, 0), -1.0, None
    for i, on in enumerate(inked.tolist() + [False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            mass = float(excess[start:i].sum())
            if mass > best_mass:
                best, best_mass = (start, i), mass
            start = None
    top, bottom = best
    # a DOM text box is the font's content area, about a sixth taller than its ink on each side
    grow = max(pad, 0.15 * (bottom - top))
    return max(0.0, top - grow), min(float(h), bottom + grow)


@dataclass(frozen=True)
class DecodedLine:
    """CTC output of one line: class ids, per-char probability, step range ``[start, end)``."""

    labels: np.ndarray
    scores: np.ndarray
    start: np.ndarray
    end: np.ndarray
    steps: int


def decode(probs: np.ndarray, blank: int) -> list[DecodedLine]:
    """Greedy CTC decoding of ``probs`` float32 ``[B,T,C]`` with the C++ kernel."""
    from .. import ops

    probs = np.ascontiguousarray(probs, dtype=np.float32)
    labels, scores, start, end, offsets = ops.ctc_greedy_decode(probs, blank=blank)
    out = []
    for b in range(probs.shape[0]):
        s, e = int(offsets[b]), int(offsets[b + 1])
        out.append(DecodedLine(labels[s:e], scores[s:e], start[s:e], end[s:e], probs.shape[1]))
    return out


def char_boxes(line: DecodedLine, input_width: int, used_width: int, crop: LineCrop) -> np.ndarray:
    """Boxes of each decoded character in image pixels, float32 ``[n,4]`` (x0, y0, x1, y1).

    A CTC character fires on a few steps near its centre, so its extent is taken from the step
    centres: boundaries halfway between neighbouring characters, the outer edges half a typical
    spacing beyond the first and last centre. Vertically every box spans the line's ink band
    (:func:`ink_band`: top of its tallest glyph to the bottom of its lowest descender), not the
    detector's quad, which the DB "unclip" grows by about half a line height.
    """
    n = len(line.labels)
    if n == 0:
        return np.zeros((0, 4), np.float32)
    ch, cw = crop.image.shape[:2]
    # step -> recogniser column -> crop column
    px = (input_width / line.steps) * (cw / float(used_width))
    centres = (line.start + line.end).astype(np.float64) * 0.5 * px
    if n > 1:
        gaps = np.diff(centres)
        half = 0.5 * float(np.median(gaps))
        bounds = np.concatenate([[centres[0] - half], 0.5 * (centres[1:] + centres[:-1]), [centres[-1] + half]])
    else:
        half = 0.35 * ch
        bounds = np.array([centres[0] - half, centres[0] + half])
    bounds = np.clip(bounds, 0.0, float(cw))
    x0, x1 = bounds[:-1], bounds[1:]
    top, bottom = ink_band(crop.image)
    corners = np.stack(
        [np.stack([x0, np.full(n, top)], 1), np.stack([x1, np.full(n, top)], 1),
         np.stack([x1, np.full(n, bottom)], 1), np.stack([x0, np.full(n, bottom)], 1)], axis=1
    )  # [n,4,2]
    pts = cv2.perspectiveTransform(corners.reshape(1, -1, 2).astype(np.float64), crop.to_image).reshape(n, 4, 2)
    return np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1).astype(np.float32)

