"""Hostile-input property tests of every ``groundlite.ops`` kernel.

Inputs are drawn from random ranks (0-4, incl. zero-size axes), dtypes (float16/32/64, ints, bool,
complex, object), memory layouts (Fortran order, strided and transposed views) and values
(NaN, +-inf, huge). Each call must either return a well-formed result (documented dtypes and
shapes, indices in range, no NaN where the docstring promises none) or raise ``ValueError``
(``groundlite.errors.InvalidArgumentError`` / ``InvalidImageError`` are subclasses). Anything else
— another exception type, a warning (pytest turns warnings into errors), a crash — fails.
``tools/sanitize_kernels.sh`` also runs this file under ASan + UBSan.

The reference comparisons live in ``tests/test_ops_*.py``; here, where an input is valid, the
result must not depend on its memory layout (a view gives the same answer as a contiguous copy).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groundlite import ops
from groundlite.errors import GroundliteError, InvalidArgumentError
from groundlite.schema import CLIP_MEAN, CLIP_STD, RESIZE_MODES

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# complex input has its own test below (test_complex_input_is_refused)
DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_, object]
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, -1e38, 1e-45]


@st.composite
def hostile_array(draw, shape_hint: tuple[int, ...], *, max_side: int = 12):
    """An array near ``shape_hint`` (-1 = free axis) in a random dtype, layout and value mix."""
    if draw(st.integers(0, 3)) == 0:  # 1 in 4: any rank
        ndim = draw(st.integers(0, 4))
        shape = tuple(draw(st.integers(0, 5)) for _ in range(ndim))
    else:
        shape = tuple(draw(st.integers(0, max_side)) if d < 0 else d for d in shape_hint)
        if draw(st.integers(0, 5)) == 0 and shape:  # a wrong fixed dimension
            i = draw(st.integers(0, len(shape) - 1))
            shape = shape[:i] + (draw(st.integers(0, 6)),) + shape[i + 1:]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = rng.normal(0, draw(st.sampled_from([1.0, 100.0, 1e6])), size=shape)
    if base.size and draw(st.booleans()):
        flat = base.reshape(-1)
        for _ in range(draw(st.integers(1, 4))):
            flat[rng.integers(0, flat.size)] = draw(st.sampled_from(SPECIALS))
    dtype = draw(st.sampled_from(DTYPES))
    with np.errstate(all="ignore"):
        if dtype is object:
            arr = base.astype(object)
            if arr.size and draw(st.booleans()):
                arr.reshape(-1)[0] = draw(st.sampled_from([None, "x", [1, 2]]))
        elif np.issubdtype(dtype, np.integer):
            arr = np.nan_to_num(base, nan=0, posinf=0, neginf=0).clip(-100, 100).astype(dtype)
        else:
            arr = base.astype(dtype)
    layout = draw(st.sampled_from(["c", "fortran", "strided", "transposed"]))
    if layout == "fortran":
        arr = np.asfortranarray(arr)
    elif layout == "strided" and arr.ndim:
        arr = np.repeat(arr, 2, axis=0)[::2]
    elif layout == "transposed" and arr.ndim >= 2:
        arr = np.ascontiguousarray(np.swapaxes(arr, 0, 1)).swapaxes(0, 1)
    return arr


def finite_float(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "f" and bool(np.isfinite(arr).all())


def check_indices(idx: np.ndarray, n: int) -> None:
    assert idx.dtype == np.int64 and idx.ndim == 1
    assert ((idx >= 0) & (idx < n)).all()


def call(fn, *args, **kwargs):
    """Run ``fn``; a ValueError is an accepted outcome (returned as None), and it must be typed."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        assert isinstance(e, GroundliteError), f"untyped {type(e).__name__}: {e}"
        assert str(e) and "\n" not in str(e)
        return None


thresholds = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2),
                       st.sampled_from([None, "0.5", True]))


@FUZZ
@given(boxes=hostile_array((-1, 4)), scores=hostile_array((-1,)), iou=thresholds, thr=thresholds,
       max_det=st.one_of(st.none(), st.integers(-2, 50), st.just(1.5)))
