"""Numeric kernels of groundlite: NMS, region-phrase scoring, box mapping, pre-processing, CTC
decoding and fuzzy text matching.

Each function converts its inputs once to contiguous float32 (int64 for labels), validates scalar
arguments and calls the C++ kernel in :mod:`groundlite._kernels`, which releases the GIL while it
computes (calls from several threads run in parallel). Bad input raises
:class:`~groundlite.errors.InvalidArgumentError` (a ``ValueError``) or, for images,
:class:`~groundlite.errors.InvalidImageError`, with one sentence naming the argument, what was
expected and what arrived. ``tests/reference_ops.py`` holds a plain numpy reference for each one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from . import _kernels
from .errors import InvalidArgumentError, InvalidImageError, InvalidPhraseError
from .schema import RESIZE_MODES, RESIZE_PAD_BILINEAR_AA, RESIZE_SQUASH_BICUBIC

__all__ = [
    "PreprocessMeta",
    "nms",
    "batched_nms",
    "soft_nms",
    "region_phrase_logits",
    "select_regions",
    "cxcywh_to_xyxy",
    "boxes_to_original",
    "preprocess",
    "ctc_greedy_decode",
    "fuzzy_find",
    "fuzzy_find_all",
    "FUZZY_FIND_ALL_MAX_PER_PAIR",
    "edit_similarity",
]


# ---------------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------------
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _array(name: str, value: Any, dtype: type) -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidArgumentError(f"{name}: expected an array of numbers, got {type(value).__name__}")
    try:
        raw = np.asarray(value)
        if raw.dtype.kind == "c":
            raise InvalidArgumentError(f"{name}: expected real numbers, got complex dtype {raw.dtype}")
        # Values beyond float32 become inf (rejected or handled by each kernel's NaN/inf rule)
        # instead of warning. Not np.ascontiguousarray: it turns a 0-d scalar into shape (1,),
        # which would let a scalar pass a shape check it should fail.
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            a = np.asarray(raw, dtype=dtype)
        return a if a.flags.c_contiguous else np.ascontiguousarray(a)
    except (TypeError, ValueError) as e:
        if isinstance(e, InvalidArgumentError):
            raise
        raise InvalidArgumentError(
            f"{name}: expected an array convertible to {np.dtype(dtype).name}, got {type(value).__name__} ({e})"
        ) from None


def _boxes(name: str, value: Any) -> np.ndarray:
    a = _array(name, value, np.float32)
    if a.ndim == 1 and a.size == 0:  # [] -> no boxes
        a = a.reshape(0, 4)
    if a.ndim == 2 and a.shape[1] == 4 and not np.isfinite(a).all():
        row = int(np.argwhere(~np.isfinite(a))[0, 0])
        raise InvalidArgumentError(f"{name}: expected finite coordinates, got NaN or inf in row {row}")
    return a


def _scalar(name: str, value: Any, *, minimum: float | None = 0.0, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{name}: expected a real number, got {type(value).__name__}")
    v = float(value)
    # the kernels take float32: a double beyond its range would silently become inf there
    if not math.isfinite(v) or abs(v) > _FLOAT32_MAX:
        raise InvalidArgumentError(f"{name}: expected a finite float32 number, got {v}")
    if minimum is not None and v < minimum:
        raise InvalidArgumentError(f"{name}: expected a number >= {minimum:g}, got {v:g}")
    if maximum is not None and v > maximum:
        raise InvalidArgumentError(f"{name}: expected a number <= {maximum:g}, got {v:g}")
    return v


def _f32_floor(v: float) -> float:
    """Largest float32 <= v: clip bounds handed to the float32 kernels must not round up past v."""
    f = np.float32(v)
    if float(f) > v:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


def _count(name: str, value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name}: expected an integer, got {type(value).__name__}")
    if int(value) < minimum:
        raise InvalidArgumentError(f"{name}: expected an integer >= {minimum}, got {int(value)}")
    return int(value)


def _optional_count(name: str, value: Any) -> int:
    """None -> -1 (the kernels' "unlimited")."""
    return -1 if value is None else _count(name, value)


def _call(fn: Any, *args: Any) -> Any:
    # The bindings raise plain ValueError (already one sentence naming the argument); re-raise
    # it as the SDK's typed error.
    try:
        return fn(*args)
    except InvalidArgumentError:
        raise
    except ValueError as e:
        raise InvalidArgumentError(str(e)) from None


def _strings(name: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidArgumentError(f"{name}: expected a list of str, got {type(value).__name__}")
    out = list(value)
    for i, s in enumerate(out):
        if not isinstance(s, str):
            raise InvalidArgumentError(f"{name}: expected a list of str, got {type(s).__name__} at index {i}")
        if not s.isascii():
            try:  # the kernels take UTF-32; lone surrogates cannot be encoded
                s.encode("utf-32")
            except UnicodeEncodeError:
                raise InvalidArgumentError(
                    f"{name}: expected valid Unicode text, got a lone surrogate in the string at index {i}"
                ) from None
    return out


# ---------------------------------------------------------------------------------------------
# NMS
# ---------------------------------------------------------------------------------------------
def nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    max_detections: int | None = None,
) -> np.ndarray:
    """Greedy non-maximum suppression (same keep set as ``torchvision.ops.nms``).

    Args:
        boxes: float32 ``[N, 4]`` boxes ``(x1, y1, x2, y2)``; coordinates must be finite.
        scores: float32 ``[N]``.
        iou_threshold: a box is suppressed by a higher-ranked kept box when their IoU is
            strictly greater than this (finite, >= 0; >= 1 suppresses nothing).
        score_threshold: if given (finite, >= 0), only boxes with ``score > score_threshold``
            take part (strict, like ONNX ``NonMaxSuppression``).
        max_detections: keep at most this many (>= 0); None for no limit.

    Returns:
        int64 ``[K]`` indices into ``boxes``, by descending score; equal scores by lower index.

    Edge cases: boxes with NaN scores are dropped. IoU is ``inter / (area_a + area_b - inter)``
    with ``area = (x2-x1)*(y2-y1)``; when the clamped intersection is 0 the IoU is 0, so
    zero-area and inverted boxes never suppress anything and are never suppressed — they are
    kept and ranked by score, as torchvision does. ``N = 0`` returns an empty int64 array.
    """
    b = _boxes("boxes", boxes)
    s = _array("scores", scores, np.float32)
    iou = _scalar("iou_threshold", iou_threshold)
    use_thr = score_threshold is not None
    thr = _scalar("score_threshold", score_threshold) if use_thr else 0.0
    return _call(_kernels.nms, b, s, iou, use_thr, thr, _optional_count("max_detections", max_detections))


def batched_nms(
    boxes: Any,
    scores: Any,
    labels: Any,
    iou_threshold: float,
    score_threshold: float | None = None,
    max_detections: int | None = None,
) -> np.ndarray:
    """NMS applied independently per label (``torchvision.ops.batched_nms`` semantics).

    Args:
        boxes: float32 ``[N, 4]`` xyxy; scores: float32 ``[N]``; labels: int64 ``[N]``.
        iou_threshold, score_threshold, max_detections: as in :func:`nms`; ``max_detections``
            applies to the merged result.

    Returns:
        int64 ``[K]`` kept indices over all labels, by descending score (ties: lower index).
        Boxes of different labels never suppress each other.
    """
    b = _boxes("boxes", boxes)
    s = _array("scores", scores, np.float32)
    lab = np.asarray(labels)
    if lab.size and not (np.issubdtype(lab.dtype, np.integer) or np.issubdtype(lab.dtype, np.bool_)):
        raise InvalidArgumentError(f"labels: expected integer class ids, got dtype {lab.dtype}")
    lab = _array("labels", lab, np.int64)
    iou = _scalar("iou_threshold", iou_threshold)
    use_thr = score_threshold is not None
    thr = _scalar("score_threshold", score_threshold) if use_thr else 0.0
    return _call(
        _kernels.batched_nms, b, s, lab, iou, use_thr, thr, _optional_count("max_detections", max_detections)
    )


def soft_nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float = 0.3,
    sigma: float = 0.5,
    method: Literal["gaussian", "linear"] = "gaussian",
    score_threshold: float = 0.001,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS (Bodla et al., 2017): decay the scores of overlapping boxes instead of removing them.

    Repeatedly selects the remaining box with the highest current score (ties: lower index) and
    decays every other remaining box ``j`` by its IoU with it: ``linear``:
    ``s_j *= 1 - IoU`` when ``IoU > iou_threshold``; ``gaussian``: ``s_j *= exp(-IoU**2 / sigma)``
    (``iou_threshold`` unused; the factor is evaluated in float64). A box whose score is NaN or
    falls below ``score_threshold`` (initially or after a decay) is dropped. IoU as in :func:`nms`.

    Args:
        boxes: float32 ``[N, 4]`` xyxy; scores: float32 ``[N]``.
        iou_threshold: finite, >= 0. sigma: finite, > 0. score_threshold: finite, >= 0.
        method: ``"gaussian"`` or ``"linear"``.

    Returns:
        ``(keep int64[K], scores float32[K])`` in selection order, scores as decayed at selection.
    """
    b = _boxes("boxes", boxes)
    s = _array("scores", scores, np.float32)
    iou = _scalar("iou_threshold", iou_threshold)
    sg = _scalar("sigma", sigma)
    if not np.float32(sg) > 0:  # a tiny double sigma is 0 in float32: exp(-0/0) would be NaN
        raise InvalidArgumentError(f"sigma: expected a number > 0, got {sg:g}")
    if method not in ("gaussian", "linear"):
        raise InvalidArgumentError(f"method: expected 'gaussian' or 'linear', got {method!r}")
    thr = _scalar("score_threshold", score_threshold)
    return _call(_kernels.soft_nms, b, s, iou, sg, method, thr)


# ---------------------------------------------------------------------------------------------
# region-phrase scoring
# ---------------------------------------------------------------------------------------------
def region_phrase_logits(
    region_embeds: Any,
    query_embeds: Any,
    logit_shift: Any | None = None,
    logit_scale: Any | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """OWL-ViT class-head logits: ``(norm(region) . norm(query) + shift) * scale``.

    Matches ``OwlViTClassPredictionHead``: each side is divided by ``(||x|| + 1e-6)`` (so a zero
    vector gives zero similarity, never NaN); ``logit_scale`` is used as given (the image encoder
    graph already applies ``elu(x) + 1``).

    Args:
        region_embeds: float32 ``[N, D]`` class embeddings before normalisation.
        query_embeds: float32 ``[Q, D]`` text (or image) query embeddings.
        logit_shift, logit_scale: float32 ``[N]`` or ``[N, 1]``; None means 0 and 1.
        normalize: False skips the L2 normalisation (plain dot products).

    Returns:
        float32 ``[N, Q]`` logits.
    """
    r = _array("region_embeds", region_embeds, np.float32)
    q = _array("query_embeds", query_embeds, np.float32)
    sh = None if logit_shift is None else _array("logit_shift", logit_shift, np.float32)
    sc = None if logit_scale is None else _array("logit_scale", logit_scale, np.float32)
    return _call(_kernels.region_phrase_logits, r, q, sh, sc, bool(normalize))


def select_regions(
    logits: Any,
    threshold: float,
    top_k: int | None = None,
    apply_sigmoid: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region the best query, kept when its score is above ``threshold``.

    Mirrors transformers' ``post_process_object_detection``: score = ``sigmoid(max_q logit)``
    (sigmoid of the maximum only; no ``[N, Q]`` sigmoid array is made) and a region is kept when
    ``score > threshold`` (strictly). NaN logits never win the maximum; an all-NaN row is dropped;
    equal maxima go to the lower query index.

    Args:
        logits: float32 ``[N, Q]``.
        threshold: finite; in ``[0, 1]`` when ``apply_sigmoid``, any finite logit otherwise.
        top_k: keep at most this many (>= 0); None for all.
        apply_sigmoid: False compares and returns the raw maximum logit.

    Returns:
        ``(region_idx int64[M], query_idx int64[M], scores float32[M])`` by descending score,
        ties by lower region index.
    """
    lg = _array("logits", logits, np.float32)
    if apply_sigmoid:
        thr = _scalar("threshold", threshold, minimum=0.0, maximum=1.0)
    else:
        thr = _scalar("threshold", threshold, minimum=None)
    return _call(_kernels.select_regions, lg, thr, _optional_count("top_k", top_k), bool(apply_sigmoid))


# ---------------------------------------------------------------------------------------------
# boxes and pre-processing geometry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreprocessMeta:
    """How :func:`preprocess` mapped an original image onto the ``input_size`` square.

    A point ``(x, y)`` in model-input pixels corresponds to
    ``(x * scale_x + offset_x, y * scale_y + offset_y)`` in original-image pixels; normalised
    model coordinates are first multiplied by ``input_size``.

    * ``squash-bicubic`` (OWL-ViT): the image is stretched to the square, so
      ``scale_x = width / S`` and ``scale_y = height / S``.
    * ``pad-bilinear-antialias`` (OWLv2): the image is padded bottom/right to a square of side
      ``padded_size = max(height, width)`` then resized, so ``scale_x = scale_y = padded_size / S``
      and normalised coordinates are relative to the padded square.

    Offsets are 0 for both modes (padding is only added bottom/right); they are kept so a future
    centred pad or crop needs no new field.
    """

    original_size: tuple[int, int]  # (height, width) of the original image
    input_size: int  # S
    mode: str
    scale_x: float
    scale_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0
    padded_size: int | None = None

    @classmethod
    def for_image(cls, height: int, width: int, input_size: int, mode: str) -> PreprocessMeta:
        """The meta :func:`preprocess` returns for an image of ``height x width``."""
        if mode == RESIZE_SQUASH_BICUBIC:
            return cls((height, width), input_size, mode, width / input_size, height / input_size)
        if mode == RESIZE_PAD_BILINEAR_AA:
            side = max(height, width)
            return cls((height, width), input_size, mode, side / input_size, side / input_size, padded_size=side)
        raise InvalidArgumentError(f"mode: expected one of {', '.join(RESIZE_MODES)}, got {mode!r}")


def cxcywh_to_xyxy(boxes: Any, width: float, height: float, clip: bool = True) -> np.ndarray:
    """Normalised ``(cx, cy, w, h)`` boxes to absolute ``(x1, y1, x2, y2)`` in a ``width x height`` frame.

    Args:
        boxes: float32 ``[N, 4]`` normalised centre boxes (the image encoder's ``boxes``).
        width, height: frame size (finite, > 0); pass 1, 1 for normalised corners. A size that
            is not exactly a float32 is rounded down to one, so clipped corners never exceed it.
        clip: clamp the corners to ``[0, width] x [0, height]``.

    Returns:
        float32 ``[N, 4]``.
    """
    b = _boxes("boxes", boxes)
    w = _scalar("width", width)
    h = _scalar("height", height)
    if w <= 0 or h <= 0:
        raise InvalidArgumentError(f"width, height: expected positive sizes, got {w:g} x {h:g}")
    return _call(_kernels.cxcywh_to_xyxy, b, _f32_floor(w), _f32_floor(h), bool(clip))


def boxes_to_original(
    boxes_xyxy: Any,
    meta: PreprocessMeta,
    coords: Literal["normalized", "input"] = "normalized",
    clip: bool = True,
    return_keep: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Map xyxy boxes from the model's frame back to original-image pixels (inverse of :func:`preprocess`).

    Args:
        boxes_xyxy: float32 ``[N, 4]`` corners, either normalised to the model input
            (``coords="normalized"``, e.g. ``cxcywh_to_xyxy(boxes, 1, 1, clip=False)``) or in
            model-input pixels (``coords="input"``).
        meta: the :class:`PreprocessMeta` :func:`preprocess` returned for the image.
        clip: clamp to ``[0, width] x [0, height]`` of the original image (for OWLv2 this also
            cuts boxes that reach into the grey padding).
        return_keep: also return which boxes are boxes of the image at all. OWLv2 pads the
            image bottom/right, and a region in that padding maps to a box that clipping flattens
            onto the border (e.g. ``[487.7, 427.0, 511.2, 427.0]`` on a 640x427 photo).

    Returns:
        float32 ``[N, 4]`` in original-image pixels; with ``return_keep``, ``(boxes, keep)``
        where ``boxes`` is still all ``N`` rows and ``keep`` is int64 ``[K]``, ascending indices
        of the boxes whose centre ``((x1 + x2) / 2, (y1 + y2) / 2)``, taken before clipping, lies
        in the closed rectangle ``[0, width] x [0, height]`` and whose width and height after
        clipping to it are both > 0. So a box entirely in the padding is dropped, one straddling
        the border with its centre inside is kept (clipped), and one reaching into the image
        from the padding with its centre outside is dropped (the model mostly saw padding).
        Inverted boxes (``x2 <= x1`` or ``y2 <= y1``) are dropped. The rule does not depend on
        ``clip``.
    """
    if not isinstance(meta, PreprocessMeta):
        raise InvalidArgumentError(f"meta: expected a PreprocessMeta, got {type(meta).__name__}")
    if coords == "normalized":
        unit = float(meta.input_size)
    elif coords == "input":
        unit = 1.0
    else:
        raise InvalidArgumentError(f"coords: expected 'normalized' or 'input', got {coords!r}")
    b = _boxes("boxes_xyxy", boxes_xyxy)
    h, w = meta.original_size
    kernel = _kernels.affine_boxes_keep if return_keep else _kernels.affine_boxes
    return _call(
        kernel, b, meta.scale_x * unit, meta.scale_y * unit, meta.offset_x, meta.offset_y,
        bool(clip), _f32_floor(w), _f32_floor(h),
    )


def preprocess(
    image: np.ndarray,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    mode: str = RESIZE_SQUASH_BICUBIC,
    pad_value: float = 0.5,
    threads: int | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, PreprocessMeta]:
    """Resize, pad, rescale, normalise and transpose an RGB image in one pass.

    Modes (reference processors measured in ``tests/test_ops_preprocess.py`` on real images):

    * ``"squash-bicubic"`` — ``OwlViTImageProcessor``: Pillow ``BICUBIC`` resize to ``S x S``
      (re-implemented bit-exactly, including Pillow 13's choice of pass order), then
      ``(x / 255 - mean) / std``. Measured max abs difference to transformers: < 1e-6.
    * ``"pad-bilinear-antialias"`` — ``Owlv2ImageProcessor``: pad bottom/right to a square with
      ``pad_value`` (in ``[0, 1]`` units), Gaussian anti-alias blur (sigma ``(factor - 1) / 2``)
      and bilinear zoom as scipy does, then normalise. Measured max abs difference: < 2e-6.
      Note: transformers 5.x pads with 0.0 (4.x used 0.5, which is the default here); pass
      ``pad_value=0.0`` to reproduce transformers 5.x exactly.

    Args:
        image: uint8 ``[H, W, 3]`` RGB (a ``[H, W]`` grayscale image is replicated to RGB).
        size: output side ``S`` (>= 1).
        mean, std: three per-channel values (``std`` > 0), e.g. ``schema.CLIP_MEAN``/``CLIP_STD``.
        mode: one of ``schema.RESIZE_MODES``.
        pad_value: padding grey level in ``[0, 1]`` (pad mode only).
        threads: threads to split the rows over (``None``: all hardware threads, at most 8;
            each thread gets at least 64 rows). The output does not depend on it.
        out: optional C-contiguous, writeable float32 ``[1, 3, S, S]`` array to write into (for
            example ``batch[i:i+1]`` of a preallocated batch, which saves a copy per image);
            it is returned as the first element.

    Returns:
        ``(pixel_values float32[1, 3, S, S], meta)``; see :class:`PreprocessMeta`.
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"image: expected a numpy uint8 array [H, W, 3], got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidImageError(f"image: expected dtype uint8, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidImageError(f"image: expected shape (H, W, 3) with H, W >= 1, got {image.shape}")
    s = _count("size", size, minimum=1)
    if mode not in RESIZE_MODES:
        raise InvalidArgumentError(f"mode: expected one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    m = _array("mean", mean, np.float32)
    sd = _array("std", std, np.float32)
    if m.shape != (3,) or not np.isfinite(m).all():
        raise InvalidArgumentError(f"mean: expected 3 finite values, got shape {m.shape}")
    if sd.shape != (3,) or not (np.isfinite(sd).all() and (sd > 0).all()):
        raise InvalidArgumentError(f"std: expected 3 finite positive values, got {sd.tolist()}")
    pv = _scalar("pad_value", pad_value, minimum=0.0, maximum=1.0)
    nt = 0 if threads is None else _count("threads", threads, minimum=1)
    h, w = int(image.shape[0]), int(image.shape[1])
    if out is not None and not (isinstance(out, np.ndarray) and out.dtype == np.float32 and out.flags.c_contiguous
                                and out.flags.writeable and out.shape == (1, 3, s, s)):
        got = (f"{out.dtype} {out.shape}" + ("" if out.flags.c_contiguous else " non-contiguous")
               + ("" if out.flags.writeable else " read-only")) if isinstance(out, np.ndarray) else type(out).__name__
        raise InvalidArgumentError(f"out: expected a C-contiguous writeable float32 array of shape (1, 3, {s}, {s}), got {got}")
    pixels = _call(_kernels.preprocess, np.ascontiguousarray(image), s, mode, m, sd, pv, nt, out)
    return pixels, PreprocessMeta.for_image(h, w, s, mode)


# ---------------------------------------------------------------------------------------------
# text kernels
# ---------------------------------------------------------------------------------------------
def ctc_greedy_decode(
    probs: Any, blank: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Greedy (best-path) CTC decoding of a batch of recogniser outputs.

    Per time step the argmax class is taken (first maximum; NaN never wins; an all-NaN step
    counts as blank); consecutive equal classes collapse into one run; runs of ``blank`` emit
    nothing. A blank between two equal classes separates them (``a - a`` decodes to ``aa``).

    Args:
        probs: float32 ``[B, T, C]`` per-step class probabilities (softmax outputs).
        blank: the blank class id, in ``[0, C)``.

    Returns:
        ``(labels int64[M], scores float32[M], start int64[M], end int64[M], offsets int64[B+1])``:
        for each emitted char its class id, its score (mean argmax probability over its run) and
        the half-open step range ``[start, end)`` of the run. Sequence ``b``'s chars are
        ``labels[offsets[b]:offsets[b+1]]``.
    """
    p = _array("probs", probs, np.float32)
    b = _count("blank", blank)
    return _call(_kernels.ctc_greedy_decode, p, b)


def fuzzy_find(texts: Sequence[str], phrases: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best approximate occurrence of every phrase inside every text (Sellers' algorithm).

    The occurrence is the substring ``text[start:end]`` with the smallest Levenshtein distance
    ``d`` to the phrase (the match may start and end anywhere in the text). Ties: lowest
    distance, then earliest ``start``, then the longest span. Strings are compared as Unicode
    code points, exactly (lower-case or normalise both sides first if wanted).

    Args:
        texts: R strings to search in (may be empty).
        phrases: P non-empty strings to search for.

    Returns:
        ``(similarity float32[R, P], start int64[R, P], end int64[R, P])`` with
        ``similarity = max(0, 1 - d / len(phrase))`` and the code-point span ``[start, end)``.
    """
    t = _strings("texts", texts)
    p = _strings("phrases", phrases)
    for i, phrase in enumerate(p):
        if not phrase:
            raise InvalidPhraseError(f"phrases: expected non-empty strings, got an empty string at index {i}")
    return _call(_kernels.fuzzy_find, t, p)


FUZZY_FIND_ALL_MAX_PER_PAIR: int = _kernels.FUZZY_FIND_ALL_MAX_PER_PAIR
"""At most this many occurrences per (text, phrase) pair are returned by :func:`fuzzy_find_all`."""


def fuzzy_find_all(
    texts: Sequence[str], phrases: Sequence[str], max_distance: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every non-overlapping approximate occurrence of every phrase inside every text.

    Where :func:`fuzzy_find` reports one span per (text, phrase), this reports each occurrence
    within ``max_distance[q]`` edits (Levenshtein, unit costs, Unicode code points, exact
    comparison), e.g. all three ``"the"`` in ``"the cat and the dog and the bird"``. For text
    ``r`` and phrase ``q``:

    1. For each end position ``e`` in ``1..len(text)``, the best span ending there (Sellers'
       semi-global DP): lowest distance ``D(e)``, then earliest start ``S(e)`` (the tie rule of
       :func:`fuzzy_find`). These spans are never empty.
    2. Candidates are the local minima of ``D`` over ``e`` (``D(e) <= D(e-1)`` and
       ``D(e) <= D(e+1)``, a missing neighbour counting as +inf) with
       ``D(e) <= max_distance[q]``, so a match does not also appear one char shorter or longer.
    3. Candidates are taken greedily by (distance, ``|end - start - len(phrase)|``, start, end)
       ascending, skipping any that overlaps an already taken span (spans are half-open:
       ``"the"`` in ``"thethe"`` gives ``[0, 3)`` and ``[3, 6)``), until
       :data:`FUZZY_FIND_ALL_MAX_PER_PAIR` (256) are taken: the kept ones are the first in that
       order, i.e. the closest matches.

    Cost: ``O(sum(len(texts)) * sum(len(phrases)))`` time for the DP (plus a sort of at most
    ``len(text)`` candidates per pair) and ``O(max len(text) + max len(phrase))`` scratch.

    Args:
        texts: R strings to search in (may be empty; an empty text has no occurrences).
        phrases: P non-empty strings to search for (P may be 0: no rows).
        max_distance: int64 ``[P]``, the most edits allowed per phrase (>= 0), for example
            ``np.floor(0.34 * np.array([len(p) for p in phrases])).astype(np.int64)``; 0 finds
            exact occurrences only.

    Returns:
        ``(region, phrase, distance, start, end)``, flat int64 ``[M]`` arrays sorted by
        (region, phrase, start): the text index, the phrase index, the edit distance and the
        code-point span ``[start, end)`` of ``texts[region]``.
    """
    t = _strings("texts", texts)
    p = _strings("phrases", phrases)
    for i, phrase in enumerate(p):
        if not phrase:
            raise InvalidPhraseError(f"phrases: expected non-empty strings, got an empty string at index {i}")
    if isinstance(max_distance, (str, bytes)) or max_distance is None:
        raise InvalidArgumentError(f"max_distance: expected an int64 array, got {type(max_distance).__name__}")
    md = np.asarray(max_distance)
    if md.size and not np.issubdtype(md.dtype, np.integer):
        raise InvalidArgumentError(f"max_distance: expected integer edit counts, got dtype {md.dtype}")
    if md.size and md.dtype == np.uint64 and int(md.max()) > np.iinfo(np.int64).max:
        raise InvalidArgumentError(f"max_distance: expected values that fit int64, got {int(md.max())}")
    return _call(_kernels.fuzzy_find_all, t, p, _array("max_distance", md, np.int64))


def edit_similarity(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """Normalised Levenshtein similarity ``1 - distance / max(len)`` of every pair (code points).

    Returns:
        float32 ``[len(a), len(b)]``; two empty strings have similarity 1.0.
    """
    return _call(_kernels.edit_similarity, _strings("a", a), _strings("b", b))
