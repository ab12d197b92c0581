"""Which layers of the PP-OCRv6 text detector and recogniser break under INT8 — measured on REAL text.

The previous INT8 recogniser (PP-OCRv4) dropped letters on real screenshots while an "agreement"
stored from generated images said 0.98. This program measures, on real line crops and real
screenshots only, where INT8 loses information and which layers must stay float:

1. **Data.** Real screenshots (``labels.jsonl`` + ``images/``, splits ``tune`` / ``test``; default
   ``/tmp/realscreens_full`` then ``export/groundlite_export/assets/realscreens``) or, with ``--photos`` / when no set
   exists, scikit-image's real photos ``page.png`` (tune) and ``text.png`` (test). Recogniser feeds
   are what groundlite's own FP32 pipeline produces: ``g.detect`` quads, ``crop_line``,
   ``plan_batches``, ``prepare_batch``. Calibration uses the tune split, every metric the test split.
2. **Graphs.** The FP32 graphs of the ``rapidocr==3.10.0`` wheel prepared exactly as the exporter
   does (``groundlite_export.text.prepare_graph``: schema tensor names, opset 17, onnxslim folding),
   so the node names written to the keep-float file are the names the exporter quantises.
3. **Per-layer SQNR** with ONNX Runtime's ``qdq_loss_debug`` on held-out real inputs: for every
   quantised Conv/MatMul, the SQNR of its quantised input activation (``qdq_err``), of its
   per-channel weight, their combination ("local", noise powers added), and the cross-model SQNR
   of its output (float model vs QDQ model: the error accumulated up to that layer).
4. **Greedy keep-float study.** Layers sorted by local SQNR, worst first; the k worst stay float for
   growing k until the recogniser's INT8 reads match the FP32 reads on the test lines with
   character error rate <= 0.5 % and word accuracy >= 99 % (detector: line-box agreement at
   IoU >= 0.5 >= 99 %). Each variant is timed (batch of 8 real crops at width 320; detector input
   1x3x1088x1920; median of ``--repeat`` runs, 2 threads) on ONNX Runtime, and the chosen set is
   applied to OpenVINO/NNCF too, next to OpenVINO FP32 and BF16 (``INFERENCE_PRECISION_HINT=bf16``).

Writes ``benchmarks/results/quant_sensitivity.md`` (+ ``.jsonl`` rows) and, with ``--write-assets``,
``export/groundlite_export/assets/text_int8_keep_float.json`` (node-name regexes per graph and backend, checked to
match nodes). Usage::

    python benchmarks/quant_sensitivity.py --quick          # a few screens, fewer steps (minutes)
    python benchmarks/quant_sensitivity.py --write-assets   # the full study + the keep-float file

The machine may be shared: load averages at start and end are recorded; compare rows of one run.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl, env_info, markdown_table  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
ASSET = REPO / "export" / "groundlite_export" / "assets" / "text_int8_keep_float.json"
MODEL = "text-ppocrv6"
DATA_DIRS = (Path("/tmp/realscreens_full"), REPO / "export" / "groundlite_export" / "assets" / "realscreens")

#: recogniser acceptance: INT8 reads vs FP32 reads on the test-split lines
TARGET_CER = 0.005
TARGET_WORD_ACCURACY = 0.99
#: detector acceptance: fraction of line boxes paired at IoU >= 0.5 (symmetric, see box_agreement)
TARGET_BOX_AGREEMENT = 0.99
BOX_IOU = 0.5
QUANT_OP_TYPES = ("Conv", "MatMul", "Gemm")
#: how many of the worst-SQNR layers stay float at each greedy step
REC_STEPS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48)
DET_STEPS = (0, 1, 2, 4, 8, 16)
THREADS = 2
REC_TIMING_SHAPE = (8, 3, 48, 320)
DET_TIMING_HW = (1088, 1920)


# ----------------------------------------------------------------------------------------------
# Pure helpers (unit-tested in tests/test_bench_quant_sensitivity.py)
# ----------------------------------------------------------------------------------------------
def levenshtein(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Edit distance (insertions, deletions, substitutions of one item) between two sequences: the
    exporter's own fidelity metric (:func:`groundlite_export.text_fidelity.levenshtein`), so this
    study and the manifest's CER count the same way."""
    from groundlite_export.text_fidelity import levenshtein as _lev

    return _lev(a, b)  # type: ignore[arg-type]


def text_agreement(reference: Sequence[str], candidate: Sequence[str]) -> dict[str, float | int]:
    """How closely ``candidate`` reads reproduce ``reference`` reads, line by line (same order).

    Returns ``cer`` (summed character edit distance / reference characters), ``word_accuracy``
    (1 - summed word edit distance / reference words, at least 0), ``line_exact`` (fraction of
    identical lines) and the counts ``n_lines``, ``n_chars``, ``n_words``.
    """
    if len(reference) != len(candidate):
        raise ValueError(f"expected as many candidate lines as reference lines, got {len(candidate)} and {len(reference)}")
    chars = char_err = words = word_err = exact = 0
    for ref, hyp in zip(reference, candidate):
        chars += len(ref)
        char_err += levenshtein(ref, hyp)
        rw, hw = ref.split(), hyp.split()
        words += len(rw)
        word_err += levenshtein(rw, hw)
        exact += ref == hyp
    n = len(reference)
    return {
        "cer": char_err / chars if chars else 0.0,
        "word_accuracy": max(0.0, 1.0 - word_err / words) if words else 1.0,
        "line_exact": exact / n if n else 1.0,
        "n_lines": n, "n_chars": chars, "n_words": words,
    }


def _pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_agreement(reference: np.ndarray, candidate: np.ndarray, iou: float = BOX_IOU) -> tuple[int, float]:
    """Pair xyxy boxes one-to-one (greedy, highest IoU first, pairs need IoU >= ``iou``).

    Returns ``(matched, agreement)`` with agreement = 2 * matched / (n_reference + n_candidate):
    1.0 only when every box of each side has a partner (missing *and* extra boxes count);
    1.0 for two empty sets.
    """
    n_ref, n_cand = len(reference), len(candidate)
    if n_ref + n_cand == 0:
        return 0, 1.0
    if n_ref == 0 or n_cand == 0:
        return 0, 0.0
    m = _pairwise_iou(reference, candidate)
    used_r, used_c = set(), set()
    matched = 0
    for flat in np.argsort(-m, axis=None, kind="stable"):
        r, c = divmod(int(flat), n_cand)
        if m[r, c] < iou:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        matched += 1
    return matched, 2.0 * matched / (n_ref + n_cand)


