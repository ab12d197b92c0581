"""Coverage-guided fuzzing (atheris) of model-package manifest parsing.

Run: ``python tests/fuzz/fuzz_manifest.py -runs=20000 [CORPUS_DIR]``. Every input is written as
``manifest.json`` of a package that also holds two small artifact files; ``open_package`` must
either accept it or raise a ``groundlite.errors.GroundliteError`` — any other exception is a bug
and makes the fuzzer exit non-zero with the input saved as ``crash-*``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

from groundlite import errors
from groundlite.package import open_package

_ROOT = Path(tempfile.mkdtemp(prefix="gl-fuzz-manifest-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
(_ROOT / "onnxruntime").mkdir()
(_ROOT / "onnxruntime" / "image_encoder.fp32.onnx").write_bytes(b"\x08\x07" * 64)
(_ROOT / "tokenizer.json").write_text("{}")
(_ROOT.parent / "outside.onnx").write_bytes(b"x") if os.access(_ROOT.parent, os.W_OK) else None


def test_one_input(data: bytes) -> None:
    (_ROOT / "manifest.json").write_bytes(data)
    for verify in (True, False):
        try:
            open_package(_ROOT, verify=verify)
        except errors.GroundliteError:
            pass


def seed_corpus(directory: Path) -> None:
    """Write valid and near-valid manifests for the fuzzer to mutate."""
    import json

    from groundlite.package import file_entry

    art = file_entry(_ROOT, _ROOT / "onnxruntime" / "image_encoder.fp32.onnx").to_dict()
    tok = file_entry(_ROOT, _ROOT / "tokenizer.json").to_dict()
    base = {
        "schema_version": 1,
        "family": "owlvit",
        "artifacts": [{"graph": "image_encoder", "backend": "onnxruntime", "precision": "fp32", **art}],
        "files": {"tokenizer": tok},
    }
    variants = [base, {**base, "schema_version": 2}, {**base, "files": {"t": {**tok, "file": "../x"}}}]
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
