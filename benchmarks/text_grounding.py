"""Text-grounding benchmark on REAL screenshots: groundlite's text configs side by side with peer OCR engines.

PRIMARY evidence: real screenshots that Chromium rendered from real HTML (documentation pages and
app screens; ``benchmarks/realscreens``, label format in ``labels.jsonl``: one JSON per screenshot
with ``present`` phrases + boxes and ``absent`` phrases), split into ``tune`` and ``test``; the
headline is always the ``test`` split. ``--photos`` adds real photos with hand-checked boxes
(``tests/data/page_phrases.json``: scikit-image's page.png; ``tests/data/realphotos/labels.json``
when it exists). ``--synthetic`` adds the project's own generated set (``benchmarks/textgen.py``)
as a clearly labelled SECONDARY section — never the headline.

Rows (all measured in ONE run, interleaved screenshot by screenshot, on the same machine):

* groundlite configs ``--configs LABEL=MODEL:BACKEND:PRECISION`` (MODEL: a built-in name or a
  package dir), each evaluated with ``g.predict``'s own default threshold (what it uses when no
  threshold is passed). Configs that fail to load are listed with their error and skipped.
* peers (``benchmarks/ocr_peers.py``): rapidocr 3.10 (PP-OCRv6 small), rapidocr-onnxruntime 1.4.4
  (PP-OCRv4), Tesseract 5 — each one's own word boxes split evenly into character boxes, grounded
  by the SAME matcher (``groundlite.text.matching.match_phrases``) at
  ``groundlite.text.DEFAULT_THRESHOLD``.

Metrics (overall and per screen / DPR / theme / text kind):

* top-1 accuracy: the highest-scored box returned for a present phrase has IoU >= 0.5 with the
  phrase box (its union box ``xyxy``, or the union of its ``pieces`` for wrapped phrases);
* recall: some returned box has IoU >= 0.5;
* FP: fraction of absent phrases with any returned box at the threshold;
* ECE: expected calibration error, 10 equal-width bins, over every box returned at threshold 0
  for present + absent phrases (label 1 when the box has IoU >= 0.5 with its phrase's box), and
  the reliability table (per bin: count, mean score, accuracy);
* ms per screenshot (median): groundlite = ``read`` once + one ``predict(lines=...)`` for all
  the screenshot's phrases; peers = their own pipeline end to end + the same matcher. "another
  phrase" = a second ``predict`` call on unchanged pixels (first ``--another`` screenshots).

``--fit-calibration OUT.json`` (tune split only): every groundlite config at threshold 0, one
record per returned match (similarity, confidence, whole_word, n_chars, label = IoU >= 0.5),
an L2-regularised logistic regression (plain numpy Newton/IRLS) on
``groundlite.text.scoring.features(...)`` and the default threshold = the lowest one with absent
FP <= 1 % that maximises top-1 on the tune split.

The machine is shared with other jobs (noisy): compare rows measured in the same run; medians
are quoted. Usage::

    python benchmarks/text_grounding.py --limit 20                 # test split, default configs + peers
    python benchmarks/text_grounding.py --data export/groundlite_export/assets/realscreens --photos --synthetic
    python benchmarks/text_grounding.py --split tune --fit-calibration /tmp/calib.json
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DEFAULT_DATA = Path("/tmp/groundlite-realscreens")
COMMITTED_DATA = REPO / "export" / "groundlite_export" / "assets" / "realscreens"
IOU_HIT = 0.5
N_BINS = 10
DEFAULT_CONFIGS = (
    "text=text:auto:auto",
    "ppocrv4-ort-fp32=text-ppocrv4:onnxruntime:fp32",
    "ppocrv6-ort-fp32=text-ppocrv6:onnxruntime:fp32",
    "ppocrv6-ov-fp32=text-ppocrv6:openvino:fp32",
    "ppocrv6-ov-bf16=text-ppocrv6:openvino:bf16",
)
FEATURE_NAMES_FALLBACK = ("logit_similarity", "logit_confidence", "whole_word", "inv_n_chars")

sys.path.insert(0, str(HERE))


def _alias_export_package() -> None:
    """Stale editable installs map the exporter as ``groundlite.export``; it is ``groundlite_export`` now."""
    try:
        import groundlite_export  # noqa: F401
    except ImportError:
        try:
            import groundlite.export as exp

            sys.modules["groundlite_export"] = exp
        except ImportError:
            pass


# ================================================================================================
# Data
# ================================================================================================
@dataclass
class Phrase:
    phrase: str
    xyxy: np.ndarray                   # float32 [4], union box
    pieces: np.ndarray                 # float32 [k,4] (k = 1 unless the phrase wraps)
    kind: str = "text"
    n_words: int = 1
    alts: np.ndarray | None = None     # float32 [m,4]: every occurrence (photos' ``all_xyxy``); any one is correct


@dataclass
class Shot:
    id: str
    set: str                           # "real" | "photos" | "synthetic"
    present: list[Phrase]
    absent: list[str]
    split: str = "test"
    screen: str = "?"
    dpr: float | None = None
    theme: str | None = None
    source: str | None = None
    path: Path | None = None
    array: np.ndarray | None = None

    def image(self) -> np.ndarray:
        if self.array is not None:
            return self.array
        from groundlite.images import load_image

        return load_image(self.path)

    @property
    def phrases(self) -> list[str]:
        return [p.phrase for p in self.present] + list(self.absent)


def _box(v: Any) -> np.ndarray:
    return np.asarray(v, np.float32).reshape(4)


def _union(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()], np.float32)


def _phrase_from(p: dict[str, Any], kind: str = "text") -> Phrase:
    xyxy = _box(p["xyxy"])
    pieces = np.asarray(p.get("pieces") or [p["xyxy"]], np.float32).reshape(-1, 4)
    alts = np.asarray(p["all_xyxy"], np.float32).reshape(-1, 4) if p.get("all_xyxy") else None
    return Phrase(p["phrase"], xyxy, pieces, str(p.get("kind", kind)), int(p.get("n_words", len(p["phrase"].split()))),
                  alts)


def resolve_data(arg: Path | None) -> Path:
    """The real-screenshot directory: ``arg``, else the full set in /tmp (generated when missing),
    else the committed subset."""
    if arg is not None:
        if not (arg / "labels.jsonl").is_file():
            raise SystemExit(f"expected {arg}/labels.jsonl (the real screenshot set), found none")
        return arg
    if (DEFAULT_DATA / "labels.jsonl").is_file():
        return DEFAULT_DATA
    print(f"[data] {DEFAULT_DATA} missing; generating: python -m benchmarks.realscreens.generate --out {DEFAULT_DATA}",
          flush=True)
    try:
        subprocess.run([sys.executable, "-m", "benchmarks.realscreens.generate", "--out", str(DEFAULT_DATA)],
                       cwd=REPO, check=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"[data] generation failed ({e}); falling back to {COMMITTED_DATA}", flush=True)
    if (DEFAULT_DATA / "labels.jsonl").is_file():
        return DEFAULT_DATA
    if (COMMITTED_DATA / "labels.jsonl").is_file():
        return COMMITTED_DATA
    raise SystemExit(f"expected a real screenshot set at {DEFAULT_DATA} or {COMMITTED_DATA}, found none")


def data_sha256(data: Path) -> str:
    return hashlib.sha256((data / "labels.jsonl").read_bytes()).hexdigest()


def load_realscreens(data: Path, split: str | None, limit: int | None = None) -> list[Shot]:
    """Screenshots of ``data/labels.jsonl`` of ``split`` (None: all); with ``limit``, that many spread
    evenly over the file (every screen class and source appears, not just the first pages)."""
    shots = []
    for line in (data / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if split is not None and rec.get("split") != split:
            continue
        path = data / rec["image"]
        src = rec.get("source") or {}
        shots.append(Shot(
            id=str(rec["id"]), set="real", split=str(rec.get("split", "?")),
            present=[_phrase_from(p) for p in rec.get("present", [])],  # boxes: screenshot pixels
            absent=[str(a) for a in rec.get("absent", [])],
            screen=str(rec.get("screen", "?")), dpr=float(rec["dpr"]) if rec.get("dpr") is not None else None,
            theme=rec.get("theme"), source=f"{src.get('kind', '?')}:{src.get('package', '?')}",
            path=path,
        ))
    if limit is not None and len(shots) > limit:
        import numpy as np

        shots = [shots[int(i)] for i in np.unique(np.linspace(0, len(shots) - 1, limit).round().astype(int))]
    return shots


def _skimage_page() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None:
        raise FileNotFoundError("expected scikit-image (skimage/data/page.png), found none")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "page.png"  # type: ignore[union-attr]


def _package_file(ref: str) -> Path:
    """``'<python package>:<path inside it>'`` -> the file (photos shipped by installed packages)."""
    import importlib.util

    pkg, _, rel = ref.partition(":")
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"expected the python package {pkg!r} (for {ref!r}) to be installed, found none")
    return Path(list(spec.submodule_search_locations)[0]) / rel


def _photo_shot(entry: dict[str, Any], base: Path, name: str) -> Shot:
    img = str(entry.get("image", ""))
    if img.startswith("skimage/data/page.png"):
        path = _skimage_page()
    elif ":" in img.split(" ")[0] and not Path(img).is_absolute():
        path = _package_file(img.split(" ")[0])
    else:
        path = base / img.split(" ")[0]
    return Shot(id=name, set="photos", split="test", screen="photo", source=img.split(" (")[0],
                present=[_phrase_from(p, kind=str(entry.get("kind", "photo"))) for p in entry.get("present", [])],
                absent=[str(a) for a in entry.get("absent", [])], path=path)


def load_photos() -> list[Shot]:
    """page.png (tests/data/page_phrases.json) + tests/data/realphotos/labels.json when present."""
    shots = [_photo_shot(json.loads((REPO / "tests/data/page_phrases.json").read_text(encoding="utf-8")),
                         REPO / "tests/data", "page.png")]
    extra = REPO / "tests/data/realphotos/labels.json"
    if extra.is_file():
        doc = json.loads(extra.read_text(encoding="utf-8"))
        entries = (doc.get("photos") or doc.get("images") or [doc]) if isinstance(doc, dict) else doc
        for i, e in enumerate(entries):
            try:
                shots.append(_photo_shot(e, extra.parent, str(e.get("id", e.get("image", f"photo{i}")))))
            except FileNotFoundError as err:
                print(f"[photos] skipped {e.get('image')}: {err}", flush=True)
    return shots


def synthetic_shots(n: int, seed: int) -> list[Shot]:
    """The SECONDARY generated set (benchmarks/textgen.py), as shots."""
    _alias_export_package()
    from textgen import make_set

    out = []
    for i, ls in enumerate(make_set(n, seed)):
        kind = ls.sample.kind
        out.append(Shot(id=f"synthetic-{seed}-{i}", set="synthetic", split=f"seed{seed}", screen=f"synthetic-{kind}",
                        present=[Phrase(p, b, b[None], kind, len(p.split())) for p, b in ls.present],
                        absent=list(ls.absent), array=ls.sample.image))
    return out


# ================================================================================================
# Metrics (pure functions; tested in tests/test_bench_text_grounding.py)
# ================================================================================================
def iou(a: Any, b: Any) -> float:
    """IoU of two xyxy boxes (0 for degenerate ones)."""
    a, b = _box(a).astype(np.float64), _box(b).astype(np.float64)
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def is_hit(box: Any, phrase: Phrase) -> bool:
    """IoU >= 0.5 with the phrase's union box, or (wrapped phrases) with the union of its pieces."""
    if iou(box, phrase.xyxy) >= IOU_HIT:
        return True
    if phrase.alts is not None and any(iou(box, a) >= IOU_HIT for a in phrase.alts):
        return True
    return len(phrase.pieces) > 1 and iou(box, _union(phrase.pieces)) >= IOU_HIT


