"""Settings of the text pipeline, stored in (and read from) the manifest's ``"text"`` block."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from ..errors import ManifestError

__all__ = ["TextConfig"]


@dataclass(frozen=True)
class TextConfig:
    """Detector limits, DB post-processing thresholds and recogniser settings.

    Defaults follow PP-OCRv4 (as rapidocr-onnxruntime configures it) except the detector size
    policy: PaddleOCR upscales the *short* side to 736 px, which makes a 384x191 page a 1472x736
    detector input; we scale the *long* side to ``det_side`` (up by at most ``det_max_upscale``),
    which keeps the detector cost bounded on every image (the documented limit for huge images).
    """

    det_side: int = 960              # long side of the detector input (multiple of 32)
    det_max_upscale: float = 3.0     # small images are enlarged at most this much
    det_min_side: int = 32           # short side floor of the detector input
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
        unknown = sorted(set(d) - known - {"num_classes"})
        if unknown:
            raise ManifestError(f"expected manifest 'text' keys among {sorted(known)}, got unknown {unknown}")
        kwargs = {k: v for k, v in d.items() if k in known}
        for k in ("det_mean", "det_std"):
            if k in kwargs:
                kwargs[k] = tuple(float(x) for x in kwargs[k])
        return cls(**kwargs)