def power_to_db(signal: float, noise: float) -> float:
    """SQNR in dB from summed squared signal and summed squared noise (inf for zero noise)."""
    if noise <= 0.0:
        return math.inf
    if signal <= 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def combine_db(*sqnr_db: float) -> float:
    """SQNR of independent noise sources added together: noise powers (relative to the signal) add."""
    rel = sum(10.0 ** (-s / 10.0) for s in sqnr_db if not math.isnan(s) and s != math.inf)
    return math.inf if rel == 0 else -10.0 * math.log10(rel)


def rank_layers(rows: Iterable[dict[str, Any]], key: str = "local_db") -> list[dict[str, Any]]:
    """Rows sorted worst first (lowest ``key`` dB; NaN last), ties by node name for a stable order."""
    def sort_key(r: dict[str, Any]) -> tuple[bool, float, str]:
        v = float(r.get(key, math.nan))
        return (math.isnan(v), v, str(r["node"]))
    return sorted(rows, key=sort_key)


def anchored(names: Iterable[str]) -> list[str]:
    """Exact-match regular expressions (``^name$``) for node names, in the given order."""
    return ["^" + re.escape(n) + "$" for n in names]


def openvino_names(onnx_nodes: Iterable[str], ov_names: Iterable[str]) -> dict[str, list[str]]:
    """Map ONNX node names to the OpenVINO friendly names ``ov.convert_model`` gives the same op.

    OpenVINO keeps the ONNX node name as the friendly name, except that a convolution with a bias
    becomes ``<name>/WithoutBiases`` (the Convolution) plus ``<name>`` (the bias Add); the weight
    op is wanted, so ``/WithoutBiases`` is preferred. ONNX names with no OpenVINO op map to [].
    """
    available = set(ov_names)
    out: dict[str, list[str]] = {}
    for name in onnx_nodes:
        if f"{name}/WithoutBiases" in available:
            out[name] = [f"{name}/WithoutBiases"]
        elif name in available:
            out[name] = [name]
        else:
            out[name] = []
    return out


def unmatched_patterns(patterns: Iterable[str], names: Iterable[str]) -> list[str]:
    """Patterns (``re.search``, as the exporter applies them) that match none of ``names``."""
    names = list(names)
    return [p for p in patterns if not any(re.search(p, n) for n in names)]


