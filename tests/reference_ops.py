"""Plain, obviously-correct numpy/Python references for every kernel in groundlite.ops.

Slow on purpose: straight loops that follow each docstring literally, in float32 where the kernel
computes in float32 (so threshold decisions agree bit for bit) and float64 where it documents so.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

F32 = np.float32


def iou_f32(a: np.ndarray, b: np.ndarray) -> np.float32:
    """IoU of two xyxy boxes in float32; 0 when the clamped intersection is 0."""
    w = max(F32(0), min(a[2], b[2]) - max(a[0], b[0]))
    h = max(F32(0), min(a[3], b[3]) - max(a[1], b[1]))
    inter = F32(w * h)
    if not inter > 0:
        return F32(0)
    area_a = F32((a[2] - a[0]) * (a[3] - a[1]))
    area_b = F32((b[2] - b[0]) * (b[3] - b[1]))
    return F32(inter / F32(F32(area_a + area_b) - inter))


def _rank(scores: np.ndarray, candidates: list[int]) -> list[int]:
    return sorted(candidates, key=lambda i: (-float(scores[i]), i))


def nms(boxes, scores, iou_threshold, score_threshold=None, max_detections=None) -> np.ndarray:
    boxes = np.asarray(boxes, F32).reshape(-1, 4)
    scores = np.asarray(scores, F32)
    cand = [i for i in range(len(scores)) if not np.isnan(scores[i])]
    if score_threshold is not None:
        cand = [i for i in cand if scores[i] > F32(score_threshold)]
    keep: list[int] = []
    for i in _rank(scores, cand):
        if max_detections is not None and len(keep) >= max_detections:
            break
        if all(not iou_f32(boxes[k], boxes[i]) > F32(iou_threshold) for k in keep):
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes, scores, labels, iou_threshold, score_threshold=None, max_detections=None) -> np.ndarray:
    scores = np.asarray(scores, F32)
    labels = np.asarray(labels, np.int64)
    keep: list[int] = []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        sub = nms(np.asarray(boxes, F32).reshape(-1, 4)[idx], scores[idx], iou_threshold, score_threshold)
        keep.extend(int(idx[k]) for k in sub)
    keep = _rank(scores, keep)
    if max_detections is not None:
        keep = keep[:max_detections]
    return np.array(keep, dtype=np.int64)


def soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, method="gaussian", score_threshold=0.001):
    boxes = np.asarray(boxes, F32).reshape(-1, 4)
    s = {i: F32(v) for i, v in enumerate(np.asarray(scores, F32)) if not np.isnan(v) and not v < F32(score_threshold)}
    keep, kept = [], []
    while s:
        best = min(s, key=lambda i: (-float(s[i]), i))
        keep.append(best)
        kept.append(s.pop(best))
        for j in list(s):
            iou = iou_f32(boxes[best], boxes[j])
            if method == "linear":
                if iou > F32(iou_threshold):
                    s[j] = F32(s[j] * F32(F32(1) - iou))
            else:
                s[j] = F32(float(s[j]) * math.exp(-(float(iou) ** 2) / float(F32(sigma))))
            if s[j] < F32(score_threshold):
                del s[j]
    return np.array(keep, dtype=np.int64), np.array(kept, dtype=F32)


def region_phrase_logits(region, query, shift=None, scale=None, normalize=True) -> np.ndarray:
    r = np.asarray(region, np.float64)
    q = np.asarray(query, np.float64)
    if normalize:
        r = r / (np.linalg.norm(r, axis=-1, keepdims=True) + 1e-6)
        q = q / (np.linalg.norm(q, axis=-1, keepdims=True) + 1e-6)
    out = r @ q.T
    if shift is not None:
        out = out + np.asarray(shift, np.float64).reshape(-1, 1)
    if scale is not None:
        out = out * np.asarray(scale, np.float64).reshape(-1, 1)
    return out.astype(F32)


def select_regions(logits, threshold, top_k=None, apply_sigmoid=True):
    logits = np.asarray(logits, F32)
    rows = []
    for n in range(logits.shape[0]):
        best, bv = -1, None
        for q in range(logits.shape[1]):
            v = logits[n, q]
            if not np.isnan(v) and (best < 0 or v > bv):
                best, bv = q, v
        if best < 0:
            continue
        score = F32(1.0 / (1.0 + math.exp(-float(bv)))) if apply_sigmoid else bv
        if score > F32(threshold):
            rows.append((n, best, score))
    rows.sort(key=lambda t: (-float(t[2]), t[0]))
    if top_k is not None:
        rows = rows[:top_k]
    return (
        np.array([t[0] for t in rows], dtype=np.int64),
        np.array([t[1] for t in rows], dtype=np.int64),
        np.array([t[2] for t in rows], dtype=F32),
    )


def cxcywh_to_xyxy(boxes, width, height, clip=True) -> np.ndarray:
    b = np.asarray(boxes, F32).reshape(-1, 4)
    cx, cy, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    out = np.stack([(cx - F32(0.5) * w) * F32(width), (cy - F32(0.5) * h) * F32(height),
                    (cx + F32(0.5) * w) * F32(width), (cy + F32(0.5) * h) * F32(height)], axis=1)
    if clip:
        out[:, 0::2] = np.clip(out[:, 0::2], 0, F32(width))
        out[:, 1::2] = np.clip(out[:, 1::2], 0, F32(height))
    return out.astype(F32)


def boxes_to_original(boxes_xyxy, original_hw, input_size, mode, coords="normalized", clip=True) -> np.ndarray:
    """Independent re-derivation from the two processors' geometry (not from PreprocessMeta)."""
    h, w = original_hw
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4).copy()
    if coords == "input":
        b = b / input_size
    if mode == "squash-bicubic":
        b *= np.array([w, h, w, h], np.float64)
    else:
        b *= max(h, w)
    if clip:
        b[:, 0::2] = np.clip(b[:, 0::2], 0, w)
        b[:, 1::2] = np.clip(b[:, 1::2], 0, h)
    return b.astype(F32)


