"""Turn whatever the caller passes as an image into an RGB ``uint8 [H, W, 3]`` array.

Accepted: a file path (``str`` / ``PathLike``), encoded bytes, a ``PIL.Image.Image``, or a numpy
array ``[H, W]`` (grey), ``[H, W, 1]``, ``[H, W, 3]`` (RGB, or BGR with ``bgr=True``) or
``[H, W, 4]`` (RGBA). Conversions, chosen so that every input maps to one documented picture:

* EXIF orientation is applied, so boxes refer to the image as a viewer shows it.
* Transparency (RGBA, LA, PA, P with a transparent colour) is composited on **white**.
* CMYK, YCbCr, LAB, HSV, 1-bit and grey are converted to RGB with Pillow.
* 16-bit data (``uint16``, PIL ``I;16*`` / ``I``) is scaled by 255/65535.
* Float data (PIL ``F``, numpy float): values in ``[0, 1]`` are scaled by 255; otherwise the values
  are taken as ``[0, 255]`` and clipped. NaN or infinity is rejected.

Images with more than :data:`MAX_PIXELS` pixels raise :class:`ImageTooLargeError` before they are
decoded (decompression-bomb guard). Corrupt, truncated, empty and zero-size images raise
:class:`InvalidImageError`.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
from typing import Any, Union

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageTooLargeError, InvalidImageError

__all__ = ["MAX_PIXELS", "ImageLike", "load_image"]

#: Largest image (width * height) accepted; raise it for very large scans, e.g. ``images.MAX_PIXELS = 200_000_000``.
MAX_PIXELS: int = 64_000_000

ImageLike = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Image.Image, np.ndarray]


def load_image(image: Any, *, bgr: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """Decode ``image`` to a C-contiguous RGB ``uint8`` array of shape ``[H, W, 3]``.

    ``bgr=True`` says a 3/4-channel numpy array is in OpenCV's BGR(A) order. ``max_pixels``
    overrides :data:`MAX_PIXELS` for this call.
    """
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    if isinstance(image, np.ndarray):
        return _from_array(image, bgr=bgr, limit=limit)
    if isinstance(image, Image.Image):
        _check_size(image.size, limit)
        return _from_pil(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data:
            raise InvalidImageError("expected encoded image bytes, got an empty bytes object")
        return _decode(io.BytesIO(data), "the given bytes", limit)
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not os.path.isfile(path):
            raise InvalidImageError(f"expected an image file at {path!r}, but it does not exist")
        if os.path.getsize(path) == 0:
            raise InvalidImageError(f"expected an image file at {path!r}, got an empty file")
        return _decode(path, repr(path), limit)
    raise InvalidImageError(
        f"expected a path, bytes, PIL.Image or numpy array, got {type(image).__name__}"
    )


def _check_size(size: tuple[int, int], limit: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise InvalidImageError(f"expected an image with non-zero width and height, got {w}x{h}")
    if w * h > limit:
        raise ImageTooLargeError(
            f"expected at most {limit} pixels (groundlite.images.MAX_PIXELS), got {w}x{h} = {w * h}"
        )


_PIL_LIMIT_LOCK = threading.Lock()


def _open_with_limit(source: Any, limit: int) -> Image.Image:
    """``Image.open``; when the caller raised our pixel limit above Pillow's own bomb limit, Pillow's
    check (done inside ``open``) is lifted to ours for this call only."""
    pil_limit = Image.MAX_IMAGE_PIXELS
    if pil_limit is None or limit <= pil_limit:
        return Image.open(source)
    with _PIL_LIMIT_LOCK:
        Image.MAX_IMAGE_PIXELS = limit
        try:
            return Image.open(source)
        finally:
            Image.MAX_IMAGE_PIXELS = pil_limit


def _decode(source: Any, what: str, limit: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # our own limit replaces Pillow's bomb warning (which pytest would turn into an error)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # damaged metadata (EXIF "Truncated File Read") warns at open; the pixels may be fine
            warnings.simplefilter("ignore", UserWarning)
            with _open_with_limit(source, limit) as im:
                _check_size(im.size, limit)
                im.load()
                return _from_pil(im)
    except Image.DecompressionBombError as e:
        raise ImageTooLargeError(f"expected at most {limit} pixels, got a larger image in {what} ({e})") from None
    except Image.UnidentifiedImageError:
        raise InvalidImageError(f"expected a decodable image in {what}, got data no image format recognises") from None
    # Pillow's decoders signal malformed files with many exception types (a TIFF tag of the wrong
    # type raises TypeError, a bad table IndexError/KeyError/struct.error): all mean a corrupt file.
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError, struct.error,
            ZeroDivisionError) as e:
        if isinstance(e, InvalidImageError):
            raise
        raise InvalidImageError(f"expected a complete image in {what}, got a corrupt or truncated file ({e})") from None


def _apply_exif_orientation(im: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation says; a damaged EXIF block leaves the pixels as stored
    (the picture itself decoded fine) instead of leaking Pillow's warning or exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Truncated File Read", "Corrupt EXIF data"
        try:
            return ImageOps.exif_transpose(im) or im
        except (OSError, SyntaxError, ValueError, TypeError, KeyError, struct.error):
            return im


def _from_pil(im: Image.Image) -> np.ndarray:
    im = _apply_exif_orientation(im)
    mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB")).copy()
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im).astype(np.float64)
        return _grey_or_rgb(_to_uint8(arr, sixteen_bit=True))
    if mode == "F":
        return _grey_or_rgb(_to_uint8(np.asarray(im), sixteen_bit=False))
    if mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im)).copy()


def _to_uint8(arr: np.ndarray, *, sixteen_bit: bool) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        raise InvalidImageError("expected finite pixel values, got NaN or infinity")
    a = arr.astype(np.float64)
    if sixteen_bit:
        a = a * (255.0 / 65535.0)
    elif a.size and a.max() <= 1.0:
        a = a * 255.0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _grey_or_rgb(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.ascontiguousarray(a)


def _from_array(arr: np.ndarray, *, bgr: bool, limit: int) -> np.ndarray:
    if arr.ndim not in (2, 3):
        raise InvalidImageError(f"expected an image array of shape [H, W] or [H, W, C], got shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] not in (1, 3, 4):
        raise InvalidImageError(f"expected 1, 3 or 4 channels in the last axis, got shape {arr.shape}")
    h, w = arr.shape[:2]
    _check_size((w, h), limit)
    kind = arr.dtype.kind
    if kind == "b":
        a = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint8:
        a = arr
    elif arr.dtype == np.uint16:
        a = _to_uint8(arr, sixteen_bit=True)
    elif kind == "f":
        a = _to_uint8(arr, sixteen_bit=False)
    elif kind in "iu":
        if arr.min() < 0 or arr.max() > 255:
            raise InvalidImageError(
                f"expected integer pixels in [0, 255] for dtype {arr.dtype}, got values in [{arr.min()}, {arr.max()}]"
            )
        a = arr.astype(np.uint8)
    else:
        raise InvalidImageError(f"expected a numeric image array, got dtype {arr.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return _grey_or_rgb(a)
    if bgr:
        a = a[:, :, [2, 1, 0, 3][: a.shape[2]]]
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        rgb = a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    return np.ascontiguousarray(a)
