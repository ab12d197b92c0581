"""Measure this machine's peak FP32 and INT8 matmul throughput through the runtimes groundlite uses.

A "physical limit" for the latency table: what ONNX Runtime and OpenVINO reach on a large GEMM
with a constant weight, the same kind of op that holds a ViT's compute. Graphs:

* ``fp32``: ``MatMul(x [M,K] f32, W [K,N] f32)``
* ``int8-qdq`` / ``int8-qdq-u8``: ``Q/DQ(x int8 | uint8) -> MatMul <- DQ(W int8)`` (what our INT8
  packages contain; ORT fuses it to an integer GEMM, OpenVINO to an int8 FullyConnected)
* ``int8-matmulinteger`` (ORT only): ``MatMulInteger(x u8, W s8) -> int32`` (ORT's U8S8 kernel)

Shapes: a square 2048 GEMM and the ViT-B MLP shape (577 tokens x 768 -> 3072). Each
(runtime, graph, shape, threads) cell times ``--repeat`` calls and reports the fastest (the
capability) and the median; the peak per (runtime, precision, threads) is the best cell.
Writes ``benchmarks/results/peak.md`` and appends ``peak.jsonl``::

    python benchmarks/peak.py [--threads 1,2] [--repeat 15] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl, env_info, markdown_table, median_ms  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = {"square-2048": (2048, 2048, 2048), "vit-mlp-577x768x3072": (577, 768, 3072)}
GRAPHS = ("fp32", "int8-qdq", "int8-qdq-u8", "int8-matmulinteger")

__all__ = ["build_graph", "measure", "load_peaks", "RESULTS"]


def build_graph(kind: str, m: int, k: int, n: int, seed: int = 0) -> Any:
    """An ONNX model for one GEMM ``[M,K] x [K,N]`` of ``kind`` in :data:`GRAPHS` (opset 17)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits: list[Any] = []
    if kind == "fp32":
        inits.append(numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w"))
        nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
        x_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
    elif kind in ("int8-qdq", "int8-qdq-u8"):
        x_zero = np.array(128, np.uint8) if kind == "int8-qdq-u8" else np.array(0, np.int8)
        inits += [numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "w_q"),
                  numpy_helper.from_array(np.full((n,), 0.01, np.float32), "w_s"),
                  numpy_helper.from_array(np.zeros((n,), np.int8), "w_z"),
                  numpy_helper.from_array(np.array(0.05, np.float32), "x_s"),
                  numpy_helper.from_array(x_zero, "x_z")]
        nodes = [helper.make_node("QuantizeLinear", ["x", "x_s", "x_z"], ["x_q"]),
                 helper.make_node("DequantizeLinear", ["x_q", "x_s", "x_z"], ["x_dq"]),
                 helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w_dq"], axis=1),
                 helper.make_node("MatMul", ["x_dq", "w_dq"], ["y"])]
        x_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
    elif kind == "int8-matmulinteger":
        inits.append(numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "w"))
        nodes = [helper.make_node("MatMulInteger", ["x", "w"], ["y"])]
        x_type, y_type = TensorProto.UINT8, TensorProto.INT32
    else:
        raise ValueError(f"expected a graph kind in {GRAPHS}, got {kind!r}")
    graph = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("x", x_type, [m, k])],
                              [helper.make_tensor_value_info("y", y_type, [m, n])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _input(kind: str, m: int, k: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    if kind == "int8-matmulinteger":
        return rng.integers(0, 256, (m, k), dtype=np.uint8)
    return rng.standard_normal((m, k)).astype(np.float32)


def _ort_runner(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x})


def _ov_runner(path: Path, threads: int) -> Any:
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": threads,
              # FP32 stays f32 (no silent bf16): the peak must be the arithmetic the fp32 rows use
              "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})


def measure(runtimes: list[str], threads_list: list[int], repeat: int, shapes: dict[str, tuple[int, int, int]]
            ) -> list[dict[str, Any]]:
    """One row per (runtime, graph, shape, threads): median / fastest ms and GMAC/s (MACs = M*K*N)."""
    import onnx

    rows = []
    with tempfile.TemporaryDirectory(prefix="groundlite-peak-") as tmp:
        for shape_name, (m, k, n) in shapes.items():
            for kind in GRAPHS:
                path = Path(tmp) / f"{kind}-{shape_name}.onnx"
                onnx.save(build_graph(kind, m, k, n), str(path))
                x = _input(kind, m, k)
                for runtime in runtimes:
                    if runtime == "openvino" and kind == "int8-matmulinteger":
                        continue  # OpenVINO reads QDQ (FakeQuantize) for int8; MatMulInteger is ORT's op
                    for threads in threads_list:
                        run = (_ort_runner(path, threads) if runtime == "onnxruntime"
                               else _ov_runner(path, threads))
                        med, times = median_ms(lambda: run(x), warmup=3, repeat=repeat)
                        best = min(times)
                        # the peak is a capability: on a shared machine other jobs only ever slow a
                        # call down, so the fastest call estimates it better than the median
                        gmacs = m * k * n / (best * 1e-3) / 1e9
                        rows.append({"bench": "peak", "runtime": runtime, "graph": kind,
                                     "precision": "fp32" if kind == "fp32" else "int8", "shape": shape_name,
                                     "m": m, "k": k, "n": n, "threads": threads, "repeat": repeat,
                                     "median_ms": round(med, 3), "best_ms": round(best, 3),
                                     "gmac_per_s": round(gmacs, 1),
                                     "median_gmac_per_s": round(m * k * n / (med * 1e-3) / 1e9, 1)})
                        print(f"{runtime:12s} {kind:20s} {shape_name:22s} t={threads} {med:8.2f} ms "
                              f"{gmacs:7.1f} GMAC/s", flush=True)
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best GMAC/s per (runtime, precision, threads), with the graph and shape that reached it."""
    best: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in rows:
        key = (r["runtime"], r["precision"], r["threads"])
        if key not in best or r["gmac_per_s"] > best[key]["gmac_per_s"]:
            best[key] = r
    return [{"runtime": k[0], "precision": k[1], "threads": k[2], "peak_gmac_per_s": v["gmac_per_s"],
             "graph": v["graph"], "shape": v["shape"]} for k, v in sorted(best.items())]


def load_peaks(path: Path = RESULTS / "peak.jsonl", cpu: str | None = None) -> dict[tuple[str, str, int], float]:
    """Latest measured peak GMAC/s per (runtime, precision, threads) from ``peak.jsonl`` (same CPU model).

    Only rows from the most recent run (same ``run_id``) on this CPU are used.
    """
    import json

    if not path.is_file():
        return {}
    cpu = cpu or env_info()["cpu"]
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("env", {}).get("cpu") == cpu and r.get("bench") == "peak"]
    if not rows:
        return {}
    last = rows[-1]["run_id"]
    return {(s["runtime"], s["precision"], s["threads"]): s["peak_gmac_per_s"]
            for s in summarize([r for r in rows if r["run_id"] == last])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = len(os.sched_getaffinity(0))
    ap.add_argument("--threads", default=f"1,{cores}" if cores > 1 else "1", help="comma list (default 1,all)")
    ap.add_argument("--runtimes", default="onnxruntime,openvino")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--quick", action="store_true", help="only the ViT MLP shape, 5 repeats, no files written")
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    threads_list = sorted({int(t) for t in args.threads.split(",")})
    runtimes = [r for r in args.runtimes.split(",") if r]
    shapes = {"vit-mlp-577x768x3072": SHAPES["vit-mlp-577x768x3072"]} if args.quick else SHAPES
    repeat = 5 if args.quick else args.repeat
    load_before = os.getloadavg()
    rows = measure(runtimes, threads_list, repeat, shapes)
    load_after = os.getloadavg()
    run_id = env_info()["utc"]
    for r in rows:
        r.update(run_id=run_id, loadavg_before=[round(v, 2) for v in load_before],
                 loadavg_after=[round(v, 2) for v in load_after], note=args.note)
    summary = summarize(rows)
    env = env_info()
    text = "\n".join([
        "# Matmul peak (measured)",
        "",
        f"{env['cpu']}, {env['usable_cores']} cores, ISA {' '.join(env['isa'])}; onnxruntime "
        f"{env['onnxruntime']}, openvino {env['openvino']}; commit {env['commit']}; {env['utc']}.",
        f"Load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
        f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}. {args.note}",
        "",
        "Peak = the best cell below; a cell's `gmac_per_s` uses its fastest call (other jobs on a shared "
        "machine only slow calls down), `median_gmac_per_s` its median. MACs = M*K*N; 1 MAC = 2 FLOP.",
        "",
        markdown_table(summary, ["runtime", "precision", "threads", "peak_gmac_per_s", "graph", "shape"]),
        "",
        "All cells (median of %d calls each):" % repeat,
        "",
        markdown_table(rows, ["runtime", "graph", "shape", "threads", "median_ms", "best_ms", "gmac_per_s",
                              "median_gmac_per_s"]),
        "",
        f"Reproduce: `python benchmarks/peak.py --threads {args.threads} --repeat {args.repeat}`",
    ])
    print(text)
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "peak.md").write_text(text + "\n")
        append_jsonl(RESULTS / "peak.jsonl", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
