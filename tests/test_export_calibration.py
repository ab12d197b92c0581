"""Calibration / hold-out photo selection: real built-in photos, user folders, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from groundlite.errors import CalibrationError
from groundlite_export import calibration as cal


def test_builtin_sets_are_real_photos_and_disjoint():
    calib = cal.builtin_images(cal.BUILTIN_CALIBRATION)
    hold = cal.builtin_images(cal.BUILTIN_HOLDOUT)
    assert len(calib) >= 10 and len(hold) >= 5
    assert not {p.name for p in calib} & {p.name for p in hold}
    for p in calib[:3] + hold[:3]:
        im = cal.load_rgb(p)
        assert im.mode == "RGB" and min(im.size) >= 64


def test_calibration_and_fidelity_never_share_a_photo():
    c, f = cal.calibration_and_fidelity(None, 40, 8)
    assert len(c.images) == 40 and len(f.images) == 8
    assert c.augmented == 40 - len(cal.builtin_images(cal.BUILTIN_CALIBRATION))
    base = lambda names: {n.split("#")[0] for n in names}  # noqa: E731
    assert not base(c.names) & base(f.names)
    assert c.source == "builtin"


def test_augmentation_is_deterministic_and_differs_from_source():
    a, _ = cal.calibration_and_fidelity(None, 20, 0)
    b, _ = cal.calibration_and_fidelity(None, 20, 0)
    assert a.sha256 == b.sha256 and a.names == b.names
    n_real = len(a.images) - a.augmented
    aug, src = a.images[n_real], a.images[0]
    assert a.names[n_real] == f"{a.names[0]}#aug1"
    assert aug.size != src.size  # a crop


def test_user_folder_recursive_sorted_and_filled(tmp_path):
    (tmp_path / "b").mkdir()
    for name, colour in (("z.png", (255, 0, 0)), ("b/a.jpg", (0, 255, 0)), ("c.webp", (0, 0, 255))):
        Image.new("RGB", (80, 60), colour).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.relative_to(tmp_path).as_posix() for p in cal.list_images(tmp_path)] == ["b/a.jpg", "c.webp", "z.png"]
    c, f = cal.calibration_and_fidelity(tmp_path, 5, 2)
    assert c.names[:3] == ["a.jpg", "c.webp", "z.png"] and c.augmented == 2 and c.source == str(tmp_path)
    assert f.source == "builtin-holdout" and len(f.images) == 2


@pytest.mark.parametrize("setup,match", [
    (lambda d: None, "got none"),
    (lambda d: (d / "x.png").write_bytes(b"garbage"), "readable image"),
])
def test_bad_folders(tmp_path, setup, match):
    setup(tmp_path)
    with pytest.raises(CalibrationError, match=match):
        cal.calibration_and_fidelity(tmp_path, 4, 0)


def test_bad_calib_size():
    with pytest.raises(CalibrationError, match="positive integer"):
        cal.calibration_and_fidelity(None, 0, 0)


@pytest.mark.parametrize("family", ["owlvit", "owlv2"])
def test_preprocess_matches_schema_constants(family):
    pytest.importorskip("transformers")
    from groundlite import schema

    im = Image.new("RGB", (64, 32), (255, 128, 0))
    (px,) = cal.preprocess_images_reference([im], family, 48)
    assert px.shape == (1, 3, 48, 48) and px.dtype == np.float32
    mean, std = np.array(schema.CLIP_MEAN), np.array(schema.CLIP_STD)
    expected = (np.array([1.0, 128 / 255, 0.0]) - mean) / std
    np.testing.assert_allclose(px[0, :, 5, 5], expected, atol=2e-2)  # top-left: the image in both modes
    if family == "owlv2":  # bottom half is the grey pad
        np.testing.assert_allclose(px[0, :, 45, 5], (0.5 - mean) / std, atol=2e-2)


@pytest.mark.parametrize("family", ["owlvit", "owlv2"])
def test_runtime_preprocess_equals_transformers_reference(family):
    pytest.importorskip("transformers")
    pytest.importorskip("groundlite._kernels")
    _, f = cal.calibration_and_fidelity(None, 1, 3)
    ours = cal.preprocess_images(f.images, family, 96)
    ref = cal.preprocess_images_reference(f.images, family, 96)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape == (1, 3, 96, 96)
        np.testing.assert_allclose(a, b, atol=1e-5)
