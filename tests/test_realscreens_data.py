"""The committed real-screen subset (export/groundlite_export/assets/realscreens), the real-photo labels
(tests/data/realphotos) and the pure helpers of benchmarks/realscreens/generate.py.

Nothing here needs Chromium except ``test_dom_js_in_chromium``, which is skipped when
/usr/bin/chromium or playwright is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import struct
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "export" / "groundlite_export" / "assets" / "realscreens"
PHOTOS = REPO / "tests" / "data" / "realphotos" / "labels.json"


def _load_generate():
    key = "_realscreens_generate"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, REPO / "benchmarks" / "realscreens" / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


G = _load_generate()
KINDS = set(G.KINDS)


@pytest.fixture(scope="module")
def labels() -> list[dict]:
    with open(DATA / "labels.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# ------------------------------------------------------------------------------------------------
# Format
# ------------------------------------------------------------------------------------------------
def _box(b, w=None, h=None) -> None:
    assert isinstance(b, list) and len(b) == 4, b
    assert all(isinstance(v, (int, float)) for v in b), b
    assert all(round(v, 1) == v for v in b), f"not rounded to 0.1: {b}"
    assert b[0] <= b[2] and b[1] <= b[3], b
    if w is not None:
        assert 0 <= b[0] and b[2] <= w and 0 <= b[1] and b[3] <= h, f"{b} outside {w}x{h}"


def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_labels_validate_against_the_format(labels) -> None:
    assert 10 <= len(labels) <= 14
    ids = [lab["id"] for lab in labels]
    assert len(set(ids)) == len(ids)
    for lab in labels:
        assert set(lab) >= {"id", "image", "width", "height", "split", "source", "screen", "dpr", "theme",
                            "scroll", "words", "lines", "present", "absent"}
        assert lab["image"] == f"images/{lab['id']}.png"
        assert lab["split"] in ("tune", "test")
        assert lab["source"]["kind"] in ("doc", "app")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/.*", lab["source"]["url"]), lab["source"]["url"]
        assert isinstance(lab["source"]["package"], str) and lab["source"]["package"]
        assert re.fullmatch(r"\d+x\d+|phone-\d+x\d+", lab["screen"])
        assert isinstance(lab["dpr"], float) and lab["dpr"] in (1.0, 1.5, 2.0, 3.0)
        assert lab["theme"] in ("light", "dark")
        assert isinstance(lab["scroll"], int) and lab["scroll"] >= 0
        assert lab["id"].endswith(f"-{lab['theme']}-s{lab['scroll']}")
        w, h = lab["width"], lab["height"]
        if lab["screen"].startswith("phone-"):
            cw, ch = map(int, lab["screen"][6:].split("x"))
            # Chromium may round a zoomed-out phone page's visual viewport down by a pixel or two
            assert abs(w - cw * lab["dpr"]) <= G.PHONE_PX_TOLERANCE
            assert abs(h - ch * lab["dpr"]) <= G.PHONE_PX_TOLERANCE
        else:
            assert lab["screen"] == f"{w}x{h}"
        assert lab["words"] and lab["lines"] and lab["present"] and lab["absent"]
        for wd in lab["words"]:
            assert set(wd) == {"text", "xyxy", "kind", "line"}
            assert wd["text"] and not re.search(r"\s", wd["text"])
            assert wd["kind"] in KINDS
            _box(wd["xyxy"], w, h)
            assert 0 <= wd["line"] < len(lab["lines"])
        for i, ln in enumerate(lab["lines"]):
            assert set(ln) == {"text", "xyxy", "kind", "words"}
            assert ln["kind"] in KINDS
            _box(ln["xyxy"], w, h)
            assert ln["text"] == " ".join(lab["words"][j]["text"] for j in ln["words"])
            assert all(lab["words"][j]["line"] == i for j in ln["words"])
        for p in lab["present"]:
            assert set(p) == {"phrase", "xyxy", "pieces", "kind", "n_words"}
            assert p["kind"] in KINDS and 1 <= p["n_words"] <= 4
            assert len(p["phrase"].split()) == p["n_words"]
            assert 1 <= len(p["pieces"]) <= 2
            for pc in p["pieces"]:
                _box(pc, w, h)
                assert p["xyxy"][0] <= pc[0] and pc[2] <= p["xyxy"][2]
                assert p["xyxy"][1] <= pc[1] and pc[3] <= p["xyxy"][3]
            assert len(G.normalise(p["phrase"])) >= G.MIN_NORM_CHARS
        assert 1 <= len(lab["present"]) <= G.MAX_PRESENT
        assert all(isinstance(a, str) and a for a in lab["absent"]) and len(lab["absent"]) <= G.N_ABSENT


def test_every_present_box_lies_inside_its_image(labels) -> None:
    for lab in labels:
        for p in lab["present"]:
            _box(p["xyxy"], lab["width"], lab["height"])
            assert p["xyxy"][2] - p["xyxy"][0] > 1 and p["xyxy"][3] - p["xyxy"][1] > 1


def test_present_phrases_are_made_of_label_words_and_unambiguous(labels) -> None:
    for lab in labels:
        words = lab["words"]
        hay = "".join(G.normalise(w["text"]) for w in words)
        for p in lab["present"]:
            nm = G.normalise(p["phrase"])
            assert G.count_occurrences(hay, nm) == 1, (lab["id"], p["phrase"])
            # the phrase is n consecutive label words whose union box is the phrase box
            toks = p["phrase"].split()
            starts = [i for i in range(len(words) - len(toks) + 1)
                      if [w["text"] for w in words[i:i + len(toks)]] == toks]
            assert starts, (lab["id"], p["phrase"])
            ok = False
            for i in starts:
                ws = words[i:i + len(toks)]
                if G._r1(G._union(w["xyxy"] for w in ws)) == p["xyxy"] and \
                        all(w["kind"] == p["kind"] for w in ws):
                    ok = len({w["line"] for w in ws}) == len(p["pieces"])
            assert ok, (lab["id"], p["phrase"])


def test_absent_phrases_do_not_occur_in_the_label_words(labels) -> None:
    for lab in labels:
        hay = "".join(G.normalise(w["text"]) for w in lab["words"])
        present = {G.normalise(p["phrase"]) for p in lab["present"]}
        for a in lab["absent"]:
            nm = G.normalise(a)
            assert len(nm) >= 4 and nm not in hay and nm not in present, (lab["id"], a)


def test_images_exist_with_the_stated_size(labels) -> None:
    total = 0
    for lab in labels:
        path = DATA / lab["image"]
        assert path.is_file(), path
        assert _png_size(path) == (lab["width"], lab["height"]), path
        total += path.stat().st_size
    assert total <= 6 * 1024 * 1024, f"committed subset is {total / 1e6:.1f} MB"
    on_disk = {p.name for p in (DATA / "images").iterdir()}
    assert on_disk == {Path(lab["image"]).name for lab in labels}, "stray or missing images"


def test_subset_covers_every_screen_class_theme_source_and_split(labels) -> None:
    classes = {f"{lab['screen']}-d{lab['dpr']:g}" for lab in labels}
    assert classes == {s.tag for s in G.SCREENS}
    assert {lab["theme"] for lab in labels} == {"light", "dark"}
    assert {lab["source"]["kind"] for lab in labels} == {"doc", "app"}
    assert {lab["split"] for lab in labels} == {"tune", "test"}
    kinds = {p["kind"] for lab in labels for p in lab["present"]}
    assert kinds >= {"prose", "heading", "link", "code", "button"}


def test_splits_follow_the_page_hash_and_never_share_a_page(labels) -> None:
    pages = {p.key: p for p in G.PAGES}
    split_of_page: dict[str, str] = {}
    for lab in labels:
        page = pages[lab["source"]["page"]]
        assert lab["split"] == G.split_of(page.ident)
        assert split_of_page.setdefault(page.key, lab["split"]) == lab["split"]


def test_meta_names_the_generator_and_chromium() -> None:
    meta = json.loads((DATA / "meta.json").read_text(encoding="utf-8"))
    assert meta["generator_version"] == G.GENERATOR_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", meta["chromium_version"])
    assert meta["subset"] is True


# ------------------------------------------------------------------------------------------------
# Pure helpers on hand-made inputs
# ------------------------------------------------------------------------------------------------
def test_normalise_drops_spaces_and_punctuation_keeps_symbols() -> None:
    assert G.normalise("Object  Persistence!") == "objectpersistence"
    assert G.normalise("os.path.join()") == "ospathjoin"
    assert G.normalise("Ｆｕｌｌ-width Café") == "fullwidthcafe"   # NFKD + casefold, accents dropped
    assert G.normalise("x² ≤ 3 + $5") == "x2≤3+$5"                 # symbols (Sm, Sc) are kept
    assert G.normalise("STRASSE") == G.normalise("straße")
    assert G.normalise(" — , . ") == ""


def test_split_is_deterministic_and_about_40_60() -> None:
    assert G.split_of("python3-doc:/doc/x.html") == G.split_of("python3-doc:/doc/x.html")
    tune = sum(G.split_of(f"pkg:/page{i}.html") == "tune" for i in range(2000))
    assert 0.35 < tune / 2000 < 0.45
    assert G.split_of("anything", tune_percent=0) == "test"
    assert G.split_of("anything", tune_percent=100) == "tune"


def _w(text, x0, y0, x1, y1, kind="prose", block=0, seq=None, piece=False):
    d = {"text": text, "xyxy": [x0, y0, x1, y1], "kind": kind, "block": block, "piece": piece}
    if seq is not None:
        d["seq"] = seq
    return d


def _toy_words():
    # block 0: "Object persistence" / "module really end." (wraps after "persistence");
    # block 1: a heading "Module" (so "module" alone is ambiguous); block 2: "see" + link "shelve".
    return [
        _w("Object", 10, 10, 60, 22, seq=0), _w("persistence", 65, 10, 150, 22, seq=1),
        _w("module", 10, 26, 60, 38, seq=2), _w("really", 65, 26, 110, 38, seq=3),
        _w("end.", 115, 26, 140, 38, seq=4),
        _w("Module", 10, 50, 80, 70, kind="heading", block=1, seq=5),
        _w("see", 10, 80, 35, 92, block=2, seq=6), _w("shelve", 40, 80, 90, 92, kind="link", block=2, seq=7),
    ]


def test_build_lines_groups_words_sharing_a_baseline_per_block() -> None:
    ws = _toy_words()
    lines = G.build_lines(ws)
    assert [ln["text"] for ln in lines] == ["Object persistence", "module really end.", "Module", "see shelve"]
    assert [w["line"] for w in ws] == [0, 0, 1, 1, 1, 2, 3, 3]
    assert lines[0]["xyxy"] == [10, 10, 150, 22]
    assert lines[2]["kind"] == "heading"
    assert lines[3]["kind"] == "prose"          # tie prose/link: the first kind seen


def test_build_lines_starts_a_new_line_on_a_wrap_or_a_new_block() -> None:
    ws = [_w("a", 100, 10, 110, 20), _w("b", 10, 10, 20, 20),           # same y, but goes back left
          _w("c", 30, 10, 40, 20, block=5)]                              # same y, other block
    G.build_lines(ws)
    assert [w["line"] for w in ws] == [0, 1, 2]


def test_phrase_candidates_follow_the_documented_rules() -> None:
    ws = _toy_words()
    G.build_lines(ws)
    hay = "".join(G.normalise(w["text"]) for w in ws)
    cands = {c["phrase"]: c for c in G.phrase_candidates(ws, hay)}
    assert cands["Object persistence"]["pieces"] == [[10, 10, 150, 22]]
    assert cands["Object persistence"]["n_words"] == 2 and cands["Object persistence"]["kind"] == "prose"
    # wraps onto the next line: one piece per line, union box
    wrap = cands["persistence module"]
    assert wrap["pieces"] == [[65, 10, 150, 22], [10, 26, 60, 38]] and wrap["xyxy"] == [10, 10, 150, 38]
    assert "Object persistence module really" in cands                 # 4 words, 2 lines
    # "module" occurs twice on screen (normalised): not a candidate on its own
    assert "module" not in cands and "Module" not in cands
    # a phrase must start and end with a letter/digit: "end." and "... end." are not phrases
    assert not any(c.endswith(".") for c in cands)
    # kinds and blocks never mix inside a phrase
    assert "see shelve" not in cands and cands["shelve"]["kind"] == "link" and "really Module" not in cands
    assert "see" in cands                                              # 3 letters are enough
    ws2 = [_w("to", 0, 0, 10, 10, seq=0)]
    G.build_lines(ws2)
    assert G.phrase_candidates(ws2, "to") == []                        # 2 < MIN_NORM_CHARS


def test_code_phrases_never_cross_a_line() -> None:
    ws = [_w("git", 0, 0, 30, 10, kind="code", seq=0), _w("log", 0, 14, 30, 24, kind="code", seq=1)]
    G.build_lines(ws)
    assert {c["phrase"] for c in G.phrase_candidates(ws, "gitlog")} == {"git", "log"}


def test_phrase_candidates_skip_gaps_and_word_pieces() -> None:
    ws = [_w("alpha", 0, 0, 40, 10, seq=0), _w("beta", 45, 0, 80, 10, seq=2),   # a hidden word between
          _w("gam", 85, 0, 100, 10, seq=3, piece=True)]
    G.build_lines(ws)
    phrases = {c["phrase"] for c in G.phrase_candidates(ws, "alphabetagam")}
    assert phrases == {"alpha", "beta"}


def test_select_present_is_deterministic_mixes_kinds_and_never_overlaps() -> None:
    ws = _toy_words()
    G.build_lines(ws)
    hay = "".join(G.normalise(w["text"]) for w in ws)
    cands = G.phrase_candidates(ws, hay)
    a = G.select_present([dict(c) for c in cands], random.Random(7), k=3)
    b = G.select_present([dict(c) for c in cands], random.Random(7), k=3)
    assert a == b and len(a) == 3
    assert len({p["kind"] for p in a}) >= 2
    norms = [G.normalise(p["phrase"]) for p in a]
    assert not any(x != y and x in y for x in norms for y in norms)
    assert all(not k.startswith("_") for p in a for k in p)


def test_pool_and_absent_phrases() -> None:
    text = "The quick brown fox\njumps over (the lazy dog)\nsubstr(X,Y) returns"
    pool = G.pool_phrases(text, random.Random(1), n=50)
    assert pool == G.pool_phrases(text, random.Random(1), n=50)
    for p in pool:
        assert p[0].isalnum() and p[-1].isalnum() and len(G.normalise(p)) >= 4
        assert "(" not in p and "," not in p
    pools = {"a": ["buffer protocol", "shelve"], "b": ["printer class", "shelve module"], "own": ["my words"]}
    got = G.select_absent(pools, "own", G.normalise("the shelve module page"), random.Random(3), n=5)
    assert set(got) == {"buffer protocol", "printer class"}   # "shelve" occurs in this page's text


def test_jobs_cover_every_class_with_the_documented_minimums() -> None:
    jobs = G.build_jobs()
    assert jobs == G.build_jobs()
    assert 150 <= len(jobs) <= 250
    per_class: dict[str, int] = {}
    for j in jobs:
        per_class[j.screen.tag] = per_class.get(j.screen.tag, 0) + 1
    assert set(per_class) == {s.tag for s in G.SCREENS} and min(per_class.values()) >= 10
    assert sum(j.screen.mobile for j in jobs) >= 10
    assert sum(j.theme == "dark" for j in jobs) >= 30
    assert sum(j.page.kind == "app" for j in jobs) >= 30
    sub = G.subset_jobs(jobs)
    assert {j.screen.tag for j in sub} == {s.tag for s in G.SCREENS} and 10 <= len(sub) <= 14
    splits = {G.split_of(p.ident) for p in G.PAGES}
    assert splits == {"tune", "test"}
    tune = sum(G.split_of(p.ident) == "tune" for p in G.PAGES) / len(G.PAGES)
    assert 0.25 < tune < 0.55
    for s in G.SCREENS:
        assert s.px == (round(s.css_w * s.dpr), round(s.css_h * s.dpr))
        if not s.mobile:
            assert s.screen == f"{s.px[0]}x{s.px[1]}"


# ------------------------------------------------------------------------------------------------
# Real photos
# ------------------------------------------------------------------------------------------------
def _package_file(ref: str) -> Path | None:
    pkg, rel = ref.split(":", 1)
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / rel


def test_realphoto_labels() -> None:
    data = json.loads(PHOTOS.read_text(encoding="utf-8"))
    assert data["photos"]
    for photo in data["photos"]:
        assert re.fullmatch(r"[a-z_]+:[\w./-]+", photo["image"])
        assert 2 <= len(photo["present"]) <= 10 and photo["absent"]
        w, h = photo["width"], photo["height"]
        hay = {G.normalise(p["phrase"]) for p in photo["present"]}
        for p in photo["present"]:
            for b in p.get("all_xyxy", [p["xyxy"]]):
                assert len(b) == 4 and 0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h, (photo["image"], p)
            assert p["xyxy"] in p.get("all_xyxy", [p["xyxy"]])
        for a in photo["absent"]:
            assert G.normalise(a) not in hay
        path = _package_file(photo["image"])
        if path is not None and path.exists():
            from PIL import Image

            with Image.open(path) as im:
                assert im.size == (w, h)


# ------------------------------------------------------------------------------------------------
# dom.js in a real Chromium (skipped without one)
# ------------------------------------------------------------------------------------------------
_TOY_HTML = """<!doctype html><html><head><style>
body{margin:0;font:16px/20px sans-serif} h1{margin:0;font-size:32px;line-height:40px}
#narrow{width:60px} .gone{display:none} .ghost{visibility:hidden} .clip{width:30px;overflow:hidden;white-space:nowrap}
</style></head><body>
<h1>Grounding heading</h1>
<p>Plain <a href="#x">linked</a> words and <code>code_word</code> end.</p>
<p class="gone">invisible_display</p><p class="ghost">invisible_visibility</p>
<div class="clip">clipped_wordxxxxxxxxxxxx</div>
<label for="q">Query</label> <input id="q" placeholder="type here"> <input type="submit" value="Send now">
<p style="position:absolute;top:5000px">far_below</p>
</body></html>"""


@pytest.mark.skipif(not os.access(G.CHROMIUM, os.X_OK) or importlib.util.find_spec("playwright") is None,
                    reason="needs /usr/bin/chromium and playwright")
def test_dom_js_in_chromium() -> None:
    from playwright.sync_api import sync_playwright

    js = (REPO / "benchmarks" / "realscreens" / "dom.js").read_text(encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=G.CHROMIUM, args=G.CHROMIUM_ARGS)
        try:
            out = {}
            for dpr in (1, 2):
                ctx = browser.new_context(viewport={"width": 400, "height": 300}, device_scale_factor=dpr)
                page = ctx.new_page()
                page.set_content(_TOY_HTML)
                out[dpr] = page.evaluate(js)
                ctx.close()
        finally:
            browser.close()
    ok = {w["text"]: w for w in out[1]["words"] if w["state"] == "ok"}
    assert ok["Grounding"]["kind"] == "heading" and ok["linked"]["kind"] == "link"
    assert ok["code_word"]["kind"] == "code" and ok["Query"]["kind"] == "label"
    assert ok["Plain"]["kind"] == "prose"
    assert ok["type"]["kind"] == "field" and ok["here"]["kind"] == "field"
    assert ok["Send"]["kind"] == "button" and ok["now"]["kind"] == "button"
    texts = {w["text"] for w in out[1]["words"]}
    assert not texts & {"invisible_display", "invisible_visibility", "far_below"}
    assert "clipped_wordxxxxxxxxxxxx" not in ok                  # cut by overflow: partial only
    assert "invisible_display" in out[1]["fulltext"]             # but the whole-DOM text has it
    h = ok["Grounding"]["box"]
    assert h[0] == pytest.approx(0, abs=1) and h[1] == pytest.approx(0, abs=4) and h[3] <= 41
    ok2 = {w["text"]: w for w in out[2]["words"] if w["state"] == "ok"}
    for t in ("Grounding", "linked", "code_word", "Send"):
        # device-pixel snapping of font metrics moves lines by a pixel or two at DPR 2
        assert ok2[t]["box"] == pytest.approx([2 * v for v in ok[t]["box"]], abs=4.0), t


# ------------------------------------------------------------------------------------------------
# Queries (language layer): format, boxes, consistency with the words; queries.py on toy input
# ------------------------------------------------------------------------------------------------
def _load_queries():
    key = "_realscreens_queries"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, REPO / "benchmarks" / "realscreens" / "queries.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


Q = _load_queries()
_QKEYS = {
    "field": {"type", "query", "label", "label_xyxy", "value", "xyxy", "value_type", "layout", "source"},
    "control": {"type", "query", "control", "label", "label_xyxy", "xyxy", "by"},
    "relation": {"type", "query", "relation", "anchor", "anchor_xyxy", "control", "target_text", "xyxy"},
    "ordinal": {"type", "query", "ordinal", "anchor", "control", "xyxy", "target_text"},
    "region": {"type", "query", "region", "target_text", "xyxy"},
    "paraphrase": {"type", "query", "target_text", "control", "xyxy", "replaced"},
    "paraphrase_absent": {"type", "query", "meaning_of"},
}
_CONTROLS = {"button", "link", "field", "checkbox", "radio", "menu", "tab"}


def _run_with(words, text, box, strip_colon=False):
    """Is ``text`` (trailing ':' dropped when ``strip_colon``) some run of consecutive label words
    whose union box is ``box``?"""
    for i in range(len(words)):
        for k in range(1, 13):
            ws = words[i:i + k]
            if len(ws) < k:
                break
            t = " ".join(w["text"] for w in ws)
            if strip_colon:
                t = re.sub(r"\s*:+$", "", t).strip()
            if t == text and G._r1(G._union(w["xyxy"] for w in ws)) == box:
                return True
    return False


def test_queries_validate_against_the_format(labels) -> None:
    groups = Q.load_paraphrases()
    total: dict[str, int] = {}
    for lab in labels:
        w, h = lab["width"], lab["height"]
        qs = lab["queries"]
        assert isinstance(qs, list)
        assert len({q["query"] for q in qs}) == len(qs), lab["id"]
        per: dict[str, int] = {}
        for q in qs:
            t = q["type"]
            assert t in _QKEYS and set(q) == _QKEYS[t], (lab["id"], q)
            assert isinstance(q["query"], str) and q["query"].strip()
            per[t] = per.get(t, 0) + 1
            for k in ("xyxy", "label_xyxy", "anchor_xyxy"):
                if k in q:
                    _box(q[k], w, h)
                    assert q[k][2] - q[k][0] > 1 and q[k][3] - q[k][1] > 1, (lab["id"], q)
            if t == "field":
                assert q["value_type"] in ("money", "date", "number", "percent", "email", "phone", "identifier", "text")
                assert q["value_type"] == Q.value_type(q["value"])
                assert q["layout"] in ("right", "below", "cell-right", "cell-below")
                assert q["source"] in ("dt-dd", "th-td", "label-input", "key-colon")
                assert q["query"] in [tp.format(x=q["label"]) for tp in Q.FIELD_TEMPLATES]
                assert 1 <= len(q["value"].split()) <= Q.MAX_VALUE_WORDS
            elif t == "control":
                assert q["control"] in _CONTROLS and q["by"] in ("text", "label", "placeholder")
                assert q["label"] in q["query"]
            elif t == "relation":
                assert q["relation"] in ("below", "above", "right_of", "left_of", "next_to", "near")
                assert q["control"] is None or q["control"] in _CONTROLS
                assert q["anchor"] in q["query"]
            elif t == "ordinal":
                assert q["ordinal"] in (1, 2, 3, 4, 5, -1) and q["control"] in _CONTROLS | {"heading"}
                assert Q.ORDINAL_WORDS[q["ordinal"]] in q["query"]
                assert q["anchor"] is None or q["query"].endswith(" under " + q["anchor"])
            elif t == "region":
                assert q["region"] in Q.REGIONS and q["target_text"] in q["query"]
            elif t == "paraphrase":
                assert q["control"] in (None, "button", "link")
                src, syn = q["replaced"]
                assert any(syn in g and src.casefold() in g for g in groups), q
            else:
                assert q["meaning_of"] in groups
        for t, n in per.items():
            assert n <= Q.CAPS[t], (lab["id"], t, n)
            total[t] = total.get(t, 0) + n
    # the committed subset exercises every type of query
    assert set(total) == set(_QKEYS), total


def test_query_texts_and_boxes_agree_with_the_words(labels) -> None:
    for lab in labels:
        words = lab["words"]
        hay = "".join(G.normalise(wd["text"]) for wd in words)
        for q in lab["queries"]:
            t = q["type"]
            if t in ("field", "control"):
                assert _run_with(words, q["label"], q["label_xyxy"], strip_colon=True), (lab["id"], q)
                # the label is unambiguous on the screen
                assert G.count_occurrences(hay, G.normalise(q["label"])) == 1, (lab["id"], q)
            if t == "field":
                assert _run_with(words, q["value"], q["xyxy"]), (lab["id"], q)
            if t == "relation":
                assert _run_with(words, q["anchor"], q["anchor_xyxy"], strip_colon=True), (lab["id"], q)
                assert G.count_occurrences(hay, G.normalise(q["anchor"])) == 1, (lab["id"], q)
                if q["control"] is None:     # a line (K = text) or, for "near", a named unit
                    assert _run_with(words, q["target_text"], q["xyxy"], strip_colon=q["relation"] == "near"), \
                        (lab["id"], q)
            if t == "ordinal" and q["anchor"] is not None:
                assert G.count_occurrences(hay, G.normalise(q["anchor"])) == 1, (lab["id"], q)
            if t == "region":
                assert _run_with(words, q["target_text"], q["xyxy"]), (lab["id"], q)
                assert 2 <= G.count_occurrences(hay, G.normalise(q["target_text"])) <= 5, (lab["id"], q)
            if t == "paraphrase":
                assert G.normalise(q["replaced"][1]) not in hay, (lab["id"], q)
                assert G.count_occurrences(hay, G.normalise(q["target_text"])) == 1, (lab["id"], q)
                if q["control"] is None:     # a heading: its text box
                    assert _run_with(words, q["target_text"], q["xyxy"]), (lab["id"], q)
            if t == "paraphrase_absent":
                assert not any(G.normalise(m) in hay for m in q["meaning_of"]), (lab["id"], q)
        # phones: no control text is labelled, so no query reads it
        if lab["screen"].startswith("phone-"):
            for q in lab["queries"]:
                assert not (q["type"] == "control" and q["by"] == "placeholder")
                assert not (q["type"] == "field" and q["source"] == "label-input")


def test_paraphrase_groups_are_disjoint_lowercase_and_30_to_60() -> None:
    groups = Q.load_paraphrases()
    assert 30 <= len(groups) <= 60
    members = [m for g in groups for m in g]
    assert len(members) == len(set(members)), "a phrase in two groups"
    assert all(m == m.casefold().strip() and m for m in members)
    assert all(len(g) >= 2 for g in groups)


def test_value_type_rules() -> None:
    vt = Q.value_type
    assert vt("$1,299.00") == "money" and vt("12 EUR") == "money"
    assert vt("45%") == "percent" and vt("2024-03-01") == "date" and vt("March 3, 2024") == "date"
    assert vt("ops@example.com") == "email" and vt("+1 555-010-9999") == "phone"
    assert vt("1,024") == "number" and vt("3.5") == "number" and vt("1000000") == "number"
    assert vt("Lib/shelve.py") == "identifier" and vt("Office_Laser") == "identifier"
    assert vt("file:///dev/null") == "identifier" and vt("Room 214") == "text" and vt("Idle") == "text"


def test_reading_order_and_region_rules() -> None:
    boxes = [[500, 10, 540, 30], [10, 12, 60, 28], [10, 100, 60, 120]]
    assert Q.reading_order(boxes) == [1, 0, 2]          # same row: left first; then the next row
    # two "Help" texts: top-left and bottom-right of a 1000x800 screen
    got = dict(Q._region_of([[10, 10, 60, 30], [900, 700, 950, 720]], 1000, 800))
    assert got["leftmost"] == 0 and got["rightmost"] == 1 and got["topmost"] == 0 and got["lowest"] == 1
    assert got["top-left"] == 0 and got["bottom-right"] == 1 and "top-right" not in got
    # not clearly apart (5 % of the width): no leftmost/rightmost
    got = dict(Q._region_of([[10, 10, 60, 30], [60, 700, 110, 720]], 1000, 800))
    assert "leftmost" not in got and "rightmost" not in got and got["topmost"] == 0


def _toy_screen():
    """A tiny form screen in the shape generate.make_label hands to queries.build_queries."""
    def w(text, box, kind="prose", block=0):
        return {"text": text, "box": box, "kind": kind, "block": block, "state": "ok", "piece": False}
    all_words = [
        w("Printer", [10, 10, 80, 30], "heading", 0), w("setup", [85, 10, 140, 30], "heading", 0),      # 0 1
        w("Location:", [10, 50, 90, 66], "table", 1), w("Room", [100, 50, 140, 66], "table", 2),         # 2 3
        w("214", [145, 50, 170, 66], "table", 2),                                                        # 4
        w("Source", [10, 80, 60, 96], "prose", 3), w("code:", [64, 80, 100, 96], "prose", 3),            # 5 6
        w("Lib/x.py", [104, 80, 170, 96], "link", 3),                                                    # 7
        w("Save", [20, 200, 60, 220], "button", 1000000), w("Delete", [120, 200, 170, 220], "button", 1000001),
        w("Help", [10, 300, 50, 316], "link", 4), w("Help", [900, 700, 940, 716], "link", 5),            # 10 11
    ]
    for i, x in enumerate(all_words):
        x["seq"] = i
    words = [{"text": x["text"], "xyxy": list(x["box"]), "kind": x["kind"], "block": x["block"],
              "seq": x["seq"], "piece": False} for x in all_words]
    lines = G.build_lines(words)

    def el(kind, box, seqs, **kw):
        return dict({"kind": kind, "box": box, "state": "ok", "seqs": seqs}, **kw)
    qdom = {"elements": [
        el("heading", [10, 10, 140, 30], [0, 1], level=1),
        el("link", [104, 80, 170, 96], [7]),
        el("button", [15, 195, 65, 225], [8]), el("button", [115, 195, 175, 225], [9]),
        el("link", [10, 300, 50, 316], [10]), el("link", [900, 700, 940, 716], [11]),
    ], "pairs": [
        {"source": "th-td", "layout_hint": "cell-right", "label_seqs": [2], "value_seqs": [3, 4],
         "label_box": [10, 50, 90, 66], "value_box": [100, 50, 170, 66], "from_control": False},
    ]}
    return words, all_words, lines, qdom


def test_build_queries_on_a_toy_screen_is_deterministic_and_grounded() -> None:
    words, all_words, lines, qdom = _toy_screen()
    groups = [["delete", "remove"], ["save", "store"], ["help", "manual"], ["sign in", "log in"]]
    args = ("toy-1000x800", words, all_words, lines, qdom, (1000, 800), G.normalise(" ".join(x["text"] for x in all_words)), False)
    a = Q.build_queries(*args, groups=groups)
    b = Q.build_queries(*args, groups=groups)
    assert a == b and a
    by = {}
    for q in a:
        by.setdefault(q["type"], []).append(q)
    fields = {q["source"]: q for q in by["field"]}
    assert fields["th-td"]["label"] == "Location" and fields["th-td"]["value"] == "Room 214"
    assert fields["th-td"]["xyxy"] == [100, 50, 170, 66] and fields["th-td"]["layout"] == "cell-right"
    assert fields["key-colon"]["label"] == "Source code" and fields["key-colon"]["value"] == "Lib/x.py"
    assert fields["key-colon"]["value_type"] == "identifier"
    controls = {q["label"]: q for q in by["control"]}
    assert controls["Save"]["xyxy"] == [15, 195, 65, 225] and controls["Save"]["control"] == "button"
    assert "Help" not in controls                        # "Help" occurs twice on the screen
    assert by["region"] and all(q["target_text"] == "Help" for q in by["region"])
    for q in by["region"]:      # the bottom-right "Help" or the one at the left
        far = q["region"] in ("rightmost", "lowest", "bottom-right")
        assert q["xyxy"] == ([900, 700, 940, 716] if far else [10, 300, 50, 316]), q
    old = dict(Q.CAPS)
    try:
        Q.CAPS["relation"] = 100
        every = Q.build_queries(*args, groups=groups)
    finally:
        Q.CAPS.update(old)
    rel = {(q["relation"], q["control"], q["anchor"]): q for q in every if q["type"] == "relation"}
    assert rel[("right_of", "button", "Save")]["xyxy"] == [115, 195, 175, 225]   # Delete, alone to its right
    assert ("left_of", "button", "Save") not in rel and ("below", "button", "Save") not in rel
    para = {q["target_text"]: q for q in by["paraphrase"]}
    assert para["Delete"]["query"] == "the Remove button" and para["Delete"]["xyxy"] == [115, 195, 175, 225]
    assert by["paraphrase_absent"][0]["meaning_of"] == ["sign in", "log in"]
    # a word that is not fully visible removes every query that needs it
    all_words[9]["state"] = "partial"
    words2 = [x for x in words if x["seq"] != 9]
    lines2 = G.build_lines(words2)
    c = Q.build_queries("toy-1000x800", words2, all_words, lines2, qdom, (1000, 800), args[6], False, groups=groups)
    assert not any(q.get("target_text") == "Delete" or q.get("label") == "Delete" for q in c)


_FORM_HTML = """<!doctype html><html><head><style>
body{margin:0;font:16px/20px sans-serif} td,th{padding:2px 6px}
</style></head><body>
<h1>Queue settings</h1>
<table><tr><th>Location:</th><td>Room 214</td></tr><tr><th>Owner:</th><td><input value="Office"></td></tr></table>
<dl><dt>State</dt><dd>Idle</dd></dl>
<label for="u">User name</label> <input id="u" value="alice">
<label><input type="checkbox" id="c"> Share this queue</label>
<button>Apply changes</button> <a href="#h">Help</a>
</body></html>"""


@pytest.mark.skipif(not os.access(G.CHROMIUM, os.X_OK) or importlib.util.find_spec("playwright") is None,
                    reason="needs /usr/bin/chromium and playwright")
def test_queries_js_in_chromium() -> None:
    from playwright.sync_api import sync_playwright

    dom_js = (REPO / "benchmarks" / "realscreens" / "dom.js").read_text(encoding="utf-8")
    q_js = (REPO / "benchmarks" / "realscreens" / "queries.js").read_text(encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=G.CHROMIUM, args=G.CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 600, "height": 400}, device_scale_factor=2)
            page = ctx.new_page()
            page.set_content(_FORM_HTML)
            dom = page.evaluate(dom_js)
            qd = page.evaluate(q_js)
        finally:
            browser.close()
    text = lambda seqs: " ".join(dom["words"][i]["text"] for i in seqs)   # noqa: E731
    pairs = {(p["source"], text(p["label_seqs"])): p for p in qd["pairs"]}
    assert text(pairs[("th-td", "Location:")]["value_seqs"]) == "Room 214"
    assert pairs[("th-td", "Owner:")]["from_control"] and text(pairs[("th-td", "Owner:")]["value_seqs"]) == "Office"
    assert text(pairs[("dt-dd", "State")]["value_seqs"]) == "Idle"
    assert text(pairs[("label-input", "User name")]["value_seqs"]) == "alice"
    els = {(e["kind"], text(e.get("label_seqs") or e["seqs"])): e for e in qd["elements"]}
    assert els[("heading", "Queue settings")]["level"] == 1
    assert els[("checkbox", "Share this queue")]["label_via"] == "label"
    assert els[("field", "Owner:")]["label_via"] == "th"
    b = els[("button", "Apply changes")]
    assert b["state"] == "ok" and b["box"][2] - b["box"][0] > 2 * 60      # element box in device px
    assert els[("link", "Help")]["state"] == "ok"
    size = (1200, 800)
    words = []
    for w in dom["words"]:
        if w["state"] == "ok":
            words.append({"text": w["text"], "xyxy": G._r1(w["box"]), "kind": w["kind"], "block": w["block"],
                          "seq": w["seq"], "piece": w["piece"]})
    lines = G.build_lines(words)
    qs = Q.build_queries("form", words, dom["words"], lines, qd, size, G.normalise(dom["fulltext"]), False)
    fields = {q["label"]: q for q in qs if q["type"] == "field"}
    assert len(fields) == Q.CAPS["field"] and all(f["value"] for f in fields.values())
