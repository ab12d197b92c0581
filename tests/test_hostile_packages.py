"""Tampered, incomplete and malicious model packages through ``groundlite.load``.

Each test edits a COPY of the real tiny OWL-ViT package (``tiny_owlvit_package``) and expects a
refusal with a typed ``groundlite.errors`` exception whose message is one line naming the problem
— and, for the pickle cases, that nothing from the package ran. ``tests/test_package.py`` covers
``open_package`` on synthetic packages and ``tests/test_selection.py`` the first three classic
cases (schema version, checksum of an ONNX file, ``../``); these extend them.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import groundlite
from groundlite.errors import (BackendError, GroundliteError, IntegrityError, ManifestError, NoBackendError,
                               SchemaVersionError, UnsafePathError)
from groundlite.package import sha256_file
from groundlite_export.package_writer import file_entry

SDK = Path(groundlite.__file__).parent


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "pkg"
    shutil.copytree(src, dst)
    return dst


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def _write_manifest(root: Path, m: dict) -> None:
    (root / "manifest.json").write_text(json.dumps(m))


def _rehash(root: Path, rel: str) -> None:
    """Update the manifest entry of ``rel`` to the file's current size and SHA-256."""
    m = _manifest(root)
    fresh = file_entry(root, root / rel).to_dict()
    extras = [e for a in m["artifacts"] for e in a.get("extra_files", [])]
    for entry in [*m["artifacts"], *extras, *m["files"].values()]:
        if entry["file"] == rel:
            entry.update(bytes=fresh["bytes"], sha256=fresh["sha256"])
    _write_manifest(root, m)


def _load(root: Path, **kw):
    return groundlite.load(root, cache=False, progress=False, **kw)


def _one_line(e: BaseException) -> str:
    msg = str(e)
    assert msg and "\n" not in msg, f"expected a one-line message, got {msg!r}"
    return msg


@pytest.fixture
def pkg(tiny_owlvit_package: Path, tmp_path: Path) -> Path:
    return _copy(tiny_owlvit_package, tmp_path)


@pytest.fixture
def linked_pkg(tiny_owlvit_package: Path, tmp_path: Path) -> Path:
    """A cheap copy for tests that only edit manifest.json or add new files: artifacts are hard
    links (never written to), the manifest is a real copy."""
    dst = tmp_path / "pkg"
    shutil.copytree(tiny_owlvit_package, dst, copy_function=os.link)
    (dst / "manifest.json").unlink()
    shutil.copyfile(tiny_owlvit_package / "manifest.json", dst / "manifest.json")
    return dst


def test_untouched_copy_loads(pkg):
    g = _load(pkg, backend="onnxruntime", precision="fp32")
    assert len(g.predict(np.zeros((32, 32, 3), np.uint8), ["x"], threshold=0.0)) > 0


def test_tampered_tokenizer_names_the_file(pkg):
    tok = pkg / "tokenizer.json"
    data = bytearray(tok.read_bytes())
    data[100] ^= 0x01
    tok.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as e:
        _load(pkg)
    assert "tokenizer.json" in _one_line(e.value) and "SHA-256" in str(e.value)


