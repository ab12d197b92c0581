"""Synthetic text images with exact word boxes: documents, forms, receipts and UI screenshots.

Used for INT8 calibration of the built-in text package (deterministic: same seed, same pixels)
and, through ``benchmarks/textgen.py``, for the labelled grounding benchmark. Pure Pillow +
OpenCV; fonts are Pillow's bundled scalable font plus any TrueType files the caller passes (the
benchmark adds matplotlib's DejaVu family).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["Word", "Sample", "render_sample", "render_samples", "KINDS", "WORDS"]

KINDS = ("document", "form", "receipt", "ui")

WORDS = (
    "account address after again against almost already also always amount analysis answer application "
    "approve archive area article available average balance bank battery before between billing border "
    "branch budget building button calendar camera cancel capital card carrier center change channel "
    "charge check chicken city client close coffee color column comment company confirm connect contact "
    "content contract control copy corner country coupon create credit culture current customer daily "
    "damage dashboard data date delivery department deposit design detail device dinner discount display "
    "document download draft driver during edit editor education electric email energy engine enter "
    "entry estimate evening event example export factory family feature field figure filter finance "
    "first floor folder forest format forward friday garden general glass global green group guest "
    "hardware health height history holiday hospital hotel house image import income insurance invoice "
    "island journal kitchen language layout library license light limit linear listen local machine "
    "manager market matrix meeting member memory message method middle minute mobile model monday "
    "monthly morning mountain network notice number object office online option order orange output "
    "package page paper parking partner payment people period phone picture planet player pocket policy "
    "portal position power premium preview price print private process product profile program project "
    "public quality quarter question quick random receipt record region release report request reserve "
    "result return review river salary sample saturday schedule school screen search season second "
    "section security select server service settings shipping signal silver simple single source "
    "station status storage street student subject summary summer sunday supply support surface system "
    "table target teacher temple terminal thursday ticket timeline total tower traffic training transfer "
    "travel tuesday update upload useful valley value vendor version video village volume wallet warning "
    "water weather website wednesday weekly window winter wireless working yellow"
).split()

_FIRST = "Anna Brian Clara David Elena Frank Grace Henry Irene James Laura Marco Nadia Oscar Paula Robert".split()
_LAST = "Adams Baker Carter Dalton Evans Fisher Garcia Hughes Ingram Jensen Keller Lopez Morgan Novak".split()


@dataclass(frozen=True)
class Word:
    """A rendered word: its text, line index and axis-aligned box float32 ``[4]`` (image pixels)."""

    text: str
    line: int
    xyxy: np.ndarray


@dataclass
class Sample:
    """A synthetic image (RGB uint8 ``[H,W,3]``), its words and metadata."""

    image: np.ndarray
    words: list[Word]
    kind: str
    font: str
    angle: float
    lines: list[str] = field(default_factory=list)


def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    if path is None:
        return ImageFont.load_default(size=size)  # Pillow's bundled scalable font
    return ImageFont.truetype(path, size=size)


def _phrase_words(rng: np.random.Generator, n: int) -> list[str]:
    words = [str(w) for w in rng.choice(WORDS, size=n)]
    if rng.random() < 0.5:
        words[0] = words[0].capitalize()
    return words


def _money(rng: np.random.Generator) -> str:
    return f"{rng.integers(1, 400)}.{rng.integers(0, 100):02d}"


def _layout_lines(kind: str, rng: np.random.Generator) -> list[tuple[list[str], float]]:
    """Lines as (words, relative font size)."""
    if kind == "document":
        lines = [(_phrase_words(rng, int(rng.integers(2, 4))), 1.6)]
        for _ in range(int(rng.integers(5, 9))):
            lines.append((_phrase_words(rng, int(rng.integers(4, 8))), 1.0))
        return lines
    if kind == "form":
        labels = ["Name:", "Date:", "Account:", "Email:", "Phone:", "Address:", "Amount:", "Reference:"]
        rng.shuffle(labels)
        out = [(["Application", "Form"], 1.4)]
        for lab in labels[: int(rng.integers(4, 7))]:
            if lab == "Name:":
                value = [str(rng.choice(_FIRST)), str(rng.choice(_LAST))]
            elif lab == "Date:":
                value = [f"{rng.integers(2000, 2030)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"]
            elif lab == "Email:":
                value = [f"{rng.choice(WORDS)}@{rng.choice(WORDS)}.com"]
            elif lab == "Amount:":
                value = ["$" + _money(rng)]
            else:
                value = _phrase_words(rng, int(rng.integers(1, 4)))
            out.append(([lab, *value], 1.0))
        return out
    if kind == "receipt":
        out = [(["Store", str(rng.choice(WORDS)).capitalize()], 1.3)]
        for _ in range(int(rng.integers(4, 8))):
            out.append(([*_phrase_words(rng, int(rng.integers(1, 3))), _money(rng)], 1.0))
        out.append((["Total", _money(rng)], 1.1))
        return out
    # ui: title bar, menu, buttons (rendered as separate lines)
    out = [([str(rng.choice(WORDS)).capitalize(), "Settings"], 1.1)]
    out.append(([w.capitalize() for w in rng.choice(WORDS, size=4)], 0.9))
    for _ in range(int(rng.integers(3, 5))):
        out.append((_phrase_words(rng, int(rng.integers(2, 5))), 1.0))
    out.append((["Cancel", "Save"], 1.0))
    return out


def render_sample(seed: int, *, kind: str | None = None, fonts: Sequence[str | None] = (None,),
                  max_angle: float = 5.0, degrade: bool = True) -> Sample:
    """Render one synthetic image. Deterministic in ``seed`` (and the font files).

    ``fonts``: TrueType paths to draw from (``None`` = Pillow's bundled font). Rotations are
    uniform in ``[-max_angle, max_angle]`` degrees; word boxes are rotated with the image (their
    axis-aligned bounds after rotation). ``degrade`` adds Gaussian noise and JPEG artefacts.
    """
    rng = np.random.default_rng(seed)
    kind = kind or str(rng.choice(KINDS))
    font_path = fonts[int(rng.integers(0, len(fonts)))]
    base = int(rng.integers(18, 34))
    dark = int(rng.integers(0, 80))
    light = int(rng.integers(200, 256))
    invert = kind == "ui" and rng.random() < 0.3
    bg = tuple(int(light - rng.integers(0, 25)) for _ in range(3))
    fg = tuple(int(dark + rng.integers(0, 40)) for _ in range(3))
    if invert:
        bg, fg = fg, bg
    lines = _layout_lines(kind, rng)
    width = 480 if kind == "receipt" else int(rng.integers(720, 960))
    pad = int(rng.integers(16, 40))

    words: list[Word] = []
    drawn: list[tuple[str, tuple[int, int], ImageFont.FreeTypeFont, tuple[int, ...], tuple | None]] = []
    y = pad
    line_texts = []
    for li, (line_words, rel) in enumerate(lines):
        font = _font(font_path, max(10, int(base * rel)))
        space = font.getlength(" ")
        x = float(pad)
        kept = []
        is_button_row = kind == "ui" and li == len(lines) - 1
        for w in line_words:
            x0, y0, x1, y1 = font.getbbox(w)
            wlen = font.getlength(w)
            if x + wlen > width - pad and kept:
                break
            box_fill = None
            if is_button_row:
                box_fill = tuple(int(c) for c in rng.integers(60, 200, size=3))
            drawn.append((w, (int(x), y), font, fg if box_fill is None else (255, 255, 255), box_fill))
            words.append(Word(w, li, np.array([x + x0, y + y0, x + x1, y + y1], np.float32)))
            kept.append(w)
            x += wlen + (space + 40 if is_button_row else space)  # buttons: 16 px of padding + a gap
        line_texts.append(" ".join(kept))
        ascent, descent = font.getmetrics()
        y += int((ascent + descent) * float(rng.uniform(1.3, 1.8)))
    height = y + pad
    canvas = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(canvas)
    if kind == "ui":
        # title bar behind the first line, keeping the text readable (dark bar under light text)
        bar_bottom = int(max(float(w.xyxy[3]) for w in words if w.line == 0) + pad / 2)
        lo, hi = (150, 230) if not invert else (30, 90)
        draw.rectangle([0, 0, width, bar_bottom], fill=tuple(int(c) for c in rng.integers(lo, hi, size=3)))
    for (w, (x, yy), font, colour, box_fill), word in zip(drawn, words):
        if box_fill is not None:
            b = word.xyxy
            draw.rounded_rectangle([b[0] - 8, b[1] - 6, b[2] + 8, b[3] + 6], radius=6, fill=box_fill)
        draw.text((x, yy), w, font=font, fill=colour)
    img = np.asarray(canvas)

    angle = float(rng.uniform(-max_angle, max_angle))
    if angle != 0.0:
        img, words = _rotate(img, words, angle, bg)
    if degrade:
        img = np.clip(img.astype(np.float32) + rng.normal(0, float(rng.uniform(2, 8)), img.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=int(rng.integers(40, 90)))
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    name = "pillow-default" if font_path is None else str(font_path).rsplit("/", 1)[-1]
    return Sample(np.ascontiguousarray(img), words, kind, name, angle, line_texts)


def _rotate(img: np.ndarray, words: list[Word], angle: float, bg: tuple) -> tuple[np.ndarray, list[Word]]:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    out = cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=tuple(int(c) for c in bg))
    rotated = []
    for word in words:
        x0, y0, x1, y1 = word.xyxy
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], np.float64)
        pts = corners @ m.T
        rotated.append(Word(word.text, word.line, np.array([*pts.min(0), *pts.max(0)], np.float32)))
    return out, rotated


def render_samples(n: int, seed: int, **kwargs: object) -> list[Sample]:
    """``n`` samples cycling through :data:`KINDS`, sample ``i`` from seed ``seed * 100003 + i``."""
    return [render_sample(seed * 100003 + i, kind=KINDS[i % len(KINDS)], **kwargs) for i in range(n)]  # type: ignore[arg-type]
