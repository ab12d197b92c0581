"""Coverage-guided fuzzing (atheris) of model-package manifest parsing.

Run: ``python tests/fuzz/fuzz_manifest.py -runs=20000 [CORPUS_DIR]``. Every input is written as
``manifest.json`` of a package that also holds small artifact files (and a file just outside it);
``open_package`` must either accept it or raise a ``groundlite.errors.GroundliteError`` — any other
exception is a bug and makes the fuzzer exit non-zero with the input saved as ``crash-*``. An
accepted package must also answer ``combos()``, ``checksum``, ``fidelity()`` and ``path()`` for
each of its entries without an untyped error, and never resolve a path outside the package.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

from groundlite import errors
from groundlite.package import open_package

# TMPDIR wins (the CI test points it at pytest's tmp_path); otherwise RAM-backed /dev/shm for speed
_BASE = os.environ.get("TMPDIR") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
_ROOT = Path(tempfile.mkdtemp(prefix="gl-fuzz-manifest-", dir=_BASE)) / "pkg"
(_ROOT / "onnxruntime").mkdir(parents=True)
(_ROOT / "openvino").mkdir()
(_ROOT / "onnxruntime" / "image_encoder.fp32.onnx").write_bytes(b"\x08\x07" * 64)
(_ROOT / "onnxruntime" / "text_encoder.fp32.onnx").write_bytes(b"\x08\x07" * 32)
(_ROOT / "openvino" / "image_encoder.fp32.xml").write_text("<net/>")
(_ROOT / "openvino" / "image_encoder.fp32.bin").write_bytes(b"\0" * 16)
(_ROOT / "tokenizer.json").write_text("{}")
(_ROOT.parent / "outside.onnx").write_bytes(b"x")
os.symlink(_ROOT.parent / "outside.onnx", _ROOT / "link.onnx")
_RESOLVED = _ROOT.resolve()


def test_one_input(data: bytes) -> None:
    (_ROOT / "manifest.json").write_bytes(data)
    for verify in (True, False):
        try:
            pkg = open_package(_ROOT, verify=verify)
            pkg.combos()
            _ = pkg.checksum
            for a in pkg.artifacts:
                pkg.fidelity(a.backend, a.precision)
                for f in a.files():
                    _inside(pkg.path(f))
            for f in pkg.files.values():
                _inside(pkg.path(f))
        except errors.GroundliteError:
            pass


def _inside(path: Path) -> None:
    full = path.resolve()
    if full != _RESOLVED and _RESOLVED not in full.parents:
        raise AssertionError(f"open_package accepted a path outside the package: {path} -> {full}")


def seed_corpus(directory: Path) -> None:
    """Write valid and near-valid manifests for the fuzzer to mutate."""
    import json

    from groundlite_export.package_writer import file_entry

    def entry(rel: str) -> dict:
        return file_entry(_ROOT, _ROOT / rel).to_dict()

    arts = [{"graph": g, "backend": "onnxruntime", "precision": "fp32", **entry(f"onnxruntime/{g}.fp32.onnx")}
            for g in ("image_encoder", "text_encoder")]
    ov = {"graph": "image_encoder", "backend": "openvino", "precision": "fp32",
          **entry("openvino/image_encoder.fp32.xml"), "extra_files": [entry("openvino/image_encoder.fp32.bin")]}
    base = {
        "schema_version": 1,
        "name": "fuzz",
        "family": "owlvit",
        "image_size": 96, "patch_size": 16, "num_regions": 36, "embed_dim": 64, "max_text_length": 16,
        "artifacts": [*arts, ov],
        "files": {"tokenizer": entry("tokenizer.json")},
        "fidelity": {"onnxruntime:int8": {"detection_agreement": 0.97, "n_images": 4}},
    }
    variants = [
        base,
        {**base, "schema_version": 2},
        {**base, "family": "text", "text": {"det_side": 960}},
        {**base, "files": {"t": {**entry("tokenizer.json"), "file": "../outside.onnx"}}},
        {**base, "artifacts": [{**arts[0], "file": "link.onnx"}]},
        {**base, "artifacts": [{**arts[0], "file": "/etc/passwd"}]},
        {**base, "artifacts": [{**ov, "extra_files": [{"file": "openvino/x.bin", "bytes": -1, "sha256": ""}]}]},
    ]
    directory.mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(variants):
        (directory / f"seed{i}.json").write_text(json.dumps(v))


if __name__ == "__main__":
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        seed_corpus(Path(corpus[0]))
    # instrument_imports() misses modules served by the editable-install finder; instrument_all does not
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
