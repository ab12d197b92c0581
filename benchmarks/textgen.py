"""Labelled synthetic set for the text-grounding benchmark: images, phrases and their exact boxes.

Each sample is a rendered document, form, receipt or UI screenshot
(:func:`groundlite_export.synth_text.render_sample`) in one of several fonts (Pillow's bundled font and,
when matplotlib is installed — ``pip install groundlite[bench]`` — DejaVu Sans / Serif / Mono),
sizes 18-34 px, random colours, rotations up to +-5 degrees, Gaussian noise and JPEG artefacts.

Phrases: *present* ones are 1-3 consecutive words of one line whose normalised form occurs exactly
once in the image (so the top-1 box is unambiguous); the ground-truth box is the union of the word
boxes. *Absent* ones are vocabulary words whose normalised form occurs nowhere in the image.

Usage: ``python benchmarks/textgen.py --n 8 --seed 1 --out /tmp/textset`` writes PNGs + labels.json.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from groundlite.text.normalize import normalize
from groundlite_export.synth_text import KINDS, WORDS, Sample, render_sample

__all__ = ["LabelledSample", "bench_fonts", "make_set"]


@dataclass
class LabelledSample:
    sample: Sample
    present: list[tuple[str, np.ndarray]]   # (phrase, xyxy float32[4])
    absent: list[str]


def bench_fonts() -> list[str | None]:
    """Font files for the benchmark: Pillow's bundled font (None) + matplotlib's DejaVu if installed."""
    fonts: list[str | None] = [None]
    try:
        import matplotlib
    except ImportError:
        return fonts
    ttf = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
    fonts += [str(ttf / n) for n in ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")
              if (ttf / n).is_file()]
    return fonts


def _label(sample: Sample, rng: np.random.Generator, n_present: int, n_absent: int) -> LabelledSample:
    full = normalize("".join(w.text for w in sample.words)).text
    by_line: dict[int, list[int]] = {}
    for i, w in enumerate(sample.words):
        by_line.setdefault(w.line, []).append(i)
    present: list[tuple[str, np.ndarray]] = []
    seen: set[str] = set()
    for _ in range(40):
        if len(present) >= n_present:
            break
        line = list(by_line.values())[int(rng.integers(0, len(by_line)))]
        k = int(rng.integers(1, min(3, len(line)) + 1))
        s = int(rng.integers(0, len(line) - k + 1))
        idx = line[s : s + k]
        phrase = " ".join(sample.words[i].text for i in idx)
        norm = normalize(phrase).text
        if len(norm) < 4 or norm in seen or full.count(norm) != 1:
            continue
        boxes = np.stack([sample.words[i].xyxy for i in idx])
        present.append((phrase, np.array([*boxes[:, :2].min(0), *boxes[:, 2:].max(0)], np.float32)))
        seen.add(norm)
    absent: list[str] = []
    for _ in range(100):
        if len(absent) >= n_absent:
            break
        k = int(rng.integers(1, 3))
        phrase = " ".join(str(w) for w in rng.choice(WORDS, size=k))
        if normalize(phrase).text not in full and phrase not in absent:
            absent.append(phrase)
    return LabelledSample(sample, present, absent)


def make_set(n: int, seed: int, *, n_present: int = 3, n_absent: int = 2) -> list[LabelledSample]:
    """``n`` labelled samples; sample ``i`` is rendered from seed ``(seed, i)`` (deterministic)."""
    fonts = bench_fonts()
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        sample = render_sample(int(rng.integers(0, 2**31)), kind=KINDS[i % len(KINDS)], fonts=fonts)
        out.append(_label(sample, rng, n_present, n_absent))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from PIL import Image

    args.out.mkdir(parents=True, exist_ok=True)
    labels = []
    for i, ls in enumerate(make_set(args.n, args.seed)):
        name = f"{i:04d}_{ls.sample.kind}.png"
        Image.fromarray(ls.sample.image).save(args.out / name)
        labels.append({"image": name, "kind": ls.sample.kind, "font": ls.sample.font, "angle": ls.sample.angle,
                       "present": [{"phrase": p, "xyxy": [round(float(v), 1) for v in b]} for p, b in ls.present],
                       "absent": ls.absent,
                       "words": [{"text": w.text, "line": w.line, "xyxy": [round(float(v), 1) for v in w.xyxy]}
                                 for w in ls.sample.words]})
    (args.out / "labels.json").write_text(json.dumps(labels, indent=1), encoding="utf-8")
    print(f"wrote {len(labels)} images to {args.out}")


if __name__ == "__main__":
    main()
