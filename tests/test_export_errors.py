"""Bad export input -> one ExportError line naming what was expected, before anything is written."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from groundlite.errors import CalibrationError, ExportError  # noqa: E402
from groundlite_export import export_owl  # noqa: E402

FAST = dict(precisions="fp32", backends="onnxruntime", fidelity_images=0, progress=False)


def _config_dir(tmp_path, model_type):
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "config.json").write_text(f'{{"model_type": "{model_type}"}}')
    return d


def _file(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    return f.resolve()


CASES = [
    # (id, kwargs builder, error type, message fragment)
    ("unknown-random-init", lambda t: dict(random_init="tny"), ExportError, "did you mean 'tiny'"),
    ("missing-dir", lambda t: dict(source=str(t / "nope")), ExportError, "does not exist"),
    ("file-not-dir", lambda t: dict(source=str(_file(t))), ExportError, "checkpoint directory"),
    ("dir-without-config", lambda t: dict(source=str(t)), ExportError, "config.json"),
    ("other-architecture", lambda t: dict(source=str(_config_dir(t, "bert"))), ExportError, "model_type 'bert'"),
    ("no-source", lambda t: dict(), ExportError, "neither"),
    ("both-sources", lambda t: dict(source=str(t), random_init="tiny"), ExportError, "got both"),
    ("image-size-not-multiple", lambda t: dict(random_init="tiny", image_size=50), ExportError, "multiple of the patch size 16"),
    ("image-size-negative", lambda t: dict(random_init="tiny", image_size=-32), ExportError, "positive integer"),
    ("bad-precision", lambda t: dict(random_init="tiny", precisions="int4"), ExportError, "did you mean 'int8'"),
    ("bad-backend", lambda t: dict(random_init="tiny", backends="openvno"), ExportError, "did you mean 'openvino'"),
    ("bad-calib-method", lambda t: dict(random_init="tiny", precisions="int8", calib_method="minmx"), ExportError,
     "did you mean 'minmax'"),
    ("empty-calib-dir", lambda t: dict(random_init="tiny", precisions="int8", calib_dir=str(t)), CalibrationError,
     "got none"),
    ("missing-calib-dir", lambda t: dict(random_init="tiny", precisions="int8", calib_dir=str(t / "nope")),
     CalibrationError, "not a directory"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_table(case, tmp_path):
    _, build, error, fragment = case
    src = tmp_path / "in"
    src.mkdir()
    kwargs = {**FAST, **build(src)}
    out = tmp_path / "out"
    with pytest.raises(error, match=fragment) as info:
        export_owl(out=out, **kwargs)
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_existing_out_needs_force(tmp_path):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(ExportError, match="pass force=True"):
        export_owl(random_init="tiny", out=out, **FAST)
    assert (out / "keep.txt").read_text() == "user data"


def test_unwritable_out_dir(tmp_path):
    import os

    if os.geteuid() == 0:
        # root ignores directory permissions; a path below a regular file is unwritable for everyone
        blocker = tmp_path / "file"
        blocker.write_text("x")
        out = blocker / "pkg"
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        out = ro / "pkg"
    with pytest.raises(ExportError, match="writable output directory"):
        export_owl(random_init="tiny", out=out, **FAST)


def test_unreadable_calibration_image(tmp_path):
    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CalibrationError, match="readable image"):
        export_owl(random_init="tiny", out=tmp_path / "out", precisions="int8", backends="onnxruntime",
                   calib_dir=calib, calib_size=2, fidelity_images=0, progress=False)
    assert not (tmp_path / "out").exists()


def test_missing_backend_library(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(ExportError, match="openvino package .* not installed"):
        export_owl(random_init="tiny", out=tmp_path / "out", precisions="fp32", backends="openvino", progress=False)


def test_model_id_without_hub_is_one_clear_line(tmp_path, monkeypatch):
    from groundlite_export import owlvit

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to the hub to load the files")

    monkeypatch.setattr("transformers.AutoConfig.from_pretrained", offline)
    with pytest.raises(ExportError) as info:
        owlvit.load_owl("google/owlvit-base-patch32")
    assert str(info.value) == ("could not load model id 'google/owlvit-base-patch32' (no network/hub access?) "
                               "— pass a local directory")
