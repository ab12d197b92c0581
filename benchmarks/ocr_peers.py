"""Peer OCR engines for the text-grounding benchmark, as readers whose lines groundlite's matcher takes.

Each adapter has ``name``, ``version`` and ``read(rgb uint8 [H,W,3]) -> list[PeerLine]``. A
:class:`PeerLine` has the attributes :func:`groundlite.text.matching.match_phrases` needs (``text``,
``char_xyxy``, ``char_scores``, plus ``xyxy``), so every peer is grounded by the SAME matcher as
groundlite; only the OCR differs.

Character boxes come from each peer's WORD boxes: a word's box is split evenly across its characters,
words are joined with one space (the space gets a zero-width box at the end of the previous word),
and every character of a word gets the word's confidence as its score.

* ``rapidocr 3.10 (PP-OCRv6 small)``: ``rapidocr.RapidOCR()`` with its defaults (PP-OCRv6 small
  det + rec from its wheel, per its ``config.yaml``), ``return_word_box=True``: per line a tuple of
  ``(word, score, quad)`` (English/number lines word by word; CJK characters one by one).
* ``rapidocr-onnxruntime 1.4.4 (PP-OCRv4)``: ``rapidocr_onnxruntime.RapidOCR()`` defaults,
  ``return_word_box=True``: per line ``[quad, text, score, char_quads, chars, char_scores]`` — one
  box per decoded character (spaces included); consecutive non-space characters are grouped into
  words (word box = union of its character boxes, score = their mean), then split evenly like the
  others. A line whose character list does not line up with its text falls back to its line quad.
* ``tesseract 5``: the Debian binary, ``tesseract IMG stdout -l eng --psm 3 tsv``; level-5 rows
  (words) grouped into lines by (block, par, line); score = conf / 100. The image is written to a
  temporary PNG per call (included in the timing: it is part of using the binary).

Loggers of both rapidocr packages (both named ``RapidOCR``) are set to ERROR.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["PeerLine", "RapidOCR310", "RapidOCROnnxruntime", "Tesseract", "lines_from_words", "parse_tesseract_tsv",
           "all_peers", "PEER_CLASSES"]


@dataclass(frozen=True, eq=False)
class PeerLine:
    """One line of a peer's output, shaped like :class:`groundlite.text.TextLine` for matching."""

    text: str
    xyxy: np.ndarray          # float32 [4]
    char_xyxy: np.ndarray     # float32 [len(text), 4]
    char_scores: np.ndarray   # float32 [len(text)]

    @property
    def score(self) -> float:
        return float(self.char_scores.mean()) if len(self.char_scores) else 0.0

    def __repr__(self) -> str:
        return f"PeerLine({self.text!r}, xyxy={[round(float(v)) for v in self.xyxy]})"


def _quad_xyxy(quad: Any) -> np.ndarray:
    q = np.asarray(quad, np.float32).reshape(-1, 2)
    return np.array([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()], np.float32)


def lines_from_words(words: Sequence[tuple[str, np.ndarray, float]]) -> PeerLine | None:
    """One line from its words ``[(text, xyxy[4], score), ...]`` in reading order.

    Each word box is split into ``len(word)`` equal-width character boxes; words are joined by
    one space whose box is zero-width at the right edge of the previous word (it never widens a
    match box) and whose score is the lower of its neighbours'. Empty words are dropped; ``None``
    when nothing is left.
    """
    words = [(t.strip(), np.asarray(b, np.float32).reshape(4), float(s)) for t, b, s in words if t and t.strip()]
    if not words:
        return None
    text_parts: list[str] = []
    boxes: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for k, (t, b, s) in enumerate(words):
        if k:
            prev_b, prev_s = words[k - 1][1], words[k - 1][2]
            text_parts.append(" ")
            boxes.append(np.array([[prev_b[2], prev_b[1], prev_b[2], prev_b[3]]], np.float32))
            scores.append(np.array([min(prev_s, s)], np.float32))
        n = len(t)
        edges = b[0] + (b[2] - b[0]) * np.arange(n + 1, dtype=np.float32) / n
        cb = np.empty((n, 4), np.float32)
        cb[:, 0], cb[:, 2] = edges[:-1], edges[1:]
        cb[:, 1], cb[:, 3] = b[1], b[3]
        text_parts.append(t)
        boxes.append(cb)
        scores.append(np.full(n, s, np.float32))
    char_xyxy = np.concatenate(boxes)
    xyxy = np.array([char_xyxy[:, 0].min(), char_xyxy[:, 1].min(), char_xyxy[:, 2].max(), char_xyxy[:, 3].max()],
                    np.float32)
    return PeerLine("".join(text_parts), xyxy, char_xyxy, np.clip(np.concatenate(scores), 0.0, 1.0))