def test_nms_hostile(boxes, scores, iou, thr, max_det):
    out = call(ops.nms, boxes, scores, iou, thr, max_det)
    if out is None:
        return
    n = len(boxes)
    check_indices(out, n)
    assert len(np.unique(out)) == len(out)
    if max_det is not None:
        assert len(out) <= max_det
    s = np.asarray(scores, dtype=np.float32)[out]
    assert not np.isnan(s).any(), "NaN-score boxes must be dropped"
    assert (s[1:] <= s[:-1]).all(), "kept boxes must come by descending score"
    np.testing.assert_array_equal(out, ops.nms(np.ascontiguousarray(boxes), np.ascontiguousarray(scores),
                                               iou, thr, max_det))


@FUZZ
@given(boxes=hostile_array((-1, 4)), scores=hostile_array((-1,)), labels=hostile_array((-1,)),
       iou=thresholds, max_det=st.one_of(st.none(), st.integers(0, 20)))
def test_batched_nms_hostile(boxes, scores, labels, iou, max_det):
    out = call(ops.batched_nms, boxes, scores, labels, iou, None, max_det)
    if out is None:
        return
    check_indices(out, len(boxes))
    assert len(np.unique(out)) == len(out)
    assert not np.isnan(np.asarray(scores, dtype=np.float32)[out]).any()


@FUZZ
@given(boxes=hostile_array((-1, 4)), scores=hostile_array((-1,)), iou=thresholds,
       sigma=st.one_of(thresholds, st.floats(1e-6, 4.0)), method=st.sampled_from(["gaussian", "linear", "hard", 3]),
       thr=thresholds)
def test_soft_nms_hostile(boxes, scores, iou, sigma, method, thr):
    out = call(ops.soft_nms, boxes, scores, iou, sigma, method, thr)
    if out is None:
        return
    keep, kept_scores = out
    check_indices(keep, len(boxes))
    assert kept_scores.dtype == np.float32 and kept_scores.shape == keep.shape
    assert len(np.unique(keep)) == len(keep)
    assert not np.isnan(kept_scores).any(), "a score that decays to NaN must be dropped"
    with np.errstate(over="ignore"):
        assert (kept_scores >= np.float32(thr)).all()


@FUZZ
@given(region=hostile_array((-1, 8)), query=hostile_array((-1, 8)),
       shift=st.one_of(st.none(), hostile_array((-1, 1))), scale=st.one_of(st.none(), hostile_array((-1,))),
       normalize=st.booleans())
def test_region_phrase_logits_hostile(region, query, shift, scale, normalize):
    out = call(ops.region_phrase_logits, region, query, shift, scale, normalize)
    if out is None:
        return
    assert out.dtype == np.float32 and out.shape == (region.shape[0], query.shape[0])
    inputs = [a for a in (region, query, shift, scale) if a is not None]
    if normalize and all(finite_float(a) and np.abs(a).max(initial=0) < 1e3 for a in inputs):
        assert np.isfinite(out).all(), "finite inputs (incl. zero vectors) must give finite logits"


@FUZZ
@given(logits=hostile_array((-1, -1)), threshold=thresholds, top_k=st.one_of(st.none(), st.integers(-1, 10)),
       sig=st.booleans())
def test_select_regions_hostile(logits, threshold, top_k, sig):
    out = call(ops.select_regions, logits, threshold, top_k, sig)
    if out is None:
        return
    regions, queries, scores = out
    n, q = logits.shape
    check_indices(regions, n)
    check_indices(queries, max(q, 0))
    assert scores.dtype == np.float32 and len(scores) == len(regions) == len(queries)
    assert not np.isnan(scores).any()
    with np.errstate(over="ignore"):
        assert (scores > np.float32(threshold)).all()
    assert (scores[1:] <= scores[:-1]).all()
    if top_k is not None:
        assert len(regions) <= top_k


