"""``TextGrounder``: the built-in text model — detect lines, recognise them, ground phrases.

Stages (each public, so callers can reuse work): :meth:`TextGrounder.detect` (DB detector →
line quads), :meth:`TextGrounder.recognize` (rectify, batch, CTC → :class:`TextLine` with
character boxes), :meth:`TextGrounder.read` (both, in reading order) and
:meth:`TextGrounder.predict` (read + fuzzy phrase matching → :class:`~groundlite.Detections`).
"""

from __future__ import annotations

import time

from typing import Any, Mapping, Sequence

import numpy as np

from .. import schema
from ..errors import ManifestError
from ..images import load_image
from .config import TextConfig
from .detect import boxes_from_probability, prepare_detector_input, quads_to_xyxy
from .lines import TextLine, reading_order
from .matching import check_phrases, match_phrases
from .recognize import char_boxes, crop_line, decode, plan_batches, prepare_batch

__all__ = ["TextGrounder", "DEFAULT_THRESHOLD", "load_charset"]

#: Default phrase score threshold, chosen on the generated *tuning* set (benchmarks/textgen.py,
#: seed 7, 32 images, 96 present / 256 absent phrases; never the evaluation seed) with the
#: OpenVINO INT8 package (what ``load("text")`` picks on this CPU): false positives on absent
#: phrases 2.7 % at 0.7, 0.8 % at 0.75, 0.4 % at 0.8, 0 at 0.85, accuracy 99.0 % up to 0.9.
#: With ONNX Runtime FP32 the same set gives 99.0 % accuracy up to 0.75 and 97.9 % at 0.8
#: (table in benchmarks/results/text_grounding.md). 0.8 still accepts a one-typo match of a
#: 9-letter word (similarity 0.89 x confidence).
DEFAULT_THRESHOLD = 0.8


def load_charset(package: Any) -> list[str]:
    """Class id → character list of a text package (index ``blank_index`` is the CTC blank, "")."""
    entry = package.files.get("charset")
    if entry is None:
        raise ManifestError("expected a 'charset' entry in manifest files for a text package, got none")
    chars = package.path(entry).read_text(encoding="utf-8").split("\n")
    cfg = TextConfig.from_dict(package.manifest.get("text", {}))
    chars.insert(cfg.blank_index, "")
    expected = package.manifest.get("text", {}).get("num_classes")
    if expected is not None and expected != len(chars):
        raise ManifestError(f"expected {expected} recogniser classes as the manifest says, got {len(chars)} in the charset")
    return chars


