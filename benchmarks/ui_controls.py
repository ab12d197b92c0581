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

``--ocr`` measures the screen-wide path instead: each screenshot is read by the built-in text
model (``groundlite.load("text").read``; lines cached as pickles in ``--ocr-cache``) and
``find_controls(rgb, lines, kind)`` is compared with every DOM control of that kind on the
screen (links and buttons from the ``words`` of that kind -- consecutive words of one DOM line
are one control, its *text extent* -- plus the element boxes of the link / button / radio /
checkbox queries): recall, precision (a returned box matches a control when its IoU with the
element box or the text extent is >= 0.5) and the accuracy of the unanchored ordinal queries
("the second link": is the n-th returned box the target?). Writes ``OUT.md`` / ``OUT.jsonl``.

Usage::

    python -m benchmarks.ui_controls --data /tmp/realscreens_q --ocr --split tune --limit 15 \
        --out benchmarks/results/ui_controls.ocr.tune
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

from groundlite.language.controls import classify, control_around, field_for_label, find_controls


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


# ------------------------------------------------------------------------------------------------
# --ocr: find_controls over the OCR lines of whole screens
# ------------------------------------------------------------------------------------------------

OCR_KINDS = ("link", "button", "checkbox", "radio")


def pick_screens(recs: list[dict], split: str | None, limit: int | None) -> list[dict]:
    """Screenshots for the OCR mode: per source page the smallest one (the fastest to read) with
    an unanchored ordinal query of a control kind, pages alternating app / doc (so that a small
    ``limit`` still has CUPS forms and documentation prose)."""
    best: dict[str, dict] = {}
    for r in recs:
        if split and r.get("split") != split:
            continue
        if not any(q["type"] == "ordinal" and q.get("anchor") is None and q.get("control") in OCR_KINDS
                   for q in r.get("queries", [])):
            continue
        p = r["source"]["page"]
        if p not in best or r["width"] * r["height"] < best[p]["width"] * best[p]["height"]:
            best[p] = r
    by = {"app": [], "doc": []}
    for p in sorted(best):
        by["app" if best[p]["source"]["kind"] == "app" else "doc"].append(best[p])
    out: list[dict] = []
    while (limit is None or len(out) < limit) and (by["app"] or by["doc"]):
        for k in ("app", "doc"):
            if by[k] and (limit is None or len(out) < limit):
                out.append(by[k].pop(0))
    return out


def ocr_lines(data: Path, rec: dict, cache: Path, model_box: list) -> tuple[list, float]:
    """The text model's lines for one screenshot (pickled in ``cache``) and the read time (s; 0
    when cached)."""
    import pickle

    f = cache / f"{rec['id']}.pkl"
    if f.exists():
        with open(f, "rb") as fh:
            return pickle.load(fh), 0.0
    if not model_box:
        import groundlite

        model_box.append(groundlite.load("text"))
    t = time.perf_counter()
    lines = model_box[0].read(str(data / rec["image"]))
    dt = time.perf_counter() - t
    cache.mkdir(parents=True, exist_ok=True)
    with open(f, "wb") as fh:
        pickle.dump(lines, fh)
    return lines, dt


def dom_controls(rec: dict, kind: str) -> list[dict]:
    """The DOM controls of ``kind`` on a screen: ``[{"text_xyxy", "element" (or None), "text"}]``.

    Links / buttons: runs of consecutive words of that kind on one DOM line (a gap wider than the
    word height starts a new control); element boxes of queries naming a control of this kind
    are attached to the run they contain (or added alone: checkboxes and radios have no words).
    """
    out: list[dict] = []
    run: list[dict] = []

    def flush():
        if run:
            xs = np.array([w["xyxy"] for w in run])
            out.append({"text_xyxy": [*xs[:, :2].min(0), *xs[:, 2:].max(0)], "element": None,
                        "text": " ".join(w["text"] for w in run)})
            run.clear()

    for w in rec["words"]:
        if w.get("kind") != kind:
            flush()
            continue
        if run and (run[-1]["line"] != w["line"]
                    or w["xyxy"][0] - run[-1]["xyxy"][2] > (w["xyxy"][3] - w["xyxy"][1])
                    or w["xyxy"][0] < run[-1]["xyxy"][0]):
            flush()
        run.append(w)
    flush()
    for q in rec.get("queries", []):
        if q.get("control") != kind or not q.get("xyxy") or q["type"] not in ("control", "ordinal", "relation", "paraphrase"):
            continue
        el = q["xyxy"]
        inside = [c for c in out if c["text_xyxy"] is not None and _within(c["text_xyxy"], el)]
        if inside:
            for c in inside:
                c["element"] = el
        elif not any(c["element"] is not None and iou(c["element"], el) > 0.9 for c in out):
            out.append({"text_xyxy": None, "element": el, "text": q.get("target_text") or q.get("label")})
    return out


