"""Benchmark groundlite's C++ kernels against the usual alternatives, single-threaded.

Grid:
  * NMS on clustered detector-like boxes, N = 1k / 10k / 50k: groundlite vs cv2.dnn.NMSBoxes,
    ONNX Runtime's NonMaxSuppression op (one-node model built in memory), the vectorised numpy
    baseline (tests/reference_ops.nms_numpy) and torchvision when importable. Keep-set equality
    with groundlite is reported per row.
  * region_phrase_logits + select_regions, N = 576 / 3600, D = 512, Q = 1 / 16 / 256, vs numpy.
  * preprocess 1920x1080 -> 768x768 (both modes) vs Pillow resize + numpy normalise, and the
    transformers processors as context.

Prints a markdown table, appends JSON lines to benchmarks/results/kernels.jsonl and writes the
latest table to benchmarks/results/kernels.md. Run: ``python benchmarks/kernels.py [--quick]``.
"""

from __future__ import annotations

import os

# Single thread everywhere; must happen before numpy / onnxruntime / cv2 are imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import reference_ops as ref  # noqa: E402
from _common import append_jsonl, env_info, markdown_table, median_ms  # noqa: E402

from groundlite import ops  # noqa: E402
from groundlite.schema import CLIP_MEAN, CLIP_STD  # noqa: E402

RESULTS = HERE / "results"
SLOW_CALL_S = 2.0  # a baseline slower than this per call gets 5 repetitions instead of 20
# torchvision is not installed here (it breaks transformers); the brief quotes these figures.
TORCHVISION_BRIEF_MS = {1000: 2.6, 10000: 187.0}


def timed(fn, repeat: int) -> tuple[float, int]:
    """Median wall ms (via _common.median_ms) over `repeat` runs (5 for very slow baselines), and
    the count used. The median thread-CPU ms of the same calls is kept in LAST_CPU_MS: on this
    shared machine CPU time is the steadier number (all kernels here run on the calling thread)."""
    global LAST_CPU_MS
    t0 = time.perf_counter()
    fn()  # first warm-up doubles as a speed probe
    first = time.perf_counter() - t0
    reps = repeat if first < SLOW_CALL_S else 5
    cpu: list[float] = []

    def probe():
        c0 = time.thread_time()
        fn()
        cpu.append((time.thread_time() - c0) * 1e3)

    med, _ = median_ms(probe, warmup=2 if first < SLOW_CALL_S else 0, repeat=reps)
    LAST_CPU_MS = float(np.median(cpu[-reps:]))
    return med, reps


LAST_CPU_MS = float("nan")


def row(base: dict, impl: str, ms: float, reps: int, ref_ms: float | None, ref_cpu: float | None, **extra) -> dict:
    """One result row; ratios are this row's time over groundlite's (wall and CPU)."""
    r = {**base, "impl": impl, "ms": ms, "cpu_ms": LAST_CPU_MS, "reps": reps, **extra}
    if ref_ms:
        r["slower_x"] = ms / ref_ms
        r["cpu_slower_x"] = LAST_CPU_MS / ref_cpu if ref_cpu else None
    return r


