"""Sentence-encoder latency: every (backend, precision) of a sentence package, side by side.

Per candidate: the median time to encode ONE new short phrase (batch 1, a real phrase never seen
before by that encoder), a batch of 64 new real lines, and a cache hit. Rounds are interleaved
(each round times every candidate once, in a rotated order), so a busy neighbour slows all
candidates alike rather than one. Texts are the real screenshot texts the exporter measures
fidelity on. Every row carries the load average before and after and the CPU's ISA flags.

    python benchmarks/sentence_encoder.py                      # the installed "minilm" package
    python benchmarks/sentence_encoder.py --model DIR --rounds 40 --threads 2

Writes ``benchmarks/results/sentence_encoder.md`` and appends ``sentence_encoder.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl, env_info, markdown_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: the issue's target for one new phrase (INT8, on the development CPU)
TARGET_MS = 5.0


def _ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def main(argv: list[str] | None = None) -> int:
    from groundlite.language.encoder import load_encoder
    from groundlite.package import open_package
    from groundlite_export.sentence import real_texts  # the exporter's selection of real texts (light import)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm", help="sentence package directory or 'minilm' (installed)")
    ap.add_argument("--rounds", type=int, default=30, help="interleaved rounds (one timing per candidate each)")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the backend's)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    load_before = os.getloadavg()
    phrases, lines = real_texts()
    batch = lines[:64]
    probe = load_encoder(args.model, decision_cache=False)
    package = open_package(probe.package.root)
    combos = package.combos()
    fresh, cached = {}, {}
    for b, p in combos:
        # cache_size=0: every call computes (new phrase, batch); a second encoder holds the cache
        fresh[(b, p)] = load_encoder(args.model, backend=b, precision=p, threads=args.threads, cache_size=0,
                                     decision_cache=False)
        cached[(b, p)] = load_encoder(args.model, backend=b, precision=p, threads=args.threads, decision_cache=False)
        cached[(b, p)].encode(["Printers"])
        for _ in range(3):  # warm-up: first runs allocate
            fresh[(b, p)].encode([phrases[0]])
            fresh[(b, p)].encode(batch)
    times: dict[tuple[str, str], dict[str, list[float]]] = {c: {"new": [], "batch64": [], "hit": []} for c in combos}
    for r in range(args.rounds):
        order = combos[r % len(combos):] + combos[: r % len(combos)]
        phrase = phrases[(r + 1) % len(phrases)]
        for c in order:
            times[c]["new"].append(_ms(lambda: fresh[c].encode([phrase])))
            times[c]["batch64"].append(_ms(lambda: fresh[c].encode(batch)))
            times[c]["hit"].append(_ms(lambda: cached[c].encode(["Printers"])))
    load_after = os.getloadavg()

    env = env_info()
    vnni = any(f in env["isa"] for f in ("avx512_vnni", "avx_vnni", "amx_int8"))
    rows = []
    for (b, p) in combos:
        fid = package.fidelity(b, p) or {}
        new = float(np.median(times[(b, p)]["new"]))
        rows.append({
            "bench": "sentence_encoder", "model": package.manifest.get("name"), "backend": b, "precision": p,
            "threads": args.threads or "default", "rounds": args.rounds,
            "new_phrase_ms": round(new, 2), "new_phrase_p90_ms": round(float(np.percentile(times[(b, p)]["new"], 90)), 2),
            "batch64_ms": round(float(np.median(times[(b, p)]["batch64"])), 1),
            "batch64_per_text_ms": round(float(np.median(times[(b, p)]["batch64"])) / len(batch), 2),
            "cached_hit_ms": round(float(np.median(times[(b, p)]["hit"])), 3),
            "mean_cosine": fid.get("mean_cosine", 1.0 if p == "fp32" else None),
            "retrieval_agreement": fid.get("retrieval_agreement", 1.0 if p == "fp32" else None),
            "auto_choice": (b, p) == (probe.backend_info.backend, probe.backend_info.precision),
            "target_5ms_met": new <= TARGET_MS,
            "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
            "vnni": vnni,
        })
    append_jsonl(args.out / "sentence_encoder.jsonl", rows)
    cols = ["backend", "precision", "new_phrase_ms", "new_phrase_p90_ms", "batch64_ms", "batch64_per_text_ms",
            "cached_hit_ms", "mean_cosine", "retrieval_agreement", "auto_choice", "target_5ms_met"]
    head = (f"# Sentence encoder latency ({package.manifest.get('name')}, {package.manifest['source'].get('id')})\n\n"
            f"Commit {env['commit']}, {env['utc']}; CPU: {env['cpu']}, {env['usable_cores']} usable core(s), "
            f"ISA flags {', '.join(env['isa'])} — {'VNNI present' if vnni else 'no VNNI (AVX2 only: INT8 GEMMs use the slower pre-VNNI path, so INT8 speed-ups may not show)'}. "
            f"onnxruntime {env.get('onnxruntime')}, openvino {env.get('openvino')}; threads: {args.threads or 'backend default'}.\n"
            f"Load average (1/5/15 min) before: {' / '.join(f'{x:.2f}' for x in load_before)}, after: "
            f"{' / '.join(f'{x:.2f}' for x in load_after)} — the machine is shared; a load above the core count "
            "inflates every number here alike.\n\n"
            f"{args.rounds} interleaved rounds; medians. *new phrase*: one real phrase the encoder has not seen "
            "(batch 1, tokenise + infer); *batch64*: 64 new real lines in one call (batched 32 at a time, sorted by "
            "length); *cached hit*: a phrase already in the LRU cache. Fidelity columns are the package's stored "
            f"values (against the FP32 torch reference). Issue target: <= {TARGET_MS:g} ms per new phrase (INT8).\n\n")
    text = head + markdown_table(rows, cols) + "\n"
    (args.out / "sentence_encoder.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