def first_passing(rows: Sequence[dict[str, Any]], passes: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The first row (fewest layers kept float) for which ``passes`` holds, or None."""
    return next((r for r in rows if passes(r)), None)


def rec_passes(row: dict[str, Any]) -> bool:
    """The recogniser acceptance test (:data:`TARGET_CER`, :data:`TARGET_WORD_ACCURACY`)."""
    return row["cer"] <= TARGET_CER and row["word_accuracy"] >= TARGET_WORD_ACCURACY


def det_passes(row: dict[str, Any]) -> bool:
    """The detector acceptance test (:data:`TARGET_BOX_AGREEMENT`)."""
    return row["box_agreement"] >= TARGET_BOX_AGREEMENT


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
@dataclass
class Screen:
    name: str
    split: str
    rgb: np.ndarray


@dataclass
class RecBatch:
    screen: str
    split: str
    feeds: np.ndarray  # float32 [B,3,48,W]


@dataclass
class Data:
    description: str
    screens: list[Screen]
    rec: list[RecBatch] = field(default_factory=list)

    def split(self, name: str) -> list[Screen]:
        return [s for s in self.screens if s.split == name]

    def rec_split(self, name: str) -> list[RecBatch]:
        return [b for b in self.rec if b.split == name]


def _load_rgb(path: Path) -> np.ndarray:
    from groundlite.images import load_image

    return np.ascontiguousarray(load_image(str(path)))


def _label_rows(root: Path) -> list[dict[str, Any]]:
    """``labels.jsonl`` rows, or — while a set is still being generated and only ``images/``
    exists — one row per image with the split the generator gives its source page
    (``benchmarks/realscreens/generate.py``: ``split_of(page.ident)``, page = longest key prefix)."""
    labels = root / "labels.jsonl"
    if labels.is_file():
        return [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    from realscreens.generate import PAGES, split_of

    rows = []
    for path in sorted((root / "images").glob("*.png")):
        pages = [pg for pg in PAGES if path.stem.startswith(pg.key + "-")]
        if pages:
            page = max(pages, key=lambda pg: len(pg.key))
            rows.append({"image": f"images/{path.name}", "split": split_of(page.ident)})
    return rows


def load_screens(data_dir: Path | None, limit: int | None, photos: bool,
                 max_side: int | None = None) -> tuple[str, list[Screen]]:
    """Real screenshots of ``data_dir`` (or the first set that exists), else scikit-image photos.

    ``limit``: screens per split (spread evenly over the set); ``max_side``: skip larger screens.
    """
    dirs = [data_dir] if data_dir is not None else [
        d for d in DATA_DIRS if (d / "labels.jsonl").is_file() or (d / "images").is_dir()]
    screens: list[Screen] = []
    description = ""
    if dirs and not photos:
        root = dirs[0]
        rows = _label_rows(root)
        by_split: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_split.setdefault(row.get("split", "test"), []).append(row)
        skipped = 0
        for split, items in sorted(by_split.items()):
            chosen = []
            for row in items:
                path = root / row["image"] if (root / row["image"]).is_file() else root / "images" / row["image"]
                if max_side is not None:
                    from PIL import Image

                    with Image.open(path) as im:
                        if max(im.size) > max_side:
                            skipped += 1
                            continue
                chosen.append(path)
            if limit is not None and len(chosen) > limit:
                chosen = [chosen[i] for i in np.linspace(0, len(chosen) - 1, limit).round().astype(int)]
            screens += [Screen(path.stem, split, _load_rgb(path)) for path in chosen]
        counts = {k: sum(s.split == k for s in screens) for k in sorted(by_split)}
        description = (f"real screenshots {root} ({', '.join(f'{k}: {v}' for k, v in counts.items())} of "
                       f"{len(rows)}" + (f"; {skipped} screens wider/taller than {max_side} px skipped" if skipped else "")
                       + ("; split by the generator's page rule, labels.jsonl not yet written"
                          if not (root / "labels.jsonl").is_file() else "") + ")")
    if not screens:
        import skimage.data

        screens = [Screen("skimage/page.png", "tune", np.stack([skimage.data.page()] * 3, -1)),
                   Screen("skimage/text.png", "test", np.stack([skimage.data.text()] * 3, -1))]
        description = "scikit-image real photos: page.png (tune), text.png (test)"
    return description, screens


# ----------------------------------------------------------------------------------------------
# Sessions
# ----------------------------------------------------------------------------------------------
class OrtGraph:
    """One ONNX Runtime CPU session, ``run(x) -> first output``."""

    def __init__(self, path: Path, threads: int = THREADS) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: x})[0]


class OvGraph:
    """One OpenVINO CPU compiled model (``precision``: "f32" or "bf16" inference precision)."""

    def __init__(self, path: Path, precision: str = "f32", threads: int = THREADS) -> None:
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision,
                  "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        self.compiled = core.compile_model(str(path), "CPU", config)
        self.request = self.compiled.create_infer_request()
        #: what the plug-in actually runs (it falls back to f32 on CPUs without BF16 support)
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.inference_precision = str(getattr(hint, "to_string", lambda: hint)())

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.array(self.request.infer([x])[0])


class _AsGrounderSession:
    """Lets a grounder's detector stage run another graph (the grounder's tensor names kept)."""

    def __init__(self, graph: Any, in_name: str, out_name: str) -> None:
        self.graph, self.input_names, self.output_names = graph, (in_name,), (out_name,)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {self.output_names[0]: self.graph.run(feeds[self.input_names[0]])}


# ----------------------------------------------------------------------------------------------
# The study
# ----------------------------------------------------------------------------------------------
def _source_files() -> dict[str, Path]:
    import importlib.util

    from groundlite import schema
    from groundlite.text.models import builtin_text_model

    spec = builtin_text_model(MODEL)
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise SystemExit(f"error: expected the {spec.distribution}=={spec.version} wheel to be installed, got none")
    root = Path(list(found.submodule_search_locations)[0])
    return {schema.GRAPH_TEXT_DETECTOR: root / spec.detector, schema.GRAPH_TEXT_RECOGNIZER: root / spec.recognizer}


def prepared_graphs(work: Path) -> dict[str, Path]:
    """The FP32 graphs as the exporter prepares them (schema names, opset 17, onnxslim)."""
    from groundlite_export.text import prepare_graph

    out = {}
    for graph, src in _source_files().items():
        path = work / f"{graph}.fp32.onnx"
        if not path.is_file():
            prepare_graph(src, graph, path)
        out[graph] = path
    return out


def quantized_nodes(path: Path) -> list[dict[str, str]]:
    """The nodes ``quantize_onnx_int8`` quantises: name, op type, activation input, weight, output."""
    import onnx

    from groundlite_export.quantize import select_quantized_nodes

    model = onnx.load(str(path))
    names, _ = select_quantized_nodes(model, op_types=QUANT_OP_TYPES)
    by_name = {n.name: n for n in model.graph.node}
    weights = {i.name for i in model.graph.initializer}
    rows = []
    for name in names:
        node = by_name[name]
        act, weight = (node.input[0], node.input[1]) if node.input[1] in weights else (node.input[1], node.input[0])
        rows.append({"node": name, "op": node.op_type, "input": act, "weight": weight, "output": node.output[0]})
    return rows


def build_rec_feeds(g: Any, screens: Sequence[Screen], max_batches: int | None) -> list[RecBatch]:
    """Recogniser batches of the FP32 pipeline: detected quads -> rectified crops -> batches."""
    from groundlite.text.recognize import crop_line, plan_batches, prepare_batch

    cfg = g.config
    out = []
    for s in screens:
        bgr = np.ascontiguousarray(s.rgb[:, :, ::-1])
        quads, _ = g.detect(s.rgb)
        crops = [crop_line(bgr, q).image for q in quads]
        ratios = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        for idx, width in plan_batches(ratios, cfg):
            batch, _ = prepare_batch([crops[i] for i in idx], width, cfg)
            out.append(RecBatch(s.name, s.split, batch))
    if max_batches is not None and len(out) > max_batches:
        keep = np.linspace(0, len(out) - 1, max_batches).round().astype(int)
        out = [out[i] for i in keep]
    return out


def read_lines(graph: Any, batches: Sequence[RecBatch], charset: Sequence[str], blank: int) -> list[str]:
    from groundlite.text.recognize import decode

    texts = []
    for b in batches:
        for dec in decode(graph.run(b.feeds), blank):
            texts.append("".join(charset[int(k)] for k in dec.labels))
    return texts


def quantize_ort(fp32: Path, out: Path, calibration: list[dict[str, np.ndarray]], keep: Sequence[str]) -> Path:
    from groundlite_export.quantize import quantize_onnx_int8

    return quantize_onnx_int8(fp32, out, calibration, op_types=QUANT_OP_TYPES, exclude_nodes=anchored(keep))


def quantize_ov(fp32: Path, out: Path, calibration: list[dict[str, np.ndarray]], keep_ov: Sequence[str],
                model_type: str | None) -> Path:
    from groundlite_export.quantize import quantize_openvino_int8

    return quantize_openvino_int8(fp32, out, calibration, model_type=model_type, ignored_patterns=anchored(keep_ov))


def layer_sqnr(fp32: Path, qdq: Path, nodes: list[dict[str, str]], inputs: Sequence[np.ndarray],
               work: Path, chunk: int = 4) -> list[dict[str, Any]]:
    """Per quantised node SQNR (dB) with ``onnxruntime.quantization.qdq_loss_debug``.

    For each node of ``nodes``: ``act_db`` = SQNR of its input activation through its own
    Quantize/Dequantize pair (``qdq_err``), ``weight_db`` = SQNR of its dequantised per-channel
    weight, ``local_db`` = both noises added, ``input_xmodel_db`` / ``output_xmodel_db`` = float
    model vs QDQ model at its input / output (everything upstream included). Activations are
    collected ``chunk`` inputs at a time (bounded memory); signal and noise powers are summed over all
    inputs, so each value covers every element of every input.
    """
    import onnx
    from onnxruntime.quantization import qdq_loss_debug as qd
    from onnxruntime.quantization.calibrate import CalibrationDataReader

    name = onnx.load(str(fp32), load_external_data=False).graph.input[0].name
    aug_f, aug_q = work / f"{fp32.stem}.aug.onnx", work / f"{qdq.stem}.aug.onnx"
    qd.modify_model_output_intermediate_tensors(str(fp32), str(aug_f), op_types_for_saving=list(QUANT_OP_TYPES))
    qd.modify_model_output_intermediate_tensors(str(qdq), str(aug_q), op_types_for_saving=[*QUANT_OP_TYPES, "QuantizeLinear"])

    class _Chunk(CalibrationDataReader):
        def __init__(self, xs: Sequence[np.ndarray]) -> None:
            self.items = [{name: x} for x in reversed(xs)]

        def get_next(self) -> dict[str, np.ndarray] | None:
            return self.items.pop() if self.items else None

    def powers(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> tuple[float, float]:
        x = np.concatenate([np.ravel(t) for t in a]).astype(np.float64)
        y = np.concatenate([np.ravel(t) for t in b]).astype(np.float64)
        return float(np.dot(x, x)), float(np.dot(x - y, x - y))

    acc: dict[tuple[str, str], list[float]] = {}

    def add(key: tuple[str, str], sig_noise: tuple[float, float]) -> None:
        a = acc.setdefault(key, [0.0, 0.0])
        a[0] += sig_noise[0]
        a[1] += sig_noise[1]

    for start in range(0, len(inputs), chunk):
        xs = inputs[start:start + chunk]
        fa = qd.collect_activations(str(aug_f), _Chunk(xs))
        qa = qd.collect_activations(str(aug_q), _Chunk(xs))
        match = qd.create_activation_matching(qa, fa)
        for tensor, errs in qd.compute_activation_error(match, err_func=powers).items():
            add(("qdq", tensor), errs["qdq_err"])
            if "xmodel_err" in errs:
                add(("xmodel", tensor), errs["xmodel_err"])
        for n in nodes:
            if n["output"] in fa and n["output"] in qa:
                add(("out", n["output"]), powers(fa[n["output"]], qa[n["output"]]))
        del fa, qa, match
    weights = qd.compute_weight_error(qd.create_weight_matching(str(fp32), str(qdq)))

    def db(kind: str, tensor: str) -> float:
        a = acc.get((kind, tensor))
        return power_to_db(*a) if a else math.nan

    rows = []
    for i, n in enumerate(nodes):
        act, w = db("qdq", n["input"]), float(weights.get(n["weight"], math.nan))
        rows.append({**n, "index": i, "act_db": act, "weight_db": w, "local_db": combine_db(act, w),
                     "input_xmodel_db": db("xmodel", n["input"]), "output_xmodel_db": db("out", n["output"])})
    return rows


def timing_batch(g: Any, screens: Sequence[Screen]) -> np.ndarray:
    """A batch of 8 real line crops at width 320 (the recogniser latency input)."""
    from groundlite.text.recognize import crop_line, prepare_batch

    crops: list[np.ndarray] = []
    for s in screens:
        bgr = np.ascontiguousarray(s.rgb[:, :, ::-1])
        crops += [crop_line(bgr, q).image for q in g.detect(s.rgb)[0]]
        if len(crops) >= REC_TIMING_SHAPE[0]:
            break
    if not crops:
        raise SystemExit("error: expected text lines in the test screens for the timing batch, got none")
    crops = (crops * REC_TIMING_SHAPE[0])[: REC_TIMING_SHAPE[0]]
    return prepare_batch(crops, REC_TIMING_SHAPE[3], g.config)[0]


def timing_image(g: Any, screens: Sequence[Screen]) -> np.ndarray:
    """A real screen resized to the 1x3x1088x1920 detector latency input."""
    import cv2

    from groundlite.text.detect import prepare_detector_input

    bgr = np.ascontiguousarray(screens[0].rgb[:, :, ::-1])
    bgr = cv2.resize(bgr, (DET_TIMING_HW[1], DET_TIMING_HW[0]), interpolation=cv2.INTER_AREA)
    return prepare_detector_input(bgr, g.config, 1.0)


def det_inputs(g: Any, screens: Sequence[Screen], max_side: int | None) -> list[np.ndarray]:
    """Detector inputs at the pipeline's base scale, downscaled so the long side is <= ``max_side``."""
    from groundlite.text.detect import base_scale, prepare_detector_input

    out = []
    for s in screens:
        h, w = s.rgb.shape[:2]
        scale = base_scale(h, w, g.config)
        if max_side is not None:
            scale = min(scale, max_side / max(h, w))
        out.append(prepare_detector_input(np.ascontiguousarray(s.rgb[:, :, ::-1]), g.config, scale))
    return out


