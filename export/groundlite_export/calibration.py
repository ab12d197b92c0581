"""Calibration and fidelity images: a user folder, real photos that installed packages ship, or
the committed real screenshot subset (:func:`load_screens`).

Nothing is ever downloaded. The built-in set is the photographs in scikit-image's ``data`` folder
and scikit-learn's sample images. Calibration and fidelity images are always disjoint: with a
user folder the fidelity images are the built-in hold-out photos; with the built-in set a fixed
hold-out list is never used for calibration. When fewer images exist than requested, deterministic
crops/flips fill the gap and the manifest says so.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from groundlite.errors import CalibrationError

__all__ = [
    "IMAGE_SUFFIXES",
    "BUILTIN_CALIBRATION",
    "BUILTIN_HOLDOUT",
    "ImageSet",
    "list_images",
    "builtin_images",
    "load_rgb",
    "calibration_and_fidelity",
    "preprocess_images",
    "preprocess_images_reference",
    "Screen",
    "ScreenSet",
    "REALSCREEN_DIRS",
    "realscreens_dir",
    "load_screens",
    "page_screens",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: photographs used for calibration (module, file) — scikit-image first, then scikit-learn
BUILTIN_CALIBRATION: tuple[tuple[str, str], ...] = (
    ("skimage", "astronaut.png"), ("skimage", "camera.png"), ("skimage", "text.png"),
    ("skimage", "retina.jpg"), ("skimage", "ihc.png"), ("skimage", "motorcycle_left.png"),
    ("skimage", "motorcycle_right.png"), ("skimage", "brick.png"), ("skimage", "grass.png"),
    ("skimage", "gravel.png"), ("skimage", "moon.png"), ("skimage", "clock_motion.png"),
    ("skimage", "cell.png"), ("skimage", "microaneurysms.png"), ("sklearn", "china.jpg"),
)
#: photographs never used for calibration; fidelity is measured on these
BUILTIN_HOLDOUT: tuple[tuple[str, str], ...] = (
    ("skimage", "chelsea.png"), ("skimage", "coffee.png"), ("skimage", "rocket.jpg"),
    ("skimage", "page.png"), ("skimage", "coins.png"), ("skimage", "hubble_deep_field.jpg"),
    ("sklearn", "flower.jpg"),
)
_DATA_DIRS = {"skimage": ("data",), "sklearn": ("datasets", "images")}


@dataclass
class ImageSet:
    """RGB images plus how they were obtained (for the manifest)."""

    images: list[Any]       # PIL.Image.Image, RGB
    names: list[str]        # file name, with "#aug<k>" for augmented copies
    source: str             # "builtin" or the folder path
    augmented: int          # how many of ``images`` are augmented copies

    @property
    def sha256(self) -> str:
        """SHA-256 over the images' names and pixels, in order."""
        h = hashlib.sha256()
        for name, im in zip(self.names, self.images):
            h.update(name.encode())
            h.update(np.asarray(im).tobytes())
        return h.hexdigest()


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)  # located, not imported: keeps export start-up light
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*_DATA_DIRS[module])


def builtin_images(which: Sequence[tuple[str, str]]) -> list[Path]:
    """Paths of the named built-in photos that exist in the installed packages (missing skipped)."""
    paths = []
    for module, name in which:
        d = _package_dir(module)
        if d is not None and (d / name).is_file():
            paths.append(d / name)
    return paths


def list_images(calib_dir: str | Path) -> list[Path]:
    """Image files under ``calib_dir`` (recursive, sorted, suffixes :data:`IMAGE_SUFFIXES`).

    Raises :class:`CalibrationError` when the folder is missing or holds no images.
    """
    root = Path(calib_dir)
    if not root.is_dir():
        raise CalibrationError(f"expected calib_dir to be a directory of images, got {str(root)!r} which is not a directory")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise CalibrationError(
            f"expected image files ({', '.join(IMAGE_SUFFIXES)}) under calib_dir {str(root)!r}, got none"
        )
    return paths


