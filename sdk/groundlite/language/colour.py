"""Colour words measured on the pixels: how much of a box is "red", "blue", ... (HSV ranges).

:func:`colour_fraction` is the fraction of the pixels in the central part of a box (the middle
60 % in each direction, so a loose box's background weighs less) whose colour falls in the named
range. Chromatic colours are hue bands with saturation ≥ 0.35 and value ≥ 0.2; ``black`` is value
< 0.2, ``white`` value > 0.8 with saturation < 0.15, ``gray`` saturation < 0.15 in between;
``brown`` is an orange hue with value < 0.6.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, did_you_mean

__all__ = ["COLOUR_RANGES", "COLOUR_NAMES", "colour_fraction"]

#: hue bands in degrees (red wraps around 0)
COLOUR_RANGES: dict[str, tuple[float, float]] = {
    "red": (340.0, 10.0), "orange": (10.0, 40.0), "yellow": (40.0, 70.0), "green": (70.0, 165.0),
    "cyan": (165.0, 200.0), "blue": (200.0, 255.0), "purple": (255.0, 300.0), "pink": (300.0, 340.0),
}
_ACHROMATIC = ("black", "white", "gray", "brown")
#: every colour word :func:`colour_fraction` measures
COLOUR_NAMES = frozenset(COLOUR_RANGES) | frozenset(_ACHROMATIC)


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rgb.astype(np.float32) / 255.0
    mx, mn = x.max(axis=-1), x.min(axis=-1)
    d = mx - mn
    s = np.where(mx > 0, d / np.maximum(mx, 1e-6), 0.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    dd = np.maximum(d, 1e-6)
    hue = np.where(mx == r, ((g - b) / dd) % 6.0, np.where(mx == g, (b - r) / dd + 2.0, (r - g) / dd + 4.0)) * 60.0
    return np.where(d > 0, hue, 0.0), s, mx


def colour_fraction(rgb: np.ndarray, xyxy: Any, colour: str) -> float:
    """Fraction in [0, 1] of the central pixels of box ``xyxy`` in ``rgb`` (uint8 ``[H,W,3]``)
    that are ``colour``; 0.0 for a box with no pixels inside the image."""
    if colour not in COLOUR_NAMES:
        names = [*COLOUR_RANGES, *_ACHROMATIC]
        raise InvalidArgumentError(f"expected a colour in {names}, got {colour!r}" + did_you_mean(colour, names))
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidArgumentError(f"expected an RGB image of shape (H, W, 3), got {arr.shape}")
    h, w = arr.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in np.asarray(xyxy, np.float64).reshape(4))
    mx, my = 0.2 * (x1 - x0), 0.2 * (y1 - y0)
    a0, b0 = int(np.clip(np.floor(x0 + mx), 0, w)), int(np.clip(np.floor(y0 + my), 0, h))
    a1, b1 = int(np.clip(np.ceil(x1 - mx), 0, w)), int(np.clip(np.ceil(y1 - my), 0, h))
    if a1 <= a0 or b1 <= b0:
        return 0.0
    crop = arr[b0:b1, a0:a1]
    step = max(1, int(np.sqrt(crop.shape[0] * crop.shape[1] / 20000)))  # at most ~20k pixels
    hue, s, v = _hsv(crop[::step, ::step])
    if colour == "black":
        m = v < 0.2
    elif colour == "white":
        m = (v > 0.8) & (s < 0.15)
    elif colour == "gray":
        m = (s < 0.15) & (v >= 0.2) & (v <= 0.8)
    elif colour == "brown":
        m = (hue >= 10) & (hue < 45) & (s >= 0.35) & (v >= 0.15) & (v < 0.6)
    else:
        lo, hi = COLOUR_RANGES[colour]
        in_hue = ((hue >= lo) | (hue < hi)) if lo > hi else ((hue >= lo) & (hue < hi))
        m = in_hue & (s >= 0.35) & (v >= 0.2)
    return float(m.mean())
