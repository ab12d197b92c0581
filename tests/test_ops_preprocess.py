"""preprocess against transformers' slow image processors on real photos; box geometry round trips.

The slow processors are ``OwlViTImageProcessorPil`` / ``Owlv2ImageProcessorPil`` (what
``OwlViTImageProcessor()`` / ``Owlv2ImageProcessor()`` resolve to in transformers 5.x when
torchvision is absent). Measured max abs differences on the normalised tensors (this file,
transformers 5.24, Pillow 13, scipy 1.17): squash-bicubic <= 4.8e-7 (the uint8 resize is
bit-exact), pad-bilinear-antialias <= 1.1e-6. TOL is the contract (1e-2); GUARD, far below it
and 100x above what was measured, catches a regression long before the contract breaks.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import reference_ops as ref
from groundlite import ops
from groundlite.errors import InvalidArgumentError, InvalidImageError
from groundlite.schema import CLIP_MEAN, CLIP_STD

skdata = pytest.importorskip("skimage.data")
TOL = 1e-2
GUARD = 1e-4


def _images() -> dict[str, np.ndarray]:
    page = skdata.page()  # grayscale -> RGB
    astro = skdata.astronaut()
    return {
        "astronaut": astro,
        "chelsea": skdata.chelsea(),
        "coffee": skdata.coffee(),
        "page": np.repeat(page[:, :, None], 3, axis=2),
        "odd-crop": np.ascontiguousarray(astro[13:400, 7:301]),  # 387 x 294, taller than wide
    }


IMAGES = _images()


@pytest.fixture(scope="module")
def processors():
    pytest.importorskip("transformers")
    pytest.importorskip("scipy")
    from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil
    from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

    return OwlViTImageProcessorPil, Owlv2ImageProcessorPil


@pytest.mark.parametrize("size", [96, 768])  # downscaling and upscaling for every image
@pytest.mark.parametrize("name", list(IMAGES))
def test_squash_bicubic_matches_owlvit_processor(processors, name, size):
    owlvit, _ = processors
    img = IMAGES[name]
    want = owlvit(size={"height": size, "width": size}, crop_size={"height": size, "width": size})(
        images=img, return_tensors="np")["pixel_values"]
    got, meta = ops.preprocess(img, size, CLIP_MEAN, CLIP_STD, mode="squash-bicubic")
    assert got.shape == want.shape == (1, 3, size, size) and got.dtype == np.float32
    assert np.abs(got - want).max() <= min(TOL, GUARD)
    assert meta.original_size == img.shape[:2] and meta.scale_x == img.shape[1] / size


@pytest.mark.parametrize("size", [96, 768])
@pytest.mark.parametrize("name", list(IMAGES))
def test_pad_bilinear_antialias_matches_owlv2_processor(processors, name, size):
    _, owlv2 = processors
    img = IMAGES[name]
    want = owlv2(size={"height": size, "width": size})(images=img, return_tensors="np")["pixel_values"]
    # transformers 5.x pads with 0.0 (see ops.preprocess)
    got, meta = ops.preprocess(img, size, CLIP_MEAN, CLIP_STD, mode="pad-bilinear-antialias", pad_value=0.0)
    assert got.shape == want.shape == (1, 3, size, size)
    assert np.abs(got - want).max() <= min(TOL, GUARD)
    assert meta.padded_size == max(img.shape[:2])


def test_squash_resize_is_bit_exact_with_pillow_on_random_shapes():
    # uint8 equality with PIL (incl. Pillow 13's vertical-first order for tall shrinks)
    rng = np.random.default_rng(0)
    mean, std = np.zeros(3, np.float32), np.ones(3, np.float32)
    for h, w, s in [(387, 294, 256), (300, 294, 256), (1000, 7, 64), (5, 900, 33), (1, 1, 3), (64, 64, 64)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        got, _ = ops.preprocess(img, s, mean, std)
        pil = np.asarray(Image.fromarray(img).resize((s, s), Image.BICUBIC))
        np.testing.assert_array_equal(np.rint(got[0].transpose(1, 2, 0) * 255).astype(np.uint8), pil)
        np.testing.assert_allclose(got, ref.preprocess_squash_bicubic(img, s, mean, std), atol=1e-6)


def test_squash_normalisation_is_bit_identical_to_numpy():
    # the kernel normalises arithmetically ((v * (1/255) - mean) / std, no FMA), not through a
    # table: the result must be the float32 numpy computes, bit for bit, on every pass order
    rng = np.random.default_rng(1)
    for h, w, s in [(512, 512, 768), (400, 600, 768), (1000, 7, 64), (387, 294, 96)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        got, _ = ops.preprocess(img, s, CLIP_MEAN, CLIP_STD)
        np.testing.assert_array_equal(got, ref.preprocess_squash_bicubic(img, s, CLIP_MEAN, CLIP_STD))


@pytest.mark.parametrize("mode", ["squash-bicubic", "pad-bilinear-antialias"])
@pytest.mark.parametrize(("h", "w", "s"), [(512, 512, 768), (1000, 7, 200), (130, 900, 200), (1, 1, 3), (333, 250, 960)])
def test_output_does_not_depend_on_thread_count(mode, h, w, s):
    img = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    one, _ = ops.preprocess(img, s, CLIP_MEAN, CLIP_STD, mode=mode, threads=1)
    for threads in (2, 3, 7, None):
        got, _ = ops.preprocess(img, s, CLIP_MEAN, CLIP_STD, mode=mode, threads=threads)
        np.testing.assert_array_equal(got, one)


def test_out_is_written_in_place_and_equals_a_fresh_result():
    img = IMAGES["coffee"]
    batch = np.full((3, 3, 64, 64), np.nan, np.float32)
    for i, mode in enumerate(["squash-bicubic", "pad-bilinear-antialias", "squash-bicubic"]):
        got, _ = ops.preprocess(img, 64, CLIP_MEAN, CLIP_STD, mode=mode, out=batch[i:i + 1])
        assert np.shares_memory(got, batch)
        np.testing.assert_array_equal(batch[i:i + 1], ops.preprocess(img, 64, CLIP_MEAN, CLIP_STD, mode=mode)[0])
    assert not np.isnan(batch).any()


@pytest.mark.parametrize(("out", "fragment"), [
    (np.zeros((1, 3, 8, 8), np.float64), "got float64"),
    (np.zeros((1, 3, 9, 8), np.float32), "got float32 (1, 3, 9, 8)"),
    (np.zeros((1, 3, 8, 16), np.float32)[..., ::2], "non-contiguous"),
    (np.zeros((1, 3, 8, 8), np.float32).view(), "read-only"),
    ([0.0], "got list"),
])
def test_bad_out_is_refused(out, fragment):
    if fragment == "read-only":
        out.flags.writeable = False
    with pytest.raises(InvalidArgumentError, match="out: expected a C-contiguous writeable float32") as e:
        ops.preprocess(IMG, 8, CLIP_MEAN, CLIP_STD, out=out)
    assert fragment in str(e.value)


def test_kernel_never_writes_into_a_converted_copy():
    # called directly, the binding refuses what it would otherwise have to convert (a write into
    # a temporary copy would be silently lost)
    from groundlite import _kernels

    m, sd = np.zeros(3, np.float32), np.ones(3, np.float32)
    for out in (np.zeros((1, 3, 8, 8), np.float64), np.zeros((1, 3, 8, 16), np.float32)[..., ::2]):
        with pytest.raises(ValueError, match="out: expected a C-contiguous float32"):
            _kernels.preprocess(IMG, 8, "squash-bicubic", m, sd, 0.5, 1, out)
    ro = np.zeros((1, 3, 8, 8), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _kernels.preprocess(IMG, 8, "squash-bicubic", m, sd, 0.5, 1, ro)
    with pytest.raises(ValueError, match=r"out: expected shape \(1, 3, S, S\)"):
        _kernels.preprocess(IMG, 8, "squash-bicubic", m, sd, 0.5, 1, np.zeros((2, 3, 8, 8), np.float32))


def test_pad_value_fills_the_padding():
    img = np.full((10, 40, 3), 200, np.uint8)
    got, _ = ops.preprocess(img, 40, np.zeros(3), np.ones(3), mode="pad-bilinear-antialias", pad_value=0.25)
    np.testing.assert_allclose(got[0, :, :10, :], 200 / 255, atol=1e-6)
    np.testing.assert_allclose(got[0, :, 11:, :], 0.25, atol=1e-6)


def test_grayscale_2d_is_replicated():
    g = skdata.page()
    a, _ = ops.preprocess(g, 64, CLIP_MEAN, CLIP_STD)
    b, _ = ops.preprocess(np.repeat(g[:, :, None], 3, axis=2), 64, CLIP_MEAN, CLIP_STD)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["squash-bicubic", "pad-bilinear-antialias"])
def test_boxes_to_original_matches_transformers_post_process(mode):
    torch = pytest.importorskip("torch")
    if mode == "squash-bicubic":
        from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil as Proc
    else:
        from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil as Proc
    rng = np.random.default_rng(0)
    h, w = 300, 451
    cxcywh = rng.uniform(0.1, 0.6, (1, 20, 4)).astype(np.float32)
    logits = rng.normal(size=(1, 20, 2)).astype(np.float32)

    class Out:
        pass

    out = Out()
    out.logits, out.pred_boxes = torch.from_numpy(logits), torch.from_numpy(cxcywh)
    want = Proc().post_process_object_detection(out, threshold=0.0, target_sizes=[(h, w)])[0]["boxes"].numpy()
    meta = ops.PreprocessMeta.for_image(h, w, 768, mode)
    got = ops.boxes_to_original(ops.cxcywh_to_xyxy(cxcywh[0], 1, 1, clip=False), meta, clip=False)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("mode", ["squash-bicubic", "pad-bilinear-antialias"])
@pytest.mark.parametrize("coords", ["normalized", "input"])
def test_boxes_to_original_matches_reference(mode, coords):
    rng = np.random.default_rng(1)
    boxes = rng.uniform(-0.2, 1.2, (30, 4)).astype(np.float32)
    if coords == "input":
        boxes *= 768
    meta = ops.PreprocessMeta.for_image(300, 451, 768, mode)
    for clip in (True, False):
        got = ops.boxes_to_original(boxes, meta, coords=coords, clip=clip)
        want = ref.boxes_to_original(boxes, (300, 451), 768, mode, coords, clip)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_cxcywh_to_xyxy_matches_reference():
    rng = np.random.default_rng(2)
    boxes = rng.uniform(-0.1, 1.1, (50, 4)).astype(np.float32)
    for clip in (True, False):
        np.testing.assert_allclose(ops.cxcywh_to_xyxy(boxes, 640, 480, clip), ref.cxcywh_to_xyxy(boxes, 640, 480, clip),
                                   rtol=1e-6, atol=1e-4)
    assert ops.cxcywh_to_xyxy(np.zeros((0, 4)), 10, 10).shape == (0, 4)
    np.testing.assert_allclose(ops.cxcywh_to_xyxy([[0.5, 0.5, 0.2, 0.4]], 100, 50), [[40, 15, 60, 35]])


IMG = np.zeros((8, 8, 3), np.uint8)
BAD = [
    ("float image", lambda: ops.preprocess(IMG.astype(np.float32), 8, CLIP_MEAN, CLIP_STD), InvalidImageError,
     "image: expected dtype uint8, got float32"),
    ("rgba", lambda: ops.preprocess(np.zeros((8, 8, 4), np.uint8), 8, CLIP_MEAN, CLIP_STD), InvalidImageError,
     "expected shape (H, W, 3)"),
    ("empty", lambda: ops.preprocess(np.zeros((0, 8, 3), np.uint8), 8, CLIP_MEAN, CLIP_STD), InvalidImageError,
     "got (0, 8, 3)"),
    ("list image", lambda: ops.preprocess([[1]], 8, CLIP_MEAN, CLIP_STD), InvalidImageError, "got list"),
    ("size 0", lambda: ops.preprocess(IMG, 0, CLIP_MEAN, CLIP_STD), InvalidArgumentError, "size: expected an integer >= 1"),
    ("mode", lambda: ops.preprocess(IMG, 8, CLIP_MEAN, CLIP_STD, mode="bilinear"), InvalidArgumentError, "mode: expected one of"),
    ("std 0", lambda: ops.preprocess(IMG, 8, CLIP_MEAN, (1, 0, 1)), InvalidArgumentError, "std: expected 3 finite positive"),
    ("mean 2", lambda: ops.preprocess(IMG, 8, (0, 0), CLIP_STD), InvalidArgumentError, "mean: expected 3 finite values"),
    ("pad 2", lambda: ops.preprocess(IMG, 8, CLIP_MEAN, CLIP_STD, pad_value=2), InvalidArgumentError, "pad_value"),
    ("threads 0", lambda: ops.preprocess(IMG, 8, CLIP_MEAN, CLIP_STD, threads=0), InvalidArgumentError,
     "threads: expected an integer >= 1, got 0"),
    ("threads float", lambda: ops.preprocess(IMG, 8, CLIP_MEAN, CLIP_STD, threads=2.0), InvalidArgumentError,
     "threads: expected an integer, got float"),
    ("cxcywh shape", lambda: ops.cxcywh_to_xyxy(np.zeros((2, 5)), 1, 1), InvalidArgumentError, "boxes: expected shape (N, 4)"),
    ("width 0", lambda: ops.cxcywh_to_xyxy(np.zeros((2, 4)), 0, 1), InvalidArgumentError, "expected positive sizes"),
    ("meta type", lambda: ops.boxes_to_original(np.zeros((1, 4)), {"a": 1}), InvalidArgumentError, "meta: expected a PreprocessMeta"),
    ("coords", lambda: ops.boxes_to_original(np.zeros((1, 4)), ops.PreprocessMeta.for_image(4, 4, 4, "squash-bicubic"), coords="px"),
     InvalidArgumentError, "coords: expected 'normalized' or 'input'"),
]


@pytest.mark.parametrize(("case", "call", "exc", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs(case, call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)