def _within(inner, outer, tol: float = 2.0) -> bool:
    return (inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol
            and inner[2] <= outer[2] + tol and inner[3] <= outer[3] + tol)


def _matches(box, c: dict) -> bool:
    return any(ref is not None and iou(box, ref) >= 0.5 for ref in (c["element"], c["text_xyxy"]))


def run_ocr(data: Path, recs: list[dict], cache: Path, repeat: int = 1) -> tuple[list[dict], list[dict], list[dict]]:
    """Per (screen, kind) rows, per ordinal-query rows and per-screen OCR rows."""
    rows, ords, screens = [], [], []
    model_box: list = []
    for rec in recs:
        lines, read_s = ocr_lines(data, rec, cache, model_box)
        rgb = np.asarray(Image.open(data / rec["image"]).convert("RGB"))
        screens.append({"id": rec["id"], "lines": len(lines), "read_s": round(read_s, 2)})
        for kind in OCR_KINDS:
            find_controls(rgb, lines[:1], kind)          # warm (lazy imports)
            ms = float("inf")
            for _ in range(repeat):     # min of repeats: the cost without other processes' noise
                t = time.perf_counter()
                found = find_controls(rgb, lines, kind)
                ms = min(ms, (time.perf_counter() - t) * 1000)
            truth = dom_controls(rec, kind)
            hit_t = [any(_matches(f.xyxy, c) for f in found) for c in truth]
            hit_f = [any(_matches(f.xyxy, c) for c in truth) for f in found]
            rows.append({"id": rec["id"], "source": rec["source"]["kind"], "screen": screen_class(rec),
                         "theme": rec.get("theme"), "kind": kind, "n_lines": len(lines), "n_truth": len(truth),
                         "n_found": len(found), "recalled": int(sum(hit_t)), "correct": int(sum(hit_f)),
                         "ms": round(ms, 2),
                         "missed": [c["text"] for c, h in zip(truth, hit_t) if not h][:20],
                         "false": [f.text for f, h in zip(found, hit_f) if not h][:20]})
            for q in rec.get("queries", []):
                if q["type"] != "ordinal" or q.get("anchor") is not None or q.get("control") != kind:
                    continue
                n = q["ordinal"]
                pick = found[n - 1] if 0 < n <= len(found) else (found[-1] if n == -1 and found else None)
                target = [c for c in truth if c["element"] is not None and iou(c["element"], q["xyxy"]) > 0.9]
                ok = pick is not None and (iou(pick.xyxy, q["xyxy"]) >= 0.5 or any(_matches(pick.xyxy, c) for c in target))
                ords.append({"id": rec["id"], "source": rec["source"]["kind"], "kind": kind, "query": q["query"],
                             "target_text": q.get("target_text"), "n_found": len(found),
                             "picked_text": pick.text if pick is not None else None, "ok": bool(ok)})
    return rows, ords, screens