def interleaved_ms(timers: Sequence[tuple[Any, np.ndarray]], repeat: int, warmup: int = 2) -> list[float]:
    """Median ms of ``graph.run(x)`` per (graph, x), the runs of all graphs interleaved round-robin
    (a shared machine's load changes during a run; interleaving spreads it evenly over the variants)."""
    times: list[list[float]] = [[] for _ in timers]
    for graph, x in timers:
        for _ in range(warmup):
            graph.run(x)
    for _ in range(repeat):
        for i, (graph, x) in enumerate(timers):
            t0 = time.perf_counter()
            graph.run(x)
            times[i].append((time.perf_counter() - t0) * 1e3)
    return [round(float(np.median(t)), 2) for t in times]


def _edge_keep(nodes: list[dict[str, str]], graph: str) -> list[str]:
    """What the exporter keeps float today (``groundlite_export.text._edge_nodes``): first conv and,
    for the detector, the last conv; for the recogniser, the last MatMul (CTC classifier)."""
    convs = [n["node"] for n in nodes if n["op"] == "Conv"]
    if graph.endswith("detector"):
        return [convs[0], convs[-1]]
    return [convs[0], [n["node"] for n in nodes if n["op"] == "MatMul"][-1]]


@dataclass
class Context:
    args: argparse.Namespace
    work: Path
    g: Any
    data: Data
    paths: dict[str, Path]
    rows: list[dict[str, Any]] = field(default_factory=list)
    sqnr: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    chosen: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: (row, graph, input): every variant is timed at the end, interleaved (see interleaved_ms)
    timers: list[tuple[dict[str, Any], Any, np.ndarray]] = field(default_factory=list)

    def checkpoint(self) -> None:
        """Save what is measured so far (a run cut short still leaves its rows for ``--merge``)."""
        from groundlite.cache import atomic_write_bytes

        graphs = "+".join(sorted(self.args.graphs.split(",")))
        state = {"rows": self.rows, "sqnr": self.sqnr, "chosen": self.chosen, "notes": self.notes,
                 "data": self.data.description, "load_start": os.getloadavg(), "load_end": os.getloadavg(),
                 "seconds": math.nan, "partial": True}
        atomic_write_bytes(self.work / f"state.{graphs}.partial.json", json.dumps(state, default=float).encode())

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _ov_names(path: Path) -> list[str]:
    import openvino as ov

    return [o.get_friendly_name() for o in ov.convert_model(str(path)).get_ordered_ops()]


