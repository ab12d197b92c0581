"""nms / batched_nms / soft_nms against the plain references in reference_ops.py."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_ops as ref
from groundlite import ops
from groundlite.errors import InvalidArgumentError


def clustered_boxes(rng: np.random.Generator, n: int, centres: int = 8, size: float = 100.0):
    """Detector-like boxes: jittered copies around a few centres, so many pairs straddle any IoU."""
    c = rng.uniform(0, 500, (centres, 2))
    wh = rng.uniform(10, size, (centres, 2))
    k = rng.integers(0, centres, n)
    ctr = c[k] + rng.normal(0, 0.15, (n, 2)) * wh[k]
    half = wh[k] * rng.uniform(0.7, 1.3, (n, 2)) / 2
    boxes = np.concatenate([ctr - half, ctr + half], axis=1).astype(np.float32)
    scores = rng.beta(2, 5, n).astype(np.float32)
    return boxes, scores


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 120), iou=st.floats(0.0, 1.0),
       ties=st.booleans(), max_det=st.one_of(st.none(), st.integers(0, 30)))
def test_nms_matches_reference(seed, n, iou, ties, max_det):
    rng = np.random.default_rng(seed)
    boxes, scores = clustered_boxes(rng, n)
    if ties:  # coarse scores force many equal-score ties
        scores = np.round(scores * 4) / 4
    got = ops.nms(boxes, scores, iou, max_detections=max_det)
    np.testing.assert_array_equal(got, ref.nms(boxes, scores, iou, max_detections=max_det))
    assert got.dtype == np.int64
    if max_det is None:  # the vectorised numpy baseline the benchmark uses must agree too
        np.testing.assert_array_equal(ref.nms_numpy(boxes, scores, iou), got)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 80), labels=st.integers(1, 5),
       thr=st.one_of(st.none(), st.floats(0.0, 0.6)), max_det=st.one_of(st.none(), st.integers(0, 20)))
def test_batched_nms_matches_reference(seed, n, labels, thr, max_det):
    rng = np.random.default_rng(seed)
    boxes, scores = clustered_boxes(rng, n, centres=4)
    lab = rng.integers(0, labels, n)
    got = ops.batched_nms(boxes, scores, lab, 0.5, score_threshold=thr, max_detections=max_det)
    np.testing.assert_array_equal(got, ref.batched_nms(boxes, scores, lab, 0.5, thr, max_det))


def _straddling_pair(x0: float, y0: float, side: np.float32, threshold: float):
    """Widths w_lo < w_hi one float32 step apart with IoU(A, B(w_lo)) <= t < IoU(A, B(w_hi)).

    B shares A's left, top and bottom edges, so IoU grows with B's width; the float32 IoU the
    kernel computes is found by walking one ulp at a time from the analytic crossing.
    """
    a = np.array([x0, y0, x0 + side, y0 + side], np.float32)
    t = np.float32(threshold)

    def iou_at(x2):
        return ref.iou_f32(a, np.array([a[0], a[1], x2, a[3]], np.float32))

    x2 = np.float32(a[0] + side * t)
    for _ in range(1000):
        if iou_at(x2) > t:
            x2 = np.nextafter(x2, np.float32(-1e9))
        elif iou_at(np.nextafter(x2, np.float32(1e9))) <= t:
            x2 = np.nextafter(x2, np.float32(1e9))
        else:
            break
    lo = np.array([a[0], a[1], x2, a[3]], np.float32)
    hi = np.array([a[0], a[1], np.nextafter(x2, np.float32(1e9)), a[3]], np.float32)
    assert ref.iou_f32(a, lo) <= t < ref.iou_f32(a, hi)
    return a, lo, hi


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_boxes_just_above_and_below_threshold(seed, threshold):
    rng = np.random.default_rng(seed)
    a, lo, hi = _straddling_pair(rng.uniform(0, 100), rng.uniform(0, 100), np.float32(rng.uniform(5, 50)), threshold)
    scores = np.array([0.9, 0.8], np.float32)
    assert ops.nms(np.stack([a, lo]), scores, threshold).tolist() == [0, 1]  # IoU <= t: kept
    assert ops.nms(np.stack([a, hi]), scores, threshold).tolist() == [0]  # IoU just above t
    # the same pair inside a crowd of other boxes, and per label
    boxes, sc = clustered_boxes(rng, 50)
    allb = np.concatenate([boxes, np.stack([a, lo, hi])])
    alls = np.concatenate([sc, np.array([0.95, 0.94, 0.93], np.float32)])
    got = ops.nms(allb, alls, threshold)
    np.testing.assert_array_equal(got, ref.nms(allb, alls, threshold))
    assert 50 in got and 52 not in got
    lab = np.zeros(53, np.int64)
    np.testing.assert_array_equal(ops.batched_nms(allb, alls, lab, threshold), got)


def test_nms_strictly_greater_hand_checked():
    # IoU exactly 0.5 (areas 100 and 50, inter 50... union 100): kept at 0.5, suppressed below it.
    boxes = np.array([[0, 0, 10, 10], [0, 0, 5, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert ops.nms(boxes, scores, 0.5).tolist() == [0, 1, 2]
    assert ops.nms(boxes, scores, 0.49).tolist() == [0, 2]
    assert ops.nms(boxes, scores, 0.49, score_threshold=0.7).tolist() == [0]  # strict >
    assert ops.nms(boxes, scores, 0.49, max_detections=1).tolist() == [0]


def test_nms_ties_go_to_lower_index():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    assert ops.nms(boxes, np.full(3, 0.5, np.float32), 0.5).tolist() == [0]
    assert ops.nms(boxes[::-1], np.array([0.5, 0.6, 0.6], np.float32), 0.5).tolist() == [1]


def test_nms_nan_scores_dropped_and_degenerate_boxes_kept():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 9], [9, 9, 1, 1], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.5, np.nan, 0.9, 0.8, 0.4], np.float32)
    # zero-area (2) and inverted (3) boxes overlap box 0 geometrically but have IoU 0: all kept,
    # ranked by score; the NaN-scored duplicate (1) is dropped; 4 is suppressed by 0.
    assert ops.nms(boxes, scores, 0.5).tolist() == [2, 3, 0]
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5), ref.nms(boxes, scores, 0.5))


@pytest.mark.parametrize("fn", ["nms", "batched_nms", "soft_nms"])
def test_empty_inputs_return_empty_int64(fn):
    args = {"nms": ([], []), "batched_nms": ([], [], []), "soft_nms": ([], [])}[fn]
    out = getattr(ops, fn)(*args, 0.5) if fn != "soft_nms" else ops.soft_nms(*args)
    keep = out[0] if fn == "soft_nms" else out
    assert keep.shape == (0,) and keep.dtype == np.int64
    if fn == "soft_nms":
        assert out[1].shape == (0,) and out[1].dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 60), method=st.sampled_from(["linear", "gaussian"]),
       iou=st.floats(0.0, 0.9), sigma=st.floats(0.05, 2.0), thr=st.floats(0.0, 0.3))
def test_soft_nms_matches_reference(seed, n, method, iou, sigma, thr):
    rng = np.random.default_rng(seed)
    boxes, scores = clustered_boxes(rng, n, centres=3)
    keep, sc = ops.soft_nms(boxes, scores, iou, sigma, method, thr)
    rkeep, rsc = ref.soft_nms(boxes, scores, iou, sigma, method, thr)
    np.testing.assert_array_equal(keep, rkeep)
    np.testing.assert_allclose(sc, rsc, rtol=1e-6, atol=1e-7)
    assert (sc >= np.float32(thr)).all()


def test_soft_nms_linear_hand_checked():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 5, 10], [20, 20, 30, 30]], np.float32)
    keep, sc = ops.soft_nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.3, method="linear")
    # box 1 has IoU 0.5 with box 0 -> 0.8 * 0.5 = 0.4, ranked after box 2
    assert keep.tolist() == [0, 2, 1]
    np.testing.assert_allclose(sc, [0.9, 0.7, 0.4], rtol=1e-6)


BOXES = np.zeros((3, 4), np.float32)
SCORES = np.ones(3, np.float32)
BAD = [
    ("boxes (N,3)", lambda: ops.nms(np.zeros((3, 3), np.float32), SCORES, 0.5), "expected shape (N, 4), got (3, 3)"),
    ("boxes 1-D", lambda: ops.nms(np.zeros(4, np.float32), SCORES, 0.5), "boxes: expected shape (N, 4), got (4,)"),
    ("scores mismatch", lambda: ops.nms(BOXES, np.ones(2, np.float32), 0.5), "scores: expected shape (3,)"),
    ("scalar score", lambda: ops.nms(BOXES[:1], np.float32(0.5), 0.5), "scores: expected shape (1,) to match boxes, got ()"),
    ("scores 2-D", lambda: ops.nms(BOXES, np.ones((3, 1), np.float32), 0.5), "got (3, 1)"),
    ("NaN box", lambda: ops.nms(np.array([[0, 0, np.nan, 1]], np.float32), [1.0], 0.5), "expected finite coordinates"),
    ("negative iou", lambda: ops.nms(BOXES, SCORES, -0.1), "iou_threshold: expected a number >= 0"),
    ("nan iou", lambda: ops.nms(BOXES, SCORES, float("nan")), "iou_threshold: expected a finite float32 number"),
    ("string iou", lambda: ops.nms(BOXES, SCORES, "0.5"), "iou_threshold: expected a real number"),
    ("negative score thr", lambda: ops.nms(BOXES, SCORES, 0.5, score_threshold=-1), "score_threshold"),
    ("inf score thr", lambda: ops.nms(BOXES, SCORES, 0.5, score_threshold=float("inf")), "score_threshold"),
    ("negative max_det", lambda: ops.nms(BOXES, SCORES, 0.5, max_detections=-1), "max_detections: expected an integer >= 0"),
    ("float max_det", lambda: ops.nms(BOXES, SCORES, 0.5, max_detections=2.5), "max_detections: expected an integer"),
    ("labels mismatch", lambda: ops.batched_nms(BOXES, SCORES, [0, 1], 0.5), "labels: expected shape (3,)"),
    ("float labels", lambda: ops.batched_nms(BOXES, SCORES, [0.5, 1, 2], 0.5), "labels: expected integer class ids"),
    ("bad method", lambda: ops.soft_nms(BOXES, SCORES, method="box"), "method: expected 'gaussian' or 'linear'"),
    ("zero sigma", lambda: ops.soft_nms(BOXES, SCORES, sigma=0.0), "sigma: expected a number > 0"),
    ("sigma 0 in f32", lambda: ops.soft_nms(BOXES, SCORES, sigma=1e-60), "sigma: expected a number > 0"),
    ("complex scores", lambda: ops.nms(BOXES, SCORES + 1j, 0.5), "scores: expected real numbers, got complex"),
    ("text boxes", lambda: ops.nms("boxes", SCORES, 0.5), "boxes: expected an array"),
]


@pytest.mark.parametrize(("case", "call", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_raise_invalid_argument(case, call, fragment):
    with pytest.raises(InvalidArgumentError) as info:
        call()
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_nms_releases_gil_two_threads_agree():
    rng = np.random.default_rng(7)
    boxes, scores = clustered_boxes(rng, 4000, centres=200)
    expected = ops.nms(boxes, scores, 0.5)
    results: list[np.ndarray] = []
    barrier = threading.Barrier(2)

    def work():
        barrier.wait()
        for _ in range(5):
            results.append(ops.nms(boxes, scores, 0.5))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_parity_with_torchvision():
    torch = pytest.importorskip("torch")
    tv_ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(3)
    boxes, scores = clustered_boxes(rng, 2000, centres=60)
    scores = scores + np.arange(2000, dtype=np.float32) * 1e-7  # torchvision's tie order is unspecified
    for thr in (0.3, 0.5, 0.7):
        tv = tv_ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()
        np.testing.assert_array_equal(ops.nms(boxes, scores, thr), tv)
        lab = rng.integers(0, 5, 2000)
        tvb = tv_ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(lab), thr).numpy()
        assert set(ops.batched_nms(boxes, scores, lab, thr).tolist()) == set(tvb.tolist())
