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
from ..errors import ImageTooLargeError, InvalidArgumentError, ManifestError
from ..images import load_image
from .config import TextConfig
from .detect import (base_scale, boxes_from_probability, detector_size, merge_seam_cuts, order_quad,
                     prepare_detector_input, quads_to_xyxy, tile_grid)
from .lines import TextLine, reading_order
from .matching import build_regions, check_phrases, match_phrases
from .ocr_cache import ContentCache, content_key
from .recognize import char_boxes, crop_line, decode, plan_batches, prepare_batch, split_long
from .scoring import Scoring

__all__ = ["TextGrounder", "DEFAULT_THRESHOLD", "load_charset", "OCR_CACHE_SIZE"]

#: Threshold used when the package carries no fitted score calibration (raw score = similarity x
#: mean character probability). Packages with a ``scoring`` block use the threshold chosen with
#: it on the tuning split of the real screenshot set (see :mod:`groundlite.text.scoring`).
DEFAULT_THRESHOLD = 0.8

_UNSET: Any = object()

#: recognised screens kept per grounder (keyed by pixel content): another phrase on the same
#: image is matched against the cached lines instead of re-running OCR
OCR_CACHE_SIZE = 16


def load_charset(package: Any) -> list[str]:
    """Class id -> character list of a text package (index ``blank_index`` is the CTC blank, "").

    The list comes from the package: the ``charset`` file of an exported package, or the
    ``text.charset`` list a package assembled from a wheel carries (read from the ONNX metadata).
    """
    text = package.manifest.get("text", {})
    entry = package.files.get("charset")
    if entry is not None:
        chars = package.path(entry).read_text(encoding="utf-8").split("\n")
    elif isinstance(text.get("charset"), list) and all(isinstance(c, str) for c in text["charset"]):
        chars = list(text["charset"])
    else:
        raise ManifestError("expected a 'charset' file or a text.charset list in a text package's manifest, got neither")
    cfg = TextConfig.from_dict(text)
    chars.insert(cfg.blank_index, "")
    expected = text.get("num_classes")
    if expected is not None and expected != len(chars):
        raise ManifestError(f"expected {expected} recogniser classes as the manifest says, got {len(chars)} in the charset")
    return chars