def study_recognizer(ctx: Context) -> None:
    from groundlite import schema

    graph = schema.GRAPH_TEXT_RECOGNIZER
    g, args, fp32 = ctx.g, ctx.args, ctx.paths[schema.GRAPH_TEXT_RECOGNIZER]
    tune, test = ctx.data.rec_split("tune"), ctx.data.rec_split("test")
    if not tune or not test:
        raise SystemExit(f"error: expected recogniser batches in both splits, got {len(tune)} tune and {len(test)} test")
    charset, blank = g.charset, g.config.blank_index
    in_name = OrtGraph(fp32).input
    calib = [{in_name: b.feeds} for b in tune]
    x_time = timing_batch(g, ctx.data.split("test"))
    ref_graph = OrtGraph(fp32)
    reference = read_lines(ref_graph, test, charset, blank)
    ctx.log(f"recogniser: {len(calib)} tune batches, {len(test)} test batches ({len(reference)} lines)")

    def row(backend: str, precision: str, variant: str, graph_: Any, kept: Sequence[str]) -> dict[str, Any]:
        r = {"graph": graph, "backend": backend, "precision": precision, "variant": variant,
             "kept_float": len(kept), "kept": list(kept), "runs_as": getattr(graph_, "inference_precision", None),
             **text_agreement(reference, read_lines(graph_, test, charset, blank)),
             "ms": math.nan, "timing_input": "8x3x48x320"}
        ctx.rows.append(r)
        ctx.timers.append((r, graph_, x_time))
        ctx.checkpoint()
        ctx.log(f"  {backend} {precision} {variant}: CER {r['cer']:.4f} word acc {r['word_accuracy']:.4f} "
                f"lines {r['line_exact']:.3f}")
        return r

    row("onnxruntime", "fp32", "fp32", ref_graph, [])
    nodes = quantized_nodes(fp32)
    q0 = quantize_ort(fp32, ctx.work / "rec.int8.k0.onnx", calib, [])
    sq_inputs = [b.feeds for b in test[: args.sqnr_batches]]
    ctx.log(f"  SQNR over {len(sq_inputs)} test batches, {len(nodes)} quantised nodes")
    ranked = rank_layers(layer_sqnr(fp32, q0, nodes, sq_inputs, ctx.work))
    ctx.sqnr[graph] = ranked
    edge = _edge_keep(nodes, graph)
    row("onnxruntime", "int8", "exporter default (first conv + CTC matmul float)",
        OrtGraph(quantize_ort(fp32, ctx.work / "rec.int8.edge.onnx", calib, edge)), edge)
    greedy = []
    for k in [k for k in args.rec_steps if k <= len(ranked)]:
        keep = [r["node"] for r in ranked[:k]]
        path = q0 if k == 0 else quantize_ort(fp32, ctx.work / f"rec.int8.k{k}.onnx", calib, keep)
        greedy.append(row("onnxruntime", "int8", f"greedy: {k} worst kept float", OrtGraph(path), keep))
        if rec_passes(greedy[-1]):
            break
    best = first_passing(greedy, rec_passes)
    if best is None:
        best = min(greedy, key=lambda r: (r["cer"], r["kept_float"]))
        ctx.notes.append(f"recogniser: no greedy step up to {greedy[-1]['kept_float']} float layers met CER <= "
                         f"{TARGET_CER:.1%} and word accuracy >= {TARGET_WORD_ACCURACY:.0%}; best trade-off recorded "
                         f"({best['kept_float']} kept, CER {best['cer']:.4f}).")
    keep = best["kept"]
    ctx.chosen[graph] = {"onnxruntime": anchored(keep)}
    if args.skip_openvino:
        return
    ov_all = _ov_names(fp32)
    mapping = openvino_names(keep, ov_all)
    keep_ov = [n for names in mapping.values() for n in names]
    edge_ov = [n for names in openvino_names(edge, ov_all).values() for n in names]
    ctx.chosen[graph]["openvino"] = anchored(keep_ov)
    row("openvino", "fp32", "fp32", OvGraph(fp32, "f32"), [])
    row("openvino", "bf16", "bf16 (INFERENCE_PRECISION_HINT)", OvGraph(fp32, "bf16"), [])
    row("openvino", "int8", "NNCF all quantised", OvGraph(quantize_ov(fp32, ctx.work / "rec.ov.k0.xml", calib, [], "transformer")), [])
    row("openvino", "int8", "NNCF exporter default (first conv + CTC matmul float)",
        OvGraph(quantize_ov(fp32, ctx.work / "rec.ov.edge.xml", calib, edge_ov, "transformer")), edge_ov)
    r = row("openvino", "int8", f"NNCF + ORT keep-float set ({len(keep)})",
            OvGraph(quantize_ov(fp32, ctx.work / "rec.ov.keep.xml", calib, keep_ov, "transformer")), keep_ov)
    if not rec_passes(r):
        for k in [k for k in args.rec_steps if k > len(keep) and k <= len(ranked)][:2]:
            more = [n for x in ranked[:k] for n in openvino_names([x["node"]], ov_all)[x["node"]]]
            r = row("openvino", "int8", f"NNCF greedy: {k} worst kept float",
                    OvGraph(quantize_ov(fp32, ctx.work / f"rec.ov.k{k}.xml", calib, more, "transformer")), more)
            if rec_passes(r):
                ctx.chosen[graph]["openvino"] = anchored(more)
                break