def ocr_report(a, rows, ords, screens, load0, load1, wall) -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    md = ["# find_controls on OCR lines of real screens (`benchmarks/ui_controls.py --ocr`)", "",
          f"data: `{a.data}` split `{a.split or 'all'}`, {len(screens)} screenshots (`pick_screens`: per "
          f"source page the smallest with an unanchored ordinal control query, app / doc alternating"
          f"{f', limit {a.limit}' if a.limit else ''}); OCR: `groundlite.load(\"text\").read` (cached in "
          f"`{a.ocr_cache}`); commit {commit}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average {load0[0]:.2f} at start, {load1[0]:.2f} at end; wall {wall:.0f} s.", "",
          "Truth: the DOM controls of the kind on the screen -- links / buttons = runs of consecutive DOM words "
          "of that kind on one DOM line (text extent), with the element box of any query naming it; "
          "checkboxes / radios only from the queries' element boxes (so their precision is a lower bound). "
          "A returned box matches a control when IoU >= 0.5 with its element box or its text extent.", "",
          "## Recall / precision per kind", "",
          "| kind | source | screens | DOM controls | found | recall | precision | ms / screen (median, max) |",
          "|---|---|---:|---:|---:|---:|---:|---:|"]
    for kind in OCR_KINDS:
        for src in ("all", "app", "doc"):
            rs = [r for r in rows if r["kind"] == kind and (src == "all" or r["source"] == src)]
            if not rs:
                continue
            nt, nf = sum(r["n_truth"] for r in rs), sum(r["n_found"] for r in rs)
            rec_ = sum(r["recalled"] for r in rs) / nt if nt else float("nan")
            pre = sum(r["correct"] for r in rs) / nf if nf else float("nan")
            ms = np.array([r["ms"] for r in rs])
            md.append(f"| {kind} | {src} | {len(rs)} | {nt} | {nf} | {100 * rec_:.1f} % | {100 * pre:.1f} % | "
                      f"{np.median(ms):.1f}, {ms.max():.1f} |")
    md += ["", "## Unanchored ordinal queries (\"the second link\", \"the last button\")", "",
           "The n-th box `find_controls` returns (reading order) against the query's DOM target.", "",
           "| kind | source | queries | correct |", "|---|---|---:|---:|"]
    for kind in OCR_KINDS:
        for src in ("all", "app", "doc"):
            rs = [r for r in ords if r["kind"] == kind and (src == "all" or r["source"] == src)]
            if rs:
                md.append(f"| {kind} | {src} | {len(rs)} | {100 * np.mean([r['ok'] for r in rs]):.1f} % "
                          f"({sum(r['ok'] for r in rs)}) |")
    if ords:
        md.append(f"| all | all | {len(ords)} | {100 * np.mean([r['ok'] for r in ords]):.1f} % ({sum(r['ok'] for r in ords)}) |")
    md += ["", "## Cost", "",
           f"ms / screen: one `find_controls(rgb, lines, kind)` call on all the screen's OCR lines (minimum of "
           f"{a.repeat} runs), single thread, on the shared machine (load above). Per 1920x1080 screen:", ""]
    for kind in OCR_KINDS:
        rs = [r for r in rows if r["kind"] == kind and r["screen"].startswith("1920x1080")]
        if rs:
            md.append(f"* {kind}: median {np.median([r['ms'] for r in rs]):.1f} ms over {len(rs)} screens "
                      f"({np.median([r['n_lines'] for r in rs]):.0f} lines median)")
    per_line = {k: np.median([r["ms"] / max(1, r["n_lines"]) for r in rows if r["kind"] == k]) for k in OCR_KINDS}
    md += ["", "Per OCR line (all screens, median): " + ", ".join(f"{k} {v:.2f} ms" for k, v in per_line.items())
           + "; a 300-line screen costs about 300 x that."]
    md += ["", "## Notes", "",
           "* Links are found from the pixels only: chromatic ink that differs from the page's neutral body ink, "
           "or an underline; a tight filled bar (navigation bar) cell; a short line on an inverted fill (a dark "
           "menu on a light page). Links drawn in body-like grey (the pydoc 3.11 breadcrumb and sidebar) are not "
           "found; coloured non-links (asciidoc's navy code, coloured headings) are rejected only when a more "
           "chromatic link colour exists on the page or two tall lines share the colour.",
           "* The truth has gaps: DOM words of `<a><code>` links have kind `code` (Sphinx cross-references), so "
           "such found links count as false; on phones control text is not labelled, so buttons there count as "
           "false; checkboxes / radios are only those named by queries. Navigation-bar cells are matched against "
           "the text extent only (no element box in the words), so a cell much wider than a short word "
           "(\"Home\", \"Jobs\") counts as a miss and a false link.",
           *[f"* {n}" for n in getattr(a, "note", None) or []],
           "", "## Misses and false controls (first screens)", ""]
    for r in rows:
        if r["missed"] or r["false"]:
            md.append(f"* `{r['id']}` {r['kind']}: missed {r['missed'][:6]}; false {r['false'][:6]}")
    return "\n".join(md[:400])


def ocr_main(a) -> int:
    t0 = time.monotonic()
    load0 = os.getloadavg()
    recs = [json.loads(line) for line in open(a.data / "labels.jsonl", encoding="utf-8")]
    recs = pick_screens(recs, a.split, a.limit)
    rows, ords, screens = run_ocr(a.data, recs, a.ocr_cache, a.repeat)
    text = ocr_report(a, rows, ords, screens, load0, os.getloadavg(), time.monotonic() - t0)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{a.out}.md").write_text(text + "\n", encoding="utf-8")
        with open(f"{a.out}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps({"row": "screen-kind", **r}, separators=(",", ":")) + "\n")
            for r in ords:
                fh.write(json.dumps({"row": "ordinal", **r}, separators=(",", ":")) + "\n")
    return 0


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
    ap.add_argument("--ocr", action="store_true",
                    help="find_controls over the OCR lines of whole screens (recall, precision, ordinal accuracy)")
    ap.add_argument("--split", default=None, help="--ocr: only screenshots of this split (tune / test)")
    ap.add_argument("--limit", type=int, default=None, help="--ocr: at most N screenshots")
    ap.add_argument("--note", action="append", default=[], help="--ocr: a line for the report's notes")
    ap.add_argument("--ocr-cache", type=Path, default=Path("/tmp/groundlite_ocr_cache"),
                    help="--ocr: folder of pickled OCR lines per screenshot id")
    a = ap.parse_args(argv)
    if a.ocr:
        return ocr_main(a)
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