@dataclass
class Found:
    """One returned box: phrase index ``label``, ``score``, ``xyxy``, matched ``text``."""

    label: int
    score: float
    xyxy: np.ndarray
    text: str = ""


def phrase_outcomes(found: Sequence[Found], present: Sequence[Phrase], absent: Sequence[str]) -> list[dict[str, Any]]:
    """Per phrase of one image: present ones get top1 / recall (+ best box), absent ones fp.

    ``found`` are the boxes returned at the evaluated threshold; labels index
    ``[*present, *absent]``.
    """
    by: dict[int, list[Found]] = {}
    for f in found:
        by.setdefault(int(f.label), []).append(f)
    out = []
    for i, p in enumerate(present):
        fs = sorted(by.get(i, []), key=lambda f: -f.score)
        best = fs[0] if fs else None
        out.append({"present": True, "phrase": p.phrase, "kind": p.kind,
                    "top1": bool(best is not None and is_hit(best.xyxy, p)),
                    "recall": any(is_hit(f.xyxy, p) for f in fs),
                    "returned": best is not None, "best": best, "expected": p.xyxy})
    for j, a in enumerate(absent):
        fs = sorted(by.get(len(present) + j, []), key=lambda f: -f.score)
        out.append({"present": False, "phrase": a, "kind": None, "fp": bool(fs), "best": fs[0] if fs else None})
    return out