def study_detector(ctx: Context) -> None:
    from groundlite import schema
    from groundlite.text.detect import quads_to_xyxy

    graph = schema.GRAPH_TEXT_DETECTOR
    g, args, fp32 = ctx.g, ctx.args, ctx.paths[graph]
    tune, test = ctx.data.split("tune"), ctx.data.split("test")
    in_name = OrtGraph(fp32).input
    calib = [{in_name: x} for x in det_inputs(g, tune[: args.det_calib], args.det_max_side)]
    eval_x = det_inputs(g, test, None)
    x_time = timing_image(g, test)

    def detect_boxes(graph_: Any) -> list[np.ndarray]:
        variant = copy.copy(g)
        variant._det = _AsGrounderSession(graph_, g.config.det_input, g.config.det_output)
        return [quads_to_xyxy(variant.detect(s.rgb)[0]) if len(test) else np.zeros((0, 4)) for s in test]

    ref_graph = OrtGraph(fp32)
    ref_boxes = detect_boxes(ref_graph)
    ref_prob = [ref_graph.run(x) for x in eval_x]
    ctx.log(f"detector: {len(calib)} tune inputs, {len(test)} test screens ({sum(map(len, ref_boxes))} FP32 lines)")

    def row(backend: str, precision: str, variant: str, graph_: Any, kept: Sequence[str]) -> dict[str, Any]:
        boxes = detect_boxes(graph_)
        matched = sum(box_agreement(a, b)[0] for a, b in zip(ref_boxes, boxes))
        total = sum(map(len, ref_boxes)) + sum(map(len, boxes))
        mae = float(np.mean([np.abs(p - graph_.run(x)).mean() for p, x in zip(ref_prob, eval_x)]))
        r = {"graph": graph, "backend": backend, "precision": precision, "variant": variant,
             "kept_float": len(kept), "kept": list(kept), "runs_as": getattr(graph_, "inference_precision", None),
             "box_agreement": 2.0 * matched / total if total else 1.0, "boxes_fp32": sum(map(len, ref_boxes)),
             "boxes": sum(map(len, boxes)), "prob_mae": mae, "ms": math.nan,
             "timing_input": "1x3x1088x1920"}
        ctx.rows.append(r)
        ctx.timers.append((r, graph_, x_time))
        ctx.checkpoint()
        ctx.log(f"  {backend} {precision} {variant}: agreement {r['box_agreement']:.4f} "
                f"({r['boxes']}/{r['boxes_fp32']} boxes) MAE {mae:.5f}")
        return r

    row("onnxruntime", "fp32", "fp32", ref_graph, [])
    nodes = quantized_nodes(fp32)
    q0 = quantize_ort(fp32, ctx.work / "det.int8.k0.onnx", calib, [])
    sq_inputs = det_inputs(g, test[: args.det_sqnr], args.det_max_side)
    ctx.log(f"  SQNR over {len(sq_inputs)} test inputs, {len(nodes)} quantised nodes")
    ranked = rank_layers(layer_sqnr(fp32, q0, nodes, sq_inputs, ctx.work, chunk=1))
    ctx.sqnr[graph] = ranked
    edge = _edge_keep(nodes, graph)
    row("onnxruntime", "int8", "exporter default (first + last conv float)",
        OrtGraph(quantize_ort(fp32, ctx.work / "det.int8.edge.onnx", calib, edge)), edge)
    greedy = []
    for k in [k for k in args.det_steps if k <= len(ranked)]:
        keep = [r["node"] for r in ranked[:k]]
        path = q0 if k == 0 else quantize_ort(fp32, ctx.work / f"det.int8.k{k}.onnx", calib, keep)
        greedy.append(row("onnxruntime", "int8", f"greedy: {k} worst kept float", OrtGraph(path), keep))
        if det_passes(greedy[-1]):
            break
    best = first_passing(greedy, det_passes)
    if best is None:
        best = max(greedy, key=lambda r: (r["box_agreement"], -r["kept_float"]))
        ctx.notes.append(f"detector: no greedy step up to {greedy[-1]['kept_float']} float layers met box agreement >= "
                         f"{TARGET_BOX_AGREEMENT:.0%}; best trade-off recorded ({best['kept_float']} kept, "
                         f"agreement {best['box_agreement']:.4f}).")
    keep = best["kept"]
    ctx.chosen[graph] = {"onnxruntime": anchored(keep)}
    # detector runs are slow: of the greedy steps only the chosen one is timed
    ctx.timers = [t for t in ctx.timers if t[0] not in greedy or t[0] is best]
    if args.skip_openvino:
        return
    ov_all = _ov_names(fp32)
    keep_ov = [n for names in openvino_names(keep, ov_all).values() for n in names]
    edge_ov = [n for names in openvino_names(edge, ov_all).values() for n in names]
    ctx.chosen[graph]["openvino"] = anchored(keep_ov)
    row("openvino", "fp32", "fp32", OvGraph(fp32, "f32"), [])
    row("openvino", "bf16", "bf16 (INFERENCE_PRECISION_HINT)", OvGraph(fp32, "bf16"), [])
    row("openvino", "int8", "NNCF exporter default (first + last conv float)",
        OvGraph(quantize_ov(fp32, ctx.work / "det.ov.edge.xml", calib, edge_ov, None)), edge_ov)
    if keep_ov != edge_ov:
        row("openvino", "int8", f"NNCF + ORT keep-float set ({len(keep)})",
            OvGraph(quantize_ov(fp32, ctx.work / "det.ov.keep.xml", calib, keep_ov, None)), keep_ov)


# ----------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------
def _summary_row(rows: Sequence[dict[str, Any]], graph: str, backend: str, precision: str, variant_prefix: str) -> dict | None:
    return next((r for r in rows if r["graph"] == graph and r["backend"] == backend and r["precision"] == precision
                 and r["variant"].startswith(variant_prefix)), None)


def keep_float_document(ctx: Context) -> dict[str, Any]:
    """The ``export/groundlite_export/assets/text_int8_keep_float.json`` document (patterns checked against the graphs)."""
    from groundlite import schema

    doc: dict[str, Any] = {MODEL: {}}
    for graph in (schema.GRAPH_TEXT_DETECTOR, schema.GRAPH_TEXT_RECOGNIZER):
        if graph not in ctx.chosen:
            continue
        import onnx

        names = {"onnxruntime": [n.name for n in onnx.load(str(ctx.paths[graph]), load_external_data=False).graph.node]}
        if "openvino" in ctx.chosen[graph]:
            names["openvino"] = _ov_names(ctx.paths[graph])
        for backend, patterns in ctx.chosen[graph].items():
            missing = unmatched_patterns(patterns, names[backend])
            if missing:
                raise SystemExit(f"error: expected every keep-float pattern to match a {backend} node of {graph}, "
                                 f"got {len(missing)} unmatched: {missing[:3]}")
        doc[MODEL][graph] = ctx.chosen[graph]
    measured: dict[str, Any] = {}
    for r in ctx.rows:
        key = f"{r['graph']}/{r['backend']}/{r['precision']}/{r['variant']}"
        keys = ("cer", "word_accuracy", "line_exact", "ms") if "cer" in r else ("box_agreement", "prob_mae", "ms")
        measured[key] = {k: (None if math.isnan(float(r[k])) else round(float(r[k]), 5)) for k in keys} | {
            "kept_float": r["kept_float"]}
    doc["measured"] = {
        "targets": {"recognizer_cer_vs_fp32": TARGET_CER, "recognizer_word_accuracy_vs_fp32": TARGET_WORD_ACCURACY,
                    "detector_box_agreement_iou0.5": TARGET_BOX_AGREEMENT},
        "rows": measured,
        "notes": ctx.notes,
        "data": ctx.data.description,
        "graphs": "groundlite_export.text.prepare_graph of rapidocr==3.10.0 PP-OCRv6_det_small / PP-OCRv6_rec_small "
                  "(onnxslim-folded, opset 17); OpenVINO names from ov.convert_model of that ONNX",
        "how": "benchmarks/quant_sensitivity.py (results: benchmarks/results/quant_sensitivity.md)",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
    }
    return doc


def _fmt_db(v: float) -> str:
    return "—" if math.isnan(v) else ("inf" if v == math.inf else f"{v:.1f}")