class TextGrounder:
    """Grounds phrases in the text of an image with a PP-OCR detector + recogniser package."""

    family = "text"

    def __init__(self, package: Any, sessions: Mapping[str, Any], backend_info: Any = None, *,
                 threads: int | None = None, ocr_cache_size: int = OCR_CACHE_SIZE) -> None:
        if "text" not in package.manifest:
            raise ManifestError("expected a 'text' block in the manifest of a text package, got none")
        missing = [g for g in schema.FAMILY_GRAPHS["text"] if g not in sessions]
        if missing:
            raise ManifestError(f"expected sessions for graphs {list(schema.FAMILY_GRAPHS['text'])}, missing {missing}")
        if isinstance(ocr_cache_size, bool) or not isinstance(ocr_cache_size, int) or ocr_cache_size < 0:
            raise InvalidArgumentError(f"expected ocr_cache_size to be an int >= 0, got {ocr_cache_size!r}")
        self.package = package
        self.config = TextConfig.from_dict(package.manifest["text"])
        self.charset = load_charset(package)
        self.scoring = Scoring.from_manifest(package.manifest.get("scoring"))
        self.default_threshold = self.scoring.threshold if self.scoring is not None else DEFAULT_THRESHOLD
        self.backend_info = backend_info
        self.threads = threads
        self._det = sessions[schema.GRAPH_TEXT_DETECTOR]
        self._rec = sessions[schema.GRAPH_TEXT_RECOGNIZER]
        for graph, session, names in ((schema.GRAPH_TEXT_DETECTOR, self._det, (self.config.det_input, self.config.det_output)),
                                      (schema.GRAPH_TEXT_RECOGNIZER, self._rec, (self.config.rec_input, self.config.rec_output))):
            got_in, got_out = tuple(getattr(session, "input_names", names[:1])), tuple(getattr(session, "output_names", names[1:]))
            if names[0] not in got_in or names[1] not in got_out:
                raise ManifestError(f"expected {graph} tensors {names[0]!r} -> {names[1]!r} as the manifest says, "
                                    f"got {list(got_in)} -> {list(got_out)}")
        self._timings: dict[str, float] = {}
        self._ocr_cache = ContentCache(ocr_cache_size)
        self._encoder: Any = _UNSET
        self._last_pixels: tuple[Any, np.ndarray] | None = None

    @property
    def last_timings(self) -> dict[str, float]:
        """Stage times of the latest ``read``/``predict`` in ms: detect_ms (pre-processing, detector,
        box extraction, NMS), recognize_ms (crops, recogniser, CTC decoding), for ``predict``
        match_ms, and ``ocr_cached`` (1.0 when the lines came from the OCR cache). The dict is
        replaced whole per call, so concurrent callers see one call's times."""
        return dict(self._timings)

    @classmethod
    def probe_feeds(cls, package: Any) -> dict[str, dict[str, np.ndarray]]:
        """Dummy inputs per graph for load-time timing probes (a 1280x800-class screen and a full batch)."""
        cfg = TextConfig.from_dict(package.manifest.get("text", {}))
        return {
            schema.GRAPH_TEXT_DETECTOR: {cfg.det_input: np.zeros((1, 3, 800, 1280), np.float32)},
            schema.GRAPH_TEXT_RECOGNIZER: {cfg.rec_input: np.zeros((cfg.rec_batch, 3, cfg.rec_height, 320), np.float32)},
        }

    # ------------------------------------------------------------------------------------------
    def detect(self, image: Any) -> tuple[np.ndarray, np.ndarray]:
        """Text line quads float32 ``[N,4,2]`` and their detector scores float32 ``[N]``."""
        bgr = _to_bgr(image, self.config)
        return self._detect_bgr(bgr)

    def _detect_at(self, bgr: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Detect at ``scale`` (detector pixels per image pixel), tile by tile; quads in image pixels."""
        import cv2

        cfg = self.config
        h, w = bgr.shape[:2]
        rh, rw = detector_size(h, w, scale, cfg)
        if (rh, rw) != (h, w):
            scaled = cv2.resize(bgr, (rw, rh), interpolation=cv2.INTER_LINEAR if rw < w else cv2.INTER_CUBIC)
        else:
            scaled = bgr
        tiles = tile_grid(rh, rw, cfg)
        all_q, all_s, all_cut = [], [], []
        for y0, y1, x0, x1 in tiles:
            tile = np.ascontiguousarray(scaled[y0:y1, x0:x1])
            x = prepare_detector_input(tile, cfg, 1.0)
            prob = self._det.run({cfg.det_input: x})[cfg.det_output]
            q, sc = boxes_from_probability(np.asarray(prob)[0, 0], cfg, tile.shape[:2])
            if not len(q):
                continue
            top, bottom = q[:, :, 1].min(axis=1), q[:, :, 1].max(axis=1)
            left, right = q[:, :, 0].min(axis=1), q[:, :, 0].max(axis=1)
            keep = np.ones(len(q), bool)
            if y0 > 0:  # a line touching a horizontal seam is whole in the neighbouring tile
                keep &= top > 2.0
            if y1 < rh:
                keep &= bottom < (y1 - y0) - 2.0
            cut = np.zeros(len(q), bool)
            if x0 > 0:
                cut |= left <= 2.0
            if x1 < rw:
                cut |= right >= (x1 - x0) - 2.0
            q = q[keep].copy()
            q[:, :, 0] += x0
            q[:, :, 1] += y0
            all_q.append(q)
            all_s.append(sc[keep])
            all_cut.append(cut[keep])
        if not all_q:
            return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
        quads, scores, cut = np.concatenate(all_q), np.concatenate(all_s), np.concatenate(all_cut)
        if len(tiles) > 1 and cut.any():
            quads, scores = _join_cut_lines(quads, scores, cut)
        quads = quads.astype(np.float32)
        quads[:, :, 0] *= w / rw
        quads[:, :, 1] *= h / rh
        return quads, scores.astype(np.float32)

    def _detect_bgr(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        h, w = bgr.shape[:2]
        long = max(h, w)
        if long <= cfg.det_native_max_side:
            quads, scores = self._detect_at(bgr, base_scale(h, w, cfg))
        else:
            coarse = cfg.det_native_max_side / long
            quads, scores = self._detect_at(bgr, coarse)
            heights = quads[:, :, 1].max(axis=1) - quads[:, :, 1].min(axis=1) if len(quads) else np.zeros(0)
            if not (len(quads) and float(np.median(heights)) * coarse >= cfg.det_probe_min_text_px):
                quads, scores = self._detect_at(bgr, 1.0)
        if len(quads) > 1:
            from .. import ops

            keep = np.sort(ops.nms(quads_to_xyxy(quads), scores, cfg.nms_iou))
            quads, scores = quads[keep], scores[keep]
        return quads, scores

    def recognize(self, image: Any, quads: np.ndarray) -> list[TextLine]:
        """Recognise the lines at ``quads`` float32 ``[N,4,2]``; returns one :class:`TextLine` each, same order."""
        return self._recognize_bgr(_to_bgr(image, self.config), np.asarray(quads, np.float32).reshape(-1, 4, 2))

    def _recognize_bgr(self, bgr: np.ndarray, quads: np.ndarray) -> list[TextLine]:
        cfg = self.config
        # lines longer than the recogniser's widest input are read in pieces cut at word gaps,
        # then joined back into one TextLine (a space between pieces)
        crops, owner = [], []
        for i, q in enumerate(quads):
            for piece in split_long(crop_line(bgr, q), cfg.rec_max_ratio):
                crops.append(piece)
                owner.append(i)
        ratios = [c.image.shape[1] / max(1, c.image.shape[0]) for c in crops]
        parts: list[tuple[str, np.ndarray, np.ndarray] | None] = [None] * len(crops)
        for idx, width in plan_batches(ratios, cfg):
            batch, used = prepare_batch([crops[i].image for i in idx], width, cfg)
            probs = self._rec.run({cfg.rec_input: batch})[cfg.rec_output]
            for b, dec in enumerate(decode(probs, cfg.blank_index)):
                i = int(idx[b])
                text = "".join(self.charset[int(k)] for k in dec.labels)
                parts[i] = (text, _clip(char_boxes(dec, width, int(used[b]), crops[i]), bgr.shape),
                            np.asarray(dec.scores, np.float32))
        results = []
        for i, q in enumerate(quads):
            mine = [p for p, o in zip(parts, owner) if o == i and p is not None and p[0]]
            if not mine:
                continue
            text, boxes, scores = mine[0]
            for t, bx, sc in mine[1:]:
                gap = np.array([[boxes[-1, 2], min(boxes[-1, 1], bx[0, 1]), bx[0, 0], max(boxes[-1, 3], bx[0, 3])]],
                               np.float32) if len(boxes) and len(bx) else np.zeros((1, 4), np.float32)
                sep = "" if text.endswith(" ") or t.startswith(" ") else " "
                text += sep + t
                boxes = np.concatenate([boxes, gap, bx] if sep else [boxes, bx])
                scores = np.concatenate([scores, np.ones(1, np.float32), sc] if sep else [scores, sc])
            results.append(TextLine(
                text=text,
                score=float(scores.mean()) if len(scores) else 0.0,
                quad=q,
                xyxy=quads_to_xyxy(q[None])[0],
                char_xyxy=boxes.astype(np.float32),
                char_scores=scores.astype(np.float32),
            ))
        return results

    def read(self, image: Any) -> list[TextLine]:
        """Every recognised line of ``image`` in reading order (top-to-bottom, left-to-right).

        Lines whose mean character probability is below ``config.rec_min_score`` or that decode
        to nothing are dropped. ``image``: anything :func:`groundlite.images.load_image` accepts.
        The result is cached by pixel content (:data:`OCR_CACHE_SIZE` screens; a file path is
        also remembered by its size and modification time, so it is not even decoded again).
        """
        return list(self._read_screen(image).lines)

    def _read_screen(self, image: Any) -> "_Screen":
        """Lines (as :class:`_Screen`) from the OCR cache or a fresh read; see :meth:`read`."""
        t0 = time.perf_counter()
        file_key = self._ocr_cache.file_key(image)
        cached = self._ocr_cache.get_file(file_key) if file_key is not None else None
        if cached is None:
            rgb = _load_rgb(image, self.config)
            if file_key is not None:
                self._last_pixels = (file_key, rgb)
            key = content_key(rgb)
            cached = self._ocr_cache.get(key)
        if cached is not None:
            self._timings = {"detect_ms": 0.0, "recognize_ms": 0.0, "ocr_cached": 1.0,
                             "read_ms": (time.perf_counter() - t0) * 1e3}
            return cached
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # PP-OCR was trained on OpenCV-decoded (BGR) images
        quads, _ = self._detect_bgr(bgr)
        t1 = time.perf_counter()
        lines: list[TextLine] = []
        if len(quads):
            quads = quads[reading_order(quads)]
            lines = self._recognize_bgr(bgr, quads)
        lines = [ln for ln in lines if ln.text.strip() and ln.score >= self.config.rec_min_score]
        screen = _Screen(tuple(lines), (int(rgb.shape[1]), int(rgb.shape[0])))
        self._ocr_cache.put(key, screen, file_key)
        self._timings = {"detect_ms": (t1 - t0) * 1e3, "recognize_ms": (time.perf_counter() - t1) * 1e3,
                         "ocr_cached": 0.0}
        return screen

    def predict(self, image: Any, phrases: str | Sequence[str], threshold: float | None = None, *,
                lines: Sequence[TextLine] | None = None, interpret: bool = True, encoder: Any = "auto") -> Any:
        """Boxes of what ``phrases`` ask for in ``image``, best first per phrase.

        Each phrase is a query (:mod:`groundlite.language`): a phrase that occurs on the screen as
        a whole is matched literally (every occurrence, whole words first); otherwise it is
        interpreted — a field's value ("the value of Location", "Driver:"), a control ("the Add
        Printer button"), relations, ordinals and image regions ("the link below Installation",
        "the second button", "the Help at the top right"), or the same meaning in other words
        when a sentence encoder is installed. ``interpret=False`` searches the text literally only.

        Returns :class:`groundlite.Detections`: ``xyxy`` float32 ``[N,4]`` (tight around the
        matched characters; for a control its frame, for a field its value; a phrase wrapping onto
        the next line gets the union of both pieces), ``scores`` the calibrated probability that
        the box is the phrase's region (the package's fitted ``scoring``; without one, similarity x
        recognition confidence; composed answers multiply their parts' scores), ``labels`` int64
        ``[N]`` phrase index, ``texts`` the recognised characters of each box, ``evidence`` (when
        interpreting) how each box was found, ``unresolved`` which part of a query was not found.
        ``threshold``: lowest literal score used (default: the package's, chosen on the tuning
        split). Pass ``lines`` (from :meth:`read`) to skip OCR (literal matching only); without it
        a repeated image is matched against the cached lines. ``encoder``: ``"auto"`` (the
        installed sentence encoder, when there is one), ``None`` (no meaning matching) or a
        :class:`groundlite.language.encoder.SentenceEncoder`.
        """
        from ..detections import Detections

        phrases, _ = check_phrases(phrases)
        threshold = self.default_threshold if threshold is None else threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) <= 1.0:
            raise InvalidArgumentError(f"expected threshold in [0, 1], got {threshold!r}")
        if not isinstance(interpret, bool):
            raise InvalidArgumentError(f"expected interpret to be True or False, got {interpret!r}")
        if lines is None and interpret:
            from ..language.interpret import detections, interpret_text

            answers, evidence, missing, timings = interpret_text(self, image, phrases, float(threshold),
                                                                 encoder=self._encoder_for(encoder))
            self._timings = timings
            return detections(answers, evidence, missing, phrases, with_texts=True)
        timings: dict[str, float] = {}
        regions = None
        if lines is None:
            screen = self._read_screen(image)
            lines, regions = screen.lines, screen.regions()  # a cached screen keeps its match regions
            timings = dict(self._timings)
        t0 = time.perf_counter()
        matches = match_phrases(lines, phrases, float(threshold), scoring=self.scoring, regions=regions)
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

    def _encoder_for(self, encoder: Any) -> Any:
        """The sentence encoder to use: ``"auto"`` -> the installed one (loaded once) or ``None``."""
        if encoder is None or not isinstance(encoder, str):
            return encoder
        if encoder != "auto":
            raise InvalidArgumentError(f"expected encoder to be 'auto', None or a SentenceEncoder, got {encoder!r}")
        if self._encoder is _UNSET:
            from ..language import encoder as enc

            self._encoder = enc.load_encoder() if enc.available() else None  # optional: literal matching without it
        return self._encoder

    def _pixels(self, image: Any) -> np.ndarray:
        """RGB uint8 pixels of ``image`` (the last decoded screen is kept, so a cached screen's
        controls do not decode the file again)."""
        file_key = self._ocr_cache.file_key(image)
        last = self._last_pixels
        if last is not None and file_key is not None and last[0] == file_key:
            return last[1]
        rgb = _load_rgb(image, self.config)
        self._last_pixels = (file_key, rgb) if file_key is not None else None
        return rgb

    def __repr__(self) -> str:
        from ..grounder import _summary

        return f"TextGrounder({self.package.manifest.get('name', 'text')!r}, {_summary(self.backend_info)})"


class _Screen:
    """A recognised screen in the OCR cache: its lines, and the match regions built from them
    once (normalised text, word starts, line pairs), so another phrase costs only the search."""

    __slots__ = ("lines", "_regions", "memo", "size")

    def __init__(self, lines: tuple[TextLine, ...], size: tuple[int, int] | None = None) -> None:
        self.lines = lines
        self.size = size  # (width, height) of the screen, for position words in explanations
        self._regions: Any = None
        #: per-screen results of the language layer (controls of a kind, headings, embeddings of
        #: the screen's texts), kept with the cached screen so another query reuses them
        self.memo: dict[str, Any] = {}

    def regions(self) -> Any:
        if self._regions is None:  # a race builds the same value twice; harmless
            self._regions = build_regions(self.lines)
        return self._regions


def _join_cut_lines(quads: np.ndarray, scores: np.ndarray, cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Join the halves of lines cut by vertical tile seams into one axis-aligned quad each."""
    xyxy = quads_to_xyxy(quads)
    out_q, out_s = [], []
    for group in merge_seam_cuts(xyxy, cut):
        if len(group) == 1:
            out_q.append(quads[group[0]])
            out_s.append(scores[group[0]])
            continue
        b = xyxy[group]
        x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        out_q.append(order_quad(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)))
        widths = b[:, 2] - b[:, 0]
        out_s.append(float(np.average(scores[group], weights=np.maximum(widths, 1e-3))))
    return np.stack(out_q).astype(np.float32), np.asarray(out_s, np.float32)


def _clip(xyxy: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    # the inverse warp of a crop's corner can land a fraction of a pixel outside the image
    h, w = shape[:2]
    out = xyxy.copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0, w)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, h)
    return out


def _load_rgb(image: Any, cfg: TextConfig) -> np.ndarray:
    rgb = load_image(image)
    h, w = rgb.shape[:2]
    if h * w > cfg.max_pixels:
        raise ImageTooLargeError(f"expected at most {cfg.max_pixels} pixels for the text model (its max_pixels), "
                                 f"got {w}x{h} = {w * h}")
    return rgb


def _to_bgr(image: Any, cfg: TextConfig) -> np.ndarray:
    # PP-OCR was trained on OpenCV-decoded (BGR) images
    return np.ascontiguousarray(_load_rgb(image, cfg)[:, :, ::-1])