def calibration_pairs(found0: Sequence[Found], present: Sequence[Phrase]) -> list[tuple[float, int]]:
    """(score, label) per box returned at threshold 0: 1 iff IoU >= 0.5 with its (present) phrase's box."""
    pairs = []
    for f in found0:
        lab = int(f.label)
        ok = lab < len(present) and is_hit(f.xyxy, present[lab])
        pairs.append((float(f.score), int(ok)))
    return pairs


def reliability(scores: Sequence[float], labels: Sequence[int], n_bins: int = N_BINS) -> tuple[float, list[dict[str, Any]]]:
    """ECE over ``n_bins`` equal-width bins on [0, 1] and the per-bin table (count, mean score, accuracy).

    ECE = sum over bins of (count / N) * |accuracy - mean score|; NaN when there are no scores.
    """
    s = np.clip(np.asarray(scores, np.float64), 0.0, 1.0)
    y = np.asarray(labels, np.float64)
    idx = np.minimum((s * n_bins).astype(np.int64), n_bins - 1)
    table, ece = [], 0.0
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        row = {"bin": f"{b / n_bins:.1f}-{(b + 1) / n_bins:.1f}", "count": n,
               "mean_score": float(s[sel].mean()) if n else None, "accuracy": float(y[sel].mean()) if n else None}
        table.append(row)
        if n:
            ece += n / len(s) * abs(row["accuracy"] - row["mean_score"])
    return (float(ece) if len(s) else float("nan")), table


def summarize(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """top-1 / recall / FP (percent) and counts over phrase outcomes."""
    pres = [o for o in outcomes if o["present"]]
    absn = [o for o in outcomes if not o["present"]]
    pct = (lambda k, xs: 100.0 * sum(o[k] for o in xs) / len(xs) if xs else None)
    return {"top1_%": pct("top1", pres), "recall_%": pct("recall", pres), "fp_%": pct("fp", absn),
            "n_present": len(pres), "n_absent": len(absn)}


# ================================================================================================
# Calibration: logistic regression (Newton / IRLS) + threshold choice
# ================================================================================================
def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, max_iter: int = 100,
                 tol: float = 1e-10) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (IRLS); the bias is not penalised.

    Minimises ``sum(logloss) + l2 / 2 * ||w||^2``; returns ``(w float64 [F], b)``.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64).reshape(-1)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"expected x [N,F] and y [N], got {x.shape} and {y.shape}")
    n, f = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    reg = np.full(f + 1, float(l2))
    reg[-1] = 1e-9  # bias: unpenalised (a tiny ridge keeps H invertible on separable data)
    theta = np.zeros(f + 1)
    for _ in range(max_iter):
        p = sigmoid(xb @ theta)
        grad = xb.T @ (p - y) + reg * theta
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.max(np.abs(step))) < tol:
            break
    return theta[:-1].copy(), float(theta[-1])


def threshold_curve(best_score: np.ndarray, best_hit: np.ndarray, absent_max: np.ndarray,
                    grid: Sequence[float]) -> list[dict[str, float]]:
    """top-1 and absent FP (fractions) per threshold.

    ``best_score`` / ``best_hit``: per present phrase, the score of its highest-scored box
    (-inf when none) and whether that box is a hit; ``absent_max``: per absent phrase, its
    highest score (-inf when none). A box counts when its score >= threshold.
    """
    bs, bh, am = (np.asarray(v, np.float64) for v in (best_score, best_hit, absent_max))
    return [{"threshold": float(t),
             "top1": float(np.mean((bs >= t) & (bh > 0))) if len(bs) else 0.0,
             "fp": float(np.mean(am >= t)) if len(am) else 0.0} for t in grid]