def _enum(v: Any) -> str:
    return str(getattr(v, "value", v))


def _quiet_rapidocr() -> None:
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)


# ------------------------------------------------------------------------------------------------
class RapidOCR310:
    """rapidocr 3.x (default PP-OCRv6 small det + rec shipped in its wheel), word boxes."""

    def __init__(self) -> None:
        import importlib.metadata as md

        from rapidocr import RapidOCR

        _quiet_rapidocr()
        # log_level only changes logging; every model / pre-processing setting stays the default
        self.engine = RapidOCR(params={"Global.log_level": "error"})
        _quiet_rapidocr()
        cfg = self.engine.cfg
        try:
            self.version = md.version("rapidocr")
        except md.PackageNotFoundError:
            self.version = "unknown"
        det = f"{_enum(cfg.Det.ocr_version)} {_enum(cfg.Det.model_type)}"
        self.models = f"{det} det + {_enum(cfg.Rec.ocr_version)} {_enum(cfg.Rec.model_type)} rec"
        self.name = f"rapidocr {'.'.join(self.version.split('.')[:2])} ({det})"

    def read(self, rgb: np.ndarray) -> list[PeerLine]:
        out = self.engine(np.ascontiguousarray(rgb[:, :, ::-1]), return_word_box=True)  # it takes BGR arrays
        if not getattr(out, "txts", None):
            return []  # nothing found: RapidOCROutput() (its word_results default is a placeholder)
        word_results = getattr(out, "word_results", None) or ()
        lines = []
        for line in word_results:
            if not line or isinstance(line[0], str):
                continue
            words = [(str(w[0]), _quad_xyxy(w[2]), float(w[1])) for w in line if len(w) == 3 and w[2] is not None]
            pl = lines_from_words(words)
            if pl is not None:
                lines.append(pl)
        return lines


class RapidOCROnnxruntime:
    """rapidocr-onnxruntime 1.x (PP-OCRv4 det + rec in its wheel), character boxes grouped into words."""

    def __init__(self) -> None:
        import importlib.metadata as md

        _quiet_rapidocr()
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()
        _quiet_rapidocr()
        try:
            self.version = md.version("rapidocr-onnxruntime")
        except md.PackageNotFoundError:
            self.version = "unknown"
        self.models = "PP-OCRv4 det + PP-OCRv4 rec"
        self.name = f"rapidocr-onnxruntime {self.version} (PP-OCRv4)"

    @staticmethod
    def _words(item: Sequence[Any]) -> list[tuple[str, np.ndarray, float]]:
        quad, text, score = item[0], str(item[1]), float(item[2])
        if len(item) >= 6:
            char_quads, chars, char_scores = item[3], list(item[4]), list(item[5])
            if len(char_quads) == len(chars) == len(char_scores) and "".join(chars) == text:
                words: list[tuple[str, np.ndarray, float]] = []
                cur: list[int] = []
                for i, c in enumerate(chars + [" "]):
                    if c.strip():
                        cur.append(i)
                        continue
                    if cur:
                        b = np.stack([_quad_xyxy(char_quads[j]) for j in cur])
                        words.append(("".join(chars[j] for j in cur),
                                      np.array([*b[:, :2].min(0), *b[:, 2:].max(0)], np.float32),
                                      float(np.mean([char_scores[j] for j in cur]))))
                        cur = []
                return words
        # fallback: the whole line quad, split per whitespace-free run proportionally to characters
        b = _quad_xyxy(quad)
        n = max(1, len(text))
        out = []
        for tok_start, tok in _tokens(text):
            x0 = b[0] + (b[2] - b[0]) * tok_start / n
            x1 = b[0] + (b[2] - b[0]) * (tok_start + len(tok)) / n
            out.append((tok, np.array([x0, b[1], x1, b[3]], np.float32), score))
        return out

    def read(self, rgb: np.ndarray) -> list[PeerLine]:
        result, _ = self.engine(np.ascontiguousarray(rgb[:, :, ::-1]), return_word_box=True)
        lines = []
        for item in result or []:
            pl = lines_from_words(self._words(item))
            if pl is not None:
                lines.append(pl)
        return lines


