"""Hostile inputs through the ``groundlite`` command line: each bad image is one
``error: PATH: <sentence>`` line with the error's exit code and the other images still run; a bad
package is one ``error:`` line; never a traceback (``tests/test_cli.py`` covers the ordinary
argument errors, ``tests/test_cli_inputs.py`` the IMAGE arguments)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bad_inputs as bad
from groundlite.cli import main


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GROUNDLITE_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "groundlite", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
@pytest.mark.parametrize("name, code, needle", [
    ("truncated_jpeg", 3, "corrupt or truncated"),
    ("bomb_png", 3, "pixels"),
    ("non_image_bytes", 3, "no image format"),
])
def test_bad_image_file(tiny_owlvit_package, tmp_path, name, code, needle):
    path = tmp_path / f"{name}.img"
    path.write_bytes(bad.ENCODED[name]())
    r = _cli("detect", str(path), "-p", "x", "--model", str(tiny_owlvit_package), "--backend", "onnxruntime",
             cwd=tmp_path)
    assert r.returncode == code, r.stderr
    (line,) = _error_lines(r.stderr)
    assert line.startswith(f"error: {path}: ") and needle in line


@pytest.mark.slow
def test_tampered_package(tiny_owlvit_package, tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(tiny_owlvit_package, pkg, copy_function=os.link)
    (pkg / "manifest.json").unlink()
    manifest = json.loads((tiny_owlvit_package / "manifest.json").read_text())
    manifest["files"]["tokenizer"]["sha256"] = "0" * 64
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    img = tmp_path / "ok.png"
    img.write_bytes(bad.png())
    r = _cli("detect", str(img), "-p", "x", "--model", str(pkg), cwd=tmp_path)
    assert r.returncode == 4, r.stderr
    (line,) = _error_lines(r.stderr)
    assert "tokenizer.json" in line


#: file name -> bytes, written into one directory; None marks the files that must fail
HOSTILE_TREE = {
    "[red]markup.png": bad.png,   # rich markup in a name is printed as is
    "good.png": bad.png,
    "zero.png": bad.empty_bytes,
    "truncated.PNG": bad.truncated_png,
    "pdf-in-disguise.jpg": bad.non_image_bytes,
    "bomb.png": lambda: bad.ENCODED["bomb_png"](),
    "notes.txt": lambda: b"plain text",
}
FAILING = ("bomb.png", "pdf-in-disguise.jpg", "truncated.PNG", "zero.png")


def test_a_directory_of_hostile_files_reports_each_and_runs_the_rest(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    for name, make in HOSTILE_TREE.items():
        (d / name).write_bytes(make())
    (d / "loop").symlink_to(d, target_is_directory=True)  # a link loop ends
    (d / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    rc = main(["read", str(d), "--jsonl"])
    out, err = capsys.readouterr()
    assert rc == 3  # InvalidImageError
    errors = _error_lines(err)
    failing = sorted((*FAILING, "dangling.png"))
    assert sorted(line.split(": ", 2)[1] for line in errors) == [str(d / n) for n in failing]
    assert all(line.split(": ", 2)[2].startswith("expected ") for line in errors)
    assert f"skipped: {d / 'notes.txt'} (not an image type)" in err.splitlines()
    records = {Path(r["image"]).name: r for r in map(json.loads, out.splitlines())}
    assert sorted(records) == sorted([*failing, "[red]markup.png", "good.png"])  # once each, despite the loop
    assert records["good.png"]["error"] is None and records["[red]markup.png"]["error"] is None
    # the table prints names verbatim (rich markup is off)
    assert main(["read", str(d / "[red]markup.png")]) == 0
    assert "[red]markup.png" in capsys.readouterr().out