def load_rgb(path: Path) -> Any:
    """Decode ``path`` to an RGB ``PIL.Image`` (grey/alpha converted); unreadable -> CalibrationError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise CalibrationError(f"expected a readable image at {str(path)!r}, got: {e}") from None


def _augment(image: Any, k: int) -> Any:
    """Deterministic variant ``k`` (>= 1) of ``image``: a seeded crop of 60-90 % and a flip on odd k."""
    from PIL import Image

    rng = np.random.default_rng(k)
    w, h = image.size
    frac = rng.uniform(0.6, 0.9)
    cw, ch = max(1, int(w * frac)), max(1, int(h * frac))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = image.crop((x0, y0, x0 + cw, y0 + ch))
    return out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if k % 2 else out


def _fill(paths: list[Path], n: int, source: str) -> ImageSet:
    base = [load_rgb(p) for p in paths[:n]]
    names = [p.name for p in paths[:n]]
    images = list(base)
    k = 0
    while len(images) < n:
        i = k % len(base)
        variant = k // len(base) + 1
        images.append(_augment(base[i], variant * 1000 + i))
        names.append(f"{names[i]}#aug{variant}")
        k += 1
    return ImageSet(images, names, source, augmented=len(images) - len(base))


def calibration_and_fidelity(calib_dir: str | Path | None, calib_size: int, fidelity_size: int) -> tuple[ImageSet, ImageSet]:
    """The (calibration, fidelity) image sets; they never share a source photo.

    ``calib_size`` images come from ``calib_dir`` (or the built-in calibration photos),
    ``fidelity_size`` from the built-in hold-out photos; augmentation fills either when short.
    """
    if not isinstance(calib_size, int) or calib_size < 1:
        raise CalibrationError(f"expected calib_size to be a positive integer, got {calib_size!r}")
    holdout = builtin_images(BUILTIN_HOLDOUT)
    if calib_dir is not None:
        calib = _fill(list_images(calib_dir), calib_size, str(calib_dir))
    else:
        paths = builtin_images(BUILTIN_CALIBRATION)
        if not paths:
            raise CalibrationError(
                "expected scikit-image or scikit-learn sample photos for built-in calibration, got none; pass a calibration directory"
            )
        calib = _fill(paths, calib_size, "builtin")
    if fidelity_size > 0 and not holdout:
        raise CalibrationError("expected scikit-image/scikit-learn hold-out photos for the fidelity check, got none")
    fidelity = _fill(holdout, fidelity_size, "builtin-holdout") if fidelity_size > 0 else ImageSet([], [], "none", 0)
    return calib, fidelity


def preprocess_images(images: Sequence[Any], family: str, image_size: int) -> list[np.ndarray]:
    """OWL pre-processing of each image to float32 ``[1,3,S,S]`` CLIP-normalised pixels.

    Uses the runtime's own ``groundlite.ops.preprocess`` (so calibration sees exactly what the
    runtime feeds) and falls back to :func:`preprocess_images_reference` where the compiled kernels
    are unavailable; the two agree within 2e-6 (tests/test_export_calibration.py).
    """
    from groundlite import schema

    try:
        from groundlite import ops
    except ImportError:
        return preprocess_images_reference(images, family, image_size)
    pre = schema.FAMILY_PREPROCESS[family]
    return [ops.preprocess(np.asarray(im.convert("RGB")), image_size, pre["mean"], pre["std"], pre["resize"],
                           pre["pad_value"])[0] for im in images]


def preprocess_images_reference(images: Sequence[Any], family: str, image_size: int) -> list[np.ndarray]:
    """transformers' image processors as the reference pre-processing (float32 ``[1,3,S,S]`` each).

    OWL-ViT squashes to SxS with bicubic resampling; OWLv2 pads bottom/right to a square with the
    manifest's grey (``schema.FAMILY_PREPROCESS``) and resizes bilinearly with anti-aliasing
    (transformers' image processors otherwise define the behaviour for both families).
    """
    from groundlite import schema

    pre = schema.FAMILY_PREPROCESS[family]
    size = {"height": image_size, "width": image_size}
    if family == "owlv2":
        from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil

        proc = Owlv2ImageProcessorPil(size=size, image_mean=list(pre["mean"]), image_std=list(pre["std"]))
        out = []
        for im in images:
            # pad here with the manifest's grey: transformers 5 pads with 0.0, OWLv2's reference with 0.5
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
            side = max(arr.shape[:2])
            padded = np.full((side, side, 3), float(pre["pad_value"]), dtype=np.float32)
            padded[: arr.shape[0], : arr.shape[1]] = arr
            px = proc(images=padded, do_rescale=False, do_pad=False, return_tensors="np")["pixel_values"]
            out.append(np.ascontiguousarray(px, dtype=np.float32))
        return out
    from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

    proc = OwlViTImageProcessorPil(size=size, crop_size=size, do_center_crop=False,
                                   image_mean=list(pre["mean"]), image_std=list(pre["std"]))
    return [np.ascontiguousarray(proc(images=im, return_tensors="np")["pixel_values"], dtype=np.float32) for im in images]


# ----------------------------------------------------------------------------------------------
# The real screenshot subset (labelled): calibration on its "tune" split, fidelity on "test"
# ----------------------------------------------------------------------------------------------
_HERE = Path(__file__).resolve().parent
#: where the labelled real screenshots live: the exporter's own assets first (installed), then the
#: repository's test data (a source checkout)
REALSCREEN_DIRS: tuple[Path, ...] = (_HERE / "assets" / "realscreens",)
SPLITS = ("tune", "test")


@dataclass(frozen=True)
class Screen:
    """One labelled screenshot: RGB pixels ``uint8 [H,W,3]`` and its label record."""

    id: str
    rgb: np.ndarray
    present: tuple[dict[str, Any], ...]   # {"phrase", "xyxy", ...}
    lines: tuple[dict[str, Any], ...]     # {"text", "xyxy", ...}
    sha256: str                           # of the image file


@dataclass(frozen=True)
class ScreenSet:
    """Screens of one split plus where they came from (for the manifest's ``data`` record)."""

    screens: tuple[Screen, ...]
    split: str
    source: str           # folder, or "skimage-fallback"
    labels_sha256: str

    def record(self) -> dict[str, Any]:
        return {"split": self.split, "source": self.source, "labels_sha256": self.labels_sha256,
                "images": {s.id: s.sha256 for s in self.screens}}


def realscreens_dir() -> Path | None:
    """The first of :data:`REALSCREEN_DIRS` holding a ``labels.jsonl``, or ``None``."""
    for d in REALSCREEN_DIRS:
        if (d / "labels.jsonl").is_file():
            return d
    return None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_screens(split: str, limit: int | None = None, root: Path | None = None) -> ScreenSet:
    """The labelled real screenshots of ``split`` (``"tune"`` or ``"test"``), in file order.

    ``limit`` keeps the first ``limit`` screens (``None``: all). Without the real screenshot
    subset (neither of :data:`REALSCREEN_DIRS`), :func:`page_screens` stands in. Raises
    :class:`CalibrationError` for a bad split or a label file that does not parse.
    """
    import json

    if split not in SPLITS:
        raise CalibrationError(f"expected a split in {list(SPLITS)}, got {split!r}")
    root = root if root is not None else realscreens_dir()
    if root is None:
        return page_screens(split)
    labels = root / "labels.jsonl"
    screens = []
    for n, line in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise CalibrationError(f"expected one JSON object per line in {labels}, got invalid JSON on line {n}: {e.msg}") from None
        if rec.get("split") != split:
            continue
        if limit is not None and len(screens) >= limit:
            break
        path = root / rec["image"]
        screens.append(Screen(str(rec["id"]), np.asarray(load_rgb(path)), tuple(rec.get("present", ())),
                              tuple(rec.get("lines", ())), _sha256_file(path)))
    if not screens:
        raise CalibrationError(f"expected screenshots of split {split!r} in {labels}, got none")
    return ScreenSet(tuple(screens), split, str(root), _sha256_file(labels))


def page_screens(split: str) -> ScreenSet:
    """Stand-in while the real screenshot subset is not installed: scikit-image's real photos of
    text. ``tune`` = ``text.png`` and ``page.png`` (no labels); ``test`` = ``page.png`` with the
    hand-drawn phrase boxes of ``tests/data/page_phrases.json`` when the repository is present."""
    import json

    names = ("text.png", "page.png") if split == "tune" else ("page.png",)
    paths = builtin_images([("skimage", n) for n in names])
    if not paths:
        raise CalibrationError("expected the real screenshot subset or scikit-image's text photos, got neither")
    present: tuple[dict[str, Any], ...] = ()
    labels = _HERE.parents[1] / "tests" / "data" / "page_phrases.json"  # present in a source checkout
    sha = ""
    if split == "test" and labels.is_file():
        present = tuple(json.loads(labels.read_text(encoding="utf-8"))["present"])
        sha = _sha256_file(labels)
    screens = tuple(Screen(f"skimage:{p.name}", np.asarray(load_rgb(p)), present if p.name == "page.png" else (),
                           (), _sha256_file(p)) for p in paths)
    return ScreenSet(screens, split, "skimage-fallback", sha)
