"""The text exporter's argument checks and calibration sources (no package build here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from groundlite.errors import CalibrationError, ExportError
from groundlite.export.text import calibration_images, export_text, source_models, source_sha256


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precisions": ("fp16",)}, "precisions"),
        ({"precisions": ()}, "precisions"),
        ({"backends": ("tensorrt",)}, "backends"),
        ({"backends": "onnx"}, "backends"),
    ],
)
def test_bad_choices_raise_export_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        export_text(tmp_path / "pkg", progress=False, **kwargs)
    assert not (tmp_path / "pkg").exists()


def test_existing_output_needs_force(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    with pytest.raises(ExportError, match="--force"):
        export_text(tmp_path / "pkg", progress=False)


def test_source_models_are_the_wheel_files() -> None:
    paths = source_models()
    assert {p.name for p in paths.values()} == {"ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"}
    assert len(source_sha256()) == 64 and source_sha256() == source_sha256()


def test_builtin_calibration_has_real_photos_and_is_deterministic() -> None:
    a, source, sha_a = calibration_images(None, 4)
    b, _, sha_b = calibration_images(None, 4)
    assert source == "builtin" and len(a) == 4 and sha_a == sha_b
    assert a[0].shape == (191, 384, 3)  # scikit-image page.png, a real photo
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_calibration_dir(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError):
        calibration_images(tmp_path, 4)  # empty
    with pytest.raises(CalibrationError):
        calibration_images(tmp_path / "missing", 4)
    Image.new("RGB", (64, 32), (200, 10, 10)).save(tmp_path / "a.png")
    images, source, _ = calibration_images(tmp_path, 4)
    assert len(images) == 1 and images[0].shape == (32, 64, 3) and source == str(tmp_path)
    with pytest.raises(CalibrationError):
        calibration_images(tmp_path, 0)
