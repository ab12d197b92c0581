"""Coverage-guided fuzzing (atheris) of image decoding: ``groundlite.images.load_image(bytes)``.

Run: ``python tests/fuzz/fuzz_images.py -runs=200000 CORPUS_DIR`` (the corpus dir is seeded with
small valid JPEG / PNG / WebP / GIF / BMP / TIFF files and the cases of ``tests/bad_inputs.py``).
Every input must either decode to a C-contiguous ``uint8 [H, W, 3]`` array within the pixel limit
or raise ``InvalidImageError`` / ``ImageTooLargeError``; any other exception is a bug and makes
the fuzzer exit non-zero with the input saved as ``crash-*``. The pixel limit is lowered to
1 000 000 so a mutated header cannot make one run allocate gigabytes.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import atheris
import numpy as np

from groundlite import errors
from groundlite.images import load_image

MAX_PIXELS = 1_000_000


def test_one_input(data: bytes) -> None:
    try:
        out = load_image(data, max_pixels=MAX_PIXELS)
    except errors.InvalidImageError:  # ImageTooLargeError is a subclass
        return
    if not (isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
            and out.flags.c_contiguous and 0 < out.shape[0] * out.shape[1] <= MAX_PIXELS):
        raise AssertionError(f"load_image returned a malformed array: {getattr(out, 'shape', out)!r}")


def seed_corpus(directory: Path) -> None:
    """Small valid images in every format Pillow decodes here, plus the generated bad inputs."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    variants = {
        "rgb.jpg": (rgb, "JPEG", {"quality": 80}), "grey.jpg": (rgb.convert("L"), "JPEG", {}),
        "rgb.png": (rgb, "PNG", {}), "rgba.png": (rgb.convert("RGBA"), "PNG", {}),
        "pal.png": (rgb.convert("P"), "PNG", {"transparency": 0}), "i16.png": (rgb.convert("I;16"), "PNG", {}),
        "rgb.webp": (rgb, "WEBP", {"quality": 70}), "lossless.webp": (rgb, "WEBP", {"lossless": True}),
        "rgb.gif": (rgb.convert("P"), "GIF", {}), "rgb.bmp": (rgb, "BMP", {}), "rgb.tiff": (rgb, "TIFF", {}),
        "cmyk.jpg": (rgb.convert("CMYK"), "JPEG", {}), "f.tiff": (rgb.convert("F"), "TIFF", {}),
    }
    for name, (im, fmt, kw) in variants.items():
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        (directory / name).write_bytes(buf.getvalue())
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import bad_inputs

    for name, make in bad_inputs.ENCODED.items():
        data = make()
        if data and len(data) < 20_000:  # libFuzzer's default -max_len is small; huge seeds only slow it
            (directory / f"{name}.bin").write_bytes(data)


if __name__ == "__main__":
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        seed_corpus(Path(corpus[0]))
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