@FUZZ
@given(boxes=hostile_array((-1, 4)), w=thresholds, h=thresholds, clip=st.booleans())
def test_cxcywh_to_xyxy_hostile(boxes, w, h, clip):
    out = call(ops.cxcywh_to_xyxy, boxes, w, h, clip)
    if out is None:
        return
    assert out.dtype == np.float32 and out.shape == (len(boxes), 4)
    if clip:
        o = out.astype(np.float64)  # w, h may exceed float32's range
        assert ((o[:, [0, 2]] >= 0) & (o[:, [0, 2]] <= w)).all()
        assert ((o[:, [1, 3]] >= 0) & (o[:, [1, 3]] <= h)).all()


@FUZZ
@given(boxes=hostile_array((-1, 4)), hw=st.tuples(st.integers(1, 5000), st.integers(1, 5000)),
       size=st.sampled_from([32, 768, 960]), mode=st.sampled_from(RESIZE_MODES),
       coords=st.sampled_from(["normalized", "input", "pixels"]), clip=st.booleans())
def test_boxes_to_original_hostile(boxes, hw, size, mode, coords, clip):
    meta = ops.PreprocessMeta.for_image(hw[0], hw[1], size, mode)
    out = call(ops.boxes_to_original, boxes, meta, coords, clip)
    if out is None:
        return
    assert out.dtype == np.float32 and out.shape == (len(boxes), 4)
    if clip:
        assert ((out[:, [0, 2]] >= 0) & (out[:, [0, 2]] <= hw[1])).all()
        assert ((out[:, [1, 3]] >= 0) & (out[:, [1, 3]] <= hw[0])).all()


@settings(max_examples=80, deadline=None)
@given(image=hostile_array((-1, -1, 3), max_side=40), size=st.one_of(st.integers(-1, 48), st.just(2.0)),
       mode=st.sampled_from([*RESIZE_MODES, "nearest"]), pad=thresholds, bad_std=st.booleans())
def test_preprocess_hostile(image, size, mode, pad, bad_std):
    std = (0.0, 1.0, 1.0) if bad_std else CLIP_STD
    pad = 0.5 if pad is None else pad
    out = call(ops.preprocess, image, size, CLIP_MEAN, std, mode, pad)
    if out is None:
        return
    pixels, meta = out
    assert image.dtype == np.uint8
    assert pixels.dtype == np.float32 and pixels.shape == (1, 3, size, size)
    assert np.isfinite(pixels).all()
    assert meta.original_size == image.shape[:2]
    # a strided / Fortran view must give exactly the contiguous result
    np.testing.assert_array_equal(
        pixels, ops.preprocess(np.ascontiguousarray(image), size, CLIP_MEAN, std, mode, pad)[0])


@FUZZ
@given(probs=hostile_array((-1, -1, -1)), blank=st.one_of(st.integers(-2, 12), st.just(1.0), st.none()))
def test_ctc_greedy_decode_hostile(probs, blank):
    out = call(ops.ctc_greedy_decode, probs, blank)
    if out is None:
        return
    labels, scores, start, end, offsets = out
    b, t, c = probs.shape
    assert offsets.dtype == np.int64 and offsets.shape == (b + 1,)
    assert offsets[0] == 0 and (np.diff(offsets) >= 0).all() and offsets[-1] == len(labels)
    check_indices(labels, c)
    assert (labels != blank).all()
    assert scores.dtype == np.float32 and len(scores) == len(labels)
    assert ((0 <= start) & (start < end) & (end <= t)).all()


text = st.text(st.characters(exclude_categories=()), max_size=30)  # lone surrogates included
string_lists = st.one_of(st.lists(text, max_size=5), st.just("abc"), st.lists(st.integers(), max_size=2),
                         st.just(None))


