"""Latency grid for OWL packages against transformers FP32 eager and the machine's matmul peak.

Grid: model@size x backend x precision x threads x batch, plus one transformers baseline row per
(model, threads, batch) measured in the same run. Every row runs in a fresh subprocess so load
time and peak RSS belong to that configuration alone. Models are seeded random-init,
architecture-exact exports (speed is real, accuracy is not), built once with ``export_owl`` and
cached under ``~/.cache/groundlite/bench-packages/``.

Per row: load time, first inference, p50/p90 of warm ``predict_batch`` calls, FPS, peak RSS, the
split pre-processing / image encoder / text encoder / decode (``grounder.last_timings``), the
image encoder's share of the measured matmul peak (``benchmarks/peak.py``) from the MACs counted
on the ONNX graph (``benchmarks/macs.py``), and for groundlite rows the cached-phrase and
new-phrase text times. Writes ``benchmarks/results/latency.md`` and appends ``latency.jsonl``::

    python benchmarks/latency.py                      # the full grid (hours on 2 cores)
    python benchmarks/latency.py --models owlvit-base-patch32@768 --quick
    python benchmarks/latency.py --models owlvit-base-patch16@768:5 --batch 1   # :N = runs for that model
    python benchmarks/latency.py --models owlv2-base-patch16@960 --export-backends openvino --backends openvino,auto
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl, env_info, markdown_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BENCH_PACKAGES = Path.home() / ".cache" / "groundlite" / "bench-packages"
DEFAULT_MODELS = ("owlvit-base-patch32@768", "owlvit-base-patch32@480", "owlvit-base-patch16@768",
                  "owlv2-base-patch16@960", "owlv2-base-patch16@480")
#: real photos shipped with scikit-image; a batch of B uses the first B (cycled)
BENCH_IMAGES = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")
PHRASES = ("a person", "a rocket")
THRESHOLD = 0.1
#: columns of a result row; tests/test_bench_latency.py checks rows against this
ROW_KEYS = (
    "bench", "kind", "model", "image_size", "backend", "chosen_backend", "precision", "threads", "batch",
    "runs", "load_ms", "first_ms", "p50_ms", "p90_ms", "fps", "peak_rss_mb", "preprocess_ms",
    "image_encoder_ms", "text_encoder_ms", "decode_ms", "pre_post_pct", "image_gmacs", "peak_gmac_per_s",
    "peak_fraction", "cached_phrase_ms", "new_phrase_ms", "calib_size", "error",
)

__all__ = ["RowConfig", "ROW_KEYS", "parse_model", "make_row", "derive", "main"]


@dataclass
class RowConfig:
    """One grid cell: ``kind`` is ``"groundlite"`` or ``"transformers"``."""

    kind: str
    model: str
    image_size: int
    threads: int
    batch: int
    runs: int
    warmup: int
    backend: str = "-"
    precision: str = "fp32"
    package: str = ""
    checkpoint: str = ""
    images: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=lambda: list(PHRASES))


def parse_model(spec: str, default_runs: int) -> tuple[str, int, int]:
    """``NAME@SIZE[:RUNS]`` -> (name, size, runs); SIZE defaults to the architecture's native size."""
    from groundlite_export.random_init import get_spec

    head, _, runs = spec.partition(":")
    name, _, size = head.partition("@")
    native = int(get_spec(name).vision["image_size"])
    return name, int(size) if size else native, int(runs) if runs else default_runs


def _sample_image_paths() -> list[str]:
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("expected scikit-image (its sample photos are the benchmark images), got none")
    root = Path(list(spec.submodule_search_locations)[0]) / "data"
    return [str(root / n) for n in BENCH_IMAGES if (root / n).is_file()]


