"""Annotated output images: boxes with "phrase score" labels, legible on small and large images.

Line width and font size scale with the image's shorter side, so a 64 px thumbnail and a 4000 px
photo both get readable labels.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .cache import atomic_write_bytes
from .detections import Detections
from .errors import InvalidArgumentError
from .images import load_image

__all__ = ["annotate", "write_annotated", "PALETTE"]

#: label colours (colour-blind friendly, Okabe-Ito), cycled by label index
PALETTE = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
           (0, 114, 178), (213, 94, 0), (204, 121, 167), (0, 0, 0))


def _sizes(width: int, height: int) -> tuple[int, int]:
    short = min(width, height)
    return max(1, round(short / 250)), max(10, min(72, round(short / 28)))


def annotate(image: Any, detections: Detections) -> Image.Image:
    """Draw ``detections`` on ``image`` (any input ``load_image`` accepts) -> a new RGB ``PIL.Image``.

    Each box gets an outline in its label's colour and a filled tag with ``"phrase 0.87"`` (or the
    recognised text, for the text model) above it, or inside it when there is no room above. An
    interpreted result's evidence (the label of a value, the anchor of a relation, the heading of
    a section) is drawn as a thin outline in the same colour, linked to the answer by a line.
    """
    canvas = Image.fromarray(load_image(image))
    w, h = canvas.size
    line, font_size = _sizes(w, h)
    font = ImageFont.load_default(size=font_size)
    draw = ImageDraw.Draw(canvas)
    # evidence first (thin, linked to its answer), so answers and their tags stay on top
    if detections.evidence is not None:
        for i, ev in enumerate(detections.evidence):
            if ev is None:
                continue
            colour = PALETTE[int(detections.labels[i]) % len(PALETTE)]
            ax1, ay1, ax2, ay2 = (float(v) for v in detections.xyxy[i])
            for step in getattr(ev, "steps", ())[1:]:
                if step.xyxy is None or step.role not in ("label", "anchor", "scope", "target"):
                    continue
                x1, y1, x2, y2 = step.xyxy
                if abs(x1 - ax1) + abs(y1 - ay1) + abs(x2 - ax2) + abs(y2 - ay2) < 2:
                    continue  # the answer's own box (a control's label inside its frame)
                draw.rectangle((x1, y1, x2, y2), outline=colour, width=max(1, line // 2))
                draw.line(((0.5 * (x1 + x2), 0.5 * (y1 + y2)), (0.5 * (ax1 + ax2), 0.5 * (ay1 + ay2))),
                          fill=colour, width=max(1, line // 2))
    # lowest score first, so the best box's tag ends up on top
    for i in np.argsort(detections.scores, kind="stable"):
        d = detections[int(i)]
        colour = PALETTE[d.label % len(PALETTE)]
        x1, y1, x2, y2 = d.xyxy
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        label = f"{d.text if d.text is not None else d.phrase} {d.score:.2f}"
        tx1, ty1, tx2, ty2 = draw.textbbox((0, 0), label, font=font)
        tw, th = tx2 - tx1 + 2 * line, ty2 - ty1 + 2 * line
        top = y1 - th if y1 - th >= 0 else y1
        left = min(max(0, x1), max(0, w - tw))
        draw.rectangle((left, top, left + tw, top + th), fill=colour)
        dark = sum(colour) / 3 > 110
        draw.text((left + line - tx1, top + line - ty1), label, font=font,
                  fill=(0, 0, 0) if dark else (255, 255, 255))
    return canvas


def write_annotated(image: Any, detections: Detections, path: str | Path) -> Path:
    """:func:`annotate` ``image`` and write it to ``path`` atomically (temp name in the same
    directory, then rename), so a reader never sees a half-written file.

    The format follows the suffix (``.png``, ``.jpg``, ``.webp``, ...); :class:`InvalidArgumentError`
    for a suffix Pillow cannot write.
    """
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise InvalidArgumentError(f"expected an image file suffix Pillow can write, got {path.suffix!r}")
    buf = io.BytesIO()
    annotate(image, detections).save(buf, format=fmt)
    return atomic_write_bytes(path, buf.getvalue())
