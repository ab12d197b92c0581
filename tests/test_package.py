"""Model-package integrity: schema, safe paths and checksums (groundlite.package)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from groundlite import errors, schema
from groundlite.cache import atomic_write_bytes
from groundlite.package import Artifact, open_package, safe_join, sha256_file
from groundlite_export.package_writer import file_entry, staging_dir, write_manifest


def _make_package(root: Path) -> Path:
    """A structurally valid package whose artifacts are opaque bytes (open_package never parses them)."""
    (root / "onnxruntime").mkdir(parents=True)
    arts = []
    for graph in schema.FAMILY_GRAPHS["owlvit"]:
        p = root / "onnxruntime" / f"{graph}.fp32.onnx"
        p.write_bytes(os.urandom(256))
        arts.append(Artifact(graph, "onnxruntime", "fp32", file_entry(root, p)).to_dict())
    tok = root / "tokenizer.json"
    tok.write_text('{"model": {}}')
    manifest = {
        "schema_version": schema.SCHEMA_VERSION,
        "family": "owlvit",
        "artifacts": arts,
        "files": {"tokenizer": file_entry(root, tok).to_dict()},
    }
    write_manifest(root, manifest)
    return root


def _edit_manifest(root: Path, fn) -> None:
    m = json.loads((root / "manifest.json").read_text())
    fn(m)
    (root / "manifest.json").write_text(json.dumps(m))


def test_valid_package_opens_and_reports_combos(tmp_path):
    pkg = open_package(_make_package(tmp_path / "p"))
    assert pkg.family == "owlvit"
    assert pkg.combos() == [("onnxruntime", "fp32")]
    assert pkg.find("image_encoder", "onnxruntime", "fp32") is not None
    assert pkg.find("image_encoder", "openvino", "fp32") is None
    assert len(pkg.checksum) == 64


def test_sha256_matches_hashlib(tmp_path):
    import hashlib

    p = tmp_path / "x.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def _tamper(root):
    f = root / "onnxruntime" / "image_encoder.fp32.onnx"
    b = bytearray(f.read_bytes())
    b[10] ^= 0xFF
    f.write_bytes(bytes(b))


def _truncate(root):
    f = root / "onnxruntime" / "text_encoder.fp32.onnx"
    f.write_bytes(f.read_bytes()[:100])


def _delete(root):
    (root / "tokenizer.json").unlink()


def _schema(root):
    _edit_manifest(root, lambda m: m.update(schema_version=99))


def _dotdot(root):
    _edit_manifest(root, lambda m: m["artifacts"][0].update(file="../outside.onnx"))


def _absolute(root):
    _edit_manifest(root, lambda m: m["artifacts"][0].update(file="/etc/passwd"))


def _symlink_escape(root):
    outside = root.parent / "outside.onnx"
    outside.write_bytes(b"x")
    target = root / "onnxruntime" / "image_encoder.fp32.onnx"
    target.unlink()
    target.symlink_to(outside)


def _bad_json(root):
    (root / "manifest.json").write_text("{not json")


def _unknown_family(root):
    _edit_manifest(root, lambda m: m.update(family="yolo"))


def _unknown_backend(root):
    _edit_manifest(root, lambda m: m["artifacts"][0].update(backend="tflite"))


def _no_artifacts(root):
    _edit_manifest(root, lambda m: m.update(artifacts=[]))


def _bad_sha_field(root):
    _edit_manifest(root, lambda m: m["artifacts"][0].update(sha256="abc"))


def _manifest_missing(root):
    (root / "manifest.json").unlink()


@pytest.mark.parametrize(
    "damage, exc, fragment",
    [
        (_tamper, errors.IntegrityError, "SHA-256"),
        (_truncate, errors.IntegrityError, "bytes"),
        (_delete, errors.IntegrityError, "missing"),
        (_schema, errors.SchemaVersionError, "schema_version"),
        (_dotdot, errors.UnsafePathError, ".."),
        (_absolute, errors.UnsafePathError, "absolute"),
        (_symlink_escape, errors.UnsafePathError, "symlink"),
        (_bad_json, errors.ManifestError, "JSON"),
        (_unknown_family, errors.ManifestError, "family"),
        (_unknown_backend, errors.ManifestError, "backend"),
        (_no_artifacts, errors.ManifestError, "artifacts"),
        (_bad_sha_field, errors.ManifestError, "sha256"),
        (_manifest_missing, errors.PackageNotFoundError, "manifest.json"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_damaged_package_is_refused(tmp_path, damage, exc, fragment):
    root = _make_package(tmp_path / "p")
    damage(root)
    with pytest.raises(exc, match=None) as info:
        open_package(root)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message  # one sentence, printable by the CLI as one line


def _add_openvino_artifact(root: Path) -> None:
    """An OpenVINO-style artifact: an .xml with a .bin companion listed as extra_files."""
    (root / "openvino").mkdir()
    xml, bin_ = root / "openvino" / "image_encoder.fp32.xml", root / "openvino" / "image_encoder.fp32.bin"
    xml.write_bytes(os.urandom(64))
    bin_.write_bytes(os.urandom(512))
    art = Artifact("image_encoder", "openvino", "fp32", file_entry(root, xml), (file_entry(root, bin_),)).to_dict()
    _edit_manifest(root, lambda m: m["artifacts"].append(art))


def test_lazy_verification_checks_a_file_before_handing_it_out(tmp_path):
    root = _make_package(tmp_path / "p")
    _tamper(root)  # onnxruntime/image_encoder.fp32.onnx, same size
    pkg = open_package(root, verify="lazy")  # sizes only so far
    assert pkg.path("tokenizer.json").is_file()  # untouched files pass
    with pytest.raises(errors.IntegrityError, match="onnxruntime/image_encoder.fp32.onnx.*SHA-256"):
        pkg.path(pkg.find("image_encoder", "onnxruntime", "fp32").file)
    with pytest.raises(errors.IntegrityError, match="image_encoder.fp32.onnx"):  # stays refused
        pkg.path("onnxruntime/image_encoder.fp32.onnx")
    with pytest.raises(errors.IntegrityError, match="image_encoder.fp32.onnx"):
        pkg.verify_all()


def test_lazy_verification_covers_an_artifacts_companion_files(tmp_path):
    root = _make_package(tmp_path / "p")
    _add_openvino_artifact(root)
    f = root / "openvino" / "image_encoder.fp32.bin"
    b = bytearray(f.read_bytes())
    b[0] ^= 1
    f.write_bytes(bytes(b))
    pkg = open_package(root, verify="lazy")
    pkg.path("onnxruntime/text_encoder.fp32.onnx")  # another artifact: fine
    with pytest.raises(errors.IntegrityError, match="openvino/image_encoder.fp32.bin"):
        pkg.path("openvino/image_encoder.fp32.xml")  # the .xml brings its .bin
    with pytest.raises(errors.IntegrityError, match="openvino/image_encoder.fp32.bin"):
        open_package(root)  # the eager default checks everything at once


def test_lazy_verification_still_checks_sizes_and_presence_at_open(tmp_path):
    root = _make_package(tmp_path / "p")
    _truncate(root)
    with pytest.raises(errors.IntegrityError, match="bytes"):
        open_package(root, verify="lazy")
    root = _make_package(tmp_path / "q")
    _delete(root)
    with pytest.raises(errors.IntegrityError, match="missing"):
        open_package(root, verify="lazy")


def test_lazy_verification_hashes_each_file_once(tmp_path, monkeypatch):
    import groundlite.package as package_mod

    root = _make_package(tmp_path / "p")
    pkg = open_package(root, verify="lazy")
    hashed = []
    real = package_mod.sha256_file
    monkeypatch.setattr(package_mod, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    for _ in range(3):
        pkg.path("tokenizer.json")
        pkg.path("onnxruntime/image_encoder.fp32.onnx")
    pkg.verify_all()
    assert sorted(hashed) == ["image_encoder.fp32.onnx", "text_encoder.fp32.onnx", "tokenizer.json"]


def test_verify_argument_is_checked(tmp_path):
    with pytest.raises(ValueError, match="expected verify"):
        open_package(_make_package(tmp_path / "p"), verify="sometimes")


def test_missing_directory():
    with pytest.raises(errors.PackageNotFoundError, match="does not exist"):
        open_package("/nonexistent/groundlite-package")


@pytest.mark.parametrize("rel", ["a/../../b", "../x", "/abs", "C:\\win"])
def test_safe_join_refuses_escapes(tmp_path, rel):
    with pytest.raises(errors.UnsafePathError):
        safe_join(tmp_path, rel)


def test_staging_dir_commits_on_success(tmp_path):
    out = tmp_path / "pkg"
    with staging_dir(out) as tmp:
        (tmp / "a.txt").write_text("hello")
    assert (out / "a.txt").read_text() == "hello"
    assert [p.name for p in tmp_path.iterdir()] == ["pkg"]


def test_staging_dir_refuses_existing_without_force(tmp_path):
    out = tmp_path / "pkg"
    out.mkdir()
    with pytest.raises(errors.ExportError, match="force=True"):
        with staging_dir(out):
            pass


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_staging_dir_leaves_nothing_on_failure(tmp_path, exc):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(type(exc)):
        with staging_dir(out, force=True) as tmp:
            (tmp / "new.txt").write_text("partial")
            raise exc
    # the previous package is intact and no temp dir is left behind
    assert (out / "old.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_staging_dir_force_replaces(tmp_path):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with staging_dir(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_staging_dir_sigint_in_subprocess_leaves_no_partial(tmp_path):
    """A real SIGINT delivered mid-export removes the staging dir (KeyboardInterrupt path)."""
    import subprocess
    import sys
    import time

    out = tmp_path / "pkg"
    code = (
        "import time, sys\n"
        "from groundlite_export.package_writer import staging_dir\n"
        f"with staging_dir({str(out)!r}) as tmp:\n"
        "    (tmp / 'partial.bin').write_bytes(b'x' * 1000)\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    time.sleep(0.05)
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_bytes_replaces_whole_file(tmp_path):
    p = tmp_path / "cache.json"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    assert [x.name for x in tmp_path.iterdir()] == ["cache.json"]


def test_staging_dir_result_has_normal_permissions(tmp_path):
    out = tmp_path / "pkg"
    with staging_dir(out) as tmp:
        (tmp / "a.txt").write_text("x")
    mode = out.stat().st_mode & 0o777
    mask = os.umask(0o022)
    os.umask(mask)
    assert mode == 0o777 & ~mask