def choose_threshold(curve: Sequence[dict[str, float]], max_fp: float = 0.01) -> dict[str, float]:
    """The lowest threshold with fp <= ``max_fp`` that maximises top-1 (if none qualifies: the lowest-fp one)."""
    ok = [c for c in curve if c["fp"] <= max_fp + 1e-12]
    if not ok:
        low = min(c["fp"] for c in curve)
        return min((c for c in curve if c["fp"] == low), key=lambda c: c["threshold"])
    top = max(c["top1"] for c in ok)
    return min((c for c in ok if c["top1"] >= top - 1e-12), key=lambda c: c["threshold"])


def _standin_features(similarity: Any, confidence: Any, whole_word: Any, n_chars: Any) -> np.ndarray:
    def logit(v: Any) -> np.ndarray:
        p = np.clip(np.asarray(v, np.float64), 1e-4, 1 - 1e-4)
        return np.log(p / (1 - p))

    return np.stack([logit(similarity), logit(confidence), np.asarray(whole_word, np.float64),
                     1.0 / np.maximum(np.asarray(n_chars, np.float64), 1.0)], axis=1)


def feature_fn() -> tuple[Callable[..., np.ndarray], list[str], str]:
    """``groundlite.text.scoring.features`` (+ its names) if it exists, else the local stand-in."""
    try:
        from groundlite.text import scoring
    except ImportError:
        return _standin_features, list(FEATURE_NAMES_FALLBACK), "benchmarks stand-in"
    names = getattr(scoring, "FEATURE_NAMES", None) or getattr(scoring, "FEATURES", None) or FEATURE_NAMES_FALLBACK
    return scoring.features, [str(n) for n in names], "groundlite.text.scoring"


def _whole_word_of(m: Any, lines: Sequence[Any]) -> bool:
    """Whether match ``m`` starts and ends at word boundaries of its line(s) (``m.whole_word`` if it has one)."""
    w = getattr(m, "whole_word", None)
    if w is not None:
        return bool(w)

    def edge_ok(text: str, i: int) -> bool:
        return i < 0 or i >= len(text) or not text[i].isalnum()

    def spans(line: Any, piece: str) -> list[int]:
        out, k = [], line.text.find(piece)
        while k >= 0 and piece:
            out.append(k)
            k = line.text.find(piece, k + 1)
        return out

    first, last = lines[m.lines[0]], lines[m.lines[-1]]
    if len(m.lines) == 1:
        starts = spans(first, m.text)
        if not starts:
            return False
        # the occurrence whose character boxes match the returned box
        def err(s: int) -> float:
            b = first.char_xyxy[s : s + len(m.text)]
            return float(np.abs(_union(b) - np.asarray(m.xyxy, np.float32)).sum()) if len(b) else 1e9

        s = min(starts, key=err)
        return edge_ok(first.text, s - 1) and edge_ok(first.text, s + len(m.text))
    for k, ch in enumerate(m.text):
        if ch != " ":
            continue
        a, b = m.text[:k], m.text[k + 1 :]
        sa, sb = spans(first, a), spans(last, b)
        if sa and sb:
            return edge_ok(first.text, sa[-1] - 1) and edge_ok(last.text, sb[0] + len(b))
    return False


@dataclass
class MatchRecord:
    """One match at threshold 0, with the four values calibration features are made of."""

    shot: str
    label: int
    present: bool
    hit: int
    similarity: float
    confidence: float
    whole_word: bool
    n_chars: int
    raw_score: float


def match_records(shot: Shot, lines: Sequence[Any]) -> list[MatchRecord]:
    from groundlite.text.matching import match_phrases
    from groundlite.text.normalize import normalize

    phrases = shot.phrases
    nchars = [len(normalize(p).text) for p in phrases]
    out = []
    for m in match_phrases(lines, phrases, 0.0):  # no scoring: the raw features
        lab = int(m.label)
        pres = lab < len(shot.present)
        out.append(MatchRecord(shot.id, lab, pres, int(pres and is_hit(m.xyxy, shot.present[lab])),
                               float(m.similarity), float(m.confidence), _whole_word_of(m, lines),
                               int(getattr(m, "n_chars", 0) or nchars[lab]), float(m.score)))
    return out


# ================================================================================================
# Readers: groundlite configs and peers behind one interface
# ================================================================================================
@dataclass
class Runner:
    label: str
    kind: str                     # "groundlite" | "peer"
    threshold: float
    description: str
    obj: Any = None
    scoring: Any = None           # peers only: a groundlite config's fitted Scoring (``--peer-scoring``)

    def read(self, rgb: np.ndarray) -> list[Any]:
        return self.obj.read(rgb)

    def match(self, rgb: np.ndarray, lines: Sequence[Any], phrases: Sequence[str], threshold: float | None) -> list[Found]:
        if self.kind == "groundlite":
            d = (self.obj.predict(rgb, list(phrases), lines=lines) if threshold is None
                 else self.obj.predict(rgb, list(phrases), threshold=threshold, lines=lines))
            texts = getattr(d, "texts", None) or [""] * len(d)
            return [Found(int(d.labels[i]), float(d.scores[i]), np.asarray(d.xyxy[i], np.float32), str(texts[i]))
                    for i in range(len(d))]
        from groundlite.text.matching import match_phrases

        t = self.threshold if threshold is None else threshold
        extra = {"scoring": self.scoring} if self.scoring is not None else {}
        return [Found(int(m.label), float(m.score), np.asarray(m.xyxy, np.float32), m.text)
                for m in match_phrases(lines, phrases, t, **extra)]


