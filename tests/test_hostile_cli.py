"""Hostile inputs through the ``groundlite`` command line: one ``error:`` line, the error's exit
code, never a traceback (``tests/test_cli.py`` covers the ordinary argument errors)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bad_inputs as bad


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("groundlite")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from groundlite.cli import main; sys.exit(main())"]
    env = {**os.environ, "GROUNDLITE_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


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
    assert needle in _one_error_line(r)


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
    assert "tokenizer.json" in _one_error_line(r)