def preprocess_squash_bicubic(image, size, mean, std) -> np.ndarray:
    """Pillow bicubic resize + rescale + normalise, as OwlViTImageProcessor does."""
    r = np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC), dtype=F32)
    r = (r * F32(1 / 255) - np.asarray(mean, F32)) / np.asarray(std, F32)
    return np.ascontiguousarray(r.transpose(2, 0, 1))[None]


def ctc_greedy_decode(probs, blank=0):
    probs = np.asarray(probs, F32)
    labels, scores, starts, ends, offsets = [], [], [], [], [0]
    for seq in probs:
        path = []
        for step in seq:
            valid = ~np.isnan(step)
            if not valid.any():
                path.append((blank, 0.0))
                continue
            k = int(np.flatnonzero(valid)[np.argmax(step[valid])])
            path.append((k, float(step[k])))
        t = 0
        while t < len(path):
            u = t
            while u < len(path) and path[u][0] == path[t][0]:
                u += 1
            if path[t][0] != blank:
                labels.append(path[t][0])
                scores.append(sum(v for _, v in path[t:u]) / (u - t))
                starts.append(t)
                ends.append(u)
            t = u
        offsets.append(len(labels))
    i64 = np.int64
    return (np.array(labels, i64), np.array(scores, F32), np.array(starts, i64), np.array(ends, i64),
            np.array(offsets, i64))


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j - 1] + (ca != cb), prev[j] + 1, cur[j - 1] + 1))
        prev = cur
    return prev[-1]


def fuzzy_find_one(text: str, phrase: str) -> tuple[float, int, int]:
    """Brute force over every substring: lowest distance, then earliest start, then longest."""
    best = None
    for s in range(len(text) + 1):
        for e in range(s, len(text) + 1):
            key = (levenshtein(text[s:e], phrase), s, -(e - s))
            if best is None or key < best:
                best = key
    d, s, neg_len = best
    return max(0.0, 1.0 - d / len(phrase)), s, s - neg_len


