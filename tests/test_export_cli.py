"""``groundlite export ...``: argument plumbing, validation against the format tables, exit codes."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from groundlite_export import cli as export_cli  # noqa: E402


@pytest.mark.parametrize("argv,fragment", [
    (["owlvit", "--random-init", "tiny", "--backends", "onnxrutime"], "did you mean 'onnxruntime'"),
    (["owlvit", "--random-init", "tiny", "--precision", "fp32,int4"], "did you mean 'int8'"),
    (["owlvit", "--random-init", "tiny", "--calib-method", "entropi"], "did you mean 'entropy'"),
    (["owlvit", "--random-init", "tiyn"], "did you mean 'tiny'"),
    (["owlvit"], "got neither"),
    (["owlvit", "--random-init", "tiny", "--image-size", "40"], "multiple of the patch size 16"),
])
def test_bad_arguments_exit_with_one_line(argv, fragment, tmp_path, capsys):
    rc = export_cli.main([*argv, "--out", str(tmp_path / "pkg"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 6
    assert len(err) == 1 and err[0].startswith("error: expected") and fragment in err[0]
    assert not (tmp_path / "pkg").exists()


def test_owlvit_export_through_the_main_cli(tmp_path, capsys):
    from groundlite.cli import main

    out = tmp_path / "pkg"
    rc = main(["export", "owlvit", "--random-init", "tiny", "--out", str(out), "--precision", "fp32",
               "--backends", "onnxruntime", "--image-size", "64", "--fidelity-images", "0", "--no-progress"])
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["image_size"] == 64
    assert (manifest["source"]["kind"], manifest["source"]["id"]) == ("random-init", "tiny")
    assert {(a["backend"], a["precision"]) for a in manifest["artifacts"]} == {("onnxruntime", "fp32")}
    rc = main(["export", "owlvit", "--random-init", "tiny", "--out", str(out), "--precision", "fp32",
               "--backends", "onnxruntime", "--fidelity-images", "0", "--no-progress"])
    assert rc == 6 and "--force" in capsys.readouterr().err


def test_exclude_op_types_reaches_the_manifest(tmp_path):
    out = tmp_path / "pkg"
    rc = export_cli.main(["owlvit", "--random-init", "tiny", "--out", str(out), "--precision", "int8",
                          "--backends", "onnxruntime", "--calib-size", "2", "--calib-method", "percentile",
                          "--exclude-op-types", "Softmax,LayerNormalization", "--fidelity-images", "0", "--no-progress"])
    assert rc == 0
    calib = json.loads((out / "manifest.json").read_text())["calibration"]
    assert calib["excluded_op_types"] == ["Softmax", "LayerNormalization"]
    assert calib["method"] == "percentile" and calib["size"] == 2


def test_text_subcommand_forwards_to_export_text(tmp_path, monkeypatch):
    text = pytest.importorskip("groundlite_export.text")
    calls = {}

    def spy(out, **kwargs):
        calls.update(out=out, **kwargs)
        return out

    monkeypatch.setattr(text, "export_text", spy)
    rc = export_cli.main(["text", "--out", str(tmp_path / "t"), "--precision", "int8", "--backends", "openvino",
                          "--calib-size", "3", "--force", "--no-progress"])
    assert rc == 0
    assert calls == {"out": tmp_path / "t", "model": "text-ppocrv6", "precisions": ("int8",), "backends": ("openvino",),
                     "install": False, "calib_dir": None, "calib_size": 3, "force": True, "progress": False}
    calls.clear()
    rc = export_cli.main(["text", "--install", "--model", "text-ppocrv4", "--precision", "fp32,bf16",
                          "--backends", "openvino", "--fidelity-screens", "2", "--no-progress"])
    assert rc == 0
    assert calls == {"out": None, "model": "text-ppocrv4", "precisions": ("fp32", "bf16"), "backends": ("openvino",),
                     "install": True, "calib_dir": None, "fidelity_screens": 2, "force": False, "progress": False}


def test_text_subcommand_needs_out_or_install(tmp_path, capsys):
    with pytest.raises(SystemExit):
        export_cli.main(["text", "--out", str(tmp_path / "t"), "--install"])
    with pytest.raises(SystemExit):
        export_cli.main(["text"])
    capsys.readouterr()  # argparse's usage lines
    rc = export_cli.main(["text", "--out", str(tmp_path / "t"), "--precision", "fp16", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 6 and len(err) == 1 and "did you mean" in err[0] and not (tmp_path / "t").exists()
