"""``OwlGrounder``: the staged OWL-ViT / OWLv2 predictor (encode_text, encode_image, decode, predict).

Prompt embeddings are a runtime input, never baked into the graphs: any phrase can be searched,
and ``encode_text`` caches each phrase's embedding (LRU), so a repeated phrase costs no inference.
Decoding uses the C++ kernels of :mod:`groundlite.ops` only.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from . import schema
from .backends import Session
from .detections import Detections
from .errors import BackendError, InvalidArgumentError, ManifestError
from .images import load_image
from .package import Package
from .phrases import validate_phrases
from .tokenizer import PhraseTokenizer

__all__ = ["OwlGrounder", "TextEmbeddings", "ImageEmbeddings", "validate_phrases"]


def _ops() -> Any:
    from . import ops  # the compiled kernels; imported on first decode so `import groundlite` stays light

    return ops


@dataclass(frozen=True, eq=False)
class TextEmbeddings:
    """Phrase embeddings: ``query_embeds`` float32 ``[Q, D]`` for ``phrases`` (len Q)."""

    phrases: tuple[str, ...]
    query_embeds: np.ndarray


@dataclass(frozen=True, eq=False)
class ImageEmbeddings:
    """Per-region outputs of the image encoder for one image.

    ``region_embeds`` float32 ``[N, D]``; ``boxes`` float32 ``[N, 4]`` normalised cxcywh (relative to
    the model input: the squashed image for OWL-ViT, the padded square for OWLv2); ``logit_shift``
    and ``logit_scale`` float32 ``[N, 1]``; ``objectness`` float32 ``[N]`` logits (OWLv2) or None;
    ``meta`` the pre-processing record that maps boxes back; ``original_size`` ``(height, width)``.
    """

    region_embeds: np.ndarray
    boxes: np.ndarray
    logit_shift: np.ndarray
    logit_scale: np.ndarray
    objectness: np.ndarray | None
    meta: Any
    original_size: tuple[int, int]


def _check_decode_args(threshold: Any, nms_iou: Any, top_k: Any) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold < 1.0:
        raise InvalidArgumentError(f"expected threshold in [0, 1), got {threshold!r}")
    if nms_iou is not None and (isinstance(nms_iou, bool) or not isinstance(nms_iou, (int, float))
                                or not 0.0 < nms_iou <= 1.0):
        raise InvalidArgumentError(f"expected nms_iou in (0, 1] or None, got {nms_iou!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise InvalidArgumentError(f"expected top_k to be a positive int or None, got {top_k!r}")


class OwlGrounder:
    """Open-vocabulary detector for the ``owlvit`` and ``owlv2`` families.

    Build it with ``groundlite.load(package_dir)``. Every method is safe to call from several
    threads at once; results equal serial results.
    """

    def __init__(self, package: Package, sessions: Mapping[str, Session], backend_info: Any,
                 *, text_cache_size: int = 1024, threads: int | None = None) -> None:
        m = package.manifest
        if package.family not in ("owlvit", "owlv2"):
            raise ManifestError(f"expected an owlvit or owlv2 package for OwlGrounder, got family {package.family!r}")
        for g in schema.FAMILY_GRAPHS[package.family]:
            if g not in sessions:
                raise BackendError(f"expected a loaded {g} session, got only {sorted(sessions)}")
        wanted = schema.IMAGE_ENCODER_OUTPUTS_OWLV2 if package.family == "owlv2" else schema.IMAGE_ENCODER_OUTPUTS
        got = tuple(sessions[schema.GRAPH_IMAGE_ENCODER].output_names)
        if not set(wanted) <= set(got):
            raise ManifestError(f"expected image encoder outputs {list(wanted)}, got {list(got)}")
        if "tokenizer" not in package.files:
            raise ManifestError("expected manifest files.tokenizer for an OWL package, got none")
        pre = m.get("preprocess") or schema.FAMILY_PREPROCESS[package.family]
        self.package = package
        self.family = package.family
        self.backend_info = backend_info
        self.image_size = int(m["image_size"])
        self._mean = tuple(float(v) for v in pre["mean"])
        self._std = tuple(float(v) for v in pre["std"])
        self._resize = str(pre["resize"])
        self._pad_value = float(pre.get("pad_value", 0.0))
        self._image = sessions[schema.GRAPH_IMAGE_ENCODER]
        self._text = sessions[schema.GRAPH_TEXT_ENCODER]
        self.tokenizer = PhraseTokenizer(package.path(package.files["tokenizer"]), int(m["max_text_length"]),
                                         _pad_id(m))
        if isinstance(text_cache_size, bool) or not isinstance(text_cache_size, int) or text_cache_size < 0:
            raise InvalidArgumentError(f"expected text_cache_size to be an int >= 0, got {text_cache_size!r}")
        self.text_cache_size = text_cache_size
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InvalidArgumentError(f"expected threads to be a positive int or None, got {threads!r}")
        #: threads for pre-processing (the ``threads`` given to ``groundlite.load``; None: all cores)
        self.threads = threads
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._timings: dict[str, float] = {}
        self._tls = threading.local()  # per-thread stage times, folded into _timings by predict_batch

    # ------------------------------------------------------------------------------------------
    @classmethod
    def probe_feeds(cls, package: Package) -> dict[str, dict[str, np.ndarray]]:
        """Dummy inputs for timing probes: one image ``[1,3,S,S]`` and one padded phrase ``[1,L]``."""
        s = int(package.manifest["image_size"])
        length = int(package.manifest["max_text_length"])
        pixels = np.random.default_rng(0).standard_normal((1, 3, s, s)).astype(np.float32)
        ids = np.full((1, length), _pad_id(package.manifest), dtype=np.int64)
        ids[0, :3] = (1, 2, 3)
        mask = np.zeros((1, length), dtype=np.int64)
        mask[0, :3] = 1
        return {schema.GRAPH_IMAGE_ENCODER: {schema.PIXEL_VALUES: pixels},
                schema.GRAPH_TEXT_ENCODER: {schema.INPUT_IDS: ids, schema.ATTENTION_MASK: mask}}

    @property
    def last_timings(self) -> dict[str, float]:
        """Stage times of the latest call in ms: preprocess_ms, image_encoder_ms, text_encoder_ms, decode_ms."""
        return dict(self._timings)

    def __repr__(self) -> str:
        return f"OwlGrounder({self.package.manifest.get('name', self.family)!r}, {_summary(self.backend_info)})"

    # ------------------------------------------------------------------------------------------
    def encode_text(self, phrases: Sequence[str] | str) -> TextEmbeddings:
        """Embed ``phrases`` -> :class:`TextEmbeddings` with ``query_embeds`` float32 ``[Q, D]``.

        Cached per phrase (LRU of ``text_cache_size`` entries); only unseen phrases reach the encoder.
        """
        t0 = time.perf_counter()
        phrases = validate_phrases(phrases)
        with self._lock:
            rows = {p: self._cache[p] for p in phrases if p in self._cache}
            for p in rows:
                self._cache.move_to_end(p)
        missing = list(dict.fromkeys(p for p in phrases if p not in rows))
        if missing:
            ids, mask = self.tokenizer.encode(missing)
            out = self._text.run({schema.INPUT_IDS: ids, schema.ATTENTION_MASK: mask})
            emb = np.asarray(out[schema.QUERY_EMBEDS], dtype=np.float32)
            if emb.shape[0] != len(missing) or emb.ndim != 2:
                raise BackendError(f"expected query_embeds of shape ({len(missing)}, D), got {emb.shape}")
            with self._lock:
                for p, row in zip(missing, emb):
                    row = row.copy()
                    row.flags.writeable = False
                    rows[p] = row
                    if self.text_cache_size:
                        self._cache[p] = row
                        self._cache.move_to_end(p)
                while len(self._cache) > self.text_cache_size:
                    self._cache.popitem(last=False)
        self._tls.text_ms = (time.perf_counter() - t0) * 1e3
        return TextEmbeddings(phrases, np.stack([rows[p] for p in phrases]))

    def _preprocess(self, image: Any, out: np.ndarray | None = None) -> tuple[np.ndarray, Any, tuple[int, int]]:
        rgb = load_image(image)
        pixels, meta = _ops().preprocess(rgb, self.image_size, self._mean, self._std, self._resize, self._pad_value,
                                         threads=self.threads, out=out)
        return pixels, meta, (int(rgb.shape[0]), int(rgb.shape[1]))

    def _split(self, out: Mapping[str, np.ndarray], metas: list[Any], sizes: list[tuple[int, int]]) -> list[ImageEmbeddings]:
        b = len(metas)
        region = np.asarray(out[schema.REGION_EMBEDS], np.float32)
        if region.ndim != 3 or region.shape[0] != b:
            raise BackendError(f"expected region_embeds of shape ({b}, N, D), got {region.shape}")
        boxes = np.asarray(out[schema.BOXES], np.float32)
        shift = np.asarray(out[schema.LOGIT_SHIFT], np.float32).reshape(b, -1, 1)
        scale = np.asarray(out[schema.LOGIT_SCALE], np.float32).reshape(b, -1, 1)
        obj = out.get(schema.OBJECTNESS)
        return [ImageEmbeddings(region[i], boxes[i], shift[i], scale[i],
                                None if obj is None else np.asarray(obj[i], np.float32).reshape(-1),
                                metas[i], sizes[i]) for i in range(b)]

    def encode_image(self, image: Any) -> ImageEmbeddings:
        """Pre-process ``image`` (any input :func:`groundlite.images.load_image` takes) and run the image encoder."""
        return self.encode_images([image])[0]

    def encode_images(self, images: Sequence[Any], *, batch_size: int = 8) -> list[ImageEmbeddings]:
        """:meth:`encode_image` for several images, ``batch_size`` per image-encoder call."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"expected batch_size to be a positive int, got {batch_size!r}")
        result: list[ImageEmbeddings] = []
        pre_ms = enc_ms = 0.0
        for start in range(0, len(images), batch_size):
            t0 = time.perf_counter()
            chunk = images[start:start + batch_size]
            if len(chunk) == 1:
                prepared = [self._preprocess(chunk[0])]
                pixels = prepared[0][0]
            else:  # each image is resized straight into its slice of the batch: no concatenation copy
                s = self.image_size
                pixels = np.empty((len(chunk), 3, s, s), np.float32)
                prepared = [self._preprocess(im, out=pixels[i:i + 1]) for i, im in enumerate(chunk)]
            t1 = time.perf_counter()
            out = self._image.run({schema.PIXEL_VALUES: pixels})
            t2 = time.perf_counter()
            result += self._split(out, [p[1] for p in prepared], [p[2] for p in prepared])
            pre_ms += (t1 - t0) * 1e3
            enc_ms += (t2 - t1) * 1e3
        self._tls.image_ms = (pre_ms, enc_ms)
        return result

    def decode(self, image_embeddings: ImageEmbeddings, text_embeddings: TextEmbeddings, threshold: float = 0.1,
               nms_iou: float | None = 0.3, top_k: int | None = 100) -> Detections:
        """Score every region against every phrase and keep the best phrase per region.

        A region is kept when its best score ``sigmoid(logit)`` is strictly above ``threshold``
        and its box is a box of the image (centre inside it, positive area after clipping: an
        OWLv2 region in the padding of a non-square image is not; see ``return_keep`` of
        :func:`groundlite.ops.boxes_to_original`); then per-phrase NMS at ``nms_iou`` (``None``:
        no NMS) and the ``top_k`` highest scores (``None``: all). With ``nms_iou=None,
        top_k=None`` this is transformers' ``post_process_object_detection`` less those padding
        boxes. Boxes are clipped, in original-image pixels.
        """
        _check_decode_args(threshold, nms_iou, top_k)
        if not isinstance(image_embeddings, ImageEmbeddings) or not isinstance(text_embeddings, TextEmbeddings):
            raise InvalidArgumentError(
                f"expected ImageEmbeddings and TextEmbeddings, got {type(image_embeddings).__name__} "
                f"and {type(text_embeddings).__name__}")
        ie, te = image_embeddings, text_embeddings
        if ie.region_embeds.shape[1] != te.query_embeds.shape[1]:
            raise InvalidArgumentError(f"expected text embeddings of width {ie.region_embeds.shape[1]}, "
                                       f"got {te.query_embeds.shape[1]}")
        ops = _ops()
        t0 = time.perf_counter()
        logits = ops.region_phrase_logits(ie.region_embeds, te.query_embeds, ie.logit_shift, ie.logit_scale)
        # top_k is applied below, after the padding boxes are dropped
        region, query, scores = ops.select_regions(logits, float(threshold), top_k=None, apply_sigmoid=True)
        if len(region) == 0:
            self._tls.decode_ms = (time.perf_counter() - t0) * 1e3
            return Detections.empty(te.phrases)
        normalised = ops.cxcywh_to_xyxy(np.ascontiguousarray(ie.boxes[region]), 1.0, 1.0, clip=False)
        # an OWLv2 region in the bottom/right padding maps to a flat box on the border: not a box
        xyxy, inside = ops.boxes_to_original(normalised, ie.meta, coords="normalized", clip=True, return_keep=True)
        if nms_iou is None and top_k is not None:  # by descending score, as select_regions returned them
            inside = inside[:top_k]
        xyxy, scores, query = xyxy[inside], scores[inside], query[inside]
        if nms_iou is not None:
            keep = ops.batched_nms(xyxy, scores, query, float(nms_iou), max_detections=top_k)
            xyxy, scores, query = xyxy[keep], scores[keep], query[keep]
        self._tls.decode_ms = (time.perf_counter() - t0) * 1e3
        return Detections(xyxy, scores, query, te.phrases)

    # ------------------------------------------------------------------------------------------
    def predict(self, image: Any, phrases: Sequence[str] | str | TextEmbeddings, threshold: float = 0.1,
                nms_iou: float | None = 0.3, top_k: int | None = 100, *, interpret: bool = True) -> Detections:
        """Find ``phrases`` in ``image`` -> :class:`Detections` (see :meth:`decode` for the arguments).

        ``phrases`` may be a :class:`TextEmbeddings` from :meth:`encode_text` to skip even the cache lookup.
        A phrase with rules — relations, ordinals, image regions, superlatives ("the red box on
        the left", "the person nearest the door", "the largest bottle") — is interpreted
        (:mod:`groundlite.language`): its category phrases are detected in one pass, colour words
        are measured on the pixels, and the rules choose among the boxes; each such result
        carries its ``evidence``. A category phrase without rules ("a red block") is detected as
        before (the text encoder reads colour words itself). ``interpret=False`` treats every
        phrase as a category.
        """
        if not isinstance(interpret, bool):
            raise InvalidArgumentError(f"expected interpret to be True or False, got {interpret!r}")
        if not interpret or isinstance(phrases, TextEmbeddings):
            return self.predict_batch([image], phrases, threshold, nms_iou, top_k)[0]
        from .language.query import parse
        from .phrases import validate_phrases

        queries = validate_phrases(phrases)
        if not any(parse(q).has_rules for q in queries):  # "a red block" is a category phrase OWL reads itself
            return self.predict_batch([image], queries, threshold, nms_iou, top_k)[0]
        _check_decode_args(threshold, nms_iou, top_k)
        from .language.interpret import detections, interpret_owl

        answers, evidence, missing = interpret_owl(self, image, queries, threshold, nms_iou=nms_iou, top_k=top_k)
        return detections(answers, evidence, missing, queries, with_texts=False)

    def _predict_literal(self, image: Any, phrases: Sequence[str], threshold: float, *,
                         nms_iou: float | None = 0.3, top_k: int | None = 100) -> Detections:
        """Category phrases, no interpretation (what :func:`~groundlite.language.interpret.interpret_owl` builds on)."""
        return self.predict_batch([image], list(phrases), threshold, nms_iou, top_k)[0]

    def predict_batch(self, images: Sequence[Any], phrases: Sequence[str] | str | TextEmbeddings,
                      threshold: float = 0.1, nms_iou: float | None = 0.3, top_k: int | None = 100,
                      *, batch_size: int = 8) -> list[Detections]:
        """:meth:`predict` for several images; the image encoder runs ``batch_size`` images per call."""
        _check_decode_args(threshold, nms_iou, top_k)
        if isinstance(images, np.ndarray) and images.ndim == 4:  # a [B, H, W, C] stack
            images = list(images)
        if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
            raise InvalidArgumentError(f"expected a list of images, got {type(images).__name__}")
        if isinstance(phrases, TextEmbeddings):
            te, text_ms = phrases, 0.0
        else:
            te = self.encode_text(phrases)
            text_ms = self._tls.text_ms
        embeddings = self.encode_images(images, batch_size=batch_size)
        pre_ms, enc_ms = self._tls.image_ms
        results, dec_ms = [], 0.0
        for ie in embeddings:
            results.append(self.decode(ie, te, threshold, nms_iou, top_k))
            dec_ms += self._tls.decode_ms
        # one dict assignment, so a reader in another thread never sees a half-updated record
        self._timings = {"preprocess_ms": pre_ms, "image_encoder_ms": enc_ms, "text_encoder_ms": text_ms,
                         "decode_ms": dec_ms, "total_ms": pre_ms + enc_ms + text_ms + dec_ms}
        return results


def _summary(info: Any) -> str:
    """One line for a repr: ``BackendInfo.summary()``, or whatever a test passed in."""
    summary = getattr(type(info), "summary", None)
    return info.summary() if callable(summary) else str(info)


def _pad_id(manifest: Mapping[str, Any]) -> int:
    for key in ("pad_token_id", "pad_id"):
        if key in manifest:
            return int(manifest[key])
    tok = manifest.get("tokenizer")
    if isinstance(tok, Mapping) and "pad_token_id" in tok:
        return int(tok["pad_token_id"])
    return 0  # OWL-ViT's processor pads with token 0 ("!")