def parse_config(spec: str) -> tuple[str, str, str, str]:
    """``LABEL=MODEL:BACKEND:PRECISION`` (LABEL optional: defaults to the spec itself)."""
    label, _, rest = spec.rpartition("=")
    parts = rest.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"expected LABEL=MODEL:BACKEND:PRECISION, got {spec!r}")
    return (label or rest), parts[0], parts[1], parts[2]


def default_threshold_of(g: Any) -> float:
    """What ``g.predict`` uses when no threshold is passed."""
    from groundlite.text import DEFAULT_THRESHOLD

    p = inspect.signature(g.predict).parameters.get("threshold")
    if p is not None and isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
        return float(p.default)
    for attr in ("default_threshold", "threshold"):
        v = getattr(g, attr, None)
        if isinstance(v, (int, float)):
            return float(v)
    cfg = getattr(g, "config", None)
    v = getattr(cfg, "threshold", None) or getattr(cfg, "default_threshold", None)
    return float(v) if isinstance(v, (int, float)) else float(DEFAULT_THRESHOLD)


def load_groundlite(specs: Sequence[str]) -> tuple[list[Runner], list[dict[str, str]]]:
    import groundlite

    runners, failed = [], []
    for spec in specs:
        try:
            label, model, backend, precision = parse_config(spec)
        except ValueError as e:
            failed.append({"config": spec, "error": str(e)})
            continue
        try:
            model_arg: Any = Path(model) if Path(model).is_dir() else model
            g = groundlite.load(model_arg, backend=backend, precision=precision, progress=False)
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            failed.append({"config": f"{label}={model}:{backend}:{precision}", "error": f"{type(e).__name__}: {e}"})
            print(f"[load] {label}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)
            continue
        info = getattr(g, "backend_info", None)
        chosen = getattr(info, "chosen", None) or getattr(info, "backend", None) or info
        runners.append(Runner(label, "groundlite", default_threshold_of(g),
                              f"groundlite {model}:{backend}:{precision} -> {str(chosen)[:160]}", g))
        print(f"[load] {label}: {runners[-1].description}", flush=True)
    return runners, failed


def load_peers(names: Sequence[str], scoring_from: Runner | None = None) -> tuple[list[Runner], list[dict[str, str]]]:
    """Peer runners: raw matcher scores at ``groundlite.text.DEFAULT_THRESHOLD``, or with ``scoring_from``
    the fitted scoring + default threshold of that groundlite config."""
    import ocr_peers
    from groundlite.text import DEFAULT_THRESHOLD

    peers, failed = ocr_peers.all_peers(names)
    scoring = getattr(scoring_from.obj, "scoring", None) if scoring_from is not None else None
    threshold = scoring_from.threshold if scoring is not None else float(DEFAULT_THRESHOLD)
    how = f", scored with {scoring_from.label}'s calibration" if scoring is not None else ", raw matcher score"
    runners = [Runner(p.name, "peer", threshold, f"{p.name}: {p.models}{how}", p, scoring) for p in peers]
    for r in runners:
        print(f"[load] {r.label}: {r.description}", flush=True)
    return runners, [{"config": n, "error": e} for n, e in failed]


# ================================================================================================
# Running
# ================================================================================================
@dataclass
class ShotResult:
    shot: Shot
    ms: float
    read_ms: float
    match_ms: float
    another_ms: float | None
    outcomes: list[dict[str, Any]]
    pairs: list[tuple[float, int]]
    records: list[MatchRecord] | None = None
    ocr_cached: bool = False      # groundlite served the timed read from its OCR cache (duplicate screen)
    read_error: str | None = None  # the reader raised: counted as returning nothing


def run_set(shots: Sequence[Shot], runners: Sequence[Runner], *, another: int = 3, want_eval: bool = True,
            want_records: bool = False, progress: str = "") -> dict[str, list[ShotResult]]:
    """Every runner on every shot, interleaved shot by shot (so machine noise hits all alike)."""
    results: dict[str, list[ShotResult]] = {r.label: [] for r in runners}
    errors: dict[str, int] = {}
    if not shots:
        return results
    # warm-up (first-run allocations, lazy compilation) on a crop of the first image with one pixel
    # changed, so groundlite's OCR cache (keyed by pixel content) never serves a timed read
    warm = shots[0].image()[:800, :1280].copy()
    warm[0, 0] ^= 1
    for r in runners:
        try:
            r.read(warm)
        except Exception as e:  # noqa: BLE001
            print(f"[warm-up] {r.label}: {type(e).__name__}: {e}", flush=True)
    for k, shot in enumerate(shots):
        phrases = shot.phrases
        if not phrases:
            continue
        rgb = shot.image()
        for r in runners:
            t0 = time.perf_counter()
            err = None
            try:
                lines = r.read(rgb)
            except Exception as e:  # noqa: BLE001 - one failing screenshot is a miss, not a crash
                err = f"{type(e).__name__}: {str(e)[:300]}"
                print(f"[error] {r.label} on {shot.id}: {err}", flush=True)
                lines, errors[r.label] = [], errors.get(r.label, 0) + 1
            t1 = time.perf_counter()
            cached = bool(r.kind == "groundlite" and getattr(r.obj, "last_timings", {}).get("ocr_cached"))
            found = r.match(rgb, lines, phrases, None) if want_eval else []
            t2 = time.perf_counter()
            another_ms = None
            if r.kind == "groundlite" and k < another and want_eval:
                r.obj.predict(rgb, [phrases[0]])
                t3 = time.perf_counter()
                r.obj.predict(rgb, [phrases[-1]])
                another_ms = (time.perf_counter() - t3) * 1e3
            found0 = r.match(rgb, lines, phrases, 0.0) if want_eval else []
            results[r.label].append(ShotResult(
                shot, (t2 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3, another_ms,
                phrase_outcomes(found, shot.present, shot.absent) if want_eval else [],
                calibration_pairs(found0, shot.present),
                match_records(shot, lines) if want_records else None, cached, err))
        if progress:
            ms = " ".join(f"{r.label}={results[r.label][-1].ms:.0f}" for r in runners)
            print(f"[{progress} {k + 1}/{len(shots)}] {shot.id} ms: {ms}", flush=True)
    if errors:
        print(f"[error] reads that failed (counted as returning nothing): {errors}", flush=True)
    return results


GROUPS: dict[str, Callable[[Shot, dict[str, Any]], Any]] = {
    "overall": lambda s, o: "all",
    "screen": lambda s, o: s.screen,
    "dpr": lambda s, o: s.dpr,
    "theme": lambda s, o: s.theme,
    "kind": lambda s, o: o["kind"] if o["present"] else None,
    "source": lambda s, o: (s.source or "?").split(":")[0],
}


def aggregate(res: Sequence[ShotResult], group: str) -> list[dict[str, Any]]:
    """Rows per value of ``group`` (outcomes keyed by the shot's / phrase's attribute)."""
    key = GROUPS[group]
    buckets: dict[Any, list[dict[str, Any]]] = {}
    ms: dict[Any, list[float]] = {}
    for r in res:
        for o in r.outcomes:
            v = key(r.shot, o)
            if v is None:
                continue
            buckets.setdefault(v, []).append(o)
        if group != "kind":
            ms.setdefault(key(r.shot, {"present": False, "kind": None}), []).append(r.ms)
    rows = []
    for v in sorted(buckets, key=str):
        row = {"group": group, "value": v, **summarize(buckets[v])}
        if v in ms:
            row["ms_median"] = float(np.median(ms[v]))
            row["n_shots"] = len(ms[v])
        rows.append(row)
    return rows


def headline(runner: Runner, res: Sequence[ShotResult]) -> dict[str, Any]:
    outcomes = [o for r in res for o in r.outcomes]
    pairs = [p for r in res for p in r.pairs]
    ece, table = reliability([s for s, _ in pairs], [y for _, y in pairs])
    ms = [r.ms for r in res]
    another = [r.another_ms for r in res if r.another_ms is not None]
    return {"config": runner.label, "kind": runner.kind, "threshold": runner.threshold, **summarize(outcomes),
            "ece": ece, "n_boxes_t0": len(pairs), "ms_median": float(np.median(ms)) if ms else None,
            "read_ms_median": float(np.median([r.read_ms for r in res])) if res else None,
            "match_ms_median": float(np.median([r.match_ms for r in res])) if res else None,
            "another_phrase_ms_median": float(np.median(another)) if another else None,
            "n_shots": len(res), "n_reads_cached": sum(r.ocr_cached for r in res),
            "n_read_errors": sum(r.read_error is not None for r in res), "reliability": table,
            "description": runner.description}


def failures(res: Sequence[ShotResult], n: int) -> list[dict[str, Any]]:
    out = []
    for r in res:
        for o in r.outcomes:
            if len(out) >= n:
                return out
            if o["present"] and not o["top1"]:
                b = o["best"]
                out.append({"shot": r.shot.id, "phrase": o["phrase"], "kind": o["kind"],
                            "expected": [round(float(v)) for v in o["expected"]],
                            "returned": "nothing" if b is None else
                            f"{[round(float(v)) for v in b.xyxy]} {b.text!r} {b.score:.2f}"})
            elif not o["present"] and o["fp"]:
                b = o["best"]
                out.append({"shot": r.shot.id, "phrase": o["phrase"], "kind": "ABSENT", "expected": "nothing",
                            "returned": f"{[round(float(v)) for v in b.xyxy]} {b.text!r} {b.score:.2f}"})
    return out


# ================================================================================================
def versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for dist in ("onnxruntime", "openvino", "rapidocr", "rapidocr-onnxruntime", "numpy", "opencv-python-headless"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    try:
        v = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=30)
        out["tesseract"] = ((v.stdout or v.stderr).splitlines() or ["?"])[0].split()[-1]
    except (OSError, subprocess.SubprocessError):
        out["tesseract"] = None
    return out


def fit_calibration(args: argparse.Namespace, data: Path, runners: Sequence[Runner]) -> None:
    shots = load_realscreens(data, "tune", args.limit)
    if not shots:
        raise SystemExit(f"expected tune-split screenshots in {data}, found none")
    glite = [r for r in runners if r.kind == "groundlite"]
    if not glite:
        raise SystemExit("expected at least one groundlite config that loads, got none")
    res = run_set(shots, glite, another=0, want_eval=False, want_records=True, progress="tune")
    features, names, source = feature_fn()
    grid = [round(float(t), 3) for t in np.arange(0.01, 0.995, 0.01)]
    fits = {}
    for r in glite:
        recs = [m for sr in res[r.label] for m in sr.records or []]
        if not recs:
            print(f"[fit] {r.label}: no matches", flush=True)
            continue
        x = features(np.array([m.similarity for m in recs]), np.array([m.confidence for m in recs]),
                     np.array([m.whole_word for m in recs]), np.array([m.n_chars for m in recs]))
        y = np.array([m.hit for m in recs], np.float64)
        w, b = fit_logistic(x, y, l2=args.l2)
        p = sigmoid(np.asarray(x, np.float64) @ w + b)
        ece, table = reliability(p, y)
        ece_raw, _ = reliability([m.raw_score for m in recs], y)
        # per phrase: best calibrated box (present) / max (absent)
        best: dict[tuple[str, int], tuple[float, int]] = {}
        for m, s in zip(recs, p):
            k = (m.shot, m.label)
            if k not in best or s > best[k][0]:
                best[k] = (float(s), m.hit)
        bs, bh, am = [], [], []
        for sr in res[r.label]:
            for i in range(len(sr.shot.present)):
                s, h = best.get((sr.shot.id, i), (-np.inf, 0))
                bs.append(s)
                bh.append(h)
            for j in range(len(sr.shot.absent)):
                am.append(best.get((sr.shot.id, len(sr.shot.present) + j), (-np.inf, 0))[0])
        curve = threshold_curve(np.array(bs), np.array(bh), np.array(am), grid)
        pick = choose_threshold(curve, args.max_fp)
        fits[r.label] = {
            "weights": [float(v) for v in w], "bias": b, "features": names, "feature_source": source,
            "threshold": pick["threshold"], "tune_top1": pick["top1"], "tune_fp": pick["fp"],
            "fitted_on": {"split": "tune", "n_matches": len(recs), "n_positive": int(y.sum()), "n_screens": len(shots),
                          "n_present": len(bs), "n_absent": len(am), "data": str(data),
                          "data_sha256": data_sha256(data), "config": r.description, "l2": args.l2},
            "ece_tune": ece, "ece_tune_raw_score": ece_raw, "reliability_tune": table,
            "tune_curve": [c for c in curve if round(c["threshold"] * 100) % 5 == 0],
        }
        print(f"[fit] {r.label}: w={np.round(w, 3).tolist()} b={b:.3f} threshold={pick['threshold']} "
              f"top1={100 * pick['top1']:.1f}% fp={100 * pick['fp']:.1f}% ece={ece:.4f} (raw {ece_raw:.4f}) "
              f"on {len(recs)} matches / {len(shots)} screens", flush=True)
    if not fits:
        raise SystemExit("no config produced matches to fit on")
    first = next(iter(fits))
    doc = {**fits[first], "config_label": first, "configs": fits}
    args.fit_calibration.parent.mkdir(parents=True, exist_ok=True)
    args.fit_calibration.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    print(f"[fit] wrote {args.fit_calibration}", flush=True)


def _section(title: str, rows: list[dict[str, Any]], cols: Sequence[str]) -> list[str]:
    from _common import markdown_table

    return [f"### {title}", "", markdown_table(rows, cols), ""] if rows else []


def report_set(name: str, runners: Sequence[Runner], res: dict[str, list[ShotResult]], groups: Sequence[str],
               n_fail: int) -> tuple[list[str], list[dict[str, Any]]]:
    heads = [headline(r, res[r.label]) for r in runners if res[r.label]]
    cols = ["config", "threshold", "top1_%", "recall_%", "fp_%", "ece", "ms_median", "another_phrase_ms_median",
            "read_ms_median", "match_ms_median", "n_present", "n_absent", "n_shots", "n_reads_cached", "n_read_errors"]
    from _common import markdown_table

    md = [markdown_table(heads, cols), ""]
    rows: list[dict[str, Any]] = [{"set": name, "group": "overall", "value": "all",
                                   **{k: v for k, v in h.items()}} for h in heads]
    for g in groups:
        grows = []
        for r in runners:
            for row in aggregate(res[r.label], g):
                grows.append({"config": r.label, **row})
        if len({row["value"] for row in grows}) <= 1 and g != "kind":
            continue
        md += _section(f"{name}: per {g}", grows, ["config", "value", "top1_%", "recall_%", "fp_%", "ms_median",
                                                    "n_present", "n_absent", "n_shots"])
        rows += [{"set": name, **row} for row in grows]
    for h in heads:
        md += _section(f"{name}: reliability of {h['config']} (threshold 0, {h['n_boxes_t0']} boxes, ECE "
                       f"{h['ece']:.3f})", h["reliability"], ["bin", "count", "mean_score", "accuracy"])
    fl = []
    for r in runners:
        for f in failures(res[r.label], n_fail):
            fl.append({"config": r.label, **f})
    md += _section(f"{name}: example failures (first {n_fail} per config, in data order)", fl,
                   ["config", "shot", "phrase", "kind", "expected", "returned"])
    return md, rows


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="text grounding benchmark on real screenshots, with peers")
    ap.add_argument("--data", type=Path, default=None, help=f"real screenshot set (default {DEFAULT_DATA}, generated "
                    f"when missing; the committed subset is {COMMITTED_DATA.relative_to(REPO)})")
    ap.add_argument("--split", choices=("test", "tune"), default="test")
    ap.add_argument("--limit", type=int, default=None, help="at most N screenshots")
    ap.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), metavar="LABEL=MODEL:BACKEND:PRECISION")
    ap.add_argument("--peers", nargs="*", default=["rapidocr", "rapidocr-onnxruntime", "tesseract"],
                    help="peer OCR engines (none: --peers with no names)")
    ap.add_argument("--peer-scoring", default=None, metavar="LABEL",
                    help="score peers' matches with this groundlite config's fitted calibration and default threshold "
                         "(default: raw matcher score at groundlite.text.DEFAULT_THRESHOLD)")
    ap.add_argument("--photos", action="store_true", help="also the real photos with hand-checked boxes")
    ap.add_argument("--synthetic", action="store_true", help="also the SECONDARY generated set")
    ap.add_argument("--synthetic-n", type=int, default=16)
    ap.add_argument("--synthetic-seed", type=int, default=2024)
    ap.add_argument("--another", type=int, default=3, help="screenshots on which 'another phrase' is timed")
    ap.add_argument("--examples", type=int, default=5, help="example failures per config")
    ap.add_argument("--fit-calibration", type=Path, default=None, metavar="OUT.json")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the calibration fit")
    ap.add_argument("--max-fp", type=float, default=0.01, help="absent-FP budget of the threshold choice")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    _alias_export_package()
    load_start = os.getloadavg()
    data = resolve_data(args.data)
    glite, failed = load_groundlite(args.configs)
    if args.fit_calibration is not None:
        fit_calibration(args, data, glite)
        return
    scoring_from = None
    if args.peer_scoring:
        scoring_from = next((r for r in glite if r.label == args.peer_scoring), None)
        if scoring_from is None:
            raise SystemExit(f"--peer-scoring {args.peer_scoring!r}: expected a loaded config, got {[r.label for r in glite]}")
    peers, pfailed = load_peers(args.peers, scoring_from)
    failed += pfailed
    runners = glite + peers
    if not runners:
        raise SystemExit(f"nothing loaded: {failed}")

    shots = load_realscreens(data, args.split, args.limit)
    print(f"[data] {data}: {len(shots)} {args.split} screenshots", flush=True)
    real = run_set(shots, runners, another=args.another, progress="real")
    photos = run_set(load_photos(), runners, another=args.another, progress="photos") if args.photos else None
    synth = None
    if args.synthetic:
        synth = run_set(synthetic_shots(args.synthetic_n, args.synthetic_seed), runners, another=0,
                        progress="synthetic")
    load_end = os.getloadavg()

    from _common import append_jsonl, env_info

    env = env_info()
    vers = versions()
    n_p = sum(len(s.present) for s in shots)
    n_a = sum(len(s.absent) for s in shots)
    md = [
        "# Text grounding benchmark — real screenshots",
        "",
        f"Data: `{data}` (labels.jsonl sha256 `{data_sha256(data)[:16]}`), split **{args.split}**, {len(shots)} "
        f"screenshots{' (--limit ' + str(args.limit) + ')' if args.limit else ''}, {n_p} present / {n_a} absent phrases; "
        f"screens {sorted({s.screen for s in shots})}, DPR {sorted({s.dpr for s in shots}, key=str)}, "
        f"themes {sorted({str(s.theme) for s in shots})}.",
        f"Machine: {env.get('cpu')}, {env.get('usable_cores')} usable cores, commit {env.get('commit')}, {env.get('utc')}; "
        f"load average (1/5/15 min) {tuple(round(v, 2) for v in load_start)} at start, "
        f"{tuple(round(v, 2) for v in load_end)} at end — shared with other jobs (noisy), every row measured in "
        "this run, interleaved screenshot by screenshot.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v) + ".",
        "",
        "top1 = highest-scored returned box has IoU >= 0.5 with the phrase box; recall = some returned box does; "
        "fp = absent phrases with any box; each row at its own default threshold (groundlite: `predict`'s default; "
        "peers: the same matcher on the peer's word boxes split per character, at "
        + (f"{args.peer_scoring}'s calibration and threshold). " if args.peer_scoring else
           "`groundlite.text.DEFAULT_THRESHOLD` on the raw matcher score). ") +
        "ece over every box returned at threshold 0 (10 bins). ms = median per screenshot (groundlite: read + "
        "one predict(lines=...) for all phrases; peers: their pipeline + the matcher); another_phrase = a 2nd "
        f"`predict` on unchanged pixels (first {args.another} screenshots).",
        "",
    ]
    md += ["Rows:", ""] + [f"- **{r.label}** (threshold {r.threshold:g}): {r.description}" for r in runners] + [""]
    if failed:
        md += ["Configs that did not load (skipped):", ""] + [f"- `{f['config']}`: {f['error'][:300]}" for f in failed]
        md += [""]
    md += ["## Headline: real screenshots, " + args.split + " split", ""]
    sec, rows = report_set("real", runners, real, ["screen", "dpr", "theme", "kind", "source"], args.examples)
    md += sec
    if photos is not None:
        md += ["## Real photos (hand-checked boxes)", ""]
        s2, r2 = report_set("photos", runners, photos, [], args.examples)
        md += s2
        rows += r2
    if synth is not None:
        md += ["## SECONDARY: generated set (benchmarks/textgen.py, seed "
               f"{args.synthetic_seed}, {args.synthetic_n} images) — not the headline", ""]
        s3, r3 = report_set("synthetic", runners, synth, ["screen"], args.examples)
        md += s3
        rows += r3
    text = "\n".join(md)
    print(text)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "text_grounding.md").write_text(text + "\n", encoding="utf-8")
        tag = {"bench": "text_grounding", "data": str(data), "data_sha256": data_sha256(data), "split": args.split,
               "limit": args.limit, "loadavg_start": list(load_start), "loadavg_end": list(load_end), "versions": vers}
        append_jsonl(RESULTS / "text_grounding.jsonl", [{**tag, **r} for r in rows] +
                     [{**tag, "set": "load_failures", **f} for f in failed])


if __name__ == "__main__":
    main()