class TextGrounder:
    """Grounds phrases in the text of an image with a PP-OCR detector + recogniser package."""

    family = "text"

    def __init__(self, package: Any, sessions: Mapping[str, Any], backend_info: Any = None) -> None:
        if "text" not in package.manifest:
            raise ManifestError("expected a 'text' block in the manifest of a text package, got none")
        missing = [g for g in schema.FAMILY_GRAPHS["text"] if g not in sessions]
        if missing:
            raise ManifestError(f"expected sessions for graphs {list(schema.FAMILY_GRAPHS['text'])}, missing {missing}")
        self.package = package
        self.config = TextConfig.from_dict(package.manifest["text"])
        self.charset = load_charset(package)
        self.backend_info = backend_info
        self._det = sessions[schema.GRAPH_TEXT_DETECTOR]
        self._rec = sessions[schema.GRAPH_TEXT_RECOGNIZER]
        self._timings: dict[str, float] = {}

    @property
    def last_timings(self) -> dict[str, float]:
        """Stage times of the latest ``read``/``predict`` in ms: detect_ms (pre-processing, detector,
        box extraction, NMS), recognize_ms (crops, recogniser, CTC decoding), and for ``predict``
        match_ms. The dict is replaced whole per call, so concurrent callers see one call's times."""
        return dict(self._timings)

    @classmethod
    def probe_feeds(cls, package: Any) -> dict[str, dict[str, np.ndarray]]:
        """Dummy inputs per graph for load-time timing probes (a typical page and a full batch)."""
        cfg = TextConfig.from_dict(package.manifest.get("text", {}))
        side = cfg.det_side
        return {
            schema.GRAPH_TEXT_DETECTOR: {schema.DET_IMAGE: np.zeros((1, 3, side * 3 // 4 // 32 * 32, side), np.float32)},
            schema.GRAPH_TEXT_RECOGNIZER: {schema.REC_IMAGE: np.zeros((cfg.rec_batch, 3, cfg.rec_height, 320), np.float32)},
        }

    # ------------------------------------------------------------------------------------------
    def detect(self, image: Any) -> tuple[np.ndarray, np.ndarray]:
        """Text line quads float32 ``[N,4,2]`` and their detector scores float32 ``[N]``."""
        bgr = _to_bgr(image)
        return self._detect_bgr(bgr)

    def _detect_bgr(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = prepare_detector_input(bgr, self.config)
        prob = self._det.run({schema.DET_IMAGE: x})[schema.DET_PROBABILITY]
        quads, scores = boxes_from_probability(prob[0, 0], self.config, bgr.shape[:2])
        if len(quads) > 1:
            from .. import ops

            keep = np.sort(ops.nms(quads_to_xyxy(quads), scores, self.config.nms_iou))
            quads, scores = quads[keep], scores[keep]
        return quads, scores

    def recognize(self, image: Any, quads: np.ndarray) -> list[TextLine]:
        """Recognise the lines at ``quads`` float32 ``[N,4,2]``; returns one :class:`TextLine` each, same order."""
        return self._recognize_bgr(_to_bgr(image), np.asarray(quads, np.float32).reshape(-1, 4, 2))

    def _recognize_bgr(self, bgr: np.ndarray, quads: np.ndarray) -> list[TextLine]:
        cfg = self.config
        crops = [crop_line(bgr, q) for q in quads]
        ratios = [c.image.shape[1] / max(1, c.image.shape[0]) for c in crops]
        results: list[TextLine | None] = [None] * len(crops)
        for idx, width in plan_batches(ratios, cfg):
            batch, used = prepare_batch([crops[i].image for i in idx], width, cfg)
            probs = self._rec.run({schema.REC_IMAGE: batch})[schema.REC_LOGITS]
            for b, dec in enumerate(decode(probs, cfg.blank_index)):
                i = int(idx[b])
                text = "".join(self.charset[int(k)] for k in dec.labels)
                results[i] = TextLine(
                    text=text,
                    score=float(dec.scores.mean()) if len(dec.scores) else 0.0,
                    quad=quads[i],
                    xyxy=quads_to_xyxy(quads[i][None])[0],
                    char_xyxy=_clip(char_boxes(dec, width, int(used[b]), crops[i]), bgr.shape),
                    char_scores=np.asarray(dec.scores, np.float32),
                )
        return [r for r in results if r is not None]

    def read(self, image: Any) -> list[TextLine]:
        """Every recognised line of ``image`` in reading order (top-to-bottom, left-to-right).

        Lines whose mean character probability is below ``config.rec_min_score`` or that decode
        to nothing are dropped. ``image``: anything :func:`groundlite.images.load_image` accepts.
        """
        t0 = time.perf_counter()
        bgr = _to_bgr(image)
        quads, _ = self._detect_bgr(bgr)
        t1 = time.perf_counter()
        lines: list[TextLine] = []
        if len(quads):
            quads = quads[reading_order(quads)]
            lines = self._recognize_bgr(bgr, quads)
        self._timings = {"detect_ms": (t1 - t0) * 1e3, "recognize_ms": (time.perf_counter() - t1) * 1e3}
        return [ln for ln in lines if ln.text.strip() and ln.score >= self.config.rec_min_score]

    def predict(self, image: Any, phrases: str | Sequence[str], threshold: float = DEFAULT_THRESHOLD, *,
                lines: Sequence[TextLine] | None = None) -> Any:
        """Boxes of ``phrases`` in the text of ``image``.

        Returns :class:`groundlite.Detections`: ``xyxy`` float32 ``[N,4]`` tight around the matched
        characters (a phrase wrapping onto the next line gets the union of both pieces), ``scores``
        = similarity x recognition confidence, ``labels`` int64 ``[N]`` phrase index, ``texts`` the
        recognised characters that matched. Pass ``lines`` (from :meth:`read`) to skip OCR.
        """
        from ..detections import Detections

        phrases, _ = check_phrases(phrases)
        timings: dict[str, float] = {}
        if lines is None:
            lines = self.read(image)
            timings = dict(self._timings)
        t0 = time.perf_counter()
        matches = match_phrases(lines, phrases, threshold)
        self._timings = {**timings, "match_ms": (time.perf_counter() - t0) * 1e3}
        if not matches:
            return Detections.empty(phrases, with_texts=True)
        return Detections(
            np.stack([m.xyxy for m in matches]),
            np.asarray([m.score for m in matches], np.float32),
            np.asarray([m.label for m in matches], np.int64),
            phrases,
            tuple(m.text for m in matches),
        )

    def __repr__(self) -> str:
        return f"TextGrounder(package={str(self.package.root)!r}, backend={self.backend_info!r})"


def _clip(xyxy: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    # the inverse warp of a crop's corner can land a fraction of a pixel outside the image
    h, w = shape[:2]
    out = xyxy.copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0, w)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, h)
    return out


def _to_bgr(image: Any) -> np.ndarray:
    rgb = load_image(image)
    # PP-OCR was trained on OpenCV-decoded (BGR) images
    return np.ascontiguousarray(rgb[:, :, ::-1])