def report(ctx: Context, load_start: tuple[float, ...], load_end: tuple[float, ...], seconds: float) -> str:
    env = env_info()
    import nncf
    import onnxslim

    lines = [
        "# INT8 sensitivity of the PP-OCRv6 text graphs, on real text",
        "",
        "Generated by `python benchmarks/quant_sensitivity.py"
        + (" --quick" if ctx.args.quick else "") + "`. Every number below is measured on REAL inputs: "
        + ctx.data.description + ". Calibration: tune split; every metric: test split. "
        "Recogniser metrics compare INT8/BF16 reads with the FP32 reads of the same crops (the crops "
        "groundlite's FP32 pipeline produces); detector metrics compare line boxes of the full "
        "`g.detect` pipeline at native scale (pairs at IoU >= 0.5, agreement = 2*matched/(n_fp32+n_variant)) "
        "and the probability map (mean abs error).",
        "",
        f"- targets: recogniser CER vs FP32 <= {TARGET_CER:.1%} and word accuracy >= {TARGET_WORD_ACCURACY:.0%}; "
        f"detector box agreement >= {TARGET_BOX_AGREEMENT:.0%}",
        f"- latency: median of {ctx.args.repeat} runs after 2 warm-ups, {THREADS} threads, the runs of all variants of a graph interleaved round-robin; recogniser = one batch of 8 "
        f"real crops at width 320, detector = one 1x3x1088x1920 input (a real screen resized)",
        f"- load average (1/5/15 min) at start {tuple(round(x, 2) for x in load_start)}, at end "
        f"{tuple(round(x, 2) for x in load_end)} on {env['usable_cores']} usable cores — the machine was shared, "
        "so compare rows of this run only; run time {:.0f} s".format(seconds),
        f"- versions: onnxruntime {env.get('onnxruntime')}, openvino {env.get('openvino')}, nncf {nncf.__version__}, "
        f"onnxslim {onnxslim.__version__}, numpy {env.get('numpy')}; CPU {env['cpu']} ({', '.join(env['isa'])}); "
        f"commit {env['commit']}; {env['utc']}",
        "- quantisation: ONNX Runtime static QDQ via `groundlite_export.quantize.quantize_onnx_int8` (per-channel "
        "int8 weights, uint8 activations, MinMax, op types Conv/MatMul/Gemm, LayerNorm/Softmax/GELU/Add float); "
        "OpenVINO via `quantize_openvino_int8` (NNCF, preset mixed; recogniser model_type transformer, detector None)",
        "",
    ]
    for note in ctx.notes:
        lines.append(f"**Note:** {note}")
        lines.append("")
    for graph, ranked in ctx.sqnr.items():
        lines += [f"## {graph}: per-layer SQNR (20 worst of {len(ranked)} quantised nodes)", "",
                  "SQNR in dB (higher = less quantisation noise): `act` = the node's input through its own "
                  "Q/DQ pair (`qdq_err`), `weight` = per-channel int8 weight, `local` = both noises added "
                  "(the ranking key), `in x-model` / `out x-model` = float model vs all-INT8 model at the node's "
                  "input / output (all upstream error included).", ""]
        table = [{"rank": i + 1, "node": r["node"], "op": r["op"], "act": _fmt_db(r["act_db"]), "weight": _fmt_db(r["weight_db"]),
                  "local": _fmt_db(r["local_db"]), "in x-model": _fmt_db(r["input_xmodel_db"]),
                  "out x-model": _fmt_db(r["output_xmodel_db"]), "position": f"{r['index'] + 1}/{len(ranked)}"}
                 for i, r in enumerate(ranked[:20])]
        lines += [markdown_table(table, ["rank", "node", "op", "act", "weight", "local", "in x-model", "out x-model", "position"]), ""]
    for graph in dict.fromkeys(r["graph"] for r in ctx.rows):
        rows = [r for r in ctx.rows if r["graph"] == graph]
        is_rec = "cer" in rows[0]
        lines += [f"## {graph}: variants (greedy keep-float study, BF16, both backends)", ""]
        table = []
        for r in rows:
            t = {"backend": r["backend"], "precision": r["precision"], "variant": r["variant"], "kept float": r["kept_float"],
                 "runs as": re.sub(r"<Type: '(\w+)'>", r"\1", str(r.get("runs_as") or "—")),
                 f"ms ({r['timing_input']})": r["ms"]}
            if is_rec:
                t |= {"CER vs FP32": f"{r['cer']:.2%}", "word acc": f"{r['word_accuracy']:.2%}",
                      "lines identical": f"{r['line_exact']:.1%}", "lines": r["n_lines"]}
            else:
                t |= {"box agreement": f"{r['box_agreement']:.2%}", "boxes (FP32)": f"{r['boxes']} ({r['boxes_fp32']})",
                      "prob MAE": f"{r['prob_mae']:.5f}"}
            table.append(t)
        cols = ["backend", "precision", "variant", "kept float", "runs as"]
        cols += (["CER vs FP32", "word acc", "lines identical", "lines"] if is_rec else ["box agreement", "boxes (FP32)", "prob MAE"])
        cols += [f"ms ({rows[0]['timing_input']})"]
        lines += [markdown_table(table, cols), ""]
        chosen = ctx.chosen.get(graph, {})
        for backend, patterns in chosen.items():
            lines.append(f"- keep float ({backend}): " + (", ".join(f"`{p}`" for p in patterns) or "none"))
        lines.append("")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="real screenshot set (labels.jsonl + images/)")
    p.add_argument("--photos", action="store_true", help="use scikit-image's page.png / text.png only")
    p.add_argument("--limit", type=int, default=None, help="screens per split")
    p.add_argument("--quick", action="store_true", help="few screens and steps (development)")
    p.add_argument("--repeat", type=int, default=10, help="timed runs per latency (median)")
    p.add_argument("--rec-calib", type=int, default=32, help="recogniser calibration batches (tune split)")
    p.add_argument("--rec-eval", type=int, default=None, help="recogniser test batches (default all)")
    p.add_argument("--sqnr-batches", type=int, default=12, help="test batches for the recogniser SQNR")
    p.add_argument("--rec-steps", type=lambda s: tuple(int(x) for x in s.split(",")), default=REC_STEPS)
    p.add_argument("--det-steps", type=lambda s: tuple(int(x) for x in s.split(",")), default=DET_STEPS)
    p.add_argument("--det-calib", type=int, default=8, help="detector calibration screens (tune split)")
    p.add_argument("--det-sqnr", type=int, default=3, help="test screens for the detector SQNR")
    p.add_argument("--det-max-side", type=int, default=1920, help="long side cap of detector calibration/SQNR inputs")
    p.add_argument("--max-side", type=int, default=None, help="skip screens whose long side exceeds this")
    p.add_argument("--merge", type=Path, nargs="+", default=None,
                   help="only assemble the report (and assets) from state files of earlier --graphs runs")
    p.add_argument("--graphs", default="recognizer,detector")
    p.add_argument("--skip-openvino", action="store_true")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    p.add_argument("--out", type=Path, default=RESULTS / "quant_sensitivity.md")
    p.add_argument("--write-assets", action="store_true", help=f"write {ASSET.relative_to(REPO)}")
    args = p.parse_args(argv)
    if args.quick:
        args.limit = args.limit or 4
        args.rec_calib, args.sqnr_batches, args.det_calib, args.det_sqnr = 8, 4, 2, 1
        args.rec_steps, args.det_steps = (0, 2, 8), (0, 2)
        args.rec_eval = args.rec_eval or 24
    return args


#: near-tie margins of :func:`closest` (one character / word of a few hundred is within them)
CER_TIE = 0.001
WORD_TIE = 0.005
BOX_TIE = 0.002


