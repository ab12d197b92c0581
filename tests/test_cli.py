"""The ``groundlite`` console script, run through the installed entry point in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import groundlite

EXE = shutil.which("groundlite")
SKIMAGE_DATA = Path(list(importlib.util.find_spec("skimage").submodule_search_locations)[0]) / "data"
CHELSEA = SKIMAGE_DATA / "chelsea.png"
pytestmark = pytest.mark.skipif(EXE is None, reason="the groundlite entry point is not installed")


def run(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GROUNDLITE_CACHE_DIR": str(cache)}
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def test_info_lists_backends(cache):
    r = run("info", cache=cache)
    assert r.returncode == 0, r.stderr
    assert "onnxruntime" in r.stdout and "openvino" in r.stdout and "tensorrt" in r.stdout
    r = run("info", "--json", cache=cache)
    data = json.loads(r.stdout)
    assert data["backends"]["onnxruntime"]["available"] is True
    assert "cpu" in data["backends"]["onnxruntime"]["devices"]


def test_info_package_summary_and_fidelity(tiny_owlvit_package, cache):
    r = run("info", tiny_owlvit_package, "--json", cache=cache)
    assert r.returncode == 0, r.stderr
    pkg = json.loads(r.stdout)["package"]
    assert pkg["family"] == "owlvit" and "onnxruntime:int8" in pkg["combos"]
    assert "detection_agreement" in pkg["fidelity"]["onnxruntime:int8"]
    r = run("info", tiny_owlvit_package, cache=cache)
    assert "fidelity vs fp32" in r.stdout and "agreement" in r.stdout and "onnxruntime:int8" in r.stdout


def test_detect_json_equals_library_predict(tiny_owlvit_package, cache):
    args = ("--backend", "onnxruntime", "--precision", "fp32", "--threshold", "0.2", "--nms-iou", "none",
            "--top-k", "none")
    r = run("detect", CHELSEA, "-p", "a cat", "-p", "a dog", "--model", tiny_owlvit_package, *args, "--json",
            cache=cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["backend"], out["precision"]) == ("onnxruntime", "fp32")
    (result,) = out["results"]
    g = groundlite.load(tiny_owlvit_package, "onnxruntime", "cpu", "fp32", cache=False)
    ref = g.predict(CHELSEA, ["a cat", "a dog"], threshold=0.2, nms_iou=None, top_k=None).to_dict()
    assert result["phrases"] == ref["phrases"]
    assert len(result["detections"]) == len(ref["detections"]) > 0
    for a, b in zip(result["detections"], ref["detections"]):
        assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert a["xyxy"] == pytest.approx(b["xyxy"], abs=1e-2)
    assert set(result["timings_ms"]) >= {"preprocess_ms", "image_encoder_ms", "text_encoder_ms", "decode_ms"}


def test_detect_table_and_annotated_output(tiny_owlvit_package, cache, tmp_path):
    out = tmp_path / "out.png"
    r = run("detect", CHELSEA, "-p", "a cat", "--model", tiny_owlvit_package, "--top-k", "3", "--out", out,
            cache=cache)
    assert r.returncode == 0, r.stderr
    assert "a cat" in r.stdout and "3 detection(s)" in r.stdout
    drawn = np.asarray(Image.open(out).convert("RGB"))
    original = np.asarray(Image.open(CHELSEA).convert("RGB"))
    assert drawn.shape == original.shape
    assert (drawn != original).any(axis=2).mean() > 0.001  # boxes and labels were drawn
    # several images go to a directory
    r = run("detect", CHELSEA, SKIMAGE_DATA / "astronaut.png", "-p", "a cat", "--model", tiny_owlvit_package,
            "--out", tmp_path / "dir", cache=cache)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["astronaut.png", "chelsea.png"]


@pytest.mark.parametrize("args,code,message", [
    (("detect", "/nonexistent.png", "-p", "x"), 3, "error: expected an image file at '/nonexistent.png'"),
    (("detect", CHELSEA, "-p", "x", "--model", "/no/such/package"), 4, "error: expected a model package directory"),
    (("detect", CHELSEA, "-p", "x", "--backend", "openvnio"), 2, "did you mean 'openvino'"),
    (("detect", CHELSEA, "-p", "   "), 2, "error: expected phrase 0 to contain non-blank text"),
    (("detect", CHELSEA, "-p", "x", "--precision", "int4"), 2, "did you mean 'int8'"),
])
def test_errors_are_one_line_without_traceback(tiny_owlvit_package, cache, args, code, message):
    args = tuple(str(a) for a in args)
    if "--model" not in args:
        args += ("--model", str(tiny_owlvit_package))
    r = run(*args, cache=cache)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.startswith("error:")]) == 1


def test_debug_shows_traceback(cache):
    r = run("detect", "/nonexistent.png", "-p", "x", "--model", "/no/such/package", "--debug", cache=cache)
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "PackageNotFoundError" in r.stderr


def test_read_on_owl_package_is_a_clear_error(tiny_owlvit_package, cache):
    r = run("read", CHELSEA, "--model", tiny_owlvit_package, cache=cache)
    assert r.returncode == 2 and "expected a text model" in r.stderr and "Traceback" not in r.stderr


def test_bench_json_row(tiny_owlvit_package, cache):
    r = run("bench", tiny_owlvit_package, "--backend", "onnxruntime", "--precision", "fp32", "--runs", "2",
            "--image", CHELSEA, "--json", cache=cache)
    assert r.returncode == 0, r.stderr
    (row,) = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert (row["backend"], row["device"], row["precision"]) == ("onnxruntime", "cpu", "fp32")
    for key in ("load_ms", "first_ms", "p50_ms", "p90_ms", "fps", "peak_rss_mb"):
        assert row[key] > 0
    assert row["p90_ms"] >= row["p50_ms"]


def test_export_subcommand_is_registered(cache):
    r = run("export", "--help", cache=cache)
    if "export toolchain" in r.stderr:
        pytest.skip("export extras are not installed")
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout


def test_annotate_scales_lines_and_labels_with_image_size():
    from groundlite.draw import _sizes, annotate

    small, large = _sizes(64, 48), _sizes(4000, 3000)
    assert small[0] < large[0] and small[1] < large[1]  # line width and font size grow
    det = groundlite.Detections([[4, 4, 40, 30]], [0.5], [0], ("thing",))
    for shape in ((48, 64, 3), (1500, 2000, 3)):
        canvas = np.zeros(shape, np.uint8)
        scale = shape[0] / 48
        d = groundlite.Detections(det.xyxy * scale, det.scores, det.labels, det.phrases)
        out = np.asarray(annotate(canvas, d))
        assert out.shape == shape
        # the box outline is drawn where the box is
        assert out[int(4 * scale) + 1, int(20 * scale)].any() or out[int(30 * scale) - 1, int(20 * scale)].any()
