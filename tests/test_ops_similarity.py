"""region_phrase_logits / select_regions against the numpy reference and the transformers head."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_ops as ref
from groundlite import ops
from groundlite.errors import InvalidArgumentError


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 40), q=st.integers(0, 40), d=st.integers(1, 70),
       shift_shape=st.sampled_from([None, "flat", "col"]), normalize=st.booleans())
def test_logits_match_reference(seed, n, q, d, shift_shape, normalize):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(n, d)).astype(np.float32) * rng.uniform(0.1, 10)
    qe = rng.normal(size=(q, d)).astype(np.float32)
    shift = scale = None
    if shift_shape:
        shape = (n,) if shift_shape == "flat" else (n, 1)
        shift = rng.normal(size=shape).astype(np.float32)
        scale = rng.uniform(0.5, 20, size=shape).astype(np.float32)
    got = ops.region_phrase_logits(r, qe, shift, scale, normalize=normalize)
    assert got.shape == (n, q) and got.dtype == np.float32
    want = ref.region_phrase_logits(r, qe, shift, scale, normalize)
    tol = 1e-5 * (np.abs(want).max() if want.size else 1) + 1e-5
    np.testing.assert_allclose(got, want, atol=tol, rtol=1e-5)


def test_logits_zero_vector_gives_shift_not_nan():
    got = ops.region_phrase_logits(np.zeros((2, 8), np.float32), np.ones((3, 8), np.float32),
                                   np.array([0.5, -1], np.float32), np.array([2, 3], np.float32))
    np.testing.assert_allclose(got, [[1.0] * 3, [-3.0] * 3])


def test_logits_match_transformers_class_head():
    torch = pytest.importorskip("torch")
    from transformers import OwlViTConfig
    from transformers.models.owlvit.modeling_owlvit import OwlViTClassPredictionHead

    torch.manual_seed(0)
    cfg = OwlViTConfig(text_config={"hidden_size": 32}, vision_config={"hidden_size": 48})
    head = OwlViTClassPredictionHead(cfg).eval()
    image_embeds = torch.randn(1, 50, 48)
    query = torch.randn(1, 7, 32)
    with torch.no_grad():
        logits, _ = head(image_embeds, query, None)
        class_embeds = head.dense0(image_embeds)[0].numpy()
        shift = head.logit_shift(image_embeds)[0].numpy()
        scale = (torch.nn.functional.elu(head.logit_scale(image_embeds)) + 1)[0].numpy()
    got = ops.region_phrase_logits(class_embeds, query[0].numpy(), shift, scale)
    np.testing.assert_allclose(got, logits[0].numpy(), atol=2e-5, rtol=1e-5)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 50), q=st.integers(1, 8), thr=st.floats(0.0, 1.0),
       top_k=st.one_of(st.none(), st.integers(0, 10)), sig=st.booleans(), coarse=st.booleans())
def test_select_regions_matches_reference(seed, n, q, thr, top_k, sig, coarse):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, q)).astype(np.float32)
    if coarse:  # equal maxima and equal scores exercise both tie rules
        logits = np.round(logits)
    got = ops.select_regions(logits, thr, top_k=top_k, apply_sigmoid=sig)
    want = ref.select_regions(logits, thr, top_k, sig)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype


def test_select_regions_matches_transformers_post_process():
    torch = pytest.importorskip("torch")
    from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

    rng = np.random.default_rng(1)
    logits = rng.normal(-2, 2, (1, 60, 4)).astype(np.float32)
    boxes = rng.uniform(0.2, 0.8, (1, 60, 4)).astype(np.float32)

    class Out:
        pass

    out = Out()
    out.logits, out.pred_boxes = torch.from_numpy(logits), torch.from_numpy(boxes)
    res = OwlViTImageProcessorPil().post_process_object_detection(out, threshold=0.3)[0]
    reg, qry, sc = ops.select_regions(logits[0], 0.3)
    order = np.argsort(-res["scores"].numpy(), kind="stable")
    np.testing.assert_allclose(sc, res["scores"].numpy()[order], rtol=1e-6)
    np.testing.assert_array_equal(qry, res["labels"].numpy()[order])


def test_select_regions_nan_rows_and_hand_checked():
    logits = np.array([[np.nan, np.nan], [0.0, 2.0], [np.nan, 1.0], [3.0, 3.0]], np.float32)
    reg, qry, sc = ops.select_regions(logits, 0.5)
    assert reg.tolist() == [3, 1, 2] and qry.tolist() == [0, 1, 1]
    np.testing.assert_allclose(sc, 1 / (1 + np.exp(-np.array([3.0, 2.0, 1.0]))), rtol=1e-6)
    # strictly greater: sigmoid(0) = 0.5 is not above 0.5
    assert ops.select_regions(np.zeros((3, 1), np.float32), 0.5)[0].size == 0
    reg, _, sc = ops.select_regions(np.array([[-1.0], [-3.0]], np.float32), -2.0, apply_sigmoid=False)
    assert reg.tolist() == [0] and sc.tolist() == [-1.0]


def test_empty_shapes():
    assert ops.region_phrase_logits(np.zeros((0, 8)), np.zeros((3, 8))).shape == (0, 3)
    assert ops.region_phrase_logits(np.zeros((5, 8)), np.zeros((0, 8))).shape == (5, 0)
    reg, qry, sc = ops.select_regions(np.zeros((0, 4), np.float32), 0.1)
    assert reg.dtype == qry.dtype == np.int64 and sc.dtype == np.float32 and reg.size == 0


R = np.zeros((4, 8), np.float32)
Q = np.zeros((3, 8), np.float32)
BAD = [
    ("region 1-D", lambda: ops.region_phrase_logits(np.zeros(8), Q), "region_embeds: expected shape (N, D), got (8,)"),
    ("query dim", lambda: ops.region_phrase_logits(R, np.zeros((3, 7))), "query_embeds: expected shape (Q, 8)"),
    ("shift len", lambda: ops.region_phrase_logits(R, Q, np.zeros(3)), "logit_shift: expected shape (4,) or (4, 1)"),
    ("scale 2 cols", lambda: ops.region_phrase_logits(R, Q, None, np.zeros((4, 2))), "got (4, 2)"),
    ("logits 3-D", lambda: ops.select_regions(np.zeros((1, 4, 3)), 0.1), "logits: expected shape (N, Q)"),
    ("thr > 1", lambda: ops.select_regions(R, 1.5), "threshold: expected a number <= 1"),
    ("thr < 0", lambda: ops.select_regions(R, -0.1), "threshold: expected a number >= 0"),
    ("thr nan", lambda: ops.select_regions(R, float("nan"), apply_sigmoid=False), "threshold: expected a finite"),
    ("thr huge", lambda: ops.select_regions(R, 1e39, apply_sigmoid=False), "threshold: expected a finite float32 number"),
    ("top_k neg", lambda: ops.select_regions(R, 0.1, top_k=-2), "top_k: expected an integer >= 0"),
]


@pytest.mark.parametrize(("case", "call", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_raise_invalid_argument(case, call, fragment):
    with pytest.raises(InvalidArgumentError, match=None) as info:
        call()
    assert fragment in str(info.value)
