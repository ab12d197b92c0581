"""Settings of the text pipeline, stored in (and read from) the manifest's ``"text"`` block."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from ..errors import ManifestError

__all__ = ["TextConfig"]


@dataclass(frozen=True)
class TextConfig:
    """Detector resolution policy, DB post-processing thresholds, recogniser settings, tensor names.

    Detector resolution (:func:`groundlite.text.detect.detector_plan`): the detector never sees
    text smaller than it was trained on because of a global downscale.

    * Images whose long side is at most ``det_side`` are enlarged to ``det_side`` (at most
      ``det_max_upscale`` times): small crops and photos of pages.
    * Images up to ``det_native_max_side`` run at their native scale (a 1920x1080 screen with
      13-px text is not halved).
    * Larger images (4K screens) first get a coarse pass at ``det_native_max_side / long side``;
      when the text it finds is tall enough (median line height >= ``det_probe_min_text_px`` in
      the coarse input) that scale is kept (HiDPI text is large), otherwise the image is detected
      at native scale.
    * At the chosen scale the detector sees tiles of at most ``det_tile`` x ``det_tile`` pixels
      overlapping by ``det_tile_overlap`` (:func:`groundlite.text.detect.tile_grid`): the PP-OCRv6
      small detector loses an isolated line on a large, mostly empty input (measured: one line
      found on a 1088x1088 canvas, none on 1088x1600 or 2048x2048), and tiles also bound memory.
      A line cut by a vertical seam is joined with its other half; a line touching a horizontal
      seam is taken from the tile that holds it whole (the overlap is taller than a line).
    * Images above ``max_pixels`` raise :class:`~groundlite.errors.ImageTooLargeError`.

    Tensor names (``det_input`` ...) and the charset come from the package: exported packages use
    the schema names, packages assembled from a wheel keep the names the ONNX files have.
    """

    det_side: int = 960              # small images are enlarged to this long side (multiple of 32)
    det_max_upscale: float = 3.0     # small images are enlarged at most this much
    det_min_side: int = 32           # short side floor of the detector input
    det_native_max_side: int = 2560  # up to this long side the detector runs at native scale
    det_probe_min_text_px: float = 14.0  # coarse-pass text at least this tall keeps the coarse scale
    det_tile: int = 1088             # detector tile side at the chosen scale (multiple of 32)
    det_tile_overlap: int = 128      # pixels two neighbouring tiles share (taller than a line)
    max_pixels: int = 40_000_000     # larger images are refused (the documented limit)
    det_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)   # applied to BGR / 255
    det_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    db_thresh: float = 0.3           # probability -> text mask
    db_box_thresh: float = 0.5       # mean probability inside a box to keep it
    db_unclip_ratio: float = 1.6     # DB shrinks text regions in training; grow them back
    db_max_candidates: int = 1000
    db_min_size: float = 3.0         # short side (detector pixels) below which a box is noise
    db_dilate: bool = True
    nms_iou: float = 0.5             # overlapping duplicate boxes are suppressed
    rec_height: int = 48
    rec_max_ratio: float = 40.0      # longest line crop (width / height) fed to the recogniser
    rec_batch: int = 8
    rec_min_score: float = 0.5       # lines whose mean char probability is lower are dropped
    blank_index: int = 0
    det_input: str = "image"         # tensor names (schema names for exported packages)
    det_output: str = "probability"
    rec_input: str = "image"
    rec_output: str = "logits"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["det_mean"] = list(self.det_mean)
        d["det_std"] = list(self.det_std)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TextConfig":
        if not isinstance(d, Mapping):
            raise ManifestError(f"expected manifest 'text' to be an object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"num_classes", "charset"})
        if unknown:
            raise ManifestError(f"expected manifest 'text' keys among {sorted(known)}, got unknown {unknown}")
        kwargs = {k: v for k, v in d.items() if k in known}
        for k in ("det_mean", "det_std"):
            if k in kwargs:
                kwargs[k] = tuple(float(x) for x in kwargs[k])
        return cls(**kwargs)