def fuzzy_find_all_one(text: str, phrase: str, max_distance: int, max_rows: int = 256) -> list[tuple[int, int, int]]:
    """Brute force over every span: ``[(distance, start, end)]`` sorted by start (see ops.fuzzy_find_all).

    Per end ``e`` the best span ending there (lowest distance, then earliest start) over every
    non-empty ``text[s:e]``; keep the local minima of that distance over ``e`` within
    ``max_distance``; take them greedily by (distance, |length - len(phrase)|, start, end)
    without overlap, at most ``max_rows``.
    """
    n = len(text)
    best = {e: min((levenshtein(text[s:e], phrase), s) for s in range(e)) for e in range(1, n + 1)}
    inf = float("inf")
    cands = []
    for e in range(1, n + 1):
        d, s = best[e]
        left = best[e - 1][0] if e > 1 else inf
        right = best[e + 1][0] if e < n else inf
        if d <= max_distance and d <= left and d <= right:
            cands.append((d, s, e))
    cands.sort(key=lambda c: (c[0], abs(c[2] - c[1] - len(phrase)), c[1], c[2]))
    taken: list[tuple[int, int, int]] = []
    for d, s, e in cands:
        if len(taken) == max_rows:
            break
        if all(e <= ts or te <= s for _, ts, te in taken):
            taken.append((d, s, e))
    return sorted(taken, key=lambda c: c[1])


def fuzzy_find_all(texts, phrases, max_distance, max_rows: int = 256):
    """Flat ``(region, phrase, distance, start, end)`` int64 arrays, as ops.fuzzy_find_all."""
    rows = [(r, q, d, s, e) for r, text in enumerate(texts) for q, phrase in enumerate(phrases)
            for d, s, e in fuzzy_find_all_one(text, phrase, int(max_distance[q]), max_rows)]
    cols = np.array(rows, dtype=np.int64).reshape(-1, 5)
    return tuple(cols[:, k].copy() for k in range(5))


def boxes_keep_in_image(boxes_xyxy, original_hw) -> np.ndarray:
    """Indices of mapped, *unclipped* float32 boxes that are boxes of the image (ops.boxes_to_original's
    ``return_keep``): centre in the closed image rectangle and positive clipped width and height."""
    h, w = F32(original_hw[0]), F32(original_hw[1])
    b = np.asarray(boxes_xyxy, F32).reshape(-1, 4)
    with np.errstate(over="ignore", invalid="ignore"):
        cx = b[:, 0] * F32(0.5) + b[:, 2] * F32(0.5)
        cy = b[:, 1] * F32(0.5) + b[:, 3] * F32(0.5)
        cw = np.minimum(b[:, 2], w) - np.maximum(b[:, 0], F32(0))
        ch = np.minimum(b[:, 3], h) - np.maximum(b[:, 1], F32(0))
        ok = (cx >= 0) & (cx <= w) & (cy >= 0) & (cy <= h) & (cw > 0) & (ch > 0)
    return np.flatnonzero(ok).astype(np.int64)


def edit_similarity_one(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def nms_numpy(boxes, scores, iou_threshold) -> np.ndarray:
    """The classic vectorised numpy NMS (one pass over the survivors per kept box), same rules as
    :func:`nms`; fast enough to serve as the numpy baseline in benchmarks/kernels.py."""
    boxes = np.asarray(boxes, F32).reshape(-1, 4)
    scores = np.asarray(scores, F32)
    idx = np.flatnonzero(~np.isnan(scores))
    order = idx[np.lexsort((idx, -scores[idx]))]
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    thr = F32(iou_threshold)
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(F32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(F32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / ((areas[i] + areas[rest]) - inter)
        order = rest[~((inter > 0) & (iou > thr))]
    return np.array(keep, dtype=np.int64)
