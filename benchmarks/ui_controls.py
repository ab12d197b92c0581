"""Benchmark: UI control boxes from the pixels (``groundlite.language.controls``) on real screens.

For every real control label (the TEXT box from the DOM, so the control finder is measured
without OCR errors) the finder is asked for the control's box and compared with the ELEMENT box
from the DOM (``getBoundingClientRect``). Reported per control kind (and how the label relates to
it: ``inside`` = the caption / value drawn in the control, ``label`` = a field's or checkbox's
label beside it) and per screen class: IoU >= 0.5 hit rate, median IoU, the text-box-only
baseline (answering with the text box itself), and milliseconds per query.

Data: ``benchmarks/controls_truth.py`` output (``{"controls": [...]}`` per screenshot), or the
real-screens generator's control queries (``{"queries": [{"type": "control", "control": kind,
"xyxy": element box, "label_xyxy": text box}, ...]}``).

Usage::

    python -m benchmarks.ui_controls --data /tmp/realscreens_q --negatives /tmp/realscreens_full \
        --known-controls /tmp/controls_truth --out benchmarks/results/ui_controls
    python -m benchmarks.controls_truth --out /tmp/controls_truth
    python -m benchmarks.ui_controls --data /tmp/controls_truth --no-link-rows \
        --out benchmarks/results/ui_controls.cups_pydoc
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from groundlite.language.controls import classify, control_around, field_for_label


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def controls_of(rec: dict) -> list[dict]:
    if "controls" in rec:
        return rec["controls"]
    out = []
    for q in rec.get("queries", []):
        if q.get("type") == "control" and q.get("label_xyxy"):
            # by: "text" / "placeholder" = drawn inside the control, "label" = beside it
            via = "label" if q.get("by") == "label" or q["control"] in ("checkbox", "radio") else "inside"
            out.append({"control": q["control"], "xyxy": q["xyxy"], "label_xyxy": q["label_xyxy"], "via": via})
    return out


def predict(rgb: np.ndarray, c: dict) -> tuple[list[float], str]:
    kind, lab = c["control"], c["label_xyxy"]
    if kind in ("field", "menu") and c.get("via") == "label":
        found = field_for_label(rgb, lab)
    else:
        found = control_around(rgb, lab, kind)
    if found is None:
        return list(lab), "none"
    return [float(v) for v in found.xyxy], found.cue


def screen_class(rec: dict) -> str:
    return f"{rec.get('screen', '?')}@{rec.get('dpr', 1):g}x"


def run(data: Path, limit_links: int | None = None, repeat: int = 1) -> list[dict]:
    rows = []
    n_links = 0
    for line in open(data / "labels.jsonl", encoding="utf-8"):
        rec = json.loads(line)
        ctls = controls_of(rec)
        if not ctls:
            continue
        rgb = np.asarray(Image.open(data / rec["image"]).convert("RGB"))
        H, W = rgb.shape[:2]
        for c in ctls:
            lab = c["label_xyxy"]
            if not (0 <= lab[0] < lab[2] <= W + 1 and 0 <= lab[1] < lab[3] <= H + 1):
                continue
            if c["control"] == "link":
                n_links += 1
                if limit_links is not None and n_links > limit_links:
                    continue
            ms = float("inf")
            for _ in range(repeat):     # min of repeats: the cost without other processes' noise
                t = time.perf_counter()
                box, cue = predict(rgb, c)
                ms = min(ms, (time.perf_counter() - t) * 1000)
            extra = {}
            if c["control"] != "link" and (c.get("via") == "inside") == (c["control"] not in ("checkbox", "radio")):
                # what classify() calls the label, with no kind given
                extra["classified"] = classify(rgb, lab).kind
            if c["control"] == "link":
                # the same link asked for as a tab (any frame or bar cell)
                tab = control_around(rgb, lab, "tab")
                extra["iou_as_tab"] = round(iou([float(v) for v in tab.xyxy] if tab else lab, c["xyxy"]), 4)
            rows.append({**extra, "id": rec["id"], "screen": screen_class(rec), "theme": rec.get("theme"),
                         "source": rec.get("source", {}).get("kind", "?"), "control": c["control"],
                         "via": c.get("via", "inside"), "truth": c["xyxy"], "label": lab,
                         "pred": [round(v, 1) for v in box], "cue": cue,
                         "iou": round(iou(box, c["xyxy"]), 4), "iou_text": round(iou(lab, c["xyxy"]), 4),
                         "ms": round(ms, 3)})
    return rows


NON_CONTROL_KINDS = ("prose", "table", "heading", "label", "code")


def _overlaps(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def negatives(data: Path, truth: dict[str, list] | None = None, per_screen: int = 15) -> list[dict]:
    """classify() on text lines that are NOT controls (real-screens ``lines`` of kinds prose,
    table, heading, label, code, not touching a control or control label of ``truth``; a seeded
    sample per screenshot): how often it claims a control."""
    import random

    rng = random.Random(0)
    rows = []
    for line in open(data / "labels.jsonl", encoding="utf-8"):
        rec = json.loads(line)
        # lines that touch a known control or its label (a radio's label is a "label" line) are
        # not negatives
        known = (truth or {}).get(rec["id"], [])
        lines = [ln for ln in rec.get("lines", []) if ln["kind"] in NON_CONTROL_KINDS
                 and not any(_overlaps(ln["xyxy"], k) for k in known)]
        if not lines:
            continue
        rgb = np.asarray(Image.open(data / rec["image"]).convert("RGB"))
        for ln in rng.sample(lines, min(per_screen, len(lines))):
            t = time.perf_counter()
            got = classify(rgb, ln["xyxy"])
            ms = (time.perf_counter() - t) * 1000
            rows.append({"id": rec["id"], "source": rec["source"]["kind"], "kind": ln["kind"],
                         "classified": got.kind, "ms": round(ms, 3)})
    return rows


def table(rows: list[dict], key) -> list[str]:
    groups = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    out = ["| group | n | hit@0.5 | median IoU | text-box baseline hit@0.5 | ms/query (median, p95) |",
           "|---|---:|---:|---:|---:|---:|"]
    for g in sorted(groups):
        rs = groups[g]
        ious = np.array([r["iou"] for r in rs])
        base = np.array([r["iou_text"] for r in rs])
        ms = np.array([r["ms"] for r in rs])
        out.append(f"| {g} | {len(rs)} | {100 * (ious >= 0.5).mean():.1f} % | {np.median(ious):.3f} | "
                   f"{100 * (base >= 0.5).mean():.1f} % | {np.median(ms):.2f}, {np.percentile(ms, 95):.2f} |")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with labels.jsonl + images/")
    ap.add_argument("--out", type=Path, default=None, help="write OUT.md and OUT.jsonl (one row per query)")
    ap.add_argument("--no-link-rows", dest="link_rows", action="store_false",
                    help="leave link queries out of OUT.jsonl (they stay in the tables)")
    ap.add_argument("--repeat", type=int, default=3, help="time each query N times, report the minimum")
    ap.add_argument("--limit-links", type=int, default=None, help="evaluate at most N links")
    ap.add_argument("--negatives", type=Path, default=None,
                    help="real-screens folder (labels.jsonl with lines): false-control rate of classify() on non-control text")
    ap.add_argument("--known-controls", type=Path, default=None,
                    help="controls_truth folder: lines touching ANY of its controls are not negatives")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    load0 = os.getloadavg()
    rows = run(a.data, a.limit_links, a.repeat)
    truth = defaultdict(list)
    for r in rows:
        truth[r["id"]] += [r["truth"], r["label"]]
    if a.known_controls:
        # every visible control and its label (controls_truth output), not only the queried ones
        for line in open(a.known_controls / "labels.jsonl", encoding="utf-8"):
            rec = json.loads(line)
            for c in controls_of(rec):
                truth[rec["id"]] += [c["xyxy"], c["label_xyxy"]]
    neg = negatives(a.negatives, truth) if a.negatives else []
    load1 = os.getloadavg()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    non_link = [r for r in rows if r["control"] != "link"]
    ious = np.array([r["iou"] for r in non_link]) if non_link else np.zeros(0)
    md = [f"# UI control boxes on real screens (`benchmarks/ui_controls.py`)", "",
          f"data: `{a.data}` ({len({r['id'] for r in rows})} screenshots with controls, {len(rows)} queries); "
          f"commit {commit}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average {load0[0]:.2f} at start, {load1[0]:.2f} at end; wall {time.monotonic() - t0:.0f} s; "
          f"ms/query = minimum of {a.repeat} runs of the query (single thread).", "",
          "Text box = the DOM label's text box (no OCR); truth = the element's `getBoundingClientRect()`. "
          "`via=inside`: the text drawn in the control (caption, selected option, value/placeholder, link text); "
          "`via=label`: a field's / checkbox's label beside it. Fallback when nothing is found: the text box.", "",
          f"**All controls except links: {100 * (ious >= 0.5).mean() if len(ious) else 0:.1f} % IoU >= 0.5 "
          f"({len(ious)} queries).**", "",
          "## Per control kind", "", *table(rows, lambda r: f"{r['control']} ({r['via']})"), "",
          "## Per screen class (all kinds but links)", "", *table(non_link, lambda r: r["screen"]), "",
          "## Per theme (all kinds but links)", "", *table(non_link, lambda r: str(r["theme"])), "",
          "## Links per source", "",
          "`control_around(kind=\"link\")`: a link drawn as a button / tab (centred frame) or a "
          "navigation-bar cell gets that box, a plain link its text box; `as tab` asks "
          "`control_around(kind=\"tab\")` instead (any frame or bar cell, else the text box).", "",
          *table([r for r in rows if r["control"] == "link"], lambda r: r["source"]),
          *table([{**r, "iou": r["iou_as_tab"]} for r in rows if r["control"] == "link"],
                 lambda r: r["source"] + " (as tab)")[2:], ""]
    cls = [r for r in rows if "classified" in r]
    if cls:
        md += ["## classify() with no kind given, on the true controls", "",
               "| control | n | classified as that kind | classified as |", "|---|---:|---:|---|"]
        for k in sorted({r["control"] for r in cls}):
            rs = [r for r in cls if r["control"] == k]
            got = defaultdict(int)
            for r in rs:
                got[r["classified"]] += 1
            md.append(f"| {k} | {len(rs)} | {100 * got[k] / len(rs):.1f} % | "
                      + ", ".join(f"{g} {n}" for g, n in sorted(got.items(), key=lambda x: -x[1])) + " |")
        md.append("")
    if neg:
        md += [f"## classify() on text that is not a control (`{a.negatives}`, {len(neg)} sampled lines)", "",
               "Lines touching a control or a control's label (from the queries"
               + (f" and every control in `{a.known_controls}`" if a.known_controls else "") + ") are left out.", "",
               "| source / line kind | n | called a control | called button / field / menu / checkbox / radio | ms (median) |",
               "|---|---:|---:|---|---:|"]
        groups = defaultdict(list)
        for r in neg:
            groups[f"{r['source']} / {r['kind']}"].append(r)
        for g in sorted(groups):
            rs = groups[g]
            ctl = [r for r in rs if r["classified"] not in ("text", "link")]
            by = defaultdict(int)
            for r in ctl:
                by[r["classified"]] += 1
            md.append(f"| {g} | {len(rs)} | {100 * len(ctl) / len(rs):.1f} % | "
                      + (", ".join(f"{k} {n}" for k, n in sorted(by.items())) or "-")
                      + f" | {np.median([r['ms'] for r in rs]):.2f} |")
        allc = [r for r in neg if r["classified"] not in ("text", "link")]
        md += ["", f"Overall: {100 * len(allc) / len(neg):.1f} % of non-control lines are called a control.", ""]
    md += ["## Notes", "",
           "* Real pages only: the CUPS 2.4 web UI (a private cupsd) and Debian documentation (Sphinx "
           "python3-doc and others) rendered by Debian's Chromium; their form controls are Chromium's "
           "default widgets (1-2 px grey borders, #efefef fills, light and dark). Custom-styled web apps "
           "(pill buttons, underline-only Material fields, icon-only buttons) are not in the data.",
           "* ms/query is single-threaded on a shared 2-core machine (load average above); the window "
           "around the label bounds the work, not the screen size.",
           "* Known false controls: table header cells and filled table rows read as fields, inline code "
           "boxes as fields/buttons (see the last table).", ""]
    text = "\n".join(md)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{a.out}.md").write_text(text + "\n", encoding="utf-8")
        with open(f"{a.out}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                if r["control"] != "link" or a.link_rows:
                    fh.write(json.dumps(r, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
