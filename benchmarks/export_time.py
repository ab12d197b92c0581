"""Time a full OWL package export (FP32 + INT8, ONNX Runtime + OpenVINO) stage by stage.

Default: random-init ``owlvit-base-patch32`` (published architecture; speed is real, accuracy is
not) at 768 px, 64 built-in calibration photos, 8 hold-out photos for fidelity. Writes one JSON
line per stage plus a total to ``benchmarks/results/export_time.jsonl`` and a markdown summary to
``benchmarks/results/export_time.md``; keeps the package (default
``~/.cache/groundlite/bench-packages/owlvit-base-patch32-768``) for the latency benchmarks.

    python benchmarks/export_time.py [--model NAME] [--calib-size N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl, env_info, markdown_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class _StageClock(logging.Handler):
    """Turns the exporter's per-stage INFO log lines into (stage, seconds) rows."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.marks: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "groundlite_export" and record.levelno == logging.INFO:
            self.marks.append((record.getMessage(), time.perf_counter()))

    def stages(self, end: float) -> list[tuple[str, float]]:
        ends = [t for _, t in self.marks[1:]] + [end]
        return [(name, e - t) for (name, t), e in zip(self.marks, ends)]


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="owlvit-base-patch32")
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--calib-size", type=int, default=64)
    ap.add_argument("--fidelity-images", type=int, default=8)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--note", default="2 shared cores; other jobs ran on the machine at the same time")
    args = ap.parse_args()

    from groundlite_export import export_owl
    from groundlite_export.random_init import get_spec

    size = args.image_size or int(get_spec(args.model).vision["image_size"])
    out = args.out or Path.home() / ".cache" / "groundlite" / "bench-packages" / f"{args.model}-{size}"
    clock = _StageClock()
    logger = logging.getLogger("groundlite_export")
    logger.setLevel(logging.INFO)
    logger.addHandler(clock)
    t0 = time.perf_counter()
    export_owl(random_init=args.model, out=out, image_size=args.image_size, precisions=("fp32", "int8"),
               backends=("onnxruntime", "openvino"), calib_size=args.calib_size,
               fidelity_images=args.fidelity_images, force=True, progress=False)
    total = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mib = usage.ru_maxrss / 1024
    cpu_s = usage.ru_utime + usage.ru_stime  # with a loaded machine, CPU time says more than wall time
    manifest = json.loads((out / "manifest.json").read_text())

    common = {"bench": "export_time", "model": args.model, "image_size": size, "calib_size": args.calib_size,
              "precisions": "fp32,int8", "backends": "onnxruntime,openvino", "note": args.note}
    rows = [{**common, "stage": name, "seconds": round(sec, 2)} for name, sec in clock.stages(t0 + total)]
    rows.append({**common, "stage": "total", "seconds": round(total, 2), "cpu_seconds": round(cpu_s, 1),
                 "peak_rss_mib": round(peak_mib),
                 "package": str(out), "package_bytes": _dir_bytes(out), "fidelity": manifest["fidelity"],
                 "artifacts": {a["file"]: a["bytes"] for a in manifest["artifacts"]}})
    append_jsonl(RESULTS / "export_time.jsonl", rows)

    env = env_info()
    fid_rows = [{"key": k, **{m: v.get(m) for m in ("region_cosine", "query_cosine", "logit_max_abs", "logit_mean_abs",
                                                     "box_l1", "detection_agreement")}}
                for k, v in manifest["fidelity"].items()]
    md = [
        f"# Export time: {args.model} ({size} px), FP32 + INT8, ONNX Runtime + OpenVINO",
        "",
        f"Measured {env['utc']} on {env['cpu']} ({env['usable_cores']} usable cores), commit {env['commit']}. "
        f"{args.note}. Single run (an export is minutes long; the stages are sequential).",
        "Random-init weights with the published architecture: timings and sizes are real, accuracy is not.",
        "",
        f"**Total: {total / 60:.1f} min** wall, {cpu_s / 60:.1f} min CPU (user+sys), peak RSS {peak_mib / 1024:.1f} GiB, package {_dir_bytes(out) / 2**20:.0f} MiB at `{out}`.",
        "",
        markdown_table([{"stage": n, "seconds": round(s, 1)} for n, s in clock.stages(t0 + total)], ["stage", "seconds"]),
        "",
        "## Fidelity against the FP32 ONNX Runtime graphs (held-out photos, fixed phrases)",
        "",
        markdown_table(fid_rows, ["key", "region_cosine", "query_cosine", "logit_max_abs", "logit_mean_abs", "box_l1",
                                  "detection_agreement"]),
        "",
        "detection_agreement: share of FP32 top-10 regions per (image, phrase) reproduced at IoU >= 0.5.",
        "",
        "## Artifacts",
        "",
        markdown_table([{"file": a["file"], "MiB (with .bin)": round(
            (a["bytes"] + sum(e["bytes"] for e in a.get("extra_files", []))) / 2**20, 1)} for a in manifest["artifacts"]],
            ["file", "MiB (with .bin)"]),
        "",
    ]
    (RESULTS / "export_time.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
