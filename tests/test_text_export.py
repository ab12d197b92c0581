"""The text exporter: argument checks, sources, keep-float table, screenshot loading, and (slow)
an end-to-end PP-OCRv6 FP32 + INT8 export whose INT8 grounds a real photo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from groundlite import schema
from groundlite.errors import CalibrationError, ExportError
from groundlite_export import calibration
from groundlite_export.text import _Recorder, export_text, keep_float_patterns, source_models, source_sha256

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precisions": ("fp16",)}, "precision"),
        ({"precisions": ()}, "at least one precision"),
        ({"backends": ("tensorrt",)}, "backend"),
        ({"backends": "onnx"}, "did you mean 'onnxruntime'"),
        ({"precisions": "bf16", "backends": "onnxruntime"}, "ships bf16"),
        ({"model": "text-ppocrv5"}, "did you mean"),
        ({"calib_size": 0}, "calibration size"),
        ({"fidelity_screens": 0}, "fidelity_screens"),
    ],
)
def test_bad_choices_raise_before_anything_is_written(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises((ExportError, CalibrationError), match=message) as info:
        export_text(tmp_path / "pkg", progress=False, **kwargs)
    assert "--" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_out_and_install_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="got both"):
        export_text(tmp_path / "pkg", install=True, progress=False)
    with pytest.raises(ExportError, match="got none"):
        export_text(None, progress=False)


def test_existing_output_needs_force(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "keep.txt").write_text("user data")
    with pytest.raises(ExportError, match="force=True"):
        export_text(tmp_path / "pkg", precisions="fp32", backends="onnxruntime", progress=False)
    assert (tmp_path / "pkg" / "keep.txt").read_text() == "user data"


def test_source_models_are_the_runtime_tables_files() -> None:
    from groundlite.text.models import BUILTIN_TEXT_MODELS

    v6 = BUILTIN_TEXT_MODELS["text-ppocrv6"]
    paths = source_models("text-ppocrv6")
    assert paths[schema.GRAPH_TEXT_DETECTOR].as_posix().endswith(v6.detector)
    assert paths[schema.GRAPH_TEXT_RECOGNIZER].as_posix().endswith(v6.recognizer)
    assert source_models("text") == paths  # the alias
    sha = source_sha256("text-ppocrv6")
    assert len(sha) == 64 and sha == source_sha256("text-ppocrv6")
    try:
        v4 = source_models("text-ppocrv4")
    except ExportError:
        pytest.skip("rapidocr-onnxruntime (PP-OCRv4 weights) is not installed")
    assert v4[schema.GRAPH_TEXT_DETECTOR].name == "ch_PP-OCRv4_det_infer.onnx"
    assert source_sha256("text-ppocrv4") != sha


def test_keep_float_table(tmp_path: Path) -> None:
    assert keep_float_patterns("text-ppocrv6", "text_detector", "onnxruntime", tmp_path / "missing.json") == []
    table = tmp_path / "keep.json"
    table.write_text(json.dumps({"text-ppocrv6": {"text_recognizer": {"onnxruntime": ["^/head/.*$"],
                                                                      "openvino": ["head"]}}}))
    assert keep_float_patterns("text-ppocrv6", "text_recognizer", "onnxruntime", table) == ["^/head/.*$"]
    assert keep_float_patterns("text-ppocrv6", "text_recognizer", "openvino", table) == ["head"]
    assert keep_float_patterns("text-ppocrv6", "text_detector", "openvino", table) == []
    assert keep_float_patterns("text-ppocrv4", "text_recognizer", "openvino", table) == []
    table.write_text(json.dumps({"text-ppocrv6": {"text_detector": {"onnxruntime": ["(unclosed"]}}}))
    with pytest.raises(ExportError, match="valid regexes"):
        keep_float_patterns("text-ppocrv6", "text_detector", "onnxruntime", table)
    table.write_text("{not json")
    with pytest.raises(ExportError, match="expected keep.json"):
        keep_float_patterns("text-ppocrv6", "text_detector", "onnxruntime", table)


def _screens_dir(tmp_path: Path) -> Path:
    root = tmp_path / "realscreens"
    (root / "images").mkdir(parents=True)
    rows = []
    for i, split in enumerate(["tune", "test", "tune", "test", "tune"]):
        Image.new("RGB", (40 + i, 30), (i * 40, 0, 0)).save(root / "images" / f"s{i}.png")
        rows.append({"id": f"s{i}", "image": f"images/s{i}.png", "width": 40 + i, "height": 30, "split": split,
                     "present": [{"phrase": f"p{i}", "xyxy": [0, 0, 5, 5]}], "lines": [], "absent": []})
    (root / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def test_load_screens_splits_limits_and_records(tmp_path: Path) -> None:
    root = _screens_dir(tmp_path)
    tune = calibration.load_screens("tune", root=root)
    test = calibration.load_screens("test", root=root)
    assert [s.id for s in tune.screens] == ["s0", "s2", "s4"] and [s.id for s in test.screens] == ["s1", "s3"]
    assert tune.screens[1].rgb.shape == (30, 42, 3) and tune.screens[1].present[0]["phrase"] == "p2"
    assert [s.id for s in calibration.load_screens("tune", 2, root=root).screens] == ["s0", "s2"]
    rec = test.record()
    assert rec["split"] == "test" and set(rec["images"]) == {"s1", "s3"} and len(rec["labels_sha256"]) == 64
    with pytest.raises(CalibrationError, match="split"):
        calibration.load_screens("train", root=root)
    (root / "labels.jsonl").write_text('{"id": "x", "split": "tune"\n')
    with pytest.raises(CalibrationError, match="line 1"):
        calibration.load_screens("tune", root=root)


def test_realscreen_locations_prefer_the_exporters_assets() -> None:
    dirs = calibration.REALSCREEN_DIRS
    assert dirs[0].parts[-3:] == ("groundlite_export", "assets", "realscreens")
    found = calibration.realscreens_dir()
    assert found == dirs[0] and (found / "labels.jsonl").is_file()  # the subset ships with the exporter


def test_fallback_screens_are_real_photos_with_hand_labels() -> None:
    pytest.importorskip("skimage")
    test = calibration.page_screens("test")
    assert [s.id for s in test.screens] == ["skimage:page.png"] and test.screens[0].rgb.shape == (191, 384, 3)
    assert {p["phrase"] for p in test.screens[0].present} >= {"Region-based segmentation"}
    tune = calibration.page_screens("tune")
    assert {s.id for s in tune.screens} == {"skimage:text.png", "skimage:page.png"}


def test_recorder_keeps_copies_of_what_the_pipeline_feeds() -> None:
    class Session:
        input_names, output_names = ("image",), ("probability",)

        def run(self, feeds):
            return {"probability": feeds["image"] * 2}

    rec = _Recorder(Session())
    x = np.ones((1, 3, 2, 2), np.float32)
    assert np.array_equal(rec.run({"image": x})["probability"], x * 2)
    x[:] = 5  # a caller reusing its buffer must not change what was recorded
    assert rec.input_names == ("image",) and len(rec.feeds) == 1 and float(rec.feeds[0]["image"].max()) == 1.0


# ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_export_ppocrv6_int8_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    pytest.importorskip("skimage")
    import groundlite
    from groundlite.package import open_package

    cwd = os.getcwd()
    out = export_text(tmp_path / "pkg", model="text-ppocrv6", precisions=("fp32", "int8"),
                      backends=("onnxruntime", "openvino"), calib_size=2, fidelity_screens=3, progress=False)
    assert os.getcwd() == cwd
    pkg = open_package(out)
    m = pkg.manifest
    assert m["name"] == "text-ppocrv6" and m["family"] == "text"
    assert {(a["backend"], a["precision"]) for a in m["artifacts"]} == {
        ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "int8")}
    text = m["text"]
    assert (text["det_input"], text["det_output"], text["rec_input"], text["rec_output"]) == (
        schema.DET_IMAGE, schema.DET_PROBABILITY, schema.REC_IMAGE, schema.REC_LOGITS)
    assert text["rec_height"] == 48
    charset = pkg.path(pkg.files["charset"]).read_text(encoding="utf-8").split("\n")
    assert text["num_classes"] == len(charset) + 1
    assert set(m["build_seconds"]) >= {"preparing FP32 graphs", "calibration data", "writing manifest"}
    kept = m["calibration"]["kept_float_nodes"]
    assert set(kept) == {schema.GRAPH_TEXT_DETECTOR, schema.GRAPH_TEXT_RECOGNIZER}
    assert all(len(kept[g][b]) >= 2 for g in kept for b in ("onnxruntime", "openvino"))
    assert set(m["fidelity"]) == {"onnxruntime:int8", "openvino:int8"}
    for key, block in m["fidelity"].items():
        for name in ("grounding_accuracy", "grounding_accuracy_fp32", "word_accuracy", "detection_agreement"):
            assert 0.0 <= block[name] <= 1.0, (key, name)
        assert block["accuracy_drop_points"] == pytest.approx(
            100 * (block["grounding_accuracy_fp32"] - block["grounding_accuracy"]), abs=0.02)
        assert 0.0 <= block["cer"] <= 1.0 and block["n_phrases"] >= 1 and block["n_lines"] >= 1
        assert block["data"]["split"] == "test" and block["n_screens"] >= 1

    phrases = json.loads((DATA / "page_phrases.json").read_text())["present"]
    truth = next(p["xyxy"] for p in phrases if "segmentation" in p["phrase"])
    from skimage import data as skdata

    grounder = groundlite.load(str(out), precision="int8")
    det = grounder.predict(skdata.page(), "segmentation")
    assert len(det.xyxy) >= 1
    best = det.xyxy[int(np.argmax(det.scores))]
    from groundlite_export.text_fidelity import iou

    # the labelled box is the whole "Region-based segmentation"; the word alone is its right part
    # (split by character count: 13 of the 25 characters precede it)
    word = [truth[0] + (truth[2] - truth[0]) * 13 / 25, truth[1], truth[2], truth[3]]
    assert iou(best, truth) >= 0.5 or iou(best, word) >= 0.5, best


@pytest.mark.slow
def test_install_writes_where_the_runtime_looks(tmp_path: Path, monkeypatch) -> None:
    import groundlite.text.builtin as builtin

    target = tmp_path / "cache" / "text-ppocrv6-xyz"
    seen = []
    monkeypatch.setattr(builtin, "installed_package_dir", lambda name: (seen.append(name), target)[1])
    old = target / "stale.txt"
    old.parent.mkdir(parents=True)
    old.write_text("an older install")  # replaced atomically, no force needed
    out = export_text(model="text", precisions="fp32", backends="onnxruntime", install=True, progress=False)
    assert out == target and seen == ["text-ppocrv6"]
    assert not old.exists() and (target / "manifest.json").is_file()
    pkg = builtin.builtin_package("text-ppocrv6")  # the runtime now prefers the installed package
    assert pkg.root.resolve() == target.resolve() and pkg.manifest["fidelity"] == {}
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["text-ppocrv6-xyz"]  # no staging dir left