def test_appended_bytes_are_a_size_mismatch(pkg):
    with open(pkg / "openvino" / "image_encoder.fp32.bin", "ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="openvino/image_encoder.fp32.bin") as e:
        _load(pkg)
    _one_line(e.value)


@pytest.mark.parametrize("rel", ["onnxruntime/text_encoder.int8.onnx", "openvino/text_encoder.fp32.bin",
                                 "tokenizer.json"])
def test_missing_file_is_named(pkg, rel):
    (pkg / rel).unlink()
    with pytest.raises(IntegrityError, match="missing") as e:
        _load(pkg)
    assert rel in _one_line(e.value)


@pytest.mark.parametrize("version", [0, 2, "1", None, 1.5])
def test_unknown_schema_version(linked_pkg, version):
    pkg = linked_pkg
    m = _manifest(pkg)
    m["schema_version"] = version
    _write_manifest(pkg, m)
    with pytest.raises(SchemaVersionError, match="schema_version") as e:
        _load(pkg)
    _one_line(e.value)


@pytest.mark.parametrize("where", ["artifact", "tokenizer", "extra_file"])
@pytest.mark.parametrize("path", ["../outside.onnx", "onnxruntime/../../outside.onnx", "/etc/passwd",
                                  "\\\\server\\share\\x.onnx", "C:\\x.onnx"])
def test_paths_outside_the_package_are_refused(linked_pkg, where, path):
    pkg = linked_pkg
    (pkg.parent / "outside.onnx").write_bytes((pkg / "onnxruntime" / "image_encoder.fp32.onnx").read_bytes())
    m = _manifest(pkg)
    if where == "artifact":
        m["artifacts"][0]["file"] = path
    elif where == "tokenizer":
        m["files"]["tokenizer"]["file"] = path
    else:
        next(a for a in m["artifacts"] if "extra_files" in a)["extra_files"][0]["file"] = path
    _write_manifest(pkg, m)
    with pytest.raises(UnsafePathError, match="inside the package") as e:
        _load(pkg)
    _one_line(e.value)


@pytest.mark.parametrize("rel", ["tokenizer.json", "onnxruntime/image_encoder.fp32.onnx"])
def test_symlink_escaping_the_package_is_refused_even_with_matching_checksum(pkg, tmp_path, rel):
    outside = tmp_path / "elsewhere" / Path(rel).name
    outside.parent.mkdir()
    shutil.copyfile(pkg / rel, outside)  # identical bytes: only the location is wrong
    (pkg / rel).unlink()
    os.symlink(outside, pkg / rel)
    assert sha256_file(pkg / rel) == sha256_file(outside)
    with pytest.raises(UnsafePathError, match="symlink") as e:
        _load(pkg)
    _one_line(e.value)


def test_symlinked_directory_escaping_the_package_is_refused(pkg, tmp_path):
    shutil.move(pkg / "openvino", tmp_path / "ov")
    os.symlink(tmp_path / "ov", pkg / "openvino")
    with pytest.raises(UnsafePathError):
        _load(pkg)


def test_symlink_inside_the_package_is_allowed(pkg):
    """A link that stays inside is harmless (e.g. a deduplicated file)."""
    rel = "onnxruntime/image_encoder.fp32.onnx"
    (pkg / "blobs").mkdir()
    shutil.move(pkg / rel, pkg / "blobs" / "ie.onnx")
    os.symlink(pkg / "blobs" / "ie.onnx", pkg / rel)
    _load(pkg, backend="onnxruntime", precision="fp32")


@pytest.mark.parametrize("rel", ["onnxruntime/image_encoder.fp32.onnx", "onnxruntime/text_encoder.fp32.onnx"])
def test_truncated_onnx_with_matching_checksum_is_a_typed_backend_error(pkg, rel):
    data = (pkg / rel).read_bytes()
    (pkg / rel).write_bytes(data[: len(data) // 3])
    _rehash(pkg, rel)
    with pytest.raises(BackendError) as e:
        _load(pkg, backend="onnxruntime", precision="fp32")
    assert isinstance(e.value, NoBackendError)
    assert Path(rel).name in _one_line(e.value)


def test_truncated_openvino_weights_with_matching_checksum_is_a_typed_backend_error(pkg):
    rel = "openvino/image_encoder.fp32.bin"
    data = (pkg / rel).read_bytes()
    (pkg / rel).write_bytes(data[: len(data) // 2])
    _rehash(pkg, rel)
    with pytest.raises(BackendError) as e:
        _load(pkg, backend="openvino", precision="fp32")
    _one_line(e.value)


def test_truncated_artifact_under_auto_falls_back_to_a_working_one(pkg):
    rel = "onnxruntime/image_encoder.fp32.onnx"
    (pkg / rel).write_bytes(b"\x08\x07garbage")
    _rehash(pkg, rel)
    g = _load(pkg, precision="fp32")
    assert (g.backend_info.backend, g.backend_info.precision) == ("openvino", "fp32")


def test_random_bytes_as_tokenizer_is_a_manifest_error(pkg):
    (pkg / "tokenizer.json").write_bytes(os.urandom(256))
    _rehash(pkg, "tokenizer.json")
    with pytest.raises(ManifestError, match="tokenizer") as e:
        _load(pkg, backend="onnxruntime", precision="fp32")
    _one_line(e.value)


# --- nothing in a package is ever executed or unpickled -------------------------------------
class _Payload:
    """Unpickling this creates ``marker``: proof that something loaded the pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickle_bomb(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(_Payload(marker)))


def test_pickle_payload_works_as_a_probe(tmp_path):
    """The probe itself must fire when something does unpickle it (else the tests below prove nothing)."""
    marker = tmp_path / "fired"
    _pickle_bomb(tmp_path / "p.pkl", marker)
    pickle.loads((tmp_path / "p.pkl").read_bytes())
    assert marker.exists()


def test_unlisted_pickle_files_are_ignored(linked_pkg, tmp_path):
    pkg = linked_pkg
    marker = tmp_path / "fired"
    for name in ("model.pkl", "onnxruntime/weights.pt", "openvino/cache.pickle", "tokenizer.pkl"):
        _pickle_bomb(pkg / name, marker)
    g = _load(pkg)
    g.predict(np.zeros((32, 32, 3), np.uint8), ["x"])
    assert not marker.exists()


@pytest.mark.parametrize("role", ["image_encoder_artifact", "tokenizer"])
def test_listed_pickle_file_is_refused_and_never_unpickled(linked_pkg, tmp_path, role):
    pkg = linked_pkg
    marker = tmp_path / "fired"
    rel = "onnxruntime/image_encoder.fp32.pt" if role != "tokenizer" else "tokenizer.pkl"
    _pickle_bomb(pkg / rel, marker)
    m = _manifest(pkg)
    entry = m["artifacts"][0] if role != "tokenizer" else m["files"]["tokenizer"]
    entry.update(file_entry(pkg, pkg / rel).to_dict())
    _write_manifest(pkg, m)
    with pytest.raises(GroundliteError) as e:
        _load(pkg, backend="onnxruntime", precision="fp32")
    _one_line(e.value)
    assert not marker.exists()


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal", "cloudpickle", "torch"}


def _runtime_sources() -> list[Path]:
    files = sorted(p for p in SDK.rglob("*.py") if "export" not in p.relative_to(SDK).parts)
    assert len(files) > 20 and SDK / "package.py" in files
    return files


def _scan(source: str) -> list[str]:
    """Every import of a (un)pickling module, eval/exec/compile call, ``x.load`` of torch/pickle/
    yaml/marshal and ``allow_pickle`` other than ``False`` in ``source``."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            problems += [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FORBIDDEN_MODULES:
            problems.append(node.module)
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            builtin = isinstance(f, ast.Name) or (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                                                  and f.value.id == "builtins")
            if builtin and name in FORBIDDEN_CALLS:  # re.compile(...) is fine, compile(...) is not
                problems.append(f"{name}() at line {node.lineno}")
            if name in ("load", "loads") and isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                    and f.value.id in ("torch", "pickle", "yaml", "marshal"):
                problems.append(f"{f.value.id}.{name}() at line {node.lineno}")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    problems.append(f"allow_pickle at line {node.lineno}")
    return problems


@pytest.mark.parametrize("path", _runtime_sources(), ids=lambda p: str(p.relative_to(SDK)))
def test_runtime_source_has_no_code_loading(path):
    """The runtime (sdk/groundlite, not the export toolchain) never unpickles or evaluates anything."""
    assert not _scan(path.read_text(encoding="utf-8"))


def test_code_scan_catches_what_it_looks_for():
    """The scanner is not vacuous: it flags each pattern in a planted source."""
    found = " ".join(_scan("import pickle\nimport numpy as np\nx = np.load('a', allow_pickle=True)\n"
                           "eval('1')\nexec('pass')\nimport torch\ntorch.load('m.pt')\nfrom dill import loads\n"
                           "import builtins\nbuiltins.compile('x', 'f', 'exec')\n"))
    for needle in ("pickle", "allow_pickle", "eval()", "exec()", "torch", "torch.load()", "dill", "compile()"):
        assert needle in found
    assert _scan("import re\nre.compile('a+')\n") == []
