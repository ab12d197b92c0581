"""Text detection: detector input preparation and DB (Differentiable Binarization) post-processing.

The PP-OCR detector outputs a per-pixel text probability; text regions are the connected
components of ``probability > db_thresh``. Each component becomes its minimum-area rectangle
(``cv2.minAreaRect``), is scored by the mean probability inside it, and is grown back by the DB
"unclip" offset (``pyclipper``), because the model was trained to predict shrunken regions.
"""

from __future__ import annotations

import cv2
import numpy as np
import pyclipper

from .config import TextConfig

__all__ = ["prepare_detector_input", "boxes_from_probability", "order_quad", "quads_to_xyxy", "base_scale",
           "tile_grid", "merge_seam_cuts", "detector_size"]


def base_scale(h: int, w: int, cfg: TextConfig) -> float:
    """Detector scale before any text-size probe: small images are enlarged to ``cfg.det_side``
    (at most ``cfg.det_max_upscale`` times); everything else starts at native scale."""
    long = max(h, w)
    if long <= cfg.det_side:
        return float(min(cfg.det_side / long, cfg.det_max_upscale))
    return 1.0


def detector_size(h: int, w: int, scale: float, cfg: TextConfig) -> tuple[int, int]:
    """Detector input (rows, cols) for an ``h x w`` image at ``scale``: multiples of 32, at least
    ``cfg.det_min_side``."""
    rh = max(cfg.det_min_side, int(round(h * scale / 32)) * 32)
    rw = max(cfg.det_min_side, int(round(w * scale / 32)) * 32)
    return rh, rw


def _spans(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    if n <= size:
        return [(0, n)]
    step = size - overlap
    starts = list(range(0, n - size, step)) + [n - size]
    return [(x, x + size) for x in dict.fromkeys(starts)]


def tile_grid(h: int, w: int, cfg: TextConfig) -> list[tuple[int, int, int, int]]:
    """Tiles ``(y0, y1, x0, x1)`` covering an ``h x w`` detector-scale image: at most
    ``cfg.det_tile`` on a side, neighbours sharing ``cfg.det_tile_overlap`` pixels (one tile when it fits)."""
    return [(y0, y1, x0, x1) for y0, y1 in _spans(h, cfg.det_tile, cfg.det_tile_overlap)
            for x0, x1 in _spans(w, cfg.det_tile, cfg.det_tile_overlap)]


def merge_seam_cuts(xyxy: np.ndarray, cut: np.ndarray, gap: float = 4.0) -> list[list[int]]:
    """Groups of box indices to join: boxes on the same text row (vertical overlap >= half the
    smaller height) that touch or overlap horizontally (within ``gap`` px), at least one of each
    joined pair being cut by a vertical tile seam (``cut[i]``). Every index appears in one group."""
    n = len(xyxy)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    idx = np.nonzero(cut)[0]
    for i in idx.tolist():
        a = xyxy[i]
        ha = a[3] - a[1]
        for j in range(n):
            if j == i:
                continue
            b = xyxy[j]
            v = min(a[3], b[3]) - max(a[1], b[1])
            if v < 0.5 * min(ha, b[3] - b[1]):
                continue
            if b[0] > a[2] + gap or a[0] > b[2] + gap:
                continue
            parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def prepare_detector_input(bgr: np.ndarray, cfg: TextConfig, scale: float | None = None) -> np.ndarray:
    """Resize and normalise a BGR uint8 image ``[H,W,3]`` for the detector.

    Returns float32 ``[1,3,h,w]`` with ``h``, ``w`` multiples of 32, at ``scale`` detector pixels
    per image pixel (default :func:`base_scale`).
    """
    h, w = bgr.shape[:2]
    rh, rw = detector_size(h, w, base_scale(h, w, cfg) if scale is None else scale, cfg)
    if (rh, rw) == (h, w):
        resized = bgr
    else:
        resized = cv2.resize(bgr, (rw, rh), interpolation=cv2.INTER_LINEAR if rw < w else cv2.INTER_CUBIC)
    mean = np.asarray(cfg.det_mean, np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(cfg.det_std, np.float32) * 255.0)
    x = (resized.astype(np.float32) - mean) * inv_std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def _min_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    rect = cv2.minAreaRect(contour)
    return order_quad(cv2.boxPoints(rect)), float(min(rect[1]))


def order_quad(pts: np.ndarray) -> np.ndarray:
    """Order 4 points as top-left, top-right, bottom-right, bottom-left. float32 ``[4,2]``."""
    pts = np.asarray(pts, np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.stack([left[0], right[0], right[1], left[1]]).astype(np.float32)


def _region_score(prob: np.ndarray, polygon: np.ndarray) -> float:
    # Mean probability inside the component's own contour (PaddleOCR's "slow" score mode): the
    # bounding rectangle of a curved line on a photographed page is mostly background, and
    # scoring the rectangle ("fast" mode) drops such lines.
    polygon = polygon.reshape(-1, 2)
    h, w = prob.shape
    x0 = int(np.clip(np.floor(polygon[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(polygon[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(polygon[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(polygon[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(polygon - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(quad: np.ndarray, ratio: float) -> np.ndarray | None:
    area = abs(cv2.contourArea(quad))
    perimeter = cv2.arcLength(quad, True)
    if perimeter <= 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath([tuple(p) for p in quad.tolist()], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * ratio / perimeter)
    if len(grown) != 1:
        return None
    return np.asarray(grown[0], np.float32).reshape(-1, 1, 2)


def boxes_from_probability(prob: np.ndarray, cfg: TextConfig, out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """DB post-processing of one probability map.

    ``prob``: float32 ``[h,w]`` at detector resolution; ``out_hw``: original image (H, W).
    Returns ``(quads float32[N,4,2], scores float32[N])`` in original-image pixels, each quad
    ordered top-left, top-right, bottom-right, bottom-left.
    """
    h, w = prob.shape
    out_h, out_w = out_hw
    mask = (prob > cfg.db_thresh).astype(np.uint8)
    if cfg.db_dilate:
        mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads, scores = [], []
    sx, sy = out_w / w, out_h / h
    for contour in contours[: cfg.db_max_candidates]:
        quad, short = _min_box(contour)
        if short < cfg.db_min_size:
            continue
        score = _region_score(prob, contour)
        if score < cfg.db_box_thresh:
            continue
        grown = _unclip(quad, cfg.db_unclip_ratio)
        if grown is None:
            continue
        quad, short = _min_box(grown)
        if short < cfg.db_min_size + 2:
            continue
        quad[:, 0] = np.clip(quad[:, 0] * sx, 0, out_w)
        quad[:, 1] = np.clip(quad[:, 1] * sy, 0, out_h)
        side_w = float(np.linalg.norm(quad[0] - quad[1]))
        side_h = float(np.linalg.norm(quad[0] - quad[3]))
        if side_w <= 3 or side_h <= 3:
            continue
        quads.append(order_quad(quad))
        scores.append(score)
    if not quads:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
    return np.stack(quads), np.asarray(scores, np.float32)


def quads_to_xyxy(quads: np.ndarray) -> np.ndarray:
    """Axis-aligned bounds of quads ``[N,4,2]`` → float32 ``[N,4]`` (x0, y0, x1, y1)."""
    quads = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    return np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1).astype(np.float32)

