"""The shared export pipeline's stages: choice validation, staging atomicity, no chdir, timed stages."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from groundlite.errors import ExportError
from groundlite_export._progress import Reporter
from groundlite_export.package_writer import staging_dir
from groundlite_export.pipeline import Build, _drop_unwanted, validate_combos

pytest.importorskip("onnx")


@pytest.mark.parametrize(("precisions", "backends", "expected", "fragment"), [
    ("fp32,int8", "onnxruntime", (("fp32", "int8"), ("onnxruntime",)), None),
    (["int8", "fp32", "int8"], ["openvino"], (("int8", "fp32"), ("openvino",)), None),     # order kept, duplicate dropped
    ("bf16", "onnxruntime,openvino", (("bf16",), ("onnxruntime", "openvino")), None),     # openvino ships it
    ("int4", "onnxruntime", None, "did you mean 'int8'"),
    ("fp32", "openvno", None, "did you mean 'openvino'"),
    ("", "onnxruntime", None, "at least one precision"),
    ("bf16", "onnxruntime", None, "ships bf16"),                                            # nobody ships it
])
def test_validate_combos_table(precisions, backends, expected, fragment):
    if fragment is None:
        assert validate_combos(precisions, backends) == expected
    else:
        with pytest.raises(ExportError, match=fragment) as info:
            validate_combos(precisions, backends)
        assert "--" not in str(info.value)  # library errors never name CLI flags


def test_validate_combos_against_a_family_table():
    with pytest.raises(ExportError, match="did you mean 'onnxruntime'"):
        validate_combos("fp32", "onnxrutime", allowed_backends=("onnxruntime", "openvino"))
    with pytest.raises(ExportError, match="precision in \\['fp32', 'int8'\\], got 'fp16'"):
        validate_combos("fp16", "onnxruntime", allowed_precisions=("fp32", "int8"))


def test_staging_is_atomic_and_failures_leave_nothing(tmp_path):
    out = tmp_path / "pkg"
    with pytest.raises(RuntimeError):
        with staging_dir(out) as root:
            (root / "half.onnx").write_bytes(b"x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # neither the package nor the temp dir
    with staging_dir(out) as root:
        (root / "a.txt").write_text("new")
        assert not out.exists()  # nothing visible until the block succeeds
    assert (out / "a.txt").read_text() == "new"
    with pytest.raises(ExportError, match="force=True"):
        with staging_dir(out):
            pass
    with staging_dir(out, force=True) as root:
        (root / "b.txt").write_text("replaced")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_build_times_stages_and_writes_the_manifest_fields(tmp_path):
    import json

    build = Build(root=tmp_path, scratch=tmp_path, precisions=("fp32",), backends=("onnxruntime",),
                  reporter=Reporter(False))
    build.stage("one")
    build.stage("two")
    build._close_stage()
    (tmp_path / "g.onnx").write_bytes(b"abc")
    build.add("g", "onnxruntime", "fp32", tmp_path / "g.onnx")
    build.write_manifest({"name": "x", "family": "text"})
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert set(m["build_seconds"]) == {"one", "two"} and all(v >= 0 for v in m["build_seconds"].values())
    assert m["sdk_version"] and m["created_utc"].endswith("Z") and m["name"] == "x"
    assert m["artifacts"] == [{"graph": "g", "backend": "onnxruntime", "precision": "fp32", "file": "g.onnx", "bytes": 3,
                               "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}]


def test_reference_only_artifacts_are_dropped(tmp_path):
    build = Build(root=tmp_path, scratch=tmp_path, precisions=("int8",), backends=("openvino",), reporter=Reporter(False))
    for name, backend, precision in [("onnxruntime/a.fp32.onnx", "onnxruntime", "fp32"),
                                     ("openvino/a.fp32.xml", "openvino", "fp32"),
                                     ("openvino/a.int8.xml", "openvino", "int8"),
                                     ("openvino/a.fp32.xml", "openvino", "bf16")]:  # bf16 lists the FP32 IR again
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
        if name.endswith(".xml"):
            path.with_suffix(".bin").write_bytes(b"w")
        build.add("a", backend, precision, path)
    _drop_unwanted(build, [("openvino", "int8"), ("openvino", "bf16")])
    assert [(a["backend"], a["precision"]) for a in build.artifacts] == [("openvino", "int8"), ("openvino", "bf16")]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "openvino", "openvino/a.fp32.bin", "openvino/a.fp32.xml", "openvino/a.int8.bin", "openvino/a.int8.xml"]


def _tiny_graph(path: Path) -> None:
    """Conv -> Relu -> Conv with a dynamic spatial size: symbolic shape inference is needed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(2, 4, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, "h", "w"])], [w1, w2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_onnxruntime_int8_never_changes_the_working_directory(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from groundlite_export import quantize

    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    changes = []
    real_chdir = os.chdir
    monkeypatch.setattr(os, "chdir", lambda p: (changes.append(p), real_chdir(p)))
    src = tmp_path / "tiny.onnx"
    _tiny_graph(src)
    rng = np.random.default_rng(1)
    calib = [{"x": rng.normal(size=(1, 3, 16, 24)).astype(np.float32)} for _ in range(3)]
    out = quantize.quantize_onnx_int8(src, tmp_path / "tiny.int8.onnx", calib)
    assert os.getcwd() == str(work) and changes == []
    assert list(work.iterdir()) == []  # no sym_shape_infer_temp.onnx, no <uuid>.data
    import onnx

    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops


def test_pre_process_scratch_files_stay_in_scratch(tmp_path, monkeypatch):
    """The failure path of symbolic shape inference saves a debug model into the *cwd* of the
    child process: that is the scratch folder, never ours."""
    pytest.importorskip("onnxruntime")
    from groundlite_export.quantize import pre_process

    work, scratch = tmp_path / "cwd", tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    monkeypatch.chdir(work)
    src = tmp_path / "tiny.onnx"
    _tiny_graph(src)
    how = pre_process(src, scratch / "pre.onnx", scratch)
    assert how in ("symbolic", "onnx-shape", "none") and (scratch / "pre.onnx").is_file()
    assert list(work.iterdir()) == [] and os.getcwd() == str(work)
    with pytest.raises(ExportError, match="pre-processing"):
        pre_process(tmp_path / "missing.onnx", scratch / "x.onnx", scratch)


def test_no_chdir_anywhere_in_the_exporter():
    root = Path(__file__).resolve().parents[1] / "export" / "groundlite_export"
    offenders = [p.name for p in root.rglob("*.py") if "os.chdir(" in p.read_text(encoding="utf-8")]
    assert offenders == []