@FUZZ
@given(texts=string_lists, phrases=string_lists)
def test_fuzzy_find_hostile(texts, phrases):
    out = call(ops.fuzzy_find, texts, phrases)
    if out is None:
        return
    sim, start, end = out
    assert sim.dtype == np.float32 and sim.shape == (len(texts), len(phrases))
    assert ((sim >= 0) & (sim <= 1)).all()
    lengths = np.array([len(t) for t in texts], dtype=np.int64).reshape(-1, 1)
    assert ((0 <= start) & (start <= end) & (end <= lengths)).all()


@FUZZ
@given(a=string_lists, b=string_lists)
def test_edit_similarity_hostile(a, b):
    out = call(ops.edit_similarity, a, b)
    if out is None:
        return
    assert out.dtype == np.float32 and out.shape == (len(a), len(b))
    assert ((out >= 0) & (out <= 1)).all()


def test_nms_200k_boxes_is_quick_and_well_formed():
    """Detector-scale input: 200 000 boxes around 50 objects; most are suppressed."""
    rng = np.random.default_rng(7)
    n = 200_000
    centres = rng.uniform(0, 4000, (50, 2))
    k = rng.integers(0, 50, n)
    ctr = centres[k] + rng.normal(0, 2.0, (n, 2))
    half = rng.uniform(20, 40, (n, 2))
    boxes = np.concatenate([ctr - half, ctr + half], axis=1).astype(np.float32)
    scores = rng.random(n, dtype=np.float32)
    keep = ops.nms(boxes, scores, 0.5)
    check_indices(keep, n)
    assert 50 <= len(keep) < n // 10
    labels = k.astype(np.int64)
    keep_b = ops.batched_nms(boxes, scores, labels, 0.5, max_detections=300)
    check_indices(keep_b, n)
    assert len(keep_b) <= 300


def test_huge_declared_counts_are_refused_not_allocated():
    """Counts are validated, not trusted: a bool or float max_detections is a type error."""
    boxes = np.zeros((3, 4), np.float32)
    for bad in (True, 2.0, "3"):
        with pytest.raises(InvalidArgumentError):
            ops.nms(boxes, np.ones(3, np.float32), 0.5, max_detections=bad)


@pytest.mark.parametrize("name, args", [
    ("nms", lambda c: (np.zeros((2, 4), np.float32), c, 0.5)),
    ("nms", lambda c: (np.zeros((2, 4), c.dtype), np.ones(2, np.float32), 0.5)),
    ("region_phrase_logits", lambda c: (np.ones((2, 3), c.dtype), np.ones((1, 3), np.float32))),
    ("select_regions", lambda c: (np.ones((2, 3), c.dtype), 0.5)),
    ("ctc_greedy_decode", lambda c: (np.ones((1, 2, 3), c.dtype),)),
])
def test_complex_input_is_refused(name, args):
    """Casting complex to float32 would silently drop the imaginary part (numpy only warns)."""
    c = np.array([0.5 + 1j, 0.25 + 0j], dtype=np.complex64)
    with pytest.raises(InvalidArgumentError, match="complex"):
        getattr(ops, name)(*args(c))


def test_soft_nms_never_returns_nan_scores():
    """inf * exp(-large) = inf * 0 = NaN: the docstring promises NaN scores are dropped."""
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11]], np.float32)
    keep, scores = ops.soft_nms(boxes, np.array([np.inf, np.inf], np.float32), 0.0, 1e-6, "gaussian", 0.0)
    assert not np.isnan(scores).any(), f"got {scores}"
    np.testing.assert_array_equal(keep, [0])


def test_soft_nms_sigma_that_underflows_float32_is_refused_or_finite():
    """sigma = 1e-60 passes the double check (> 0) but is 0 in float32; 0 / 0 must not leak out as NaN."""
    boxes = np.array([[0, 0, 1, 1], [5, 5, 6, 6]], np.float32)  # disjoint: IoU 0, factor exp(-0/sigma)
    try:
        keep, scores = ops.soft_nms(boxes, np.array([0.9, 0.8], np.float32), 0.3, 1e-60, "gaussian", 0.0)
    except InvalidArgumentError:
        return
    np.testing.assert_array_equal(scores, np.array([0.9, 0.8], np.float32))