def closest(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The variant nearest the target when none meets it: of the rows within a near-tie margin of
    the best value (CER and word accuracy for the recogniser, box agreement for the detector),
    the one with the fewest float layers — a few hundredths of a percent, i.e. one character on
    a small test set, does not justify keeping many more layers float."""
    if "cer" in rows[0]:
        best_cer, best_word = min(r["cer"] for r in rows), max(r["word_accuracy"] for r in rows)
        near = [r for r in rows if r["cer"] <= best_cer + CER_TIE and r["word_accuracy"] >= best_word - WORD_TIE]
    else:
        best = max(r["box_agreement"] for r in rows)
        near = [r for r in rows if r["box_agreement"] >= best - BOX_TIE]
    return min(near, key=lambda r: r["kept_float"])


def rechoose(ctx: Context) -> None:
    """Per graph and backend, prefer any measured INT8 variant that meets the graph's target with no
    more float layers than the greedy choice, or — when none meets it — the closest one. The
    exporter's own edge set is a candidate too: SQNR ranks layers by *local* noise and can miss an
    output layer whose small error matters most. A backend's rows carry that backend's node names."""
    from groundlite import schema

    for graph, passes in ((schema.GRAPH_TEXT_DETECTOR, det_passes), (schema.GRAPH_TEXT_RECOGNIZER, rec_passes)):
        for backend in list(ctx.chosen.get(graph, {})):
            rows = [r for r in ctx.rows if r["graph"] == graph and r["backend"] == backend and r["precision"] == "int8"]
            if not rows:
                continue
            current = next((r for r in rows if anchored(r["kept"]) == ctx.chosen[graph][backend]), None)
            good = sorted((r for r in rows if passes(r)), key=lambda r: r["kept_float"])
            if good:
                if current is not None and passes(current) and current["kept_float"] <= good[0]["kept_float"]:
                    continue
                pick = good[0]
            else:  # nothing passes: the closest variant, fewest float layers among near-ties
                pick = closest(rows)
                if pick is current:
                    continue
            ctx.chosen[graph][backend] = anchored(pick["kept"])
            ctx.notes.append(f"{graph} / {backend}: keep-float set = the '{pick['variant']}' variant "
                             f"({pick['kept_float']} layers): "
                             + ("the fewest float layers among the measured variants that meet the target." if good else
                                "no measured variant meets the target; this one comes closest."))


def _finish(ctx: Context, load_start: tuple[float, ...], load_end: tuple[float, ...], seconds: float) -> None:
    """Write the report, the JSON lines and (``--write-assets``) the keep-float file."""
    from groundlite import schema
    from groundlite.cache import atomic_write_bytes

    args = ctx.args
    rechoose(ctx)
    doc = keep_float_document(ctx)
    atomic_write_bytes(args.out, report(ctx, load_start, load_end, seconds).encode())
    append_jsonl(args.out.with_suffix(".jsonl"), [{"bench": "quant_sensitivity", "quick": args.quick,
                                                    "data": ctx.data.description, **r} for r in ctx.rows]
                 + [{"bench": "quant_sensitivity", "quick": args.quick, "sqnr": graph, "layers": rows}
                    for graph, rows in ctx.sqnr.items()])
    if args.write_assets:
        if schema.GRAPH_TEXT_DETECTOR not in doc[MODEL] or schema.GRAPH_TEXT_RECOGNIZER not in doc[MODEL]:
            raise SystemExit("error: expected both graphs studied before writing the keep-float file, got "
                             f"{sorted(doc[MODEL])}")
        atomic_write_bytes(ASSET, (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode())
        ctx.log(f"wrote {ASSET}")
    else:
        atomic_write_bytes(ctx.work / "text_int8_keep_float.json", (json.dumps(doc, indent=2) + "\n").encode())
    ctx.log(f"wrote {args.out}")


def _state(ctx: Context, load_start: tuple[float, ...], seconds: float) -> dict[str, Any]:
    return {"rows": ctx.rows, "sqnr": ctx.sqnr, "chosen": ctx.chosen, "notes": ctx.notes,
            "data": ctx.data.description, "load_start": load_start, "load_end": os.getloadavg(), "seconds": seconds}


def _merge(args: argparse.Namespace, work: Path) -> int:
    """Assemble one report from the state files of runs that studied one graph each (``--graphs``)."""
    states = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.merge]
    ctx = Context(args, work, None, Data(" + ".join(dict.fromkeys(st["data"] for st in states)), []),
                  prepared_graphs(work))
    for st in states:
        ctx.rows += st["rows"]
        ctx.sqnr.update(st["sqnr"])
        ctx.chosen.update(st["chosen"])
        ctx.notes += st["notes"]
    load_start = tuple(min(st["load_start"][i] for st in states) for i in range(3))
    load_end = tuple(max(st["load_end"][i] for st in states) for i in range(3))
    ctx.notes.append(f"the graphs were studied by {len(states)} concurrent processes (`--graphs`), merged with `--merge`.")
    _finish(ctx, load_start, load_end, max(st["seconds"] for st in states))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import groundlite
    from groundlite.cache import atomic_write_bytes

    args = parse_args(argv)
    t0, load_start = time.time(), os.getloadavg()
    tmp = tempfile.TemporaryDirectory(prefix="groundlite-qsens-") if args.work is None else None
    work = Path(tmp.name) if tmp is not None else args.work
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.merge:
            return _merge(args, work)
        description, screens = load_screens(args.data, args.limit, args.photos, args.max_side)
        g = groundlite.load(MODEL, backend="onnxruntime", precision="fp32", threads=THREADS, progress=False)
        ctx = Context(args, work, g, Data(description, screens), prepared_graphs(work))
        ctx.log(f"data: {description}")
        graphs = set(args.graphs.split(","))
        if "recognizer" in graphs:
            ctx.data.rec = (build_rec_feeds(g, ctx.data.split("tune"), args.rec_calib)
                            + build_rec_feeds(g, ctx.data.split("test"), args.rec_eval))
            study_recognizer(ctx)
        if "detector" in graphs:
            study_detector(ctx)
        for graph in dict.fromkeys(r["graph"] for r, _, _ in ctx.timers):
            timers = [t for t in ctx.timers if t[0]["graph"] == graph]
            ctx.log(f"timing {len(timers)} {graph} variants, {args.repeat} interleaved runs each")
            for (row, _, _), ms in zip(timers, interleaved_ms([(gr, x) for _, gr, x in timers], args.repeat)):
                row["ms"] = ms
        state = work / f"state.{'+'.join(sorted(graphs))}.json"
        atomic_write_bytes(state, json.dumps(_state(ctx, load_start, time.time() - t0), default=float).encode())
        ctx.log(f"state: {state}")
        if graphs >= {"recognizer", "detector"}:
            _finish(ctx, load_start, os.getloadavg(), time.time() - t0)
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
