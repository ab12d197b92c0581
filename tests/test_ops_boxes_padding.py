"""boxes_to_original(return_keep=True): OWLv2 boxes in the letterbox padding are no boxes.

OWLv2 pads a non-square photo bottom/right to a square; a region in that grey padding maps to a box
that clipping flattens onto the image border. Landscape photos are padded at the bottom, portrait
ones at the right, so every case runs in both orientations.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import reference_ops as ref
from groundlite import ops
from groundlite.schema import RESIZE_PAD_BILINEAR_AA, RESIZE_SQUASH_BICUBIC

LANDSCAPE = (427, 640)  # (height, width): padding y in (427, 640]
PORTRAIT = (640, 427)  # padding x in (427, 640]

# Boxes in padded-square pixels of the landscape photo (x1, y1, x2, y2); the portrait cases are
# the same boxes with x and y swapped. (name, box, kept, clipped box when kept)
CASES = [
    ("inside", [10, 10, 50, 50], True, [10, 10, 50, 50]),
    ("fully in padding", [487.7, 450, 511.2, 600], False, None),
    ("in padding from the border", [10, 427, 20, 500], False, None),
    ("straddles, centre inside", [100, 400, 200, 440], True, [100, 400, 200, 427]),
    ("centre on the border", [0, 417, 10, 437], True, [0, 417, 10, 427]),  # closed rectangle
    # partly inside, but its centre is in the padding: dropped (the model mostly saw grey there)
    ("straddles, centre in padding", [300, 410, 400, 460], False, None),
    ("whole image and padding", [0, 0, 640, 640], True, [0, 0, 640, 427]),  # centre (320, 320) inside
    ("past the right edge", [630, 10, 700, 20], False, None),  # centre x 665 > 640 (not padding: outside)
    ("zero width", [30, 30, 30, 60], False, None),
    ("inverted", [50, 50, 40, 60], False, None),
]


def _swap(box):
    return [box[1], box[0], box[3], box[2]]


def _cases(hw):
    boxes = np.array([c[1] for c in CASES], np.float32)
    kept = [i for i, c in enumerate(CASES) if c[2]]
    clipped = {i: c[3] for i, c in enumerate(CASES) if c[2]}
    if hw == PORTRAIT:
        boxes = boxes[:, [1, 0, 3, 2]]
        clipped = {i: _swap(b) for i, b in clipped.items()}
    return boxes, kept, clipped


@pytest.mark.parametrize("hw", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
def test_hand_cases_both_orientations(hw):
    boxes, kept, clipped = _cases(hw)
    meta = ops.PreprocessMeta.for_image(*hw, 640, RESIZE_PAD_BILINEAR_AA)  # scale 1: input px = original px
    out, keep = ops.boxes_to_original(boxes, meta, coords="input", clip=True, return_keep=True)
    assert keep.dtype == np.int64 and out.shape == boxes.shape and out.dtype == np.float32
    assert keep.tolist() == kept, [CASES[i][0] for i in keep]
    for i in kept:
        np.testing.assert_array_equal(out[i], np.float32(clipped[i]), err_msg=CASES[i][0])
    # the reference rule on the reference mapping agrees
    unclipped = ref.boxes_to_original(boxes, hw, 640, RESIZE_PAD_BILINEAR_AA, coords="input", clip=False)
    np.testing.assert_array_equal(ref.boxes_keep_in_image(unclipped, hw), keep)
    # the boxes themselves are what return_keep=False returns (all N rows)
    np.testing.assert_array_equal(out, ops.boxes_to_original(boxes, meta, coords="input", clip=True))


@pytest.mark.parametrize("hw", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
def test_the_reported_flat_box_is_dropped(hw):
    """The box from the bug report, in normalised padded-square coordinates at S = 960."""
    box = np.array([[487.7, 450.0, 511.2, 520.0]], np.float32) / 640
    if hw == PORTRAIT:
        box = box[:, [1, 0, 3, 2]]
    meta = ops.PreprocessMeta.for_image(*hw, 960, RESIZE_PAD_BILINEAR_AA)
    out, keep = ops.boxes_to_original(box, meta, return_keep=True)
    flat = out[0, 3] - out[0, 1] if hw == LANDSCAPE else out[0, 2] - out[0, 0]
    assert flat == 0 and keep.size == 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("hw", [LANDSCAPE, PORTRAIT, (300, 300)], ids=["landscape", "portrait", "square"])
@pytest.mark.parametrize("mode", [RESIZE_PAD_BILINEAR_AA, RESIZE_SQUASH_BICUBIC])
@pytest.mark.parametrize("clip", [True, False])
def test_random_boxes_match_reference(seed, hw, mode, clip):
    rng = np.random.default_rng(seed)
    n = 500
    centre = rng.uniform(-0.2, 1.2, (n, 2))
    size = rng.uniform(0, 0.5, (n, 2)) * (rng.random((n, 1)) > 0.05)  # some zero-size boxes
    boxes = np.concatenate([centre - size / 2, centre + size / 2], 1).astype(np.float32)
    boxes[:20] = boxes[:20, [2, 3, 0, 1]]  # some inverted boxes
    meta = ops.PreprocessMeta.for_image(*hw, 960, mode)
    out, keep = ops.boxes_to_original(boxes, meta, clip=clip, return_keep=True)
    unclipped = ops.boxes_to_original(boxes, meta, clip=False)
    np.testing.assert_array_equal(keep, ref.boxes_keep_in_image(unclipped, hw))
    np.testing.assert_allclose(out, ref.boxes_to_original(boxes, hw, 960, mode, clip=clip), rtol=1e-5, atol=1e-3)
    assert 0 < keep.size < n  # both outcomes occur
    h, w = hw
    k = out[keep] if clip else np.clip(out[keep], 0, [w, h, w, h])
    assert ((k[:, 2] - k[:, 0]) > 0).all() and ((k[:, 3] - k[:, 1]) > 0).all()


def test_empty_and_all_dropped():
    meta = ops.PreprocessMeta.for_image(*LANDSCAPE, 960, RESIZE_PAD_BILINEAR_AA)
    out, keep = ops.boxes_to_original(np.zeros((0, 4), np.float32), meta, return_keep=True)
    assert out.shape == (0, 4) and keep.shape == (0,) and keep.dtype == np.int64
    out, keep = ops.boxes_to_original(np.array([[0.1, 0.9, 0.2, 0.95]], np.float32), meta, return_keep=True)
    assert keep.shape == (0,) and keep.dtype == np.int64


# ------------------------------------------------------------------------------------------------
# end to end: the tiny random-init OWLv2 package on non-square photos
# tools/sanitize_kernels.sh runs tests/test_ops_*.py with the ASan runtime preloaded; exporting the
# package there aborts inside OpenVINO (not in our kernels), so the end-to-end check is skipped
# under it. The kernel rule it relies on is covered by the tests above.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


@pytest.fixture(scope="module")
def owlv2(request):
    if UNDER_ASAN:
        pytest.skip("exporting the tiny OWLv2 package aborts inside OpenVINO under a preloaded ASan runtime")
    import groundlite

    package_dir = request.getfixturevalue("tiny_owlv2_package")
    return groundlite.load(package_dir, "onnxruntime", "cpu", "fp32", cache=False)


@pytest.mark.parametrize("hw", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
def test_owlv2_predict_returns_no_padding_boxes(owlv2, hw):
    h, w = hw
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    phrases = ["a cat", "a remote control"]
    for nms_iou, top_k in ((None, None), (0.3, 100)):
        det = owlv2.predict(photo, phrases, threshold=0.0, nms_iou=nms_iou, top_k=top_k)
        assert len(det) > 0
        x1, y1, x2, y2 = det.xyxy.T
        assert ((x2 - x1) > 0).all() and ((y2 - y1) > 0).all(), "a zero-area box came back"
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        assert ((cx >= 0) & (cx <= w) & (cy >= 0) & (cy <= h)).all()
    # not vacuous: some regions of the raw encoder output do lie in the padding, and exactly the
    # regions the reference rule keeps come back (threshold 0 keeps every region's best phrase)
    ie = owlv2.encode_image(photo)
    side = max(h, w)
    cx, cy, bw, bh = ie.boxes.astype(np.float32).T
    unclipped = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1) * np.float32(side)
    centre_in_padding = (cx * side > w) | (cy * side > h)
    assert centre_in_padding.any()
    det = owlv2.predict(photo, phrases, threshold=0.0, nms_iou=None, top_k=None)
    want = ref.boxes_keep_in_image(unclipped, hw)
    assert len(det) == len(want) < ie.boxes.shape[0]
