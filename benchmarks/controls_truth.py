"""Ground truth for the UI-control finder: element boxes of real controls, from the live DOM.

Renders the real-screens job list (``benchmarks/realscreens/generate.py``: the private CUPS web UI
and the documentation pages with forms) in Debian's Chromium, exactly as the generator does (same
screens, themes, scrolls, flags, loopback only), and for every visible control reads its
``getBoundingClientRect()`` in screenshot pixels, next to the DOM word boxes of ``dom.js``:

* ``button``   -- ``button``, ``input[type=submit|button|reset]``, ``[role=button]``
* ``link``     -- ``a[href]`` on one line
* ``field``    -- text-like ``input`` (its label: ``label[for]``, an ancestor ``label`` or the
  ``th``/``td`` before it in a table row -- how CUPS lays out its forms)
* ``menu``     -- ``select`` (single line)
* ``checkbox`` / ``radio`` -- the box itself; its label is the text right after it

Each control record: ``{"control": kind, "xyxy": element box, "label_xyxy": text box or null,
"text": its text, "via": "inside" | "label"}`` -- ``via="inside"`` means the text box is the text
drawn inside the control (button caption, select option, field value/placeholder, link text),
``"label"`` means a field's or checkbox's label outside it. Written as one JSON object per
screenshot (``id``, ``image``, ``screen``, ``dpr``, ``theme``, ``source``, ``controls``) to
``OUT/labels.jsonl`` with the PNGs in ``OUT/images``.

Usage::

    python -m benchmarks.controls_truth --out /tmp/controls_truth [--apps-only] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.realscreens import generate as gen

CONTROLS_JS = r"""
(() => {
  const vvp = window.visualViewport;
  const dpr = window.devicePixelRatio || 1;
  const scale = vvp ? vvp.scale : 1;
  const offL = vvp ? vvp.offsetLeft : 0, offT = vvp ? vvp.offsetTop : 0;
  const vw = vvp ? vvp.width : window.innerWidth, vh = vvp ? vvp.height : window.innerHeight;
  const f = dpr * scale;
  const px = (r) => [(r.left - offL) * f, (r.top - offT) * f, (r.right - offL) * f, (r.bottom - offT) * f];
  const inView = (r) => r.left >= offL && r.top >= offT && r.right <= offL + vw && r.bottom <= offT + vh;
  const BTN = new Set(["submit", "button", "reset"]);
  const TEXTY = new Set(["", "text", "search", "password", "email", "url", "number", "tel"]);
  function visible(el) {
    if (el.checkVisibility && !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) return false;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2 || !inView(r)) return false;
    const c = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
    return !!c && (c === el || el.contains(c) || (c.control === el));
  }
  function labelRect(el) {
    let lab = null;
    if (el.id) lab = document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
    if (!lab) lab = el.closest("label");
    if (lab && !lab.contains(el)) return px(lab.getBoundingClientRect());
    if (lab) return null;   // label wraps the control: its text is found beside it
    const td = el.closest("td");
    if (td && td.previousElementSibling && td.previousElementSibling.textContent.trim())
      return px(td.previousElementSibling.getBoundingClientRect());
    return null;
  }
  function textAfter(el) {
    // the text right after a checkbox / radio, up to the next control or line break
    const rng = document.createRange();
    let n = el.nextSibling, start = null, end = null;
    while (n) {
      if (n.nodeType === 1 && (n.tagName === "BR" || n.tagName === "INPUT" || n.tagName === "SELECT")) break;
      if (n.textContent.trim()) { if (!start) start = n; end = n; }
      n = n.nextSibling;
    }
    if (!start) return null;
    rng.setStartBefore(start); rng.setEndAfter(end);
    const rs = Array.from(rng.getClientRects()).filter((r) => r.width > 0 && r.height > 0);
    if (!rs.length) return null;
    return px({left: Math.min(...rs.map((r) => r.left)), top: Math.min(...rs.map((r) => r.top)),
               right: Math.max(...rs.map((r) => r.right)), bottom: Math.max(...rs.map((r) => r.bottom))});
  }
  const out = [];
  for (const el of document.querySelectorAll("button, input, select, a[href], [role=button]")) {
    const tag = el.tagName.toUpperCase();
    const type = (el.getAttribute("type") || "").toLowerCase();
    let kind = null;
    if (tag === "BUTTON" || (tag === "INPUT" && BTN.has(type)) || el.getAttribute("role") === "button") kind = "button";
    else if (tag === "A") kind = "link";
    else if (tag === "SELECT") kind = (el.multiple || el.size > 1) ? null : "menu";
    else if (tag === "INPUT" && TEXTY.has(type)) kind = "field";
    else if (tag === "INPUT" && (type === "checkbox" || type === "radio")) kind = type;
    if (!kind || !visible(el)) continue;
    if (kind === "link" && el.getClientRects().length !== 1) continue;   // wrapped / block links
    const rec = {control: kind, xyxy: px(el.getBoundingClientRect()), tag, type};
    if (kind === "field" || kind === "menu") rec.label_rect = labelRect(el);
    if (kind === "checkbox" || kind === "radio") rec.label_rect = textAfter(el);
    out.push(rec);
  }
  return out;
})()
"""


def _inside(word: list[float], box: list[float], tol: float = 1.0) -> bool:
    cx, cy = (word[0] + word[2]) / 2, (word[1] + word[3]) / 2
    return box[0] - tol <= cx <= box[2] + tol and box[1] - tol <= cy <= box[3] + tol


def _union(boxes):
    return [round(min(b[0] for b in boxes), 1), round(min(b[1] for b in boxes), 1),
            round(max(b[2] for b in boxes), 1), round(max(b[3] for b in boxes), 1)]


def controls_of(dom_words: list[dict], raw: list[dict]) -> list[dict]:
    """Attach text boxes (DOM words, fully visible only) to the raw control records."""
    ok = [w for w in dom_words if w["state"] == "ok"]
    partial = [w for w in dom_words if w["state"] != "ok"]
    out = []
    for c in raw:
        box = [round(v, 1) for v in c["xyxy"]]
        inside = [w for w in ok if _inside(w["box"], box)]
        cut = any(_inside(w["box"], box) for w in partial)
        rec = {"control": c["control"], "xyxy": box}
        if c["control"] in ("button", "link", "menu") or (c["control"] == "field" and inside):
            if inside and not cut:
                out.append({**rec, "label_xyxy": _union([w["box"] for w in inside]),
                            "text": " ".join(w["text"] for w in inside), "via": "inside"})
        if c["control"] in ("field", "menu", "checkbox", "radio") and c.get("label_rect"):
            lab = [w for w in ok if _inside(w["box"], c["label_rect"])]
            if lab and not any(_inside(w["box"], c["label_rect"]) for w in partial):
                out.append({**rec, "label_xyxy": _union([w["box"] for w in lab]),
                            "text": " ".join(w["text"] for w in lab), "via": "label"})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--apps-only", action="store_true", help="only the CUPS pages")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    apps = gen._load_apps()
    docs = apps.DocServer("/usr/share", 18481).start()
    cups = apps.CupsApp(18641).start()
    bases = {"doc": docs.base, "app": cups.base}
    pages = [p for p in gen.PAGES if p.kind == "app" or (not a.apps_only and p.package == "python3-doc")]
    jobs = [j for j in gen.build_jobs() if j.page in pages]
    if a.limit:
        jobs = jobs[: a.limit]
    (a.out / "images").mkdir(parents=True, exist_ok=True)
    t0, n_ctl = time.monotonic(), 0
    try:
        with sync_playwright() as pw, open(a.out / "labels.jsonl", "w") as fh:
            browser = pw.chromium.launch(executable_path=gen.CHROMIUM, args=gen.CHROMIUM_ARGS, headless=True)
            r = gen.Renderer(browser, bases)
            for job in jobs:
                try:
                    pg, dark_css = r.open(job.page, job.screen, job.theme)
                except Exception as e:  # noqa: BLE001
                    print(f"skip {job.page.key}: {e}", file=sys.stderr)
                    continue
                try:
                    scroll = 0
                    if job.scroll_frac > 0:
                        maxs = pg.evaluate("() => Math.max(0, document.documentElement.scrollHeight - window.innerHeight)")
                        if maxs >= 50:
                            pg.evaluate(f"() => window.scrollTo(0, {int(round(job.scroll_frac * maxs))})")
                            pg.wait_for_timeout(50)
                            scroll = int(round(pg.evaluate("() => window.scrollY")))
                    pg.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                    dom = pg.evaluate(r.dom_js)
                    raw = pg.evaluate(CONTROLS_JS)
                    png = pg.screenshot(animations="disabled", caret="hide", scale="device")
                finally:
                    pg.close()
                ident = gen.job_id(job, scroll)
                (a.out / "images" / f"{ident}.png").write_bytes(png)
                ctl = controls_of(dom["words"], raw)
                n_ctl += len(ctl)
                fh.write(json.dumps({"id": ident, "image": f"images/{ident}.png", "screen": job.screen.tag.split("-d")[0],
                                     "dpr": job.screen.dpr, "theme": job.theme, "dark_css": dark_css,
                                     "source": {"page": job.page.key, "kind": job.page.kind},
                                     "controls": ctl}) + "\n")
                print(f"{ident}: {len(ctl)} controls ({time.monotonic() - t0:.0f}s)", file=sys.stderr)
            browser.close()
    finally:
        docs.stop()
        cups.stop()
    print(json.dumps({"screens": len(jobs), "controls": n_ctl, "wall_s": round(time.monotonic() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
