"""Image loading: every accepted input type, every documented conversion, every bad input."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from groundlite import images
from groundlite.errors import ImageTooLargeError, InvalidImageError
from groundlite.images import load_image

SKIMAGE_DATA = Path(list(importlib.util.find_spec("skimage").submodule_search_locations)[0]) / "data"


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> Path:
    return SKIMAGE_DATA / "astronaut.png"


def test_path_str_bytes_pil_agree(astronaut):
    ref = np.asarray(Image.open(astronaut).convert("RGB"))
    for source in (astronaut, str(astronaut), astronaut.read_bytes(), bytearray(astronaut.read_bytes()),
                   Image.open(astronaut)):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == ref.shape and out.flags.c_contiguous
        np.testing.assert_array_equal(out, ref)


def test_numpy_rgb_bgr_grey():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(load_image(rgb), rgb)
    np.testing.assert_array_equal(load_image(rgb[:, :, ::-1], bgr=True), rgb)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    out = load_image(grey)
    assert out.shape == (5, 7, 3) and np.all(out == grey[:, :, None])
    np.testing.assert_array_equal(load_image(grey[:, :, None]), out)
    np.testing.assert_array_equal(load_image(grey.astype(np.int64)), out)
    np.testing.assert_array_equal(load_image(np.asfortranarray(rgb)), rgb)


def test_numpy_rgba_composites_on_white():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque keeps its colour
    rgba[0, 1] = (10, 20, 30, 0)  # transparent becomes white
    out = load_image(rgba)
    assert tuple(out[0, 0]) == (10, 20, 30) and tuple(out[0, 1]) == (255, 255, 255)
    bgra = rgba[:, :, [2, 1, 0, 3]]
    np.testing.assert_array_equal(load_image(bgra, bgr=True), out)


def test_numpy_16bit_float_bool():
    np.testing.assert_array_equal(load_image(np.array([[0, 65535, 257 * 128]], np.uint16))[0, :, 0], [0, 255, 128])
    np.testing.assert_array_equal(load_image(np.array([[0.0, 1.0, 0.5]], np.float32))[0, :, 0], [0, 255, 128])
    np.testing.assert_array_equal(load_image(np.array([[0.0, 300.0, 128.0]], np.float64))[0, :, 0], [0, 255, 128])
    np.testing.assert_array_equal(load_image(np.array([[True, False]]))[0, :, 0], [255, 0])


def _pil(mode: str) -> Image.Image:
    base = Image.new("RGB", (4, 3), (200, 100, 50))
    if mode == "P+transparency":
        im = base.convert("P")
        im.info["transparency"] = im.getpixel((0, 0))
        return im
    if mode == "I;16":
        return Image.fromarray(np.full((3, 4), 65535, np.uint16))
    if mode == "I":
        return Image.fromarray(np.full((3, 4), 65535, np.int32))
    if mode == "F":
        return Image.fromarray(np.full((3, 4), 0.5, np.float32))
    return base.convert(mode)


@pytest.mark.parametrize("mode,pixel", [
    ("RGB", (200, 100, 50)),
    ("L", None),
    ("1", None),
    ("CMYK", None),
    ("YCbCr", None),
    ("RGBA", (200, 100, 50)),
    ("LA", None),
    ("PA", None),
    ("P+transparency", (255, 255, 255)),
    ("I;16", (255, 255, 255)),
    ("I", (255, 255, 255)),
    ("F", (128, 128, 128)),
])
def test_pil_modes(mode, pixel):
    im = _pil(mode)
    out = load_image(im)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    if pixel is not None:
        assert tuple(out[1, 1]) == pixel
    else:  # Pillow's own conversion is the reference for plain colour-space modes
        np.testing.assert_array_equal(out, np.asarray(im.convert("RGB")))


def test_encoded_cmyk_jpeg_and_16bit_png():
    cmyk = encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=100)
    out = load_image(cmyk)
    assert out.shape == (8, 8, 3) and out[..., 0].mean() > 200 and out[..., 1].mean() < 60
    png16 = encode(Image.fromarray(np.full((4, 5), 65535 // 2, np.uint16)))
    out = load_image(png16)
    assert out.shape == (4, 5, 3) and np.all(out == 127)


def test_exif_orientation_is_applied():
    stored = Image.new("RGB", (40, 20), (0, 0, 0))
    stored.paste((255, 0, 0), (0, 0, 8, 8))  # marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode(stored, "JPEG", quality=95, exif=exif)
    out = load_image(data)
    assert out.shape == (40, 20, 3)  # displayed upright: 20 wide, 40 tall
    assert out[2:6, 14:18, 0].mean() > 200 and out[2:6, 2:6, 0].mean() < 50  # marker now top-right


@pytest.mark.parametrize("source,message", [
    (b"", "empty bytes"),
    (b"definitely not an image", "no image format recognises"),
    (encode(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")[:60], "corrupt or truncated"),
    (encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")[:400], "corrupt or truncated"),
    (np.zeros((0, 0, 3), np.uint8), "non-zero width and height"),
    (np.zeros((5, 0), np.uint8), "non-zero width and height"),
    (np.zeros((2, 2, 2, 3), np.uint8), "shape [H, W] or [H, W, C]"),
    (np.zeros(5, np.uint8), "shape [H, W] or [H, W, C]"),
    (np.zeros((4, 4, 2), np.uint8), "1, 3 or 4 channels"),
    (np.full((2, 2, 3), np.nan, np.float32), "NaN or infinity"),
    (np.array([[300, 2]], np.int64), "in [0, 255]"),
    (np.zeros((2, 2), np.complex64), "numeric image array"),
    (12345, "got int"),
    ("/nonexistent/image.png", "does not exist"),
])
def test_bad_inputs(source, message):
    with pytest.raises(InvalidImageError) as e:
        load_image(source)
    assert message in str(e.value)
    assert str(e.value).count(". ") == 0  # one sentence


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(InvalidImageError, match="empty file"):
        load_image(p)


def test_zero_size_pil():
    with pytest.raises(InvalidImageError, match="non-zero"):
        load_image(Image.new("RGB", (0, 0)))


def test_pixel_limit(monkeypatch):
    big = encode(Image.new("L", (300, 200)))
    assert load_image(big).shape == (200, 300, 3)
    monkeypatch.setattr(images, "MAX_PIXELS", 300 * 200 - 1)
    for source in (big, np.zeros((200, 300), np.uint8), Image.new("L", (300, 200))):
        with pytest.raises(ImageTooLargeError, match="groundlite.images.MAX_PIXELS"):
            load_image(source)
    assert load_image(big, max_pixels=300 * 200).shape == (200, 300, 3)


def test_header_bomb_is_refused_before_decoding():
    # a PNG whose header claims 9000x9000 but holds almost no data: must fail on the header alone
    bomb = encode(Image.new("1", (9000, 9000)))
    with pytest.raises(ImageTooLargeError):
        load_image(bomb)
