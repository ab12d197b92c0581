"""Deterministic generator of real-screen text-grounding data (see README.md beside this file).

Renders real HTML -- documentation that installed Debian packages ship (python3-doc, git-doc,
sqlite3-doc, bash-doc, debian-reference-en, valgrind, libffi-dev) served from /usr/share on
127.0.0.1, and the web UI of a private CUPS daemon started on 127.0.0.1 -- in headless Chromium
(Playwright), screenshots the viewport, and reads every visible word's box from the live DOM
(``dom.js``).  It writes ``images/<id>.png``, ``labels.jsonl`` (one object per screenshot) and
``meta.json`` into ``--out``.

Usage::

    python -m benchmarks.realscreens.generate --out DIR [--subset] [--limit N]
    python benchmarks/realscreens/generate.py --out DIR

The pure-Python helpers (``normalise``, ``split_of``, ``build_lines``, ``phrase_candidates``,
``select_present``, ``pool_phrases``, ``select_absent``, ``build_jobs``) import nothing beyond
the standard library; Playwright is imported only when rendering.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterable, Sequence

GENERATOR_VERSION = "1.1"          # 1.1: "queries" (queries.js, queries.py)
HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--font-render-hinting=none", "--hide-scrollbars", "--force-color-profile=srgb",
]
KINDS = ("prose", "heading", "link", "code", "table", "button", "label", "field")
TUNE_PERCENT = 40           # pages whose hash bucket (0..99) is below this go to "tune"
MAX_PRESENT = 10
N_ABSENT = 5
MIN_NORM_CHARS = 3
PHONE_PX_TOLERANCE = 3      # phone screenshots may be this many px short (see README)

# ------------------------------------------------------------------------------------------------
# Screens: (name, screen label, CSS viewport, DPR, mobile).  Screenshot px = CSS x DPR.
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Screen:
    screen: str        # "1920x1080" (screenshot pixels) or "phone-390x844" (CSS size)
    css_w: int
    css_h: int
    dpr: float
    mobile: bool = False

    @property
    def px(self) -> tuple[int, int]:
        return round(self.css_w * self.dpr), round(self.css_h * self.dpr)

    @property
    def tag(self) -> str:
        return f"{self.screen}-d{_fmt_dpr(self.dpr)}"


def _fmt_dpr(d: float) -> str:
    return f"{d:g}"


SCREENS: tuple[Screen, ...] = (
    Screen("1280x800", 1280, 800, 1.0),
    Screen("1366x768", 1366, 768, 1.0),
    Screen("1920x1080", 1920, 1080, 1.0),
    Screen("1920x1080", 1280, 720, 1.5),
    Screen("1920x1080", 960, 540, 2.0),
    Screen("2560x1440", 2560, 1440, 1.0),
    Screen("2560x1440", 1280, 720, 2.0),
    Screen("3840x2160", 2560, 1440, 1.5),
    Screen("3840x2160", 1920, 1080, 2.0),
    Screen("phone-390x844", 390, 844, 3.0, mobile=True),
    Screen("phone-360x800", 360, 800, 2.0, mobile=True),
)

# ------------------------------------------------------------------------------------------------
# Pages.  key -> source page; "path" is below the doc server root (/usr/share) or the CUPS root;
# "steps" reach a page behind a form button (a POST) from the page at "path".
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    key: str
    kind: str                   # "doc" | "app"
    package: str
    path: str
    shots: int = 3
    steps: tuple = ()           # (("click", selector) | ("select", selector, value), ...)

    @property
    def ident(self) -> str:
        """Port-independent identity of the source page (what the split hashes)."""
        via = "".join(f"#{'/'.join(map(str, s))}" for s in self.steps)
        return f"{self.package}:{self.path}{via}"


def _doc(key, package, path, shots=3):
    return Page(key, "doc", package, path, shots)


PY = "/doc/python3-doc/html/"
PAGES: tuple[Page, ...] = (
    _doc("pydoc-index", "python3-doc", PY + "index.html"),
    _doc("pydoc-shelve", "python3-doc", PY + "library/shelve.html"),
    _doc("pydoc-json", "python3-doc", PY + "library/json.html"),
    _doc("pydoc-re", "python3-doc", PY + "library/re.html"),
    _doc("pydoc-functions", "python3-doc", PY + "library/functions.html"),
    _doc("pydoc-stdtypes", "python3-doc", PY + "library/stdtypes.html"),
    _doc("pydoc-ospath", "python3-doc", PY + "library/os.path.html"),
    _doc("pydoc-argparse", "python3-doc", PY + "library/argparse.html"),
    _doc("pydoc-sqlite3", "python3-doc", PY + "library/sqlite3.html"),
    _doc("pydoc-datetime", "python3-doc", PY + "library/datetime.html"),
    _doc("pydoc-csv", "python3-doc", PY + "library/csv.html"),
    _doc("pydoc-itertools", "python3-doc", PY + "library/itertools.html"),
    _doc("pydoc-pathlib", "python3-doc", PY + "library/pathlib.html"),
    _doc("pydoc-tut-intro", "python3-doc", PY + "tutorial/introduction.html"),
    _doc("pydoc-tut-controlflow", "python3-doc", PY + "tutorial/controlflow.html"),
    _doc("pydoc-tut-classes", "python3-doc", PY + "tutorial/classes.html"),
    _doc("pydoc-datamodel", "python3-doc", PY + "reference/datamodel.html"),
    _doc("pydoc-logging-howto", "python3-doc", PY + "howto/logging.html"),
    _doc("pydoc-glossary", "python3-doc", PY + "glossary.html"),
    _doc("pydoc-modindex", "python3-doc", PY + "py-modindex.html"),
    _doc("pydoc-whatsnew311", "python3-doc", PY + "whatsnew/3.11.html"),
    _doc("git-commit", "git-doc", "/doc/git-doc/git-commit.html"),
    _doc("git-rebase", "git-doc", "/doc/git-doc/git-rebase.html"),
    _doc("git-tutorial", "git-doc", "/doc/git-doc/gittutorial.html"),
    _doc("git-log", "git-doc", "/doc/git-doc/git-log.html"),
    _doc("git-user-manual", "git-doc", "/doc/git-doc/user-manual.html"),
    _doc("git-everyday", "git-doc", "/doc/git-doc/giteveryday.html"),
    _doc("sqlite-index", "sqlite3-doc", "/doc/sqlite3/index.html"),
    _doc("sqlite-select", "sqlite3-doc", "/doc/sqlite3/lang_select.html"),
    _doc("sqlite-datatype3", "sqlite3-doc", "/doc/sqlite3/datatype3.html"),
    _doc("sqlite-faq", "sqlite3-doc", "/doc/sqlite3/faq.html"),
    _doc("sqlite-cli", "sqlite3-doc", "/doc/sqlite3/cli.html"),
    _doc("sqlite-corefunc", "sqlite3-doc", "/doc/sqlite3/lang_corefunc.html"),
    _doc("sqlite-pragma", "sqlite3-doc", "/doc/sqlite3/pragma.html"),
    _doc("bash-ref", "bash-doc", "/doc/bash/bashref.html", 4),
    _doc("bash-man", "bash-doc", "/doc/bash/bash.html", 4),
    _doc("debref-index", "debian-reference-en", "/debian-reference/index.en.html"),
    _doc("debref-ch01", "debian-reference-en", "/debian-reference/ch01.en.html"),
    _doc("debref-ch02", "debian-reference-en", "/debian-reference/ch02.en.html"),
    _doc("debref-ch04", "debian-reference-en", "/debian-reference/ch04.en.html"),
    _doc("debref-ch09", "debian-reference-en", "/debian-reference/ch09.en.html"),
    _doc("valgrind-core", "valgrind", "/doc/valgrind/html/manual-core.html", 2),
    _doc("valgrind-memcheck", "valgrind", "/doc/valgrind/html/mc-manual.html", 2),
    _doc("valgrind-quickstart", "valgrind", "/doc/valgrind/html/QuickStart.html", 2),
    _doc("libffi-using", "libffi-dev", "/doc/libffi-dev/html/Using-libffi.html", 2),
    _doc("libffi-primitive", "libffi-dev", "/doc/libffi-dev/html/Primitive-Types.html", 2),
    Page("cups-home", "app", "cups", "/"),
    Page("cups-admin", "app", "cups", "/admin"),
    Page("cups-printers", "app", "cups", "/printers/"),
    Page("cups-printer-office", "app", "cups", "/printers/Office_Laser"),
    Page("cups-printer-label", "app", "cups", "/printers/Label_Printer"),
    Page("cups-classes", "app", "cups", "/classes/"),
    Page("cups-class-office", "app", "cups", "/classes/Office_Group"),
    Page("cups-jobs", "app", "cups", "/jobs/"),
    Page("cups-help", "app", "cups", "/help/"),
    Page("cups-help-search", "app", "cups", "/help/?QUERY=printer+options&TOPIC="),
    Page("cups-help-overview", "app", "cups", "/help/overview.html"),
    Page("cups-help-options", "app", "cups", "/help/options.html"),
    Page("cups-help-man-lp", "app", "cups", "/help/man-lp.html"),
    Page("cups-help-security", "app", "cups", "/help/security.html"),
    Page("cups-add-printer", "app", "cups", "/admin", 3,
         (("click", "input[type=submit][value='Add Printer']"),)),
    Page("cups-add-class", "app", "cups", "/admin", 3,
         (("click", "input[type=submit][value='Add Class']"),)),
    Page("cups-edit-config", "app", "cups", "/admin", 3,
         (("click", "input[type=submit][value='Edit Configuration File']"),)),
    Page("cups-set-options", "app", "cups", "/printers/Office_Laser", 3,
         (("select", "form[name=administration] select", "set-printer-options"),)),
    Page("cups-modify-printer", "app", "cups", "/printers/Label_Printer", 3,
         (("select", "form[name=administration] select", "modify-printer"),)),
    Page("cups-allowed-users", "app", "cups", "/printers/Office_Laser", 3,
         (("select", "form[name=administration] select", "set-allowed-users"),)),
)

# ------------------------------------------------------------------------------------------------
# Pure helpers (tested in tests/test_realscreens_data.py)
# ------------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """NFKD, casefold, keep only letters, digits and symbols (Unicode categories L*, N*, S*)."""
    out = []
    for ch in unicodedata.normalize("NFKD", text).casefold():
        cat = unicodedata.category(ch)
        if cat[0] in "LNS":
            out.append(ch)
    return "".join(out)


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def split_of(ident: str, tune_percent: int = TUNE_PERCENT) -> str:
    """``"tune"`` when sha256(ident) falls in the first ``tune_percent`` of 100 buckets, else ``"test"``."""
    return "tune" if stable_hash(ident) % 100 < tune_percent else "test"


def count_occurrences(hay: str, needle: str) -> int:
    """Number of (possibly overlapping) occurrences of ``needle`` in ``hay``."""
    if not needle:
        return 0
    n, i = 0, hay.find(needle)
    while i >= 0:
        n += 1
        i = hay.find(needle, i + 1)
    return n


def _union(boxes: Iterable[Sequence[float]]) -> list[float]:
    bs = list(boxes)
    return [min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs)]


def _r1(b: Sequence[float]) -> list[float]:
    return [round(float(v), 1) for v in b]


def build_lines(words: list[dict]) -> list[dict]:
    """Group words (reading order, each with ``text``, ``xyxy``, ``kind``, ``block``) into lines.

    A word continues the current line when it belongs to the same text block, its vertical
    centre lies inside the line's vertical span and it does not start left of the previous word
    (a baseline shared, not a wrap).  Sets ``word["line"]`` and returns the lines
    ``{"text", "xyxy", "kind", "words"}``; a line's kind is its most common word kind (ties:
    first seen).
    """
    lines: list[dict] = []
    cur: dict | None = None
    for i, w in enumerate(words):
        x0, y0, x1, y1 = w["xyxy"]
        cy = (y0 + y1) / 2
        if cur is not None:
            lx0, ly0, lx1, ly1 = cur["xyxy"]
            prev = words[cur["words"][-1]]
            h = max(1e-6, min(ly1 - ly0, y1 - y0))
            tol = 0.25 * h
            if (w.get("block") == prev.get("block") and ly0 <= cy <= ly1
                    and x0 >= prev["xyxy"][2] - tol):
                cur["words"].append(i)
                cur["xyxy"] = _union([cur["xyxy"], w["xyxy"]])
                w["line"] = len(lines) - 1
                continue
        cur = {"xyxy": list(w["xyxy"]), "words": [i]}
        lines.append(cur)
        w["line"] = len(lines) - 1
    for ln in lines:
        ws = [words[i] for i in ln["words"]]
        ln["text"] = " ".join(w["text"] for w in ws)
        tally: dict[str, int] = {}
        for w in ws:
            tally[w["kind"]] = tally.get(w["kind"], 0) + 1
        ln["kind"] = max(tally, key=lambda k: (tally[k], -list(tally).index(k)))
    return [{"text": ln["text"], "xyxy": ln["xyxy"], "kind": ln["kind"], "words": ln["words"]} for ln in lines]


def _alnum(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN"


def phrase_candidates(words: list[dict], screen_text: str, max_words: int = 4,
                      min_chars: int = MIN_NORM_CHARS) -> list[dict]:
    """Every present-phrase candidate among ``words`` (label words with ``line``).

    A candidate is 1..``max_words`` consecutive words (``seq`` consecutive when given, i.e. no
    hidden/partly visible word in between), of one text block and one kind, on one line or
    wrapping once onto the next line (not for code, whose line breaks are mostly hard newlines
    of a ``<pre>``), not a piece of a word broken across lines, starting and
    ending with a letter/digit, whose normalised form has at least ``min_chars`` characters and
    occurs exactly once in ``screen_text`` (the normalised concatenation of every word on the
    screen, partly visible ones included).
    """
    out = []
    n = len(words)
    for i in range(n):
        for k in range(1, max_words + 1):
            j = i + k
            if j > n:
                break
            ws = words[i:j]
            if any(w.get("piece") for w in ws):
                break
            ok = True
            for a, b in zip(ws, ws[1:]):
                if a.get("block") != b.get("block") or a["kind"] != b["kind"]:
                    ok = False
                if "seq" in a and "seq" in b and b["seq"] != a["seq"] + 1:
                    ok = False
                if b["line"] not in (a["line"], a["line"] + 1):
                    ok = False
            if not ok:
                break
            if ws[-1]["line"] - ws[0]["line"] > 1:
                break
            if ws[-1]["line"] != ws[0]["line"] and ws[0]["kind"] == "code":
                continue    # a line break in code is a hard newline (<pre>), not a wrap
            text = " ".join(w["text"] for w in ws)
            if not (_alnum(text[0]) and _alnum(text[-1])):
                continue
            norm = normalise(text)
            if len(norm) < min_chars or count_occurrences(screen_text, norm) != 1:
                continue
            pieces: dict[int, list] = {}
            for w in ws:
                pieces.setdefault(w["line"], []).append(w["xyxy"])
            out.append({
                "phrase": text,
                "xyxy": _r1(_union(w["xyxy"] for w in ws)),
                "pieces": [_r1(_union(v)) for _, v in sorted(pieces.items())],
                "kind": ws[0]["kind"],
                "n_words": k,
                "_words": list(range(i, j)),
            })
    return out


def select_present(cands: list[dict], rng: random.Random, k: int = MAX_PRESENT) -> list[dict]:
    """Up to ``k`` candidates mixing kinds: round-robin over kinds (order shuffled by ``rng``),
    within a kind a random candidate, preferring a randomly drawn word count; chosen phrases
    share no word and no normalised phrase contains another."""
    by_kind: dict[str, list[dict]] = {}
    for c in cands:
        by_kind.setdefault(c["kind"], []).append(c)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    for kd in kinds:
        rng.shuffle(by_kind[kd])
    chosen: list[dict] = []
    used: set[int] = set()
    norms: list[str] = []
    while len(chosen) < k and any(by_kind[kd] for kd in kinds):
        for kd in kinds:
            if len(chosen) >= k:
                break
            pool = by_kind[kd]
            want = rng.choice((1, 2, 2, 3, 4))
            pick = None
            for prefer in (True, False):
                for idx, c in enumerate(pool):
                    if prefer and c["n_words"] != want:
                        continue
                    nm = normalise(c["phrase"])
                    if used.intersection(c["_words"]) or any(nm in o or o in nm for o in norms):
                        continue
                    pick = idx
                    break
                if pick is not None:
                    break
            if pick is None:
                pool.clear()
                continue
            c = pool.pop(pick)
            chosen.append(c)
            used.update(c["_words"])
            norms.append(normalise(c["phrase"]))
    return [{k2: v for k2, v in c.items() if not k2.startswith("_")} for c in chosen]


_WORDY = re.compile(r"^[^\W_](?:[\w'’.\-]*[^\W_])?$")


def _strip_punct(tok: str) -> str:
    i, j = 0, len(tok)
    while i < j and not _alnum(tok[i]):
        i += 1
    while j > i and not _alnum(tok[j - 1]):
        j -= 1
    return tok[i:j]


def pool_phrases(text: str, rng: random.Random, n: int = 60) -> list[str]:
    """Up to ``n`` distinct real phrases (1-3 consecutive words of one line of ``text``), trimmed
    of leading/trailing punctuation (inner words must carry none), every word made of
    letters/digits with at most inner ``' ’ . - _``, containing a letter; normalised length 4..40."""
    lines = [ln.split() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    out: list[str] = []
    seen: set[str] = set()
    if not lines:
        return out
    for _ in range(n * 8):
        if len(out) >= n:
            break
        ln = rng.choice(lines)
        k = rng.choice((1, 1, 2, 2, 3))
        if len(ln) < k:
            continue
        s = rng.randrange(len(ln) - k + 1)
        toks = [_strip_punct(t) for t in ln[s:s + k]]
        # inner words must not be cut by punctuation ("pair, (head" is not a phrase)
        if any(t != raw for t, raw in zip(toks[:-1], ln[s:s + k - 1])) or \
                any(t != raw for t, raw in zip(toks[1:], ln[s + 1:s + k])):
            continue
        if not all(_WORDY.match(t) and any(unicodedata.category(c)[0] == "L" for c in t) for t in toks):
            continue
        phrase = " ".join(toks)
        nm = normalise(phrase)
        if not 4 <= len(nm) <= 40 or sum(unicodedata.category(c)[0] == "L" for c in nm) < 3 or nm in seen:
            continue
        seen.add(nm)
        out.append(phrase)
    return out


_BLOCK_TAGS = frozenset("p div br li ul ol dl dt dd tr td th table h1 h2 h3 h4 h5 h6 pre blockquote hr "
                        "section article header footer nav aside form fieldset legend label option "
                        "caption figcaption main body".split())
_SKIP_TEXT_TAGS = frozenset(("script", "style", "head", "template", "noscript"))


class _TextParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TEXT_TAGS:
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TEXT_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    """Text of an HTML document, one line per block element (script/style/head dropped);
    the source of the absent-phrase pools (no rendering needed)."""
    p = _TextParser()
    p.feed(html)
    p.close()
    text = "".join(p.parts)
    return "\n".join(" ".join(ln.split()) for ln in text.splitlines() if ln.strip())


def select_absent(pools: dict[str, list[str]], own_key: str, fulltext_norm: str,
                  rng: random.Random, n: int = N_ABSENT) -> list[str]:
    """``n`` phrases from the pools of OTHER pages whose normalised form is not a substring of
    this page's normalised whole-DOM text (``fulltext_norm``)."""
    cands = [p for key in sorted(pools) if key != own_key for p in pools[key]]
    rng.shuffle(cands)
    out, seen = [], set()
    for p in cands:
        nm = normalise(p)
        if nm in seen or nm in fulltext_norm:
            continue
        seen.add(nm)
        out.append(p)
        if len(out) >= n:
            break
    return out


@dataclass(frozen=True)
class Job:
    page: Page
    screen: Screen
    theme: str
    shot: int                   # index of this shot among the page's shots
    scroll_frac: float          # 0 for the top of the page


def build_jobs(pages: Sequence[Page] = PAGES, screens: Sequence[Screen] = SCREENS) -> list[Job]:
    """All screenshots: shot g (over pages in order, then their shots) gets screen class
    g mod len(screens), dark theme when g mod 3 == 1; a page's first shot is at the top, later
    shots scroll to a fraction (seeded by the page) of the scrollable height."""
    jobs, g = [], 0
    for p in pages:
        rng = random.Random(stable_hash("scroll:" + p.ident))
        for s in range(p.shots):
            frac = 0.0 if s == 0 else round(rng.uniform(0.1, 0.9), 3)
            jobs.append(Job(p, screens[g % len(screens)], "dark" if g % 3 == 1 else "light", s, frac))
            g += 1
    return jobs


def subset_jobs(jobs: Sequence[Job]) -> list[Job]:
    """The committed subset (13 jobs of the full list): per screen class one job, from app pages
    for even class indices and doc pages for odd ones -- the first such job, or the last for
    screens of 5 MP and more (shorter pages there keep the PNGs small) -- then one more dark
    doc and one more dark app job of at most 2.1 MP.  The tests check that it covers every
    class, both themes, both source kinds and both splits."""
    out: list[Job] = []
    for i, sc in enumerate(SCREENS):
        want = "app" if i % 2 == 0 else "doc"
        cands = [j for j in jobs if j.screen == sc and j.page.kind == want] or [j for j in jobs if j.screen == sc]
        # small pages keep the committed set small: prefer pages with few shots for big screens
        out.append(cands[0] if sc.px[0] * sc.px[1] < 5e6 else cands[-1])
    for want in ("doc", "app"):
        extra = [j for j in jobs if j.theme == "dark" and j.page.kind == want and j not in out
                 and j.screen.px[0] * j.screen.px[1] <= 2.1e6]
        if extra:
            out.append(extra[len(extra) // 2])
    return sorted(out, key=jobs.index)


def job_id(job: Job, scroll: int) -> str:
    return f"{job.page.key}-{job.screen.tag}-{job.theme}-s{scroll}"


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
NO_ANIM_CSS = ("*,*::before,*::after{animation:none!important;transition:none!important;"
               "caret-color:transparent!important;scroll-behavior:auto!important}")
# For pages without a dark stylesheet: invert the page (dark background, light text), images back.
DARK_CSS = ("html{filter:invert(0.92) hue-rotate(180deg)!important;background:#fff!important}"
            "img,svg image,video,picture{filter:invert(1) hue-rotate(180deg)!important}")

JS_BG_LUMA = """() => {
  const lum = (c) => { const m = /rgba?\\(([^)]*)\\)/.exec(c); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(parseFloat);
    if (p.length === 4 && p[3] === 0) return null;
    return (0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2]) / 255; };
  for (const el of [document.body, document.documentElement]) {
    if (!el) continue; const l = lum(getComputedStyle(el).backgroundColor); if (l !== null) return l; }
  return 1.0;
}"""


def _load_apps():
    spec = importlib.util.spec_from_file_location("_realscreens_apps", HERE / "apps.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_realscreens_apps"] = mod
    spec.loader.exec_module(mod)
    return mod


def _load_queries():
    key = "_realscreens_queries"
    mod = sys.modules.get(key)
    if mod is None:
        spec = importlib.util.spec_from_file_location(key, HERE / "queries.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return mod


def _deb_version(pkg: str) -> str | None:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class Renderer:
    def __init__(self, browser, bases: dict[str, str]):
        self.browser = browser
        self.bases = bases
        self.contexts: dict[tuple, Any] = {}
        self.dom_js = (HERE / "dom.js").read_text(encoding="utf-8")
        self.queries_js = (HERE / "queries.js").read_text(encoding="utf-8")

    def context(self, screen: Screen, theme: str):
        key = (screen, theme)
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = self.browser.new_context(
                viewport={"width": screen.css_w, "height": screen.css_h},
                screen={"width": screen.css_w, "height": screen.css_h},
                device_scale_factor=screen.dpr, is_mobile=screen.mobile, has_touch=screen.mobile,
                color_scheme=theme, reduced_motion="reduce", locale="en-US", timezone_id="UTC",
                java_script_enabled=True, service_workers="block",
            )
            # loopback only: anything else is aborted (requests to 127.0.0.1 are not intercepted,
            # which keeps page loads fast)
            ctx.route(_NOT_LOOPBACK, lambda route: route.abort())
            self.contexts[key] = ctx
        return ctx

    def url(self, page: Page) -> str:
        return self.bases[page.kind] + page.path

    def open(self, page: Page, screen: Screen, theme: str):
        ctx = self.context(screen, theme)
        pg = ctx.new_page()
        inflight: set = set()
        pg.on("request", lambda rq: inflight.add(rq))
        pg.on("requestfinished", lambda rq: inflight.discard(rq))
        pg.on("requestfailed", lambda rq: inflight.discard(rq))
        pg.goto(self.url(page), wait_until="load", timeout=60000)
        for step in page.steps:
            with pg.expect_navigation(wait_until="load", timeout=60000):
                if step[0] == "click":
                    pg.click(step[1])
                else:
                    pg.select_option(step[1], step[2])
        pg.add_style_tag(content=NO_ANIM_CSS)
        if screen.mobile:
            pg.evaluate("() => { window.__realscreensMobile = true; }")
        dark_css = False
        if theme == "dark" and pg.evaluate(JS_BG_LUMA) > 0.5:
            pg.add_style_tag(content=DARK_CSS)
            dark_css = True
        pg.evaluate("() => document.fonts.ready.then(() => true)")
        # network idle: no request in flight for 100 ms (at most 5 s; static local pages)
        quiet, deadline = 0, time.monotonic() + 5.0
        while quiet < 2 and time.monotonic() < deadline:
            pg.wait_for_timeout(50)
            quiet = quiet + 1 if not inflight else 0
        return pg, dark_css

    def text_of(self, page: Page) -> str:
        """The page's HTML source text (file for docs, a GET of ``path`` for the app)."""
        import urllib.request

        if page.kind == "doc":
            raw = Path("/usr/share" + page.path).read_bytes()
        else:
            with urllib.request.urlopen(self.url(page), timeout=30) as rsp:
                raw = rsp.read()
        return html_text(raw.decode("utf-8", errors="replace"))

    def shoot(self, job: Job):
        pg, dark_css = self.open(job.page, job.screen, job.theme)
        try:
            scroll = 0
            if job.scroll_frac > 0:
                maxs = pg.evaluate("() => Math.max(0, document.documentElement.scrollHeight - window.innerHeight)")
                if maxs >= 50:
                    target = int(round(job.scroll_frac * maxs))
                    pg.evaluate(f"() => window.scrollTo(0, {target})")
                    pg.wait_for_timeout(50)
                    scroll = int(round(pg.evaluate("() => window.scrollY")))
            pg.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            dom = pg.evaluate(self.dom_js)
            png = pg.screenshot(animations="disabled", caret="hide", scale="device")
            # after the screenshot (it changes nothing in the page; reads what dom.js left)
            qdom = pg.evaluate(self.queries_js)
            url = pg.url
        finally:
            pg.close()
        return {"dom": dom, "qdom": qdom, "png": png, "scroll": scroll, "url": url, "dark_css": dark_css}


_NOT_LOOPBACK = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost|\[::1\])[:/])(?!data:|blob:|about:)")


def make_label(job: Job, shot: dict, split: str, pools: dict[str, list[str]], size: tuple[int, int]) -> dict:
    dom = shot["dom"]
    scroll = shot["scroll"]
    ident = job_id(job, scroll)
    all_words = dom["words"]
    screen_text = "".join(normalise(w["text"]) for w in all_words)
    words = []
    W, H = size
    for w in all_words:
        if w["state"] != "ok":
            continue
        x0, y0, x1, y1 = w["box"]
        # half a pixel of slack from the DOM's sub-pixel layout is clamped; more than that (a
        # phone screenshot a few rows short) means the word is not fully in the picture
        if x0 < -0.5 or y0 < -0.5 or x1 > W + 0.5 or y1 > H + 0.5:
            continue
        box = [max(0.0, x0), max(0.0, y0), min(float(W), x1), min(float(H), y1)]
        words.append({"text": w["text"], "xyxy": _r1(box), "kind": w["kind"], "block": w["block"],
                      "seq": w["seq"], "piece": w["piece"]})
    lines = build_lines(words)
    for ln in lines:
        ln["xyxy"] = _r1(ln["xyxy"])
    rng = random.Random(stable_hash("present:" + ident))
    present = select_present(phrase_candidates(words, screen_text), rng)
    absent = select_absent(pools, job.page.key, normalise(dom["fulltext"]),
                           random.Random(stable_hash("absent:" + ident)))
    # never let an absent phrase be visible (belt and braces: fulltext covers it already)
    absent = [a for a in absent if normalise(a) not in screen_text]
    source = {"kind": job.page.kind, "package": job.page.package, "url": shot["url"], "page": job.page.key}
    if job.page.steps:
        source["via"] = [list(s) for s in job.page.steps]
    queries = _load_queries().build_queries(ident, words, all_words, lines, shot.get("qdom"), size,
                                            normalise(dom["fulltext"]), job.screen.mobile)
    return {
        "id": ident,
        "image": f"images/{ident}.png",
        "width": size[0], "height": size[1],
        "split": split,
        "source": source,
        "screen": job.screen.screen, "dpr": float(job.screen.dpr), "theme": job.theme, "scroll": scroll,
        "dark_css": shot["dark_css"],
        "words": [{"text": w["text"], "xyxy": w["xyxy"], "kind": w["kind"], "line": w["line"]} for w in words],
        "lines": lines,
        "present": present,
        "absent": absent,
        "queries": queries,
    }


def _save_png(data: bytes, path: Path, optimise: bool) -> tuple[int, int]:
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.load()
    if optimise:
        im.save(path, format="PNG", optimize=True)
    else:
        path.write_bytes(data)
    return im.size


def generate(out: Path, subset: bool = False, limit: int | None = None, optimise: bool | None = None,
             doc_port: int = 18471, app_port: int = 18631, verbose: bool = True) -> dict:
    from playwright.sync_api import sync_playwright

    apps = _load_apps()
    t0 = time.monotonic()
    pages = list(PAGES)
    cups = None
    docs = apps.DocServer("/usr/share", doc_port).start()
    bases = {"doc": docs.base}
    missing = []
    if apps.CupsApp.available():
        cups = apps.CupsApp(app_port)
        try:
            cups.start()
            bases["app"] = cups.base
        except Exception as e:  # noqa: BLE001
            print(f"warning: CUPS could not start ({e}); app pages skipped", file=sys.stderr)
            cups = None
    if cups is None:
        pages = [p for p in pages if p.kind != "app"]
    for p in pages:
        if p.kind == "doc" and not os.path.exists("/usr/share" + p.path):
            missing.append(p.key)
    pages = [p for p in pages if p.key not in missing]
    if missing:
        print(f"warning: documentation not installed, skipped: {', '.join(missing)}", file=sys.stderr)
    jobs = build_jobs(pages)
    if subset:
        jobs = subset_jobs(jobs)
    if limit is not None and limit < len(jobs):
        step = len(jobs) / limit
        jobs = [jobs[int(i * step)] for i in range(limit)]
    if optimise is None:
        optimise = subset
    out.mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    labels = []
    failed: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                r = Renderer(browser, bases)
                # absent-phrase pools from every corpus page's HTML text, so that the labels of
                # a screenshot do not depend on which other screenshots are made
                pools = {}
                for p in pages:
                    pools[p.key] = pool_phrases(r.text_of(p), random.Random(stable_hash("pool:" + p.ident)))
                if verbose:
                    print(f"pools: {len(pools)} pages, {time.monotonic() - t0:.1f}s", file=sys.stderr)
                seen_ids: set[str] = set()
                for n, job in enumerate(jobs):
                    try:
                        shot = r.shoot(job)
                    except Exception as e:  # noqa: BLE001 - one broken page must not end the run
                        failed.append(f"{job.page.key} {job.screen.tag} {job.theme}: {e}")
                        print(f"warning: {failed[-1]}", file=sys.stderr)
                        continue
                    lab_id = job_id(job, shot["scroll"])
                    if lab_id in seen_ids:
                        print(f"warning: duplicate id {lab_id} skipped", file=sys.stderr)
                        continue
                    seen_ids.add(lab_id)
                    size = _save_png(shot["png"], out / "images" / f"{lab_id}.png", optimise)
                    # Chromium rounds the visual viewport of a zoomed-out phone page down
                    # (e.g. 720x1599 for 720x1600): the label records the real size.
                    tol = PHONE_PX_TOLERANCE if job.screen.mobile else 0
                    if abs(size[0] - job.screen.px[0]) > tol or abs(size[1] - job.screen.px[1]) > tol:
                        raise RuntimeError(f"{lab_id}: screenshot {size} != expected {job.screen.px}")
                    lab = make_label(job, shot, split_of(job.page.ident), pools, size)
                    labels.append(lab)
                    if verbose:
                        print(f"[{n + 1}/{len(jobs)}] {lab_id}: {len(lab['words'])} words, "
                              f"{len(lab['present'])} present, {len(lab['absent'])} absent, {len(lab['queries'])} queries "
                              f"({time.monotonic() - t0:.0f}s)", file=sys.stderr)
                chromium_version = browser.version
            finally:
                browser.close()
    finally:
        docs.stop()
        if cups is not None:
            cups.stop()
    with open(out / "labels.jsonl", "w", encoding="utf-8") as fh:
        for lab in labels:
            fh.write(json.dumps(lab, ensure_ascii=False, separators=(",", ":")) + "\n")
    try:
        from importlib.metadata import version as _v
        pw_version = _v("playwright")
    except Exception:  # noqa: BLE001
        pw_version = None
    pkgs = sorted({p.package for p in pages} | {"chromium", "cups-daemon"})
    meta = {
        "generator": "benchmarks/realscreens/generate.py",
        "generator_version": GENERATOR_VERSION,
        "chromium_version": chromium_version,
        "playwright_version": pw_version,
        "chromium_args": CHROMIUM_ARGS,
        "debian_packages": {p: _deb_version(p) for p in pkgs},
        "subset": subset, "limit": limit,
        "n_images": len(labels),
        "skipped_pages": missing,
        "failed_jobs": failed,
        "counts": summarise(labels),
        "wall_s": round(time.monotonic() - t0, 1),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


def summarise(labels: list[dict]) -> dict:
    def tally(f):
        d: dict[str, int] = {}
        for lab in labels:
            for k in f(lab):
                d[k] = d.get(k, 0) + 1
        return dict(sorted(d.items()))

    return {
        "screen_dpr": tally(lambda l: [f"{l['screen']}-d{_fmt_dpr(l['dpr'])}"]),
        "theme": tally(lambda l: [l["theme"]]),
        "source_kind": tally(lambda l: [l["source"]["kind"]]),
        "package": tally(lambda l: [l["source"]["package"]]),
        "split": tally(lambda l: [l["split"]]),
        "split_pages": {s: len({l["source"]["page"] for l in labels if l["split"] == s}) for s in ("tune", "test")},
        "present_kind": tally(lambda l: [p["kind"] for p in l["present"]]),
        "present_n_words": tally(lambda l: [str(p["n_words"]) for p in l["present"]]),
        "present_wrapped": sum(len(p["pieces"]) > 1 for l in labels for p in l["present"]),
        "present_total": sum(len(l["present"]) for l in labels),
        "absent_total": sum(len(l["absent"]) for l in labels),
        "query_type": tally(lambda l: [q["type"] for q in l.get("queries", [])]),
        "query_type_split": {s: dict(sorted({t: sum(q["type"] == t for l in labels if l["split"] == s
                                                    for q in l.get("queries", []))
                                             for t in {q["type"] for l in labels for q in l.get("queries", [])}}.items()))
                             for s in ("tune", "test")},
        "queries_total": sum(len(l.get("queries", [])) for l in labels),
        "scrolled": sum(l["scroll"] > 0 for l in labels),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (images/, labels.jsonl, meta.json)")
    ap.add_argument("--subset", action="store_true", help="only the small committed subset (export/groundlite_export/assets/realscreens)")
    ap.add_argument("--limit", type=int, default=None, help="at most N screenshots, spread evenly over the job list")
    ap.add_argument("--optimise", dest="optimise", action="store_true", default=None,
                    help="re-encode PNGs with Pillow optimize=True (default: only with --subset)")
    ap.add_argument("--no-optimise", dest="optimise", action="store_false")
    ap.add_argument("--doc-port", type=int, default=18471)
    ap.add_argument("--app-port", type=int, default=18631)
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"error: {CHROMIUM} not found (apt-get install chromium)", file=sys.stderr)
        return 2
    meta = generate(a.out, subset=a.subset, limit=a.limit, optimise=a.optimise,
                    doc_port=a.doc_port, app_port=a.app_port, verbose=not a.quiet)
    print(json.dumps({"n_images": meta["n_images"], "wall_s": meta["wall_s"], **meta["counts"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