# ------------------------------------------------------------------------------------------------
# preparation: packages, transformers checkpoints, MACs
def ensure_package(name: str, size: int, calib_size: int, calib_method: str | None = None,
                   force: bool = False, backends: tuple[str, ...] = ("onnxruntime", "openvino")) -> Path:
    """The cached random-init package for (name, size), exported (FP32 + INT8, ORT + OpenVINO) if absent.

    ``calib_method`` defaults to ``mean-minmax`` (bounded memory). On B/32@768 with 16 images,
    ``percentile`` kept more FP32 detections (0.91 vs 0.74 agreement) but its histograms hold every
    calibrated activation of every image: the export passed 11.8 GB and was stopped.
    """
    out = BENCH_PACKAGES / f"{name}-{size}"
    if (out / "manifest.json").is_file() and not force:
        return out
    from groundlite_export import export_owl
    from groundlite_export.quantize import CALIBRATION_METHODS

    method = calib_method or "mean-minmax"
    if method not in CALIBRATION_METHODS:
        raise SystemExit(f"expected --calib-method in {CALIBRATION_METHODS}, got {method!r}")
    print(f"exporting {name}@{size} (calibration {calib_size} images, {method}) -> {out}", flush=True)
    t0 = time.perf_counter()
    export_owl(random_init=name, out=out, image_size=size, precisions=("fp32", "int8"),
               backends=backends, calib_size=calib_size, calib_method=method,
               fidelity_images=8, force=True, progress=False)
    print(f"exported {name}@{size} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def ensure_checkpoint(name: str, size: int) -> Path:
    """A transformers checkpoint with the same seeded weights (and the same re-gridding) as the package."""
    out = BENCH_PACKAGES / f"hf-{name}-{size}"
    if (out / "config.json").is_file():
        return out
    from transformers import CLIPTokenizer

    from groundlite_export.owlvit import load_owl, resize_model
    from groundlite_export.tokenizer import PAD_TOKEN, clip_vocab_and_merges

    loaded = load_owl(None, random_init=name)
    resize_model(loaded, size)
    loaded.model.save_pretrained(out)
    vocab, merges = clip_vocab_and_merges()
    CLIPTokenizer(vocab=vocab, merges=merges, pad_token=PAD_TOKEN, model_max_length=16).save_pretrained(out)
    return out


def ort_int8_quantization(package: Path) -> str | None:
    """How the ORT INT8 image encoder is quantised: activation dtype and whether attention is INT8."""
    import onnx

    manifest = json.loads((package / "manifest.json").read_text())
    art = next((a for a in manifest["artifacts"] if a["graph"] == "image_encoder"
                and a["backend"] == "onnxruntime" and a["precision"] == "int8"), None)
    if art is None:
        return None
    model = onnx.load(str(package / art["file"]), load_external_data=False)
    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    act = next((inits[n.input[2]].data_type for n in model.graph.node
                if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[0] not in inits
                and n.input[2] in inits), None)
    attention = any(n.op_type == "MatMul" and all(
        producer.get(i) is not None and producer[i].op_type == "DequantizeLinear"
        and producer[i].input[0] not in inits for i in n.input[:2]) for n in model.graph.node)
    dtype = {onnx.TensorProto.UINT8: "uint8", onnx.TensorProto.INT8: "int8"}.get(act, str(act))
    return f"QDQ {dtype} activations, attention {'INT8' if attention else 'float'}"


def _package_facts(package: Path) -> dict[str, Any]:
    manifest = json.loads((package / "manifest.json").read_text())
    cal = manifest.get("calibration") or {}
    return {"images": cal.get("size"), "method": cal.get("method"), "ort_int8": ort_int8_quantization(package),
            "exported": manifest.get("created_utc"),
            "int8_fidelity": {k: {"detection_agreement": v.get("detection_agreement"),
                                  "region_cosine": v.get("region_cosine")}
                              for k, v in (manifest.get("fidelity") or {}).items() if k.endswith(":int8")}}


def image_encoder_macs(package: Path) -> int:
    """MACs of one image through the package's FP32 image encoder (cached next to the packages)."""
    cache = BENCH_PACKAGES / f"macs-{package.name}.json"
    manifest = json.loads((package / "manifest.json").read_text())
    if cache.is_file():
        data = json.loads(cache.read_text())
        if data.get("created_utc") == manifest.get("created_utc"):
            return int(data["macs"])
    from macs import count_macs, count_macs_openvino

    fp32 = {a["backend"]: a for a in manifest["artifacts"] if a["graph"] == "image_encoder" and a["precision"] == "fp32"}
    if "onnxruntime" in fp32:
        art = fp32["onnxruntime"]
        counted = count_macs(package / art["file"], batch=1)
    elif "openvino" in fp32:  # an OpenVINO-only package: count on its IR (same rules)
        art = fp32["openvino"]
        counted = count_macs_openvino(package / art["file"], batch=1)
    else:
        raise SystemExit(f"expected an FP32 image_encoder (onnxruntime or openvino) in {package}, got none")
    if counted.unknown:
        print(f"warning: {len(counted.unknown)} matmul nodes without shapes in {art['file']}", flush=True)
    cache.write_text(json.dumps({"macs": counted.total, "by_op": counted.by_op, "unknown": counted.unknown,
                                 "created_utc": manifest.get("created_utc")}))
    return counted.total


# ------------------------------------------------------------------------------------------------
# one row, in its own process
def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _peak_rss_mb() -> float | None:
    # VmHWM, not ru_maxrss: Linux carries the parent's RSS high-water mark across fork + exec into
    # ru_maxrss, so a row spawned by a parent that imported torch would report the parent's peak
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if sys.platform.startswith("linux") else None


def _time_calls(fn: Any, cfg: RowConfig) -> tuple[list[float], list[dict[str, float]]]:
    for _ in range(cfg.warmup):
        fn()
    times, stages = [], []
    for _ in range(cfg.runs):
        t0 = time.perf_counter()
        st = fn()
        times.append((time.perf_counter() - t0) * 1e3)
        stages.append(st)
    return times, stages


def _row_groundlite(cfg: RowConfig) -> dict[str, Any]:
    import groundlite
    from groundlite.images import load_image

    images = [load_image(p) for p in cfg.images]
    t0 = time.perf_counter()
    g = groundlite.load(cfg.package, backend="auto" if cfg.backend == "auto" else cfg.backend, device="cpu",
                        precision=cfg.precision, threads=cfg.threads, cache=False, progress=False)
    load_ms = (time.perf_counter() - t0) * 1e3
    phrases = list(cfg.phrases)

    def call() -> dict[str, float]:
        g.predict_batch(images, phrases, THRESHOLD, batch_size=cfg.batch)
        return g.last_timings

    t0 = time.perf_counter()
    call()  # first inference: includes the first (uncached) phrase encoding
    first_ms = (time.perf_counter() - t0) * 1e3
    times, stages = _time_calls(call, cfg)

    def cached() -> None:
        g.encode_text(phrases[0])

    cached_ms = []
    for _ in range(200):
        t0 = time.perf_counter()
        cached()
        cached_ms.append((time.perf_counter() - t0) * 1e3)
    new_ms = []
    for i in range(20):  # never-seen phrases: one text-encoder call each
        t0 = time.perf_counter()
        g.encode_text(f"a photo of object number {i} on a table")
        new_ms.append((time.perf_counter() - t0) * 1e3)
    info = g.backend_info
    return {"times": times, "stages": stages, "load_ms": load_ms, "first_ms": first_ms,
            "cached_phrase_ms": statistics.median(cached_ms), "new_phrase_ms": statistics.median(new_ms),
            "chosen_backend": info.backend, "session_load_ms": info.load_ms, "probe_first_ms": info.first_run_ms}


def _row_transformers(cfg: RowConfig) -> dict[str, Any]:
    import torch
    from PIL import Image
    from transformers import CLIPTokenizer, Owlv2ForObjectDetection, OwlViTForObjectDetection

    torch.set_num_threads(cfg.threads)
    pil = [Image.open(p).convert("RGB") for p in cfg.images]
    t0 = time.perf_counter()
    config = json.loads((Path(cfg.checkpoint) / "config.json").read_text())
    if config.get("model_type") == "owlv2":
        from transformers import Owlv2ImageProcessorPil as ImageProcessor
        model_cls = Owlv2ForObjectDetection
    else:
        from transformers import OwlViTImageProcessorPil as ImageProcessor
        model_cls = OwlViTForObjectDetection
    model = model_cls.from_pretrained(cfg.checkpoint, attn_implementation="eager").eval()
    s = cfg.image_size
    image_processor = ImageProcessor(size={"height": s, "width": s}, crop_size={"height": s, "width": s})
    tokenizer = CLIPTokenizer.from_pretrained(cfg.checkpoint)
    load_ms = (time.perf_counter() - t0) * 1e3
    sizes = torch.tensor([[im.height, im.width] for im in pil])

    def call() -> dict[str, float]:
        t0 = time.perf_counter()
        pixels = image_processor(images=pil, return_tensors="pt")
        text = tokenizer(list(cfg.phrases) * len(pil), padding="max_length",
                         max_length=16, truncation=True, return_tensors="pt")
        t1 = time.perf_counter()
        with torch.inference_mode():
            out = model(input_ids=text["input_ids"], attention_mask=text["attention_mask"],
                        pixel_values=pixels["pixel_values"])
        t2 = time.perf_counter()
        image_processor.post_process_object_detection(out, threshold=THRESHOLD, target_sizes=sizes)
        t3 = time.perf_counter()
        return {"preprocess_ms": (t1 - t0) * 1e3, "image_encoder_ms": (t2 - t1) * 1e3, "text_encoder_ms": 0.0,
                "decode_ms": (t3 - t2) * 1e3}

    t0 = time.perf_counter()
    call()
    first_ms = (time.perf_counter() - t0) * 1e3
    times, stages = _time_calls(call, cfg)
    return {"times": times, "stages": stages, "load_ms": load_ms, "first_ms": first_ms}


def run_row(cfg: RowConfig) -> dict[str, Any]:
    """Measure one configuration in this process and return its raw result (see :func:`make_row`)."""
    raw = _row_groundlite(cfg) if cfg.kind == "groundlite" else _row_transformers(cfg)
    raw["peak_rss_mb"] = _peak_rss_mb()
    return raw


def make_row(cfg: RowConfig, raw: dict[str, Any]) -> dict[str, Any]:
    """Summarise a raw measurement into a result row with every key of :data:`ROW_KEYS`."""
    row: dict[str, Any] = {k: None for k in ROW_KEYS}
    row.update(bench="latency", kind=cfg.kind, model=cfg.model, image_size=cfg.image_size, backend=cfg.backend,
               precision=cfg.precision, threads=cfg.threads, batch=cfg.batch, runs=cfg.runs)
    if "error" in raw:
        row["error"] = raw["error"]
        return row
    times = raw["times"]
    p50 = statistics.median(times)
    row.update(load_ms=raw["load_ms"], first_ms=raw["first_ms"], p50_ms=p50, p90_ms=_percentile(times, 0.9),
               fps=cfg.batch * 1e3 / p50, peak_rss_mb=raw["peak_rss_mb"],
               chosen_backend=raw.get("chosen_backend", cfg.backend),
               cached_phrase_ms=raw.get("cached_phrase_ms"), new_phrase_ms=raw.get("new_phrase_ms"))
    for key in ("preprocess_ms", "image_encoder_ms", "text_encoder_ms", "decode_ms"):
        row[key] = statistics.median(st[key] for st in raw["stages"])
    row["pre_post_pct"] = 100.0 * (row["preprocess_ms"] + row["decode_ms"]) / p50
    for key in ("session_load_ms", "probe_first_ms"):
        if key in raw:
            row[key] = raw[key]
    return row


def derive(rows: list[dict[str, Any]], macs: dict[tuple[str, int], int],
           peaks: dict[tuple[str, str, int], float]) -> None:
    """Add ``image_gmacs``, ``peak_gmac_per_s``, ``peak_fraction`` and the speed-up columns in place.

    Transformers rows are compared against the ONNX Runtime FP32 peak (torch has no own entry).
    ``x_vs_hf``: transformers p50 / this p50 at the same (model, size, threads, batch);
    ``x_vs_fp32``: our FP32 p50 on the same backend (for ``auto``: the backend it chose) / this p50.
    """
    by_key = {(r["kind"], r["model"], r["image_size"], r["backend"], r["precision"], r["threads"], r["batch"]): r
              for r in rows if r.get("p50_ms")}
    for r in rows:
        if not r.get("p50_ms"):
            continue
        m = macs.get((r["model"], r["image_size"]))
        runtime = r.get("chosen_backend") if r["kind"] == "groundlite" else "onnxruntime"
        precision = r["precision"] if r["kind"] == "groundlite" else "fp32"
        peak = peaks.get((runtime, precision, r["threads"]))
        if m:
            r["image_gmacs"] = m / 1e9
            if peak and r.get("image_encoder_ms"):
                achieved = m * r["batch"] / (r["image_encoder_ms"] * 1e-3) / 1e9
                r["peak_gmac_per_s"] = peak
                r["peak_fraction"] = achieved / peak
        hf = by_key.get(("transformers", r["model"], r["image_size"], "-", "fp32", r["threads"], r["batch"]))
        if hf and r["kind"] == "groundlite":
            r["x_vs_hf"] = hf["p50_ms"] / r["p50_ms"]
        same = r.get("chosen_backend") if r["backend"] == "auto" else r["backend"]
        fp32 = by_key.get(("groundlite", r["model"], r["image_size"], same, "fp32", r["threads"], r["batch"]))
        if fp32 and r["kind"] == "groundlite" and r["precision"] != "fp32":
            r["x_vs_fp32"] = fp32["p50_ms"] / r["p50_ms"]


def check_targets(rows: list[dict[str, Any]], model: str = "owlvit-base-patch32", size: int = 768
                  ) -> list[dict[str, Any]]:
    """The issue's targets for ``model@size`` INT8, all cores, batch 1: measured value, limit, met, margin.

    The row is INT8 on the auto-selected backend (``backend="auto"``), else the fastest INT8 row.
    Load time and RSS come from the explicit row of the backend that auto chose (the auto row's
    load also probes every candidate).
    """
    cand = [r for r in rows if r["kind"] == "groundlite" and r["model"] == model and r["image_size"] == size
            and r["precision"] == "int8" and r["batch"] == 1 and r.get("p50_ms")]
    if not cand:
        return []
    threads = max(r["threads"] for r in cand)
    cand = [r for r in cand if r["threads"] == threads]
    auto = next((r for r in cand if r["backend"] == "auto"), None) or min(cand, key=lambda r: r["p50_ms"])
    explicit = next((r for r in cand if r["backend"] == auto.get("chosen_backend")), auto)
    where = f"{model}@{size} int8 {auto['backend']}->{auto.get('chosen_backend')}, {threads} threads, batch 1"

    def item(name: str, value: Any, limit: float, higher_is_better: bool) -> dict[str, Any]:
        if value is None:
            return {"target": name, "measured": None, "limit": limit, "met": "not measured"}
        met = value >= limit if higher_is_better else value <= limit
        ratio = value / limit if higher_is_better else limit / value if value else float("inf")
        return {"target": name, "measured": value, "limit": limit, "met": "yes" if met else "no",
                "measured_over_limit": ratio}

    return [
        {"target": "row", "measured": where},
        item("p50 speed-up vs transformers FP32 eager (x)", auto.get("x_vs_hf"), 3.0, True),
        item("p50 speed-up vs our FP32 (x)", auto.get("x_vs_fp32"), 1.8, True),
        item("image encoder fraction of INT8 peak", auto.get("peak_fraction"), 0.5, True),
        item("pre + post processing (% of p50)", auto.get("pre_post_pct"), 2.0, False),
        item("cached phrase (ms)", auto.get("cached_phrase_ms"), 0.05, False),
        item("new phrase, INT8 text encoder (ms)", auto.get("new_phrase_ms"), 10.0, False),
        item("groundlite.load incl. probe inference (ms)", explicit.get("load_ms"), 2000.0, False),
        item("peak RSS (MB)", explicit.get("peak_rss_mb"), 600.0, False),
    ]


# ------------------------------------------------------------------------------------------------
TABLE_COLUMNS = ("model", "image_size", "kind", "backend", "precision", "threads", "batch", "runs", "load_ms",
                 "first_ms", "p50_ms", "p90_ms", "fps", "peak_rss_mb", "preprocess_ms", "image_encoder_ms",
                 "text_encoder_ms", "decode_ms", "pre_post_pct", "peak_fraction", "x_vs_hf", "x_vs_fp32")


def _spawn(cfg: RowConfig, timeout_s: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_row", json.dumps(asdict(cfg))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"error": tail[:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_grid(args: argparse.Namespace) -> tuple[list[RowConfig], dict[tuple[str, int], int], dict[str, Any]]:
    """Configs in measuring order (baseline next to its groundlite rows), MACs per model, run facts."""
    cores = len(os.sched_getaffinity(0))
    threads = sorted({cores if t == "all" else int(t) for t in _list(args.threads)})
    batches = [int(b) for b in _list(args.batch)]
    images = _sample_image_paths()
    configs: list[RowConfig] = []
    macs: dict[tuple[str, int], int] = {}
    calib: dict[str, Any] = {}
    for spec in _list(args.models):
        name, size, runs = parse_model(spec, args.runs)
        package = ensure_package(name, size, args.calib_size, args.calib_method, force=args.reexport,
                                 backends=tuple(_list(args.export_backends)))
        manifest = json.loads((package / "manifest.json").read_text())
        calib[f"{name}@{size}"] = _package_facts(package)
        macs[(name, size)] = image_encoder_macs(package)
        checkpoint = ensure_checkpoint(name, size) if args.baseline else None
        offered = {(a["backend"], a["precision"]) for a in manifest["artifacts"]}
        for t in threads:
            for b in batches:
                batch_images = [images[i % len(images)] for i in range(b)]
                common = dict(model=name, image_size=size, threads=t, batch=b, runs=runs, warmup=args.warmup,
                              images=batch_images)
                if checkpoint is not None:
                    configs.append(RowConfig(kind="transformers", checkpoint=str(checkpoint), **common))
                for backend in _list(args.backends):
                    for precision in _list(args.precisions):
                        if backend != "auto" and (backend, precision) not in offered:
                            continue
                        if backend == "auto" and (precision != "int8" or t != max(threads)):
                            continue  # the target row only: INT8 on the auto-selected backend, all cores
                        configs.append(RowConfig(kind="groundlite", backend=backend, precision=precision,
                                                 package=str(package), **common))
    return configs, macs, calib


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="NAME@SIZE[:RUNS],... ")
    ap.add_argument("--backends", default="onnxruntime,openvino,auto",
                    help="onnxruntime,openvino,auto (auto: INT8, all cores only)")
    ap.add_argument("--precisions", default="fp32,int8")
    ap.add_argument("--threads", default="1,all", help="comma list of ints or 'all'")
    ap.add_argument("--batch", default="1,4")
    ap.add_argument("--runs", type=int, default=20, help="timed warm runs per row (default 20)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--calib-size", type=int, default=16, help="calibration images for packages exported here")
    ap.add_argument("--calib-method", default="mean-minmax", help="for packages exported here")
    ap.add_argument("--reexport", action="store_true", help="export the packages again even if cached")
    ap.add_argument("--export-backends", default="onnxruntime,openvino",
                    help="backends of packages exported here (rows for a backend the package lacks are skipped)")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the transformers rows")
    ap.add_argument("--quick", action="store_true", help="3 runs, 1 warm-up, nothing written")
    ap.add_argument("--row-timeout", type=float, default=3600)
    ap.add_argument("--note", default="")
    ap.add_argument("--md", type=Path, default=RESULTS / "latency.md", help="markdown report path")
    ap.add_argument("--rerender", action="store_true",
                    help="no measuring: re-derive the latest run of --models with the latest peak.jsonl, rewrite --md")
    ap.add_argument("--_row", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._row:
        cfg = RowConfig(**json.loads(args._row))
        print(json.dumps(run_row(cfg)))
        return 0
    if args.quick:
        args.runs, args.warmup = 3, 1

    from peak import load_peaks

    if args.rerender:
        return rerender(args, load_peaks())

    configs, macs, calib = build_grid(args)
    peaks = load_peaks()
    if not peaks:
        print("warning: no peak.jsonl for this CPU; run benchmarks/peak.py for the peak-fraction column", flush=True)
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    rows = []
    for i, cfg in enumerate(configs, 1):
        raw = _spawn(cfg, args.row_timeout)
        row = make_row(cfg, raw)
        if cfg.kind == "groundlite":
            row["calib_size"] = (calib.get(f"{cfg.model}@{cfg.image_size}") or {}).get("images")
        row["loadavg_1min"] = round(os.getloadavg()[0], 2)
        rows.append(row)
        print(f"[{i}/{len(configs)}] {cfg.kind:12s} {cfg.model}@{cfg.image_size} {cfg.backend}/{cfg.precision} "
              f"t={cfg.threads} b={cfg.batch}: "
              + (f"p50 {row['p50_ms']:.1f} ms" if row.get("p50_ms") else f"error: {row['error']}"), flush=True)
    load_after = os.getloadavg()
    derive(rows, macs, peaks)
    env = env_info()
    run_id = env["utc"]
    seconds = time.perf_counter() - t_start
    for r in rows:
        r.update(run_id=run_id, note=args.note, loadavg_before=load_before, loadavg_after=load_after,
                 run_seconds=seconds)
    text = render(rows, env, _load_text(load_before, load_after), seconds, peaks, args, macs, calib)
    print(text)
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text + "\n")
        append_jsonl(RESULTS / "latency.jsonl", rows)
    return 0


def _load_text(before: Any, after: Any) -> str:
    return (f"Load average (1/5/15 min) before {'/'.join(f'{v:.2f}' for v in before)}, after "
            f"{'/'.join(f'{v:.2f}' for v in after)}")


_DERIVED = ("image_gmacs", "peak_gmac_per_s", "peak_fraction", "x_vs_hf", "x_vs_fp32")


def rerender(args: argparse.Namespace, peaks: dict[tuple[str, str, int], float]) -> int:
    """Rewrite ``args.md`` from the latest stored run of ``args.models`` with the latest peaks."""
    wanted = set()
    for spec in _list(args.models):
        name, size, _ = parse_model(spec, args.runs)
        wanted.add((name, size))
    path = RESULTS / "latency.jsonl"
    stored = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    stored = [r for r in stored if (r.get("model"), r.get("image_size")) in wanted]
    if not stored:
        raise SystemExit(f"expected stored rows for {sorted(wanted)} in {path}, got none")
    last = stored[-1]["run_id"]
    rows = [{k: v for k, v in r.items() if k not in _DERIVED} for r in stored if r["run_id"] == last]
    env = rows[0].pop("env")
    for r in rows[1:]:
        r.pop("env", None)
    macs, calib = {}, {}
    for name, size in sorted(wanted):
        package = BENCH_PACKAGES / f"{name}-{size}"
        macs[(name, size)] = image_encoder_macs(package)
        calib[f"{name}@{size}"] = _package_facts(package)
        if str(calib[f"{name}@{size}"]["exported"]) > last:
            raise SystemExit(f"expected the package {package} of run {last} to be unchanged, got one exported "
                             f"{calib[f'{name}@{size}']['exported']}; measure again instead")
    derive(rows, macs, peaks)
    if "loadavg_before" in rows[0]:
        load = _load_text(rows[0]["loadavg_before"], rows[0]["loadavg_after"])
    else:
        per_row = [r["loadavg_1min"] for r in rows if r.get("loadavg_1min") is not None]
        load = f"Load average (1 min) after each row between {min(per_row):.2f} and {max(per_row):.2f}"
    args.note = (rows[0].get("note") or "") + (f" Re-rendered {env_info()['utc']} with the latest peak run "
                                               "(peak_fraction and speed-ups re-derived; times unchanged).")
    args.warmup = rows[0].get("warmup", args.warmup)
    text = render(rows, env, load, rows[0].get("run_seconds"), peaks, args, macs, calib)
    text = text.rsplit("\nReproduce:", 1)[0] + (
        f"\nReproduce: `python benchmarks/latency.py --models {args.models}` (measure), then "
        f"`python benchmarks/peak.py && python benchmarks/latency.py --models {args.models} --rerender`")
    print(text)
    args.md.write_text(text + "\n")
    return 0


def render(rows: list[dict[str, Any]], env: dict[str, Any], load_text: str, seconds: float | None,
           peaks: dict[tuple[str, str, int], float],
           args: argparse.Namespace, macs: dict[tuple[str, int], int], calib: dict[str, Any]) -> str:
    """The markdown report: context, then one table row per configuration."""
    peak_text = ", ".join(f"{rt} {p} t={t}: {v:.0f}" for (rt, p, t), v in sorted(peaks.items())) or "none measured"
    mac_text = ", ".join(f"{n}@{s}: {m / 1e9:.1f} GMAC" for (n, s), m in macs.items())
    argv = " ".join(a for a in sys.argv[1:] if not a.startswith("--_row"))
    lines = [
        "# Latency (measured)",
        "",
        f"{env['cpu']}, {env['usable_cores']} cores, ISA {' '.join(env['isa'])}; onnxruntime {env['onnxruntime']}, "
        f"openvino {env['openvino']}, torch {env['torch']}; commit {env['commit']}; {env['utc']}; "
        + (f"{seconds / 60:.0f} min." if seconds else ""),
        f"{load_text} (the machine is shared; other jobs may have run). {args.note}",
        "",
        "Random-init, architecture-exact models: speed is real, accuracy is not. Images: "
        f"{', '.join(BENCH_IMAGES)} (batch B uses the first B); phrases {list(PHRASES)} (cached after the first "
        f"call); threshold {THRESHOLD}. Packages (calibration, ORT INT8 form, export time, stored INT8 "
        "fidelity vs FP32): "
        f"{calib}. "
        "Image-encoder MACs per image: "
        f"{mac_text}. Matmul peak GMAC/s (benchmarks/peak.py): {peak_text}.",
        "",
        "Columns: times in ms; p50/p90 over `runs` warm calls after "
        f"{args.warmup} warm-up call(s); `fps` = batch / p50; `load_ms` = `groundlite.load` (includes its probe "
        "inference) or transformers `from_pretrained` + processor; `first_ms` = first call (groundlite: includes "
        "encoding the phrases); `peak_rss_mb` = VmHWM (peak resident set) of a fresh process per row; stage "
        "columns are medians of "
        "`grounder.last_timings` (transformers: processor+tokenizer / whole forward incl. its text tower / "
        "`post_process_object_detection`); `pre_post_pct` = (pre + decode) / p50; `peak_fraction` = image-encoder "
        "MACs x batch / image_encoder_ms / peak of the same runtime, precision and threads (transformers rows: vs "
        "ONNX Runtime FP32 peak); `x_vs_hf` = transformers p50 / p50; `x_vs_fp32` = our FP32 p50 (same backend) / "
        "p50.",
        "",
        markdown_table(rows, TABLE_COLUMNS),
        "",
    ]
    targets = check_targets(rows)
    if targets:
        lines += ["Targets (issue; `measured_over_limit` > 1 means met with that margin, < 1 short by that factor):",
                  "", markdown_table(targets, ["target", "measured", "limit", "met", "measured_over_limit"]), ""]
    text_rows = [r for r in rows if r.get("new_phrase_ms") is not None]
    if text_rows:
        lines += ["Text encoder (groundlite rows): cached phrase lookup (median of 200) and a never-seen phrase "
                  "(median of 20):", "",
                  markdown_table(text_rows, ["model", "image_size", "backend", "chosen_backend", "precision", "threads",
                                             "batch", "cached_phrase_ms", "new_phrase_ms", "session_load_ms",
                                             "probe_first_ms"]), ""]
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["Failed rows:", "", markdown_table(errors, ["model", "image_size", "kind", "backend", "precision",
                                                               "threads", "batch", "error"]), ""]
    lines.append(f"Reproduce: `python benchmarks/latency.py {argv}`".rstrip())
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
