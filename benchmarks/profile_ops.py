"""Where the image encoder's time goes: per-op-type shares from ONNX Runtime's and OpenVINO's profilers.

Loads a package's image encoder with the same options as the runtime backends (ORT: all graph
optimisations, sequential, ``intra_op_num_threads``; OpenVINO: LATENCY hint, one stream,
``INFERENCE_NUM_THREADS``, f32 inference precision) plus profiling, runs ``--runs`` calls on a
real photo's pixels and prints the ops that hold the time. ``--save`` appends the tables to
``benchmarks/results/latency.profile.md``::

    python benchmarks/profile_ops.py PACKAGE --backend onnxruntime --precision int8 [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import env_info, markdown_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _artifact(package: Path, backend: str, precision: str) -> Path:
    manifest = json.loads((package / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        if a["graph"] == "image_encoder" and a["backend"] == backend and a["precision"] == precision:
            return package / a["file"]
    raise SystemExit(f"expected an image_encoder {backend}/{precision} artifact in {package}, got none")


def _pixels(package: Path, batch: int) -> np.ndarray:
    from groundlite import ops
    from groundlite.images import load_image
    from latency import _sample_image_paths

    m = json.loads((package / "manifest.json").read_text())
    pre = m["preprocess"]
    rgb = load_image(_sample_image_paths()[0])
    px, _ = ops.preprocess(rgb, int(m["image_size"]), tuple(pre["mean"]), tuple(pre["std"]), pre["resize"],
                           float(pre.get("pad_value", 0.0)))
    return np.repeat(px, batch, axis=0)


def profile_onnxruntime(path: Path, pixels: np.ndarray, threads: int, runs: int) -> tuple[float, dict[str, float]]:
    """(wall ms per call, {op type: total kernel ms per call}) from ORT's JSON profile."""
    import time

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="groundlite-prof-") as tmp:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "ort")
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        sess.run(None, {name: pixels})  # warm-up, excluded below by counting runs
        t0 = time.perf_counter()
        for _ in range(runs):
            sess.run(None, {name: pixels})
        wall = (time.perf_counter() - t0) * 1e3 / runs
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    node_events = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    # the first call's events are the warm-up: drop them (each call has the same number of node events)
    per_call = len(node_events) // (runs + 1)
    for e in node_events[per_call:]:
        per_op[e["args"].get("op_name", "?")] += e["dur"] / 1e3 / runs
    return wall, dict(per_op)


def profile_openvino(path: Path, pixels: np.ndarray, threads: int, runs: int) -> tuple[float, dict[str, float]]:
    """(wall ms per call, {"layer type / exec type": ms per call}) from ``get_profiling_info``."""
    import time

    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": threads,
              "INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": "YES"}
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled.create_infer_request()
    request.infer({0: pixels})
    per_op: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()
    for _ in range(runs):
        request.infer({0: pixels})
        for info in request.profiling_info:  # counters of the latest call
            if info.status == info.Status.EXECUTED:
                per_op[f"{info.node_type} / {info.exec_type}"] += info.real_time.total_seconds() * 1e3 / runs
    wall = (time.perf_counter() - t0) * 1e3 / runs
    return wall, dict(per_op)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", type=Path)
    ap.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "openvino"))
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)
    path = _artifact(args.package, args.backend, args.precision)
    pixels = _pixels(args.package, args.batch)
    fn = profile_onnxruntime if args.backend == "onnxruntime" else profile_openvino
    wall, per_op = fn(path, pixels, args.threads, args.runs)
    total = sum(per_op.values())
    rows = [{"op": k, "ms_per_call": v, "pct_of_op_time": 100 * v / total}
            for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])[: args.top]]
    env = env_info()
    text = "\n".join([
        f"## {args.package.name} image encoder, {args.backend} {args.precision}, {args.threads} thread(s), "
        f"batch {args.batch}",
        "",
        f"{env['utc']}, commit {env['commit']}, load average {os.getloadavg()[0]:.2f}; {args.runs} profiled calls; "
        f"wall {wall:.1f} ms per call (with profiling on), op time summed {total:.1f} ms per call.",
        "",
        markdown_table(rows, ["op", "ms_per_call", "pct_of_op_time"]),
        "",
    ])
    print(text)
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with (RESULTS / "latency.profile.md").open("a", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
