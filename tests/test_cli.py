"""The ``groundlite`` command: in-process through ``main([...])`` (OWL packages, info, errors), and in
subprocesses where the process matters: ``python -m groundlite``, the console script, plugin
commands from entry points and what the CLI imports (``tests/test_cli_inputs.py`` covers IMAGE
arguments, ``--jsonl``/``--out`` and the text model)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import groundlite
from groundlite.cli import main
from groundlite.errors import InvalidArgumentError, InvalidImageError, PackageNotFoundError

SKIMAGE_DATA = Path(list(importlib.util.find_spec("skimage").submodule_search_locations)[0]) / "data"
CHELSEA = SKIMAGE_DATA / "chelsea.png"


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def run_python(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **(env or {})})


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


# ------------------------------------------------------------------------------------------------
# info
def test_info_lists_backends(capsys):
    rc, out, err = run(capsys, "info")
    assert rc == 0, err
    assert all(name in out for name in ("onnxruntime", "openvino", "tensorrt"))
    rc, out, _ = run(capsys, "info", "--json")
    data = json.loads(out)
    assert data["backends"]["onnxruntime"]["available"] is True
    assert "cpu" in data["backends"]["onnxruntime"]["devices"]


def test_info_of_the_builtin_text_model_says_where_it_comes_from(capsys):
    from groundlite.runtime import open_model

    manifest = open_model("text").manifest
    rc, out, err = run(capsys, "info", "text", "--json")
    assert rc == 0, err
    pkg = json.loads(out)["package"]
    assert (pkg["builtin"], pkg["name"], pkg["family"]) == ("text", manifest["name"], "text")
    assert pkg["source_id"] == manifest["source"]["id"] and pkg["source_id"].startswith("rapidocr")
    assert pkg["assembled"] == manifest.get("assembled")
    assert "onnxruntime:fp32" in pkg["combos"]
    rc, out, _ = run(capsys, "info", "text")
    assert rc == 0
    assert manifest["source"]["id"] in out
    assert ("assembled in memory" if manifest.get("assembled") else "installed full package") in out


def test_info_package_summary_and_fidelity(tiny_owlvit_package, capsys):
    rc, out, err = run(capsys, "info", tiny_owlvit_package, "--json")
    assert rc == 0, err
    pkg = json.loads(out)["package"]
    assert pkg["family"] == "owlvit" and "onnxruntime:int8" in pkg["combos"] and pkg["builtin"] is None
    assert "detection_agreement" in pkg["fidelity"]["onnxruntime:int8"]
    rc, out, _ = run(capsys, "info", tiny_owlvit_package)
    assert "fidelity vs fp32" in out and "agreement" in out and "onnxruntime:int8" in out


def test_info_refuses_a_tampered_package(tiny_owlvit_package, tmp_path, capsys):
    pkg = tmp_path / "pkg"
    shutil.copytree(tiny_owlvit_package, pkg)
    tokenizer = pkg / json.loads((pkg / "manifest.json").read_text())["files"]["tokenizer"]["file"]
    data = bytearray(tokenizer.read_bytes())
    data[10] ^= 1  # same size, different SHA-256: only a full check sees it
    tokenizer.write_bytes(bytes(data))
    rc, _, err = run(capsys, "info", pkg)
    assert rc == 4 and tokenizer.name in error_lines(err)[0]


# ------------------------------------------------------------------------------------------------
# detect / read with an OWL package
OWL_FP32 = ("--backend", "onnxruntime", "--precision", "fp32")


def test_detect_json_equals_library_predict(tiny_owlvit_package, capsys):
    rc, out, err = run(capsys, "detect", CHELSEA, "-p", "a cat", "-p", "a dog", "--model", tiny_owlvit_package,
                       *OWL_FP32, "--threshold", "0.2", "--nms-iou", "none", "--top-k", "none", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert (doc["backend"], doc["precision"]) == ("onnxruntime", "fp32")
    (result,) = doc["results"]
    assert result["error"] is None
    g = groundlite.load(tiny_owlvit_package, "onnxruntime", "cpu", "fp32", cache=False)
    ref = g.predict(CHELSEA, ["a cat", "a dog"], threshold=0.2, nms_iou=None, top_k=None).to_dict()
    assert result["phrases"] == ref["phrases"]
    assert len(result["detections"]) == len(ref["detections"]) > 0
    for a, b in zip(result["detections"], ref["detections"]):
        assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert a["xyxy"] == pytest.approx(b["xyxy"], abs=1e-2)
    assert set(result["timings_ms"]) >= {"preprocess_ms", "image_encoder_ms", "text_encoder_ms", "decode_ms"}


def test_detect_table_and_annotated_output(tiny_owlvit_package, tmp_path, capsys):
    out = tmp_path / "out.png"
    rc, stdout, err = run(capsys, "detect", CHELSEA, "-p", "a cat", "--model", tiny_owlvit_package, "--top-k", "3",
                          "--threshold", "0", "--out", out)
    assert rc == 0, err
    assert "a cat" in stdout and "3 detection(s)" in stdout
    header = next(line for line in stdout.splitlines() if "phrase" in line)
    assert all(col in header for col in ("phrase", "text", "score", "x1", "y2"))
    drawn = np.asarray(Image.open(out).convert("RGB"))
    original = np.asarray(Image.open(CHELSEA).convert("RGB"))
    assert drawn.shape == original.shape
    assert (drawn != original).any(axis=2).mean() > 0.001  # boxes and labels were drawn
    # several images go to an existing directory, one PNG per image
    (tmp_path / "dir").mkdir()
    rc, _, err = run(capsys, "detect", CHELSEA, SKIMAGE_DATA / "astronaut.png", "-p", "a cat",
                     "--model", tiny_owlvit_package, "--out", tmp_path / "dir")
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["astronaut.png", "chelsea.png"]


@pytest.mark.parametrize("args, code, message", [
    (("detect", "/nonexistent.png", "-p", "x"), 3,
     "error: /nonexistent.png: expected an image file, a directory or a glob pattern"),
    (("detect", CHELSEA, "-p", "x", "--model", "/no/such/package"), 4, "error: expected a model package directory"),
    (("detect", CHELSEA, "-p", "x", "--backend", "openvnio"), 2, "did you mean 'openvino'"),
    (("detect", CHELSEA, "-p", "   "), 2, "error: expected phrase 0 to contain non-blank text"),
    (("detect", CHELSEA, "-p", "x", "--precision", "int4"), 2, "did you mean 'int8'"),
    (("read", CHELSEA), 2, "error: expected a text model for 'read', got a 'owlvit' package"),
])
def test_errors_are_one_line_without_traceback(tiny_owlvit_package, capsys, args, code, message):
    if "--model" not in args:
        args += ("--model", tiny_owlvit_package)
    rc, _, err = run(capsys, *args)
    assert rc == code, (rc, err)
    assert message in err
    assert "Traceback" not in err
    assert len(error_lines(err)) == 1


def test_debug_raises_the_typed_error_in_process_and_prints_a_traceback_from_the_command(capsys):
    with pytest.raises(PackageNotFoundError):
        main(["detect", str(CHELSEA), "-p", "x", "--model", "/no/such/package", "--debug"])
    r = run_python("-m", "groundlite", "detect", str(CHELSEA), "-p", "x", "--model", "/no/such/package", "--debug")
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "PackageNotFoundError" in r.stderr


def test_bench_json_row(tiny_owlvit_package, capsys):
    rc, out, err = run(capsys, "bench", tiny_owlvit_package, *OWL_FP32, "--runs", "2", "--image", CHELSEA, "--json")
    assert rc == 0, err
    (row,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert (row["backend"], row["device"], row["precision"]) == ("onnxruntime", "cpu", "fp32")
    for key in ("load_ms", "first_ms", "p50_ms", "p90_ms", "fps", "peak_rss_mb"):
        assert row[key] > 0
    assert row["p90_ms"] >= row["p50_ms"]


# ------------------------------------------------------------------------------------------------
# notices and third-party logs
def test_notices_print_once_and_third_party_logs_only_with_debug(monkeypatch, tmp_path, capsys):
    import logging

    import groundlite.runtime

    def fake_load(*args, **kwargs):
        logging.getLogger("groundlite").warning("groundlite: something worth knowing")
        logging.getLogger("groundlite").warning("groundlite: something worth knowing")
        logging.getLogger("onnxruntime").warning("provider chatter")
        logging.getLogger("some.other.library").warning("more chatter")
        raise InvalidArgumentError("expected a real model, got a test double")

    monkeypatch.setattr(groundlite.runtime, "load", fake_load)
    image = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(image)
    rc, out, err = run(capsys, "detect", image, "-p", "x")
    assert rc == 2 and out == ""
    lines = err.splitlines()
    assert lines.count("note: something worth knowing") == 1
    assert lines[-1] == "error: expected a real model, got a test double"
    assert "chatter" not in err
    with pytest.raises(InvalidArgumentError):
        main(["detect", str(image), "-p", "x", "--debug"])
    err = capsys.readouterr().err
    assert "provider chatter" in err and "more chatter" in err


# ------------------------------------------------------------------------------------------------
# in subprocesses: python -m, the console script, plugins, imports
def test_python_dash_m_is_the_command(tmp_path):
    r = run_python("-m", "groundlite", "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"groundlite {groundlite.__version__}"
    r = run_python("-m", "groundlite", "detect", str(tmp_path / "missing.png"), "-p", "x")
    assert r.returncode == 3 and r.stdout == ""
    assert error_lines(r.stderr) == [f"error: {tmp_path / 'missing.png'}: expected an image file, a directory or a "
                                     "glob pattern, got a path that does not exist"]


@pytest.mark.skipif(shutil.which("groundlite") is None, reason="the groundlite console script is not installed")
def test_console_script_is_the_command():
    r = subprocess.run([shutil.which("groundlite"), "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"groundlite {groundlite.__version__}"


IMPORTS_AFTER = "import sys, groundlite.cli as c; rc = c.main({argv!r}); print(rc, {module!r} in sys.modules)"


def test_detect_never_imports_the_export_toolchain(tmp_path):
    image = tmp_path / "blank.png"
    Image.new("RGB", (64, 48), "white").save(image)
    r = run_python("-c", "import sys, groundlite.cli; print('groundlite_export' in sys.modules)")
    assert r.stdout.split() == ["False"], r.stderr
    r = run_python("-c", IMPORTS_AFTER.format(argv=["detect", str(image), "-p", "hello", "--json"],
                                              module="groundlite_export"))
    rc, imported = r.stdout.splitlines()[-1].split()
    assert rc == "0", r.stderr
    assert imported == "False"


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    """A fake installed distribution with two plugin commands: ``hello`` works, ``broken`` cannot import."""
    site = tmp_path / "site"
    info = site / "fakeplug-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\nProvides-Extra: broken\n")
    (info / "entry_points.txt").write_text(
        "[groundlite.commands]\nhello = fakeplug_hello:register\nbroken = fakeplug_broken:register\n")
    (site / "fakeplug_hello.py").write_text(textwrap.dedent("""
        def register(sub):
            p = sub.add_parser("hello", help="say hello")
            p.add_argument("--name", default="world")
            p.set_defaults(func=lambda args: print("hello", args.name) or 7)
    """))
    (site / "fakeplug_broken.py").write_text("import fakeplug_dependency_not_installed\n")
    return site


@pytest.mark.parametrize("argv, code, stdout, error, imported", [
    (["hello", "--name", "you"], 7, "hello you", None, True),
    (["broken"], 1, "", "error: expected the package 'fakeplug_dependency_not_installed' for 'groundlite broken', "
                        "got none installed; install the extra with: pip install 'fakeplug[broken]'", False),
    (["--help"], 0, "hello", None, False),  # listed, not imported
    (["info", "--json"], 0, '"backends"', None, False),  # a built-in command never looks plugins up
    (["helo"], 2, "", None, False),  # argparse: invalid choice
])
def test_plugin_commands_come_from_entry_points(plugin_site, argv, code, stdout, error, imported):
    r = run_python("-c", IMPORTS_AFTER.format(argv=argv, module="fakeplug_hello"),
                   env={"PYTHONPATH": os.pathsep.join([str(plugin_site), os.environ.get("PYTHONPATH", "")])})
    *printed, last = r.stdout.splitlines()
    assert last.split() == [str(code), str(imported)], r.stderr
    assert stdout in "\n".join(printed)
    if error is not None:
        assert error_lines(r.stderr) == [error] and "Traceback" not in r.stderr
    if argv == ["--help"]:
        assert "broken" in "\n".join(printed)


def test_export_is_a_plugin_command():
    installed = {ep.name: ep.value for ep in entry_points(group="groundlite.commands")}
    if installed.get("export") != "groundlite_export.cli:register":
        pytest.skip("installed metadata predates the export entry point: pip install --no-deps -e .")
    if importlib.util.find_spec("groundlite_export") is None:
        r = run_python("-m", "groundlite", "export", "--help")
        assert r.returncode == 1 and "groundlite[export]" in error_lines(r.stderr)[0]
        return
    r = run_python("-m", "groundlite", "export", "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: groundlite export" in r.stdout and "text" in r.stdout and "owlvit" in r.stdout
    r = run_python("-m", "groundlite", "export", "text", "--help")
    assert r.returncode == 0 and "--out" in r.stdout


# ------------------------------------------------------------------------------------------------
# drawing
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


@pytest.mark.parametrize("name, fmt", [("a.png", "PNG"), ("a.JPG", "JPEG"), ("a.webp", "WEBP"), ("a.tiff", "TIFF")])
def test_write_annotated_follows_the_suffix_and_leaves_no_temp_file(tmp_path, name, fmt):
    from groundlite.draw import annotate, write_annotated

    canvas = np.full((30, 40, 3), 255, np.uint8)
    det = groundlite.Detections([[2, 2, 30, 20]], [0.9], [0], ("thing",))
    path = write_annotated(canvas, det, tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    with Image.open(path) as im:
        assert im.format == fmt and im.size == (40, 30)
        if fmt in ("PNG", "TIFF"):  # lossless: exactly what annotate drew
            assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(annotate(canvas, det)))


def test_write_annotated_leaves_nothing_when_it_fails(tmp_path):
    from groundlite.draw import write_annotated

    det = groundlite.Detections.empty(("thing",))
    with pytest.raises(InvalidImageError):
        write_annotated(tmp_path / "missing.png", det, tmp_path / "out.png")
    with pytest.raises(InvalidArgumentError, match="suffix"):
        write_annotated(np.zeros((4, 4, 3), np.uint8), det, tmp_path / "out.xyz")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# progress bar
class _Terminal:
    """A stand-in for a terminal's stderr: records what is written, says it is a TTY."""

    def __init__(self, tty: bool) -> None:
        self.tty, self.parts = tty, []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty

    def fileno(self) -> int:
        raise OSError("not a real stream")


@pytest.mark.parametrize("tty, total, shown", [(True, 3, True), (True, 1, False), (False, 3, False)])
def test_progress_bar_only_on_a_terminal_for_several_images(monkeypatch, tty, total, shown):
    from groundlite.cli import _progress

    fake = _Terminal(tty)
    monkeypatch.setattr(sys, "stderr", fake)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    with _progress(total, "detecting") as advance:
        for _ in range(total):
            advance()
    written = "".join(fake.parts)
    assert ("detecting" in written) is shown
    if shown:
        assert "\x1b[2K" in written or "\r" in written  # transient: the bar's line is cleared at the end
