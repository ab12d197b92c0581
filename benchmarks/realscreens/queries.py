"""Language-layer queries for the real-screen labels (see README.md, "Queries").

``build_queries`` turns the DOM facts of ``queries.js`` (elements and label -> value pairs, each
naming the words inside it by the ``seq`` of ``dom.js``) and the screenshot's words into query
records with ground truth: ``field``, ``control``, ``relation``, ``ordinal``, ``region``,
``paraphrase`` and ``paraphrase_absent``.  Every target is fully visible (all its words are label
words, its element's box is ``state ok``) and unambiguous on the screen.  Pure Python, standard
library only; deterministic (seeds ``sha256(id + ":" + type)``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import re
import sys
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
CAPS = {"field": 4, "control": 4, "relation": 4, "ordinal": 4, "region": 4, "paraphrase": 4,
        "paraphrase_absent": 2}
MAX_NEAR = 1                # "the X near Y" queries per screenshot (inside the relation cap)
MAX_VALUE_WORDS = 8         # field values (dd, table cell, "Key: value" rest of line)
MAX_KEY_WORDS = 4
MAX_LINK_WORDS = 4
MAX_UNORDERED = 10          # un-anchored ordinals only for kinds with at most this many on screen
AMBIG_RATIO = 1.5           # relation: 2nd-nearest candidate at least this much farther
REGION_MARGIN = 0.10        # region: the extreme one leads the next by 10 % of the screen
ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}
CONTROL_NOUN = {"button": "button", "link": "link", "field": "field", "checkbox": "checkbox",
                "radio": "radio button", "menu": "menu", "tab": "tab", "heading": "heading", "text": "text"}
FIELD_TEMPLATES = ("the value of {x}", "{x} value", "what is the {x}", "{x}:")
TYPES = ("field", "control", "relation", "ordinal", "region", "paraphrase", "paraphrase_absent")


def _gen():
    key = "_realscreens_generate"
    mod = sys.modules.get(key)
    if mod is None:
        spec = importlib.util.spec_from_file_location(key, HERE / "generate.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return mod


def load_paraphrases(path: Path | None = None) -> list[list[str]]:
    data = json.loads((path or HERE / "paraphrases.json").read_text(encoding="utf-8"))
    return [list(g) for g in data["groups"]]


# ------------------------------------------------------------------------------------------------
# value types
# ------------------------------------------------------------------------------------------------
_MONTHS = ("jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|"
           "july|august|september|october|november|december")
_RE_EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
_RE_MONEY = re.compile(r"^([$€£¥]\s?[-+]?\d[\d,]*(\.\d+)?|[-+]?\d[\d,]*(\.\d+)?\s?(USD|EUR|GBP|JPY|CHF|[$€£¥]))$")
_RE_PERCENT = re.compile(r"^[-+]?\d+([.,]\d+)?\s?%$")
_RE_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|"
                      rf"(\d{{1,2}}\s+)?({_MONTHS})\.?\s+\d{{1,2}}(st|nd|rd|th)?,?(\s+\d{{4}})?|"
                      rf"(\d{{1,2}}\s+)?({_MONTHS})\.?,?\s+\d{{4}})$", re.IGNORECASE)
_RE_NUMBER = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)([.]\d+)?$")
_RE_PHONE = re.compile(r"^\+?[\d][\d\s().-]{5,}\d$")
_RE_IDENT = re.compile(r"^\S+$")


def value_type(text: str) -> str:
    """money | date | percent | email | phone | number | identifier | text, by the first rule
    that matches the whole (stripped) value: email ``a@b.c``; money a currency sign or code next
    to a number; percent a number with ``%``; date ISO ``YYYY-MM-DD[ hh:mm[:ss]]``, ``d/m/y``,
    or a month name with a day and/or year; phone 7-15 digits with ``+``, spaces, dashes, dots
    or parentheses (not a plain number); number digits with optional thousands commas and
    decimals; identifier one token (no spaces) holding a digit or one of ``_ / . : = # -`` or
    an inner capital (paths, URIs, names like ``Office_Laser``); otherwise text."""
    v = text.strip()
    if _RE_EMAIL.match(v):
        return "email"
    if _RE_MONEY.match(v):
        return "money"
    if _RE_PERCENT.match(v):
        return "percent"
    if _RE_DATE.match(v):
        return "date"
    digits = sum(c.isdigit() for c in v)
    if _RE_PHONE.match(v) and 7 <= digits <= 15 and not _RE_NUMBER.match(v) and re.search(r"[+\s().-]", v):
        return "phone"
    if _RE_NUMBER.match(v):
        return "number"
    if _RE_IDENT.match(v) and (re.search(r"[\d_/.:=#-]", v) or re.search(r"[a-z][A-Z]", v)):
        return "identifier"
    return "text"


# ------------------------------------------------------------------------------------------------
# geometry helpers
# ------------------------------------------------------------------------------------------------
def _cx(b):
    return (b[0] + b[2]) / 2


def _cy(b):
    return (b[1] + b[3]) / 2


def _dist(a, b):
    return math.hypot(_cx(a) - _cx(b), _cy(a) - _cy(b))


def _overlap(a0, a1, b0, b1):
    return min(a1, b1) - max(a0, b0)


def _intersects(a, b):
    return _overlap(a[0], a[2], b[0], b[2]) > 0 and _overlap(a[1], a[3], b[1], b[3]) > 0


def _direction_ok(rel: str, a, t) -> bool:
    """Is box ``t`` ``rel`` of anchor box ``a`` (below/above: sharing a's column; right_of/left_of/
    next_to: sharing a's row)?"""
    tol = 2.0
    col = _overlap(a[0], a[2], t[0], t[2]) > 0
    row = _overlap(a[1], a[3], t[1], t[3]) >= 0.3 * min(a[3] - a[1], t[3] - t[1])
    if rel == "below":
        return col and t[1] >= a[3] - tol
    if rel == "above":
        return col and t[3] <= a[1] + tol
    if rel == "right_of":
        return row and t[0] >= a[2] - tol
    if rel == "left_of":
        return row and t[2] <= a[0] + tol
    if rel == "next_to":     # adjacent: the gap at most twice the taller box's height
        gap = max(t[0] - a[2], a[0] - t[2])
        return row and -tol <= gap <= 2 * max(a[3] - a[1], t[3] - t[1])
    raise ValueError(rel)


def reading_order(boxes: Sequence[Sequence[float]]) -> list[int]:
    """Indices of ``boxes`` top-to-bottom, then left-to-right: boxes whose vertical centre lies
    in the span of a row's first box are one row."""
    order = sorted(range(len(boxes)), key=lambda i: (_cy(boxes[i]), boxes[i][0]))
    rows: list[list[int]] = []
    for i in order:
        if rows:
            f = boxes[rows[-1][0]]
            if f[1] <= _cy(boxes[i]) <= f[3]:
                rows[-1].append(i)
                continue
        rows.append([i])
    return [i for r in rows for i in sorted(r, key=lambda j: boxes[j][0])]


def _pick(cands: list[dict], key, cap: int, rng: random.Random, per_key: int | None = None) -> list[dict]:
    """Up to ``cap`` candidates, round-robin over ``key`` groups (group and member order shuffled
    by ``rng``; at most ``per_key`` from one group), no two with the same query text."""
    groups: dict[Any, list[dict]] = {}
    for c in cands:
        groups.setdefault(key(c), []).append(c)
    keys = sorted(groups, key=str)
    rng.shuffle(keys)
    for k in keys:
        rng.shuffle(groups[k])
    out: list[dict] = []
    seen: set[str] = set()
    taken = {k: 0 for k in keys}
    while len(out) < cap and any(groups[k] for k in keys):
        for k in keys:
            if len(out) >= cap:
                break
            if per_key is not None and taken[k] >= per_key:
                groups[k].clear()
            while groups[k]:
                c = groups[k].pop(0)
                if c["query"] not in seen:
                    seen.add(c["query"])
                    out.append(c)
                    taken[k] += 1
                    break
    return out


def _strip_colon(text: str) -> str:
    return re.sub(r"\s*:+$", "", text).strip()


# ------------------------------------------------------------------------------------------------
# the context of one screenshot
# ------------------------------------------------------------------------------------------------
class Screen:
    def __init__(self, ident: str, words: list[dict], all_words: list[dict], lines: list[dict],
                 qdom: dict, size: tuple[int, int], fulltext_norm: str, mobile: bool):
        g = _gen()
        self.g = g
        self.ident = ident
        self.words = words                        # label words (with "seq", "line")
        self.all_words = all_words                # dom.js words (every state)
        self.lines = lines
        self.W, self.H = size
        self.mobile = mobile
        self.fulltext_norm = fulltext_norm
        self.screen_text = "".join(g.normalise(w["text"]) for w in all_words)
        self.seq2idx = {w["seq"]: i for i, w in enumerate(words)}
        self.elements = (qdom or {}).get("elements", [])
        self.pairs = (qdom or {}).get("pairs", [])
        self.norm_tokens = [g.normalise(w["text"]) for w in all_words]
        self.block_size: dict[Any, int] = {}            # block -> number of its dom.js words
        for w in all_words:
            self.block_size[w["block"]] = self.block_size.get(w["block"], 0) + 1
        self.hidden_cy: dict[Any, list[float]] = {}     # block -> centres of its non-label words
        for w in all_words:
            if w["seq"] not in self.seq2idx:
                self.hidden_cy.setdefault(w["block"], []).append(_cy(w["box"]))

    # words -------------------------------------------------------------------------------------
    def idxs(self, seqs: Sequence[int]) -> list[int] | None:
        """Label-word indices of ``seqs``, or None when any of them is not a label word (not
        fully visible) or there are none."""
        if not seqs:
            return None
        out = []
        for s in seqs:
            i = self.seq2idx.get(s)
            if i is None:
                return None
            out.append(i)
        return out

    def text(self, idxs: Sequence[int]) -> str:
        return " ".join(self.words[i]["text"] for i in idxs)

    def tbox(self, idxs: Sequence[int]) -> list[float]:
        return self.g._r1(self.g._union(self.words[i]["xyxy"] for i in idxs))

    def unique(self, text: str) -> bool:
        nm = self.g.normalise(text)
        return len(nm) >= 2 and self.g.count_occurrences(self.screen_text, nm) == 1

    def ebox(self, box: Sequence[float]) -> list[float] | None:
        """An element's box clamped to the image (None when it sticks out by more than 0.5 px)."""
        x0, y0, x1, y1 = box
        if x0 < -0.5 or y0 < -0.5 or x1 > self.W + 0.5 or y1 > self.H + 0.5:
            return None
        return self.g._r1([max(0.0, x0), max(0.0, y0), min(float(self.W), x1), min(float(self.H), y1)])

    def on_screen(self, box: Sequence[float]) -> bool:
        return box[2] > 0 and box[3] > 0 and box[0] < self.W and box[1] < self.H

    def element_target(self, el: dict) -> dict | None:
        """``{"xyxy", "text", "idxs"}`` of a fully visible element (its text, when it has any,
        all label words), else None."""
        if el["state"] != "ok":
            return None
        box = self.ebox(el["box"])
        if box is None:
            return None
        idxs = None
        if el["seqs"]:
            idxs = self.idxs(el["seqs"])
            if idxs is None:
                return None
        return {"xyxy": box, "text": self.text(idxs) if idxs else None, "idxs": idxs}


# ------------------------------------------------------------------------------------------------
# field
# ------------------------------------------------------------------------------------------------
def _key_colon_pairs(s: Screen) -> list[dict]:
    """"Key: value" text blocks that are one whole visual line: the key (1-4 words, starting with
    a letter, not code) ends with ':', the value is the rest of the line (1-8 words)."""
    by_block: dict[Any, list[dict]] = {}
    for w in s.all_words:
        by_block.setdefault(w["block"], []).append(w)
    out = []
    for blk, ws in by_block.items():
        if len(ws) < 2 or len(ws) > MAX_KEY_WORDS + MAX_VALUE_WORDS:
            continue
        idxs = s.idxs([w["seq"] for w in ws])
        if idxs is None or len({s.words[i]["line"] for i in idxs}) != 1:
            continue
        texts = [s.words[i]["text"] for i in idxs]
        k = next((j for j, t in enumerate(texts) if t.endswith(":")), None)
        if k is None or k >= MAX_KEY_WORDS or k + 1 >= len(texts):
            continue
        key = _strip_colon(" ".join(texts[:k + 1]))
        if not key or not key[0].isalpha() or any(":" in t for t in texts[:k]) or \
                texts[k].endswith("::") or any(s.words[i]["kind"] in ("code", "field", "button") for i in idxs[:k + 1]):
            continue
        out.append({"source": "key-colon", "label_idxs": idxs[:k + 1], "value_idxs": idxs[k + 1:],
                    "layout": "right"})
    return out


def field_queries(s: Screen, rng: random.Random) -> list[dict]:
    cands = []
    raw = []
    for p in s.pairs:
        if s.mobile and p["from_control"]:
            continue        # control text is not labelled on phones (autosizing)
        li, vi = s.idxs(p["label_seqs"]), s.idxs(p["value_seqs"])
        if li is None or vi is None:
            continue
        raw.append({"source": p["source"], "label_idxs": li, "value_idxs": vi, "hint": p["layout_hint"]})
    raw += _key_colon_pairs(s)
    for p in raw:
        li, vi = p["label_idxs"], p["value_idxs"]
        if set(li) & set(vi) or len(vi) > MAX_VALUE_WORDS or len(li) > MAX_KEY_WORDS:
            continue
        label = _strip_colon(s.text(li))
        value = s.text(vi)
        if not label or not any(c.isalnum() for c in label) or not any(c.isalnum() for c in value):
            continue
        if "://" in label or len(label.split()) > 6:
            continue
        if not s.unique(label) or s.g.normalise(label) == s.g.normalise(value):
            continue
        lb, vb = s.tbox(li), s.tbox(vi)
        if p.get("layout"):
            layout = p["layout"]
        elif p.get("hint"):
            layout = p["hint"]
        elif vb[0] >= lb[2] - 2 and _overlap(lb[1], lb[3], vb[1], vb[3]) > 0:
            layout = "right"
        elif vb[1] >= lb[3] - 2:
            layout = "below"
        else:
            continue
        if layout == "cell-right" and not vb[0] >= lb[2] - 2:
            continue
        if layout == "cell-below" and not vb[1] >= lb[3] - 2:
            continue
        cands.append({"type": "field", "query": None, "label": label, "label_xyxy": lb, "value": value,
                      "xyxy": vb, "value_type": value_type(value), "layout": layout, "source": p["source"]})
    chosen = _pick([dict(c, query=c["label"]) for c in cands], lambda c: c["source"], CAPS["field"], rng)
    off = rng.randrange(len(FIELD_TEMPLATES))
    for n, c in enumerate(chosen):
        c["query"] = FIELD_TEMPLATES[(off + n) % len(FIELD_TEMPLATES)].format(x=c["label"])
    return chosen


# ------------------------------------------------------------------------------------------------
# control
# ------------------------------------------------------------------------------------------------
def _control_label(s: Screen, el: dict) -> tuple[list[int], str] | None:
    """(label word indices, by) naming an element: its text for buttons/links/tabs, the
    <label> (or row-header <th>) of a form control, else a text field's placeholder."""
    k = el["kind"]
    if k in ("button", "link", "tab"):
        li = s.idxs(el["seqs"])
        return (li, "text") if li else None
    if el.get("label_seqs"):
        li = s.idxs(el["label_seqs"])
        return (li, "label") if li else None
    if k == "field" and el.get("placeholder"):
        li = s.idxs(el["seqs"])
        return (li, "placeholder") if li else None
    return None


def control_queries(s: Screen, rng: random.Random) -> list[dict]:
    cands = []
    for el in s.elements:
        k = el["kind"]
        if k == "heading" or el["state"] != "ok":
            continue
        lab = _control_label(s, el)
        if lab is None:
            continue
        li, by = lab
        if s.mobile and by == "placeholder":
            continue
        box = s.ebox(el["box"])
        if box is None:
            continue
        label = _strip_colon(s.text(li))
        if not label or not any(c.isalnum() for c in label) or not s.unique(label):
            continue
        if k == "link" and (not 1 <= len(label.split()) <= MAX_LINK_WORDS or not _clean(label)):
            continue
        if len(label.split()) > 8:
            continue
        cands.append({"type": "control", "query": None, "control": k, "label": label,
                      "label_xyxy": s.tbox(li), "xyxy": box, "by": by})
    for c in cands:
        c["query"] = c["label"]
    chosen = _pick(cands, lambda c: c["control"], CAPS["control"], rng)
    for c in chosen:
        if c["control"] == "button" and rng.random() < 0.5:
            c["query"] = f"button {c['label']}"
        else:
            c["query"] = f"the {c['label']} {CONTROL_NOUN[c['control']]}"
    return chosen


# ------------------------------------------------------------------------------------------------
# relation
# ------------------------------------------------------------------------------------------------
def _anchor_units(s: Screen) -> list[dict]:
    """Unique, fully visible short texts: headings, buttons, links, labels (the labels of the
    label -> value pairs and form controls) and whole lines of at most 4 words."""
    units, seen = [], set()

    def add(idxs, kind):
        if not idxs or len(idxs) > 6:
            return
        key = tuple(idxs)
        if key in seen:
            return
        t = _strip_colon(s.text(idxs))
        if not _clean(t) or not s.unique(t) or any(s.words[i]["kind"] == "code" for i in idxs):
            return
        seen.add(key)
        units.append({"text": t, "xyxy": s.tbox(idxs), "idxs": idxs, "kind": kind})

    for el in s.elements:
        if el["kind"] in ("heading", "button", "link", "tab"):
            add(s.idxs(el["seqs"]), el["kind"])
        if el.get("label_seqs"):
            add(s.idxs(el["label_seqs"]), "label")
    for p in s.pairs:
        add(s.idxs(p["label_seqs"]), "label")
    for ln in s.lines:
        # a short text standing alone: the whole of its text block
        blk = s.words[ln["words"][0]].get("block")
        if len(ln["words"]) <= 4 and ln["kind"] != "code" and s.block_size.get(blk) == len(ln["words"]):
            add(ln["words"], "text")
    return units


def _clean(text: str) -> bool:
    """A readable short text: 3+ letters, starts with a letter/digit, ends with one or ')'."""
    return (sum(ch.isalpha() for ch in text) >= 3 and text[:1].isalnum()
            and (text[-1:].isalnum() or text[-1:] == ")"))


def _line_complete(s: Screen, ln: dict) -> bool:
    """No partly visible word of the line's block shares the line's row (the line is whole)."""
    blk = s.words[ln["words"][0]].get("block")
    y0, y1 = ln["xyxy"][1], ln["xyxy"][3]
    return not any(y0 <= cy <= y1 for cy in s.hidden_cy.get(blk, ()))


def _relation_things(s: Screen) -> list[dict]:
    """Everything of a kind a relation query may ask for, visible or partly visible (the partly
    visible ones only count against ambiguity): controls and links (element boxes) and text
    lines (line boxes; partly visible words as their own boxes)."""
    things = []
    for n, el in enumerate(s.elements):
        if el["kind"] in ("heading", "tab") or el["state"] == "out" or not s.on_screen(el["box"]):
            continue
        things.append({"kind": el["kind"], "box": el["box"], "target": s.element_target(el), "el": n})
    for ln in s.lines:
        if ln["kind"] in ("link", "button", "field"):
            continue
        ok = (_line_complete(s, ln) and len(ln["words"]) <= 12 and ln["kind"] != "code"
              and sum(ch.isalpha() for ch in ln["text"]) >= 3)
        things.append({"kind": "text", "box": ln["xyxy"], "el": None, "line_words": ln["words"],
                       "target": {"xyxy": ln["xyxy"], "text": ln["text"], "idxs": ln["words"]} if ok else None})
    for w in s.all_words:
        if w["seq"] not in s.seq2idx and w["kind"] not in ("link", "button", "field") and s.on_screen(w["box"]):
            things.append({"kind": "text", "box": w["box"], "el": None, "target": None})
    return things


MAX_ANCHORS = 40             # relation anchors tried per screenshot (drawn by the seeded RNG)
RELATION_KINDS = ("button", "link", "field", "menu", "checkbox", "radio", "text")


def relation_queries(s: Screen, rng: random.Random) -> list[dict]:
    units = _anchor_units(s)
    things = _relation_things(s)
    by_kind: dict[str, list[dict]] = {}
    for t in things:
        by_kind.setdefault(t["kind"], []).append(t)
    anchors = list(units)
    rng.shuffle(anchors)
    cands = []
    for a in anchors[:MAX_ANCHORS]:
        ab = a["xyxy"]
        aset = set(a["idxs"])
        for kind in RELATION_KINDS:
            near = []
            for t in by_kind.get(kind, ()):
                if _intersects(t["box"], ab):
                    continue
                if t.get("line_words") and aset & set(t["line_words"]):
                    continue
                if t["target"] and t["target"]["idxs"] and aset & set(t["target"]["idxs"]):
                    continue
                near.append((_dist(ab, t["box"]), t))
            near.sort(key=lambda x: x[0])
            for rel in ("below", "above", "right_of", "left_of", "next_to"):
                pool = [x for x in near if _direction_ok(rel, ab, x[1]["box"])][:2]
                if not pool:
                    continue
                d1, best = pool[0]
                if best["target"] is None or d1 <= 0:
                    continue
                if len(pool) > 1 and pool[1][0] < AMBIG_RATIO * d1:
                    continue
                tgt = best["target"]
                phrase = rel.replace("_", " ")
                cands.append({"type": "relation", "query": f"the {CONTROL_NOUN[kind]} {phrase} {a['text']}",
                              "relation": rel, "anchor": a["text"], "anchor_xyxy": ab,
                              "control": None if kind == "text" else kind,
                              "target_text": tgt["text"], "xyxy": tgt["xyxy"]})
    chosen = _pick(cands, lambda c: (c["relation"], c["control"] or "text"), CAPS["relation"] - MAX_NEAR, rng)
    # "the X near Y": X unique anyway; Y the nearest other anchor unit
    near = []
    named = [u for u in units if u["kind"] != "text"]
    for x in named:
        others = [(_dist(x["xyxy"], y["xyxy"]), y) for y in named
                  if y is not x and not set(y["idxs"]) & set(x["idxs"]) and not _intersects(x["xyxy"], y["xyxy"])]
        if not others:
            continue
        d, y = min(others, key=lambda o: o[0])
        if d > 0.25 * max(s.W, s.H):
            continue
        near.append({"type": "relation", "query": f"the {x['text']} near {y['text']}", "relation": "near",
                     "anchor": y["text"], "anchor_xyxy": y["xyxy"], "control": None,
                     "target_text": x["text"], "xyxy": x["xyxy"]})
    chosen += _pick(near, lambda c: 0, MAX_NEAR, rng)
    return chosen


# ------------------------------------------------------------------------------------------------
# ordinal
# ------------------------------------------------------------------------------------------------
ORDINAL_KINDS = ("link", "button", "field", "menu", "checkbox", "radio")


def ordinal_queries(s: Screen, rng: random.Random) -> list[dict]:
    cands = []
    els = s.elements
    # anchored: "the n-th K under X" (the section of heading X, DOM order)
    for hi, h in enumerate(els):
        if h["kind"] != "heading" or h["state"] != "ok":
            continue
        hidx = s.idxs(h["seqs"])
        if not hidx:
            continue
        htext = _strip_colon(s.text(hidx))
        if not htext or not s.unique(htext) or len(htext.split()) > 8:
            continue
        end = next((j for j in range(hi + 1, len(els)) if els[j]["kind"] == "heading"
                    and els[j]["level"] <= h["level"]), len(els))
        section = [e for e in els[hi + 1:end] if not e.get("in_heading")]
        for kind in ORDINAL_KINDS:
            members = [e for e in section if e["kind"] == kind]
            if not members:
                continue
            tg = [s.element_target(e) for e in members]
            for n in (1, 2, 3, -1):
                if n == -1:
                    if len(members) < 2 or any(t is None for t in tg):
                        continue
                    t = tg[-1]
                else:
                    if len(members) < n or any(t is None for t in tg[:n]):
                        continue
                    t = tg[n - 1]
                cands.append({"type": "ordinal", "query": f"the {ORDINAL_WORDS[n]} {CONTROL_NOUN[kind]} under {htext}",
                              "ordinal": n, "anchor": htext, "control": kind,
                              "xyxy": t["xyxy"], "target_text": t["text"]})
    # un-anchored: the n-th visible K on the screen in reading order
    for kind in ORDINAL_KINDS + ("heading",):
        members = [e for e in els if e["kind"] == kind and e["state"] != "out" and s.on_screen(e["box"])]
        if not 2 <= len(members) <= MAX_UNORDERED:
            continue
        tg = [s.element_target(e) for e in members]
        if any(t is None for t in tg):
            continue
        order = reading_order([t["xyxy"] for t in tg])
        for n in (1, 2, 3, -1):
            if n > len(members):
                continue
            t = tg[order[n - 1] if n > 0 else order[-1]]
            cands.append({"type": "ordinal", "query": f"the {ORDINAL_WORDS[n]} {CONTROL_NOUN[kind]}",
                          "ordinal": n, "anchor": None, "control": kind,
                          "xyxy": t["xyxy"], "target_text": t["text"]})
    return _pick(cands, lambda c: (c["anchor"] is None, c["control"]), CAPS["ordinal"], rng)


# ------------------------------------------------------------------------------------------------
# region
# ------------------------------------------------------------------------------------------------
def _occurrences(s: Screen, toks: list[str]) -> list[list[dict]]:
    """Every run of consecutive screen words (``dom.js`` seq order) whose normalised texts are
    ``toks``."""
    out = []
    n, k = len(s.all_words), len(toks)
    for i in range(n - k + 1):
        if s.norm_tokens[i:i + k] == toks and all(
                s.all_words[i + j + 1]["seq"] == s.all_words[i + j]["seq"] + 1 for j in range(k - 1)):
            out.append(s.all_words[i:i + k])
    return out


REGIONS = {
    "top-right": ("the {x} at the top right", "the {x} in the top-right corner"),
    "top-left": ("the {x} at the top left", "the {x} in the top-left corner"),
    "bottom-right": ("the {x} at the bottom right", "the {x} in the bottom-right corner"),
    "bottom-left": ("the {x} at the bottom left", "the {x} in the bottom-left corner"),
    "leftmost": ("the leftmost {x}",), "rightmost": ("the rightmost {x}",),
    "topmost": ("the topmost {x}",), "lowest": ("the lowest {x}",),
}


def _region_of(boxes: list[list[float]], W: float, H: float) -> list[tuple[str, int]]:
    """(region, index) pairs where box ``index`` is clearly the named one: extremes lead the
    runner-up by REGION_MARGIN of the screen; a corner holds exactly one box (its centre inside
    the quadrant) and every other box's centre is at least REGION_MARGIN outside it."""
    out = []
    cxs = [_cx(b) for b in boxes]
    cys = [_cy(b) for b in boxes]
    n = len(boxes)
    for name, vals, lim, sign in (("leftmost", cxs, W, 1), ("rightmost", cxs, W, -1),
                                  ("topmost", cys, H, 1), ("lowest", cys, H, -1)):
        order = sorted(range(n), key=lambda i: sign * vals[i])
        if abs(vals[order[1]] - vals[order[0]]) >= REGION_MARGIN * lim:
            out.append((name, order[0]))
    m = REGION_MARGIN
    quads = {"top-left": (lambda x, y: x < W / 2 and y < H / 2, lambda x, y: x > W / 2 + m * W or y > H / 2 + m * H),
             "top-right": (lambda x, y: x > W / 2 and y < H / 2, lambda x, y: x < W / 2 - m * W or y > H / 2 + m * H),
             "bottom-left": (lambda x, y: x < W / 2 and y > H / 2, lambda x, y: x > W / 2 + m * W or y < H / 2 - m * H),
             "bottom-right": (lambda x, y: x > W / 2 and y > H / 2, lambda x, y: x < W / 2 - m * W or y < H / 2 - m * H)}
    for name, (inside, far) in quads.items():
        ins = [i for i in range(n) if inside(cxs[i], cys[i])]
        if len(ins) == 1 and all(far(cxs[j], cys[j]) for j in range(n) if j != ins[0]):
            out.append((name, ins[0]))
    return out


def region_queries(s: Screen, rng: random.Random) -> list[dict]:
    cands = []
    phrases: dict[tuple, str] = {}
    for el in s.elements:
        if el["kind"] in ("heading", "button", "link", "tab"):
            ws = [w for w in (s.all_words[q] for q in el["seqs"])] if el["seqs"] else []
            if 1 <= len(ws) <= 3:
                toks = tuple(s.norm_tokens[w["seq"]] for w in ws)
                phrases.setdefault(toks, " ".join(w["text"] for w in ws))
    for ln in s.lines:
        if 1 <= len(ln["words"]) <= 3 and ln["kind"] != "code":
            toks = tuple(s.g.normalise(s.words[i]["text"]) for i in ln["words"])
            phrases.setdefault(toks, ln["text"])
    for toks, disp in sorted(phrases.items()):
        if not all(toks) or len("".join(toks)) < 3 or not _clean(disp):
            continue
        occ = _occurrences(s, list(toks))
        if not 2 <= len(occ) <= 5 or s.g.count_occurrences(s.screen_text, "".join(toks)) != len(occ):
            continue
        boxes = []
        for ws in occ:
            idxs = s.idxs([w["seq"] for w in ws])
            if idxs is None or len({s.words[i]["line"] for i in idxs}) != 1:
                boxes = None
                break
            if any(s.words[i]["kind"] == "code" for i in idxs):
                boxes = None
                break
            boxes.append((s.tbox(idxs), s.text(idxs)))
        if not boxes:
            continue
        for region, i in _region_of([b for b, _ in boxes], s.W, s.H):
            cands.append({"type": "region", "query": None, "region": region, "target_text": boxes[i][1],
                          "xyxy": boxes[i][0], "_tpl": REGIONS[region]})
    for c in cands:
        c["query"] = c["_tpl"][0].format(x=c["target_text"])
    chosen = _pick(cands, lambda c: s.g.normalise(c["target_text"]), CAPS["region"], rng, per_key=2)
    for c in chosen:
        tpl = c.pop("_tpl")
        c["query"] = tpl[rng.randrange(len(tpl))].format(x=c["target_text"])
    return chosen


# ------------------------------------------------------------------------------------------------
# paraphrase
# ------------------------------------------------------------------------------------------------
def _tok(text: str) -> str:
    return _gen()._strip_punct(text).casefold()


def _recase(src: list[str], repl: str) -> str:
    """``repl`` in the letter case of the words it replaces (UPPER, Title Case, Capitalised, lower)."""
    ws = [_gen()._strip_punct(t) for t in src]
    ws = [w for w in ws if w] or [""]
    if ws[0].isupper() and len(ws[0]) > 1:
        return repl.upper()
    if all(w[:1].isupper() for w in ws):
        return " ".join(w[:1].upper() + w[1:] for w in repl.split())
    return repl


def paraphrase_queries(s: Screen, groups: list[list[str]], rng: random.Random) -> list[dict]:
    g = s.g
    cands = []
    screen_toks = [_tok(w["text"]) for w in s.all_words]
    counts: dict[tuple, int] = {}

    def count(mt: tuple) -> int:
        if mt not in counts:
            k = len(mt)
            counts[mt] = sum(1 for i in range(len(screen_toks) - k + 1)
                             if screen_toks[i] == mt[0] and tuple(screen_toks[i:i + k]) == mt)
        return counts[mt]
    for el in s.elements:
        kind = el["kind"]
        if kind not in ("button", "link", "heading"):
            continue
        t = s.element_target(el)
        if t is None or not t["idxs"]:
            continue
        ws = [s.words[i]["text"] for i in t["idxs"]]
        if not 1 <= len(ws) <= 4:
            continue
        label = s.text(t["idxs"])
        if not s.unique(label):
            continue
        toks = [_tok(w) for w in ws]
        for group in groups:
            for member in group:
                mt = member.split()
                starts = [i for i in range(len(toks) - len(mt) + 1) if toks[i:i + len(mt)] == mt]
                if len(starts) != 1:
                    continue
                # the group's words occur on the screen only here (word level, every word)
                if sum(count(tuple(m2.split())) for m2 in group) != 1:
                    continue
                syns = [m for m in group if m != member and g.normalise(m) not in s.fulltext_norm]
                if not syns:
                    continue
                i0 = starts[0]
                for syn in syns:
                    new_words = ws[:i0] + [_recase(ws[i0:i0 + len(mt)], syn)] + ws[i0 + len(mt):]
                    new = " ".join(_gen()._strip_punct(w) if j in (0, len(new_words) - 1) else w
                                   for j, w in enumerate(new_words))
                    if g.normalise(new) in s.fulltext_norm:
                        continue
                    noun = CONTROL_NOUN[kind]
                    cands.append({"type": "paraphrase", "query": f"the {new} {noun}", "target_text": label,
                                  "control": kind if kind != "heading" else None,
                                  "xyxy": t["xyxy"] if kind != "heading" else s.tbox(t["idxs"]),
                                  "replaced": [" ".join(ws[i0:i0 + len(mt)]), syn]})
    return _pick(cands, lambda c: c["target_text"], CAPS["paraphrase"], rng, per_key=1)


def paraphrase_absent_queries(s: Screen, groups: list[list[str]], rng: random.Random) -> list[dict]:
    g = s.g
    cands = []
    for group in groups:
        if all(g.normalise(m) not in s.fulltext_norm for m in group):
            cands.append({"type": "paraphrase_absent", "query": None, "meaning_of": list(group)})
    for c in cands:
        c["query"] = "|".join(c["meaning_of"])
    chosen = _pick(cands, lambda c: 0, CAPS["paraphrase_absent"], rng)
    tpls = ("the {m} button", "the {m} link", "{m}")
    for c in chosen:
        m = c["meaning_of"][rng.randrange(len(c["meaning_of"]))]
        c["query"] = tpls[rng.randrange(len(tpls))].format(m=m)
    return chosen


# ------------------------------------------------------------------------------------------------
def build_queries(ident: str, words: list[dict], all_words: list[dict], lines: list[dict], qdom: dict | None,
                  size: tuple[int, int], fulltext_norm: str, mobile: bool,
                  groups: list[list[str]] | None = None) -> list[dict]:
    """All query records of one screenshot (``words``: label words with ``seq``/``block``/``line``;
    ``all_words``: the dom.js words; ``qdom``: the queries.js result)."""
    if not qdom:
        return []
    g = _gen()
    s = Screen(ident, words, all_words, lines, qdom, size, fulltext_norm, mobile)
    groups = load_paraphrases() if groups is None else groups
    out = []
    for typ in TYPES:
        rng = random.Random(g.stable_hash(f"{ident}:{typ}"))
        if typ == "field":
            got = field_queries(s, rng)
        elif typ == "control":
            got = control_queries(s, rng)
        elif typ == "relation":
            got = relation_queries(s, rng)
        elif typ == "ordinal":
            got = ordinal_queries(s, rng)
        elif typ == "region":
            got = region_queries(s, rng)
        elif typ == "paraphrase":
            got = paraphrase_queries(s, groups, rng)
        else:
            got = paraphrase_absent_queries(s, groups, rng)
        out += got
    # one query text, one meaning: drop later duplicates
    seen, uniq = set(), []
    for q in out:
        if q["query"] not in seen:
            seen.add(q["query"])
            uniq.append(q)
    return uniq