def _tokens(text: str) -> list[tuple[int, str]]:
    import re

    return [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]


# ------------------------------------------------------------------------------------------------
def parse_tesseract_tsv(tsv: str) -> list[PeerLine]:
    """Lines from ``tesseract ... tsv`` output: level-5 (word) rows grouped by (page, block, par, line).

    Words with empty text or conf < 0 are dropped; score = conf / 100; lines keep Tesseract's order.
    """
    rows = tsv.splitlines()
    if not rows:
        return []
    header = rows[0].split("\t")
    col = {name: i for i, name in enumerate(header)}
    need = ("level", "page_num", "block_num", "par_num", "line_num", "left", "top", "width", "height", "conf", "text")
    missing = [n for n in need if n not in col]
    if missing:
        raise ValueError(f"expected tesseract TSV columns {list(need)}, missing {missing}")
    groups: dict[tuple[int, int, int, int], list[tuple[int, str, np.ndarray, float]]] = {}
    for row in rows[1:]:
        f = row.split("\t")
        if len(f) < len(header) or f[col["level"]] != "5":
            continue
        text = f[col["text"]].strip()
        try:
            conf = float(f[col["conf"]])
            left, top, w, h = (float(f[col[k]]) for k in ("left", "top", "width", "height"))
            key = tuple(int(f[col[k]]) for k in ("page_num", "block_num", "par_num", "line_num"))
            word_num = int(f[col["word_num"]]) if "word_num" in col else 0
        except ValueError:
            continue
        if not text or conf < 0:
            continue
        groups.setdefault(key, []).append((word_num, text, np.array([left, top, left + w, top + h], np.float32),
                                           conf / 100.0))
    lines = []
    for key in groups:  # dicts keep insertion (= Tesseract's reading) order
        words = sorted(groups[key], key=lambda w: w[0])
        pl = lines_from_words([(t, b, s) for _, t, b, s in words])
        if pl is not None:
            lines.append(pl)
    return lines


class Tesseract:
    """The ``tesseract`` binary (Debian ``tesseract-ocr``), English, automatic page segmentation."""

    def __init__(self, binary: str = "tesseract", lang: str = "eng", psm: int = 3) -> None:
        path = shutil.which(binary)
        if path is None:
            raise FileNotFoundError(f"expected the {binary!r} binary on PATH (apt-get install tesseract-ocr), found none")
        self.binary, self.lang, self.psm = path, lang, psm
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        first = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "tesseract ?"
        self.version = first.split()[-1] if first.split() else "unknown"
        self.models = f"{lang} (tessdata, LSTM)"
        self.name = f"tesseract {self.version.split('.')[0]}"

    def read(self, rgb: np.ndarray) -> list[PeerLine]:
        from PIL import Image

        fd, tmp = tempfile.mkstemp(suffix=".png", prefix="gl-tess-")
        os.close(fd)
        try:
            Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, compress_level=1)
            out = subprocess.run([self.binary, tmp, "stdout", "-l", self.lang, "--psm", str(self.psm), "tsv"],
                                 capture_output=True, text=True, timeout=300)
        finally:
            os.unlink(tmp)
        if out.returncode != 0:
            raise RuntimeError(f"tesseract failed with exit code {out.returncode}: {out.stderr.strip()[-500:]}")
        return parse_tesseract_tsv(out.stdout)


PEER_CLASSES = {"rapidocr": RapidOCR310, "rapidocr-onnxruntime": RapidOCROnnxruntime, "tesseract": Tesseract}


def all_peers(names: Sequence[str] = tuple(PEER_CLASSES)) -> tuple[list[Any], list[tuple[str, str]]]:
    """Instantiate the named peers; returns (adapters, [(name, error)] for those that failed)."""
    peers, failed = [], []
    for n in names:
        try:
            peers.append(PEER_CLASSES[n]())
        except Exception as e:  # noqa: BLE001 - a missing peer is reported, never fatal
            failed.append((n, f"{type(e).__name__}: {e}"))
    return peers, failed