def detector_boxes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n boxes jittered around a few hundred object centres with a detector-like score spread."""
    rng = np.random.default_rng(seed)
    centres = max(50, min(300, n // 20))
    c = rng.uniform(0, 1920, (centres, 2))
    wh = rng.uniform(20, 300, (centres, 2))
    k = rng.integers(0, centres, n)
    ctr = c[k] + rng.normal(0, 0.12, (n, 2)) * wh[k]
    half = wh[k] * rng.uniform(0.8, 1.25, (n, 2)) / 2
    boxes = np.concatenate([ctr - half, ctr + half], axis=1).astype(np.float32)
    scores = rng.beta(1.5, 6, n).astype(np.float32)
    return boxes, scores


def ort_nms_session(threads: int = 1):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score_thr"], ["selected"],
                            center_point_box=0)
    graph = helper.make_graph(
        [node], "nms",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, None, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, None]),
         helper.make_tensor_value_info("max_out", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]),
         helper.make_tensor_value_info("score_thr", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def bench_nms(sizes: list[int], repeat: int, iou: float = 0.5) -> list[dict]:
    import cv2

    cv2.setNumThreads(1)
    sess = ort_nms_session()
    try:
        import torch
        import torchvision.ops as tv_ops
    except ImportError:
        tv_ops = None
        print("torchvision is not importable: torchvision rows are absent; the brief's figures "
              f"{TORCHVISION_BRIEF_MS} ms are quoted as context only, not measured in this run.")
    rows = []
    for n in sizes:
        boxes, scores = detector_boxes(n)
        ours = ops.nms(boxes, scores, iou)
        ours_set = set(ours.tolist())
        base = {"bench": "nms", "N": n, "kept": len(ours), "iou": iou}
        t0, reps = timed(lambda: ops.nms(boxes, scores, iou), repeat)
        c0 = LAST_CPU_MS
        rows.append(row(base, "groundlite", t0, reps, None, None, same_keep=True))

        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        keep_cv = np.asarray(cv2.dnn.NMSBoxes(xywh, scores, 0.0, iou)).reshape(-1)
        t, r = timed(lambda: cv2.dnn.NMSBoxes(xywh, scores, 0.0, iou), repeat)
        rows.append(row(base, "cv2.dnn.NMSBoxes", t, r, t0, c0, same_keep=set(keep_cv.tolist()) == ours_set))

        feeds = {"boxes": boxes[None], "scores": scores[None, None], "max_out": np.array([n], np.int64),
                 "iou": np.array([iou], np.float32), "score_thr": np.array([-np.inf], np.float32)}
        keep_ort = sess.run(None, feeds)[0][:, 2]
        t, r = timed(lambda: sess.run(None, feeds), repeat)
        rows.append(row(base, "onnxruntime NonMaxSuppression", t, r, t0, c0,
                        same_keep=set(keep_ort.tolist()) == ours_set))

        t_start = time.perf_counter()
        keep_np = ref.nms_numpy(boxes, scores, iou)
        if time.perf_counter() - t_start < 60:
            t, r = timed(lambda: ref.nms_numpy(boxes, scores, iou), repeat)
            rows.append(row(base, "numpy (vectorised reference)", t, r, t0, c0,
                            same_keep=set(keep_np.tolist()) == ours_set))
        if tv_ops is not None:
            tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
            keep_tv = tv_ops.nms(tb, ts, iou).numpy()
            t, r = timed(lambda: tv_ops.nms(tb, ts, iou), repeat)
            rows.append(row(base, "torchvision.ops.nms", t, r, t0, c0, same_keep=set(keep_tv.tolist()) == ours_set))
        elif n in TORCHVISION_BRIEF_MS:
            rows.append({**base, "impl": "torchvision (brief's figure, NOT measured in this run)",
                         "ms": TORCHVISION_BRIEF_MS[n], "reps": 0, "slower_x": TORCHVISION_BRIEF_MS[n] / t0,
                         "measured": False})
    return rows


def numpy_logits_select(r, q, shift, scale, threshold):
    rn = r / (np.linalg.norm(r, axis=-1, keepdims=True) + 1e-6)
    qn = q / (np.linalg.norm(q, axis=-1, keepdims=True) + 1e-6)
    logits = (rn @ qn.T + shift) * scale
    best = logits.argmax(-1)
    score = 1 / (1 + np.exp(-logits[np.arange(len(best)), best]))
    keep = np.flatnonzero(score > threshold)
    order = keep[np.argsort(-score[keep], kind="stable")]
    return order, best[order], score[order]


def bench_similarity(repeat: int, d: int = 512) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for n in (576, 3600):
        for q in (1, 16, 256):
            r = rng.normal(size=(n, d)).astype(np.float32)
            qe = rng.normal(size=(q, d)).astype(np.float32)
            shift = rng.normal(-2, 1, (n, 1)).astype(np.float32)
            scale = rng.uniform(5, 15, (n, 1)).astype(np.float32)

            def ours():
                return ops.select_regions(ops.region_phrase_logits(r, qe, shift, scale), 0.1)

            base = {"bench": "logits+select", "N": n, "Q": q, "D": d}
            t_logits, _ = timed(lambda: ops.region_phrase_logits(r, qe, shift, scale), repeat)
            logits_cpu = LAST_CPU_MS
            t0, reps = timed(ours, repeat)
            c0 = LAST_CPU_MS
            rows.append(row(base, "groundlite", t0, reps, None, None, same_keep=True, logits_ms=t_logits,
                            logits_gflops=2 * n * q * d / (logits_cpu * 1e-3) / 1e9))
            a, b = ours(), numpy_logits_select(r, qe, shift, scale, 0.1)
            # set of (region, query) pairs: numpy's BLAS sums in another order, so near-equal scores
            # may swap places; a False here means a pair crossed the threshold.
            same = set(zip(a[0].tolist(), a[1].tolist())) == set(zip(b[0].tolist(), b[1].tolist()))
            t, r_np = timed(lambda: numpy_logits_select(r, qe, shift, scale, 0.1), repeat)
            rows.append(row(base, "numpy (norm + matmul + argmax)", t, r_np, t0, c0, same_keep=same))
    return rows


def bench_preprocess(repeat: int, size: int = 768) -> list[dict]:
    from PIL import Image
    from skimage import data

    img = np.asarray(Image.fromarray(data.astronaut()).resize((1920, 1080), Image.BICUBIC))  # real photo, 1080p
    mean, std = np.asarray(CLIP_MEAN, np.float32), np.asarray(CLIP_STD, np.float32)

    def pil_squash():
        x = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC), dtype=np.float32)
        return np.ascontiguousarray(((x * (1 / 255) - mean) / std).transpose(2, 0, 1))[None]

    def pil_pad():
        side = max(img.shape[:2])
        canvas = Image.new("RGB", (side, side), (0, 0, 0))
        canvas.paste(Image.fromarray(img), (0, 0))
        x = np.asarray(canvas.resize((size, size), Image.BILINEAR), dtype=np.float32)
        return np.ascontiguousarray(((x * (1 / 255) - mean) / std).transpose(2, 0, 1))[None]

    from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil
    from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

    owlvit = OwlViTImageProcessorPil(size={"height": size, "width": size}, crop_size={"height": size, "width": size})
    owlv2 = Owlv2ImageProcessorPil(size={"height": size, "width": size})
    rows = []
    for mode, pil_fn, hf in (("squash-bicubic", pil_squash, owlvit), ("pad-bilinear-antialias", pil_pad, owlv2)):
        pad = 0.0  # what transformers 5.x pads OWLv2 with
        base = {"bench": "preprocess", "N": "1920x1080->768", "mode": mode}
        # the baselines are single-threaded, so the ratios are against groundlite on one thread;
        # the all-cores row (what OwlGrounder runs by default) is listed against that one
        t0, reps = timed(lambda: ops.preprocess(img, size, mean, std, mode=mode, pad_value=pad, threads=1), repeat)
        c0 = LAST_CPU_MS
        got, _ = ops.preprocess(img, size, mean, std, mode=mode, pad_value=pad, threads=1)
        want = hf(images=img, return_tensors="np")["pixel_values"]
        rows.append(row(base, "groundlite", t0, reps, None, None,
                        max_abs_diff_vs_transformers=float(np.abs(got - want).max())))
        t, r = timed(lambda: ops.preprocess(img, size, mean, std, mode=mode, pad_value=pad), repeat)
        rows.append(row(base, f"groundlite, all {os.cpu_count()} cores (slower_x < 1: faster than 1 thread)", t, r, t0, c0))
        t, r = timed(pil_fn, repeat)
        rows.append(row(base, "Pillow resize + numpy normalise", t, r, t0, c0))
        t, r = timed(lambda: hf(images=img, return_tensors="np"), max(5, repeat // 4))
        rows.append(row(base, f"transformers {type(hf).__name__} (context)", t, r, t0, c0))
    return rows


def target_lines(rows: list[dict]) -> list[str]:
    """The brief's targets against this run's numbers (wall and CPU medians)."""

    def find(**kw):
        return next((r for r in rows if all(r.get(k) == v for k, v in kw.items())), None)

    out = []
    for n, budget in ((1000, 2.6 / 5), (10000, 187.0 / 10)):
        r = find(bench="nms", N=n, impl="groundlite")
        if r:
            ok = "met" if r["ms"] <= budget else "MISSED"
            out.append(f"- NMS N={n}: {r['ms']:.3g} ms wall / {r['cpu_ms']:.3g} ms CPU vs target <= {budget:.3g} ms "
                       f"(the brief's torchvision figure / {5 if n == 1000 else 10}; torchvision not measured here): {ok}")
    r = find(bench="logits+select", N=576, Q=16, impl="groundlite")
    if r:
        ok = "met" if r["ms"] <= 0.05 else "MISSED"
        need = 2 * 576 * 16 * 512 / 50e-6 / 1e9
        best = max(x.get("logits_gflops") or 0.0 for x in rows)
        out.append(f"- logits+select N=576 Q=16 D=512: {r['ms'] * 1e3:.0f} us wall (logits alone {r['logits_ms'] * 1e3:.0f} us "
                   f"at {r['logits_gflops']:.0f} GFLOPS on one core) vs target <= 50 us: {ok}. The dot products alone are "
                   f"9.4 MFLOP, so 50 us needs {need:.0f} GFLOPS fp32 from one core; the best this kernel reached in this "
                   f"run (large Q) is {best:.0f} GFLOPS, and numpy/OpenBLAS is slower on the same shape (see its row).")
    for mode in ("squash-bicubic", "pad-bilinear-antialias"):
        r = find(bench="preprocess", mode=mode, impl="Pillow resize + numpy normalise")
        if r:
            ok = "met" if r["slower_x"] >= 2 else "MISSED"
            out.append(f"- preprocess {mode} 1920x1080->768: Pillow + numpy is {r['slower_x']:.2f}x slower (wall), "
                       f"{r['cpu_slower_x']:.2f}x (CPU) vs target >= 2x: {ok}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=1k/10k NMS only, fewer repetitions (smoke run)")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch benchmarks/results")
    args = ap.parse_args(argv)
    repeat = 5 if args.quick else args.repeat
    sizes = [1000, 10000] if args.quick else [1000, 10000, 50000]

    rows = bench_nms(sizes, repeat) + bench_similarity(repeat) + bench_preprocess(repeat)
    env = env_info()
    from groundlite import _kernels

    build = f"compiled ISA {_kernels.compiled_isa}, dispatch {_kernels.dispatch}"
    for r in rows:
        r["kernels_build"] = build
    cols = ["bench", "N", "Q", "mode", "impl", "ms", "cpu_ms", "reps", "slower_x", "cpu_slower_x", "same_keep",
            "kept", "logits_ms", "logits_gflops", "max_abs_diff_vs_transformers"]
    table = markdown_table(rows, cols)
    header = (f"Single thread, median of `reps` runs after warm-up; commit {env['commit']}, {env['cpu']} "
              f"({env['usable_cores']} cores, ISA {' '.join(env['isa'])}), kernels {build}, {env['utc']}. "
              "The machine is shared with other jobs, so absolute times are noisy; ratios come from the "
              "same run. `ms`: wall median; `cpu_ms`: thread-CPU median of the same calls (steadier under load); "
              "`slower_x` / `cpu_slower_x`: the row's time over groundlite's. Rows marked "
              "'NOT measured' quote the brief and were not run here.")
    targets = "\n".join(target_lines(rows))
    print(header)
    print()
    print(table)
    print()
    print(targets)
    if not args.no_write:
        append_jsonl(RESULTS / "kernels.jsonl", rows)
        (RESULTS / "kernels.md").write_text(
            f"# groundlite kernel benchmark\n\n{header}\n\n{table}\n\n## Targets\n\n{targets}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
