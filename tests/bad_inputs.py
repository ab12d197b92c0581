"""Generated hostile images: every case is built from code here, nothing is a checked-in binary.

Import the functions (each returns ``bytes`` or a numpy array) or run
``python tests/bad_inputs.py OUT_DIR`` to write every case to disk (``.bin`` for encoded bytes,
``.npy`` for arrays) for a fuzzer seed corpus or a manual look.

The expectations (which error, or which decoded picture) live in ``tests/test_hostile_images.py``.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

__all__ = ["ENCODED", "ARRAYS", "write_all"]

# ---------------------------------------------------------------------------------------------
# small valid pictures the corrupt ones start from
# ---------------------------------------------------------------------------------------------


def marker_image(width: int = 40, height: int = 24) -> np.ndarray:
    """uint8 [H, W, 3]: grey, with a red block in the top-left and a blue block bottom-right, so
    any rotation or flip is visible."""
    a = np.full((height, width, 3), 128, np.uint8)
    a[: height // 3, : width // 3] = (255, 0, 0)
    a[-(height // 3):, -(width // 3):] = (0, 0, 255)
    return a


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def jpeg() -> bytes:
    return _encode(Image.fromarray(marker_image()), "JPEG", quality=95)


def png() -> bytes:
    return _encode(Image.fromarray(marker_image()), "PNG")


def webp() -> bytes:
    return _encode(Image.fromarray(marker_image()), "WEBP", quality=90)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_header(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 2,
                    rows: int = 1) -> bytes:
    """A structurally valid PNG whose IHDR claims ``width x height`` but whose IDAT holds only
    ``rows`` zero rows (a few bytes) — a decompression-bomb / lying-header probe."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" + b"\x00" * (max(width, 0) * channels * bit_depth // 8)
    idat = zlib.compress(row * rows)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


# ---------------------------------------------------------------------------------------------
# encoded inputs
# ---------------------------------------------------------------------------------------------


def empty_bytes() -> bytes:
    return b""


def non_image_bytes() -> bytes:
    """Text that starts like a PDF: no image plugin claims it."""
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"hello " * 50


def truncated_jpeg() -> bytes:
    data = jpeg()
    return data[: len(data) // 2]


def corrupt_jpeg() -> bytes:
    """Valid SOI/headers, then the entropy-coded data overwritten with 0xFF markers."""
    data = bytearray(jpeg())
    sos = data.index(b"\xff\xda")
    for i in range(sos + 20, len(data) - 2, 3):
        data[i] = 0xFF
    return bytes(data)


def jpeg_header_only() -> bytes:
    data = jpeg()
    return data[: data.index(b"\xff\xda")]


def truncated_png() -> bytes:
    data = png()
    return data[: len(data) - 40]


def corrupt_png_crc() -> bytes:
    """The IDAT payload flipped, its CRC left as it was."""
    data = bytearray(png())
    idat = data.index(b"IDAT")
    for i in range(idat + 8, idat + 24):
        data[i] ^= 0x5A
    return bytes(data)


def png_signature_only() -> bytes:
    return b"\x89PNG\r\n\x1a\n"


def truncated_webp() -> bytes:
    data = webp()
    return data[: len(data) // 2]


def corrupt_webp() -> bytes:
    data = bytearray(webp())
    for i in range(30, len(data), 5):
        data[i] ^= 0xA5
    return bytes(data)


def zero_size_png() -> bytes:
    """A PNG whose header says 0 x 0 (invalid per the spec, but a file can say it)."""
    return png_with_header(0, 0)


def wide_png() -> bytes:
    """A valid 1 x 100000 (height x width) image: 100 000 pixels, extreme aspect ratio."""
    a = np.zeros((1, 100_000, 3), np.uint8)
    a[0, :, 0] = np.arange(100_000) % 256
    return _encode(Image.fromarray(a), "PNG")


def tall_png() -> bytes:
    """A valid 100000 x 1 image."""
    return _encode(Image.fromarray(np.full((100_000, 1, 3), 200, np.uint8)), "PNG")


def png16() -> bytes:
    """16-bit greyscale PNG with a horizontal ramp 0..65535 (Pillow mode ``I;16``)."""
    return _encode(Image.fromarray(png16_values()), "PNG")


def png16_values() -> np.ndarray:
    return np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (8, 1))


def cmyk_jpeg() -> bytes:
    return _encode(Image.fromarray(marker_image()).convert("CMYK"), "JPEG", quality=95)


def palette_png_transparent() -> bytes:
    """Palette PNG: index 0 (black) is fully transparent, index 1 is red, index 2 is green."""
    idx = np.zeros((10, 12), np.uint8)
    idx[:, 4:8] = 1
    idx[:, 8:] = 2
    im = Image.fromarray(idx, "P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    return _encode(im, "PNG", transparency=0)


def exif_jpeg(orientation: int) -> bytes:
    """The marker image stored un-rotated with EXIF ``Orientation = orientation`` (6: the viewer
    rotates 90 deg clockwise; 8: 90 deg counter-clockwise)."""
    im = Image.fromarray(marker_image())
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(im, "JPEG", quality=95, exif=exif.tobytes())


def exif_jpeg_6() -> bytes:
    return exif_jpeg(6)


def exif_jpeg_8() -> bytes:
    return exif_jpeg(8)


def corrupt_exif_jpeg() -> bytes:
    """Valid pixels; the EXIF block has Orientation = 6 and a second entry pointing past its end."""
    ifd = (b"MM\x00*\x00\x00\x00\x08\x00\x02" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
           + b"\x01\x0f\x00\x02\x00\x00\x00\x20\x00\x00\x00\x40")
    return _encode(Image.fromarray(marker_image()), "JPEG", quality=95, exif=b"Exif\x00\x00" + ifd)


def _tiff(entries: list[tuple[int, int, int, bytes]], tail: bytes = b"") -> bytes:
    """Little-endian TIFF with one IFD of ``(tag, type, count, 4-byte value)`` entries, then ``tail``."""
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHI", tag, typ, count) + value
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + tail


def tiff_rational_strip_offsets() -> bytes:
    """A 16 x 1 grey TIFF whose StripOffsets tag has type RATIONAL instead of LONG (found by
    tests/fuzz/fuzz_images.py): Pillow hands the rational to ``seek`` and raises ``TypeError``."""
    data_at = 8 + 2 + 12 * 6 + 4
    entries = [(0x100, 4, 1, struct.pack("<I", 16)), (0x101, 4, 1, struct.pack("<I", 1)),
               (0x106, 3, 1, struct.pack("<HH", 1, 0)), (0x111, 5, 1, struct.pack("<I", data_at)),
               (0x116, 4, 1, struct.pack("<I", 1)), (0x117, 4, 1, struct.pack("<I", 16))]
    return _tiff(entries, struct.pack("<II", data_at + 8, 1) + b"\x80" * 16)


def animated_gif() -> bytes:
    """Three frames: solid red, green, blue. Only the first frame counts."""
    frames = [Image.new("RGB", (16, 12), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def bomb_png() -> bytes:
    """A 100000 x 100000 RGB PNG header (3e10 bytes once decoded) in ~200 bytes."""
    return png_with_header(100_000, 100_000)


def bomb_gif() -> bytes:
    """A GIF logical screen of 65535 x 65535 (the format's maximum) with a 1x1 frame."""
    data = bytearray(_encode(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


ENCODED: dict[str, Callable[[], bytes]] = {
    f.__name__: f
    for f in (empty_bytes, non_image_bytes, truncated_jpeg, corrupt_jpeg, jpeg_header_only, truncated_png,
              corrupt_png_crc, png_signature_only, truncated_webp, corrupt_webp, zero_size_png, wide_png,
              tall_png, png16, cmyk_jpeg, palette_png_transparent, exif_jpeg_6, exif_jpeg_8, corrupt_exif_jpeg,
              tiff_rational_strip_offsets, animated_gif, bomb_png, bomb_gif)
}

# ---------------------------------------------------------------------------------------------
# array inputs
# ---------------------------------------------------------------------------------------------


def nan_float_array() -> np.ndarray:
    a = np.full((8, 8, 3), 0.5, np.float32)
    a[3, 4, 1] = np.nan
    return a


def inf_float_array() -> np.ndarray:
    a = np.full((8, 8, 3), 0.5, np.float64)
    a[0, 0, 0] = np.inf
    return a


def rank1_array() -> np.ndarray:
    return np.zeros(64, np.uint8)


def rank4_array() -> np.ndarray:
    return np.zeros((1, 8, 8, 3), np.uint8)


def rank0_array() -> np.ndarray:
    return np.array(7, np.uint8)


def two_channel_array() -> np.ndarray:
    return np.zeros((8, 8, 2), np.uint8)


def zero_size_array() -> np.ndarray:
    return np.zeros((0, 0, 3), np.uint8)


def rgba_array() -> np.ndarray:
    """Left half opaque red, right half fully transparent (composited on white)."""
    a = np.zeros((6, 8, 4), np.uint8)
    a[:, :4] = (255, 0, 0, 255)
    a[:, 4:] = (0, 255, 0, 0)
    return a


def bool_array() -> np.ndarray:
    a = np.zeros((6, 8), bool)
    a[:, ::2] = True
    return a


def object_array() -> np.ndarray:
    return np.full((4, 4, 3), None, object)


def complex_array() -> np.ndarray:
    return np.full((4, 4, 3), 1 + 1j, np.complex64)


def negative_int_array() -> np.ndarray:
    return np.full((4, 4, 3), -5, np.int32)


def huge_shape_view() -> np.ndarray:
    """A 20000 x 20000 x 3 array that costs no memory (a broadcast view): 4e8 pixels > MAX_PIXELS."""
    return np.broadcast_to(np.zeros(3, np.uint8), (20_000, 20_000, 3))


def fortran_strided_array() -> np.ndarray:
    """A valid picture as a non-contiguous, Fortran-ordered view."""
    return np.asfortranarray(np.repeat(marker_image(), 2, axis=1))[:, ::2]


ARRAYS: dict[str, Callable[[], np.ndarray]] = {
    f.__name__: f
    for f in (nan_float_array, inf_float_array, rank1_array, rank4_array, rank0_array, two_channel_array,
              zero_size_array, rgba_array, bool_array, object_array, complex_array, negative_int_array,
              huge_shape_view, fortran_strided_array)
}


def write_all(out_dir: str | Path) -> list[Path]:
    """Write every encoded case as ``NAME.bin`` and every array case as ``NAME.npy`` into
    ``out_dir`` (except the broadcast view and the object array, which .npy can only pickle)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in ENCODED.items():
        p = out / f"{name}.bin"
        p.write_bytes(make())
        paths.append(p)
    for name, make in ARRAYS.items():
        if name in ("huge_shape_view", "object_array"):
            continue
        p = out / f"{name}.npy"
        np.save(p, make(), allow_pickle=False)
        paths.append(p)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/bad_inputs.py OUT_DIR")
    for path in write_all(sys.argv[1]):
        print(path)
