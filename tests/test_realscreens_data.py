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
