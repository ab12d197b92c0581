"""UI controls from the pixels (``groundlite.language.controls``).

Geometry on small drawn images (bordered / filled / dark buttons, checkbox, radio, an input frame
right of and below a label, plain text), then hand-checked element boxes on the committed REAL
screenshots (``export/groundlite_export/assets/realscreens``: CUPS and Python-docs pages in
Chromium). The references were read from the DOM (``benchmarks/controls_truth.py``) and checked by
eye on crops of the PNGs; a found box must match within 2 px per side.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from groundlite.errors import InvalidArgumentError
from groundlite.language.controls import (
    CONTROL_KINDS,
    MAX_LINES,
    ControlBox,
    classify,
    control_around,
    field_for_label,
    find_controls,
    link_spans,
)

REAL = Path(__file__).resolve().parents[1] / "export" / "groundlite_export" / "assets" / "realscreens"
FONT = cv2.FONT_HERSHEY_SIMPLEX


def canvas(bg: int = 255, shape=(200, 400)) -> np.ndarray:
    return np.full((*shape, 3), bg, np.uint8)


def text(im, s, org, colour=(0, 0, 0)):
    cv2.putText(im, s, org, FONT, 0.5, colour, 1, cv2.LINE_AA)


def close(box, ref, tol=2.0) -> bool:
    return bool(np.all(np.abs(np.asarray(box, float) - np.asarray(ref, float)) <= tol))


class Line:
    def __init__(self, xyxy, text="", char_xyxy=None):
        self.xyxy = np.asarray(xyxy, np.float32)
        self.text = text
        if char_xyxy is not None:
            self.char_xyxy = np.asarray(char_xyxy, np.float32)


def draw_line(im, words, x, baseline, scale=0.5, gap=None):
    """Draw ``[(word, bgr colour), ...]`` one character at a time; return the OCR-like Line
    (text with single spaces, a box per character, spaces included)."""
    text, chars = "", []
    top, bottom = baseline - 15, baseline + 5
    space = cv2.getTextSize(" ", FONT, scale, 1)[0][0] if gap is None else gap
    for k, (word, colour) in enumerate(words):
        if k:
            chars.append([x, top, x + space, bottom])
            text += " "
            x += space
        for ch in word:
            w = cv2.getTextSize(ch, FONT, scale, 1)[0][0]
            cv2.putText(im, ch, (x, baseline), FONT, scale, colour, 1, cv2.LINE_AA)
            chars.append([x, top, x + w, bottom])
            text += ch
            x += w
    return Line([chars[0][0], top, chars[-1][2], bottom], text, chars)


# ------------------------------------------------------------------------------------------------
# drawn geometry
# ------------------------------------------------------------------------------------------------

SAVE = [113, 88, 160, 104]          # text box of "Save" drawn at (115, 101)


@pytest.mark.parametrize("bg, fill, border, ink, cue", [
    (255, None, (118, 118, 118), (0, 0, 0), "border"),          # 1 px grey border on white
    (255, (239, 239, 239), None, (0, 0, 0), "fill"),            # subtle grey fill, no border
    (20, (60, 60, 60), None, (230, 230, 230), "fill"),          # dark theme
    (30, (30, 30, 30), (200, 200, 200), (230, 230, 230), "border"),
])
def test_button_frame(bg, fill, border, ink, cue):
    im = canvas(bg)
    if fill is not None:
        cv2.rectangle(im, (100, 80), (180, 110), fill, -1)
    if border is not None:
        cv2.rectangle(im, (100, 80), (180, 110), border, 1)
    text(im, "Save", (115, 101), ink)
    got = control_around(im, SAVE)
    assert got is not None and got.cue == cue and got.kind == "button"
    assert close(got.xyxy, [100, 80, 181, 111], 1.0)
    assert 0.5 < got.confidence <= 1.0
    assert control_around(im, SAVE, "button").kind == "button"


def test_hidpi_button_frame():
    im = canvas(255, (600, 1200))
    cv2.rectangle(im, (300, 240), (540, 330), (118, 118, 118), 3)
    cv2.putText(im, "Save", (345, 303), FONT, 1.5, (0, 0, 0), 3, cv2.LINE_AA)
    got = control_around(im, [339, 264, 480, 312])
    assert got is not None and close(got.xyxy, [299, 239, 542, 332], 2.0)


def test_plain_text_has_no_frame():
    im = canvas()
    text(im, "Save", (115, 101))
    assert control_around(im, SAVE) is None
    c = classify(im, SAVE)
    assert c.kind == "text" and c.cue == "text-only" and close(c.xyxy, SAVE, 0)
    assert control_around(im, SAVE, "checkbox") is None
    assert field_for_label(im, SAVE) is None


def test_other_text_inside_is_not_a_frame():
    # a box around two labels is a container, not the first label's control
    im = canvas()
    cv2.rectangle(im, (100, 80), (300, 110), (118, 118, 118), 1)
    text(im, "Save", (115, 101))
    text(im, "Cancel", (200, 101))
    assert control_around(im, SAVE) is None


@pytest.mark.parametrize("kind, draw, shape", [
    ("checkbox", lambda im: cv2.rectangle(im, (90, 88), (102, 100), (118, 118, 118), 1), "square"),
    ("radio", lambda im: cv2.circle(im, (96, 94), 6, (118, 118, 118), 1, cv2.LINE_AA), "circle"),
])
def test_checkbox_and_radio(kind, draw, shape):
    im = canvas()
    draw(im)
    text(im, "Share", (110, 100))
    got = control_around(im, [108, 86, 160, 103], kind)
    assert got is not None and got.kind == kind and got.cue == shape
    assert close(got.xyxy, [90, 88, 103, 101], 1.5)
    assert classify(im, [108, 86, 160, 103]).kind == kind
    assert find_controls(im, [Line([108, 86, 160, 103], "Share")], kind)[0].cue == shape


def test_field_right_of_and_below_label():
    im = canvas()
    text(im, "Name:", (20, 100))
    cv2.rectangle(im, (90, 82), (250, 106), (118, 118, 118), 1)
    got = field_for_label(im, [18, 87, 75, 103])
    assert got is not None and got.kind == "field" and close(got.xyxy, [90, 82, 251, 107], 1.0)
    assert close(control_around(im, [18, 87, 75, 103], "field").xyxy, got.xyxy, 0)
    im = canvas()
    text(im, "Name:", (20, 100))
    cv2.rectangle(im, (18, 112), (250, 136), (118, 118, 118), 1)
    got = field_for_label(im, [18, 87, 75, 103])
    assert got is not None and close(got.xyxy, [18, 112, 251, 137], 1.0)


def test_field_behind_another_label_is_skipped():
    im = canvas()
    text(im, "Name:", (20, 100))
    text(im, "City:", (90, 100))
    cv2.rectangle(im, (140, 82), (300, 106), (118, 118, 118), 1)
    lines = [Line([18, 87, 75, 103], "Name:"), Line([88, 87, 130, 103], "City:")]
    assert field_for_label(im, lines[0].xyxy) is not None
    assert field_for_label(im, lines[0].xyxy, lines) is None
    assert field_for_label(im, lines[1].xyxy, lines) is not None


def test_link_is_its_text_box():
    im = canvas()
    text(im, "Docs", (115, 100), (0, 0, 238))
    got = control_around(im, SAVE, "link")
    assert got.kind == "link" and got.cue == "colour" and close(got.xyxy, SAVE, 0)
    cv2.line(im, (114, 103), (158, 103), (0, 0, 238), 1)
    assert control_around(im, SAVE, "link").cue == "underline"


def test_navigation_bar_cell_link():
    # a dark bar at the top of the screen, links with 15 px padding and no visible sides
    im = canvas()
    im[0:40] = (60, 60, 60)
    text(im, "Home", (30, 26), (255, 255, 255))
    text(im, "Jobs", (110, 26), (255, 255, 255))
    got = control_around(im, [28, 12, 76, 30], "link")
    assert got.cue == "fill" and close(got.xyxy, [11, 0, 93, 40], 2.0)
    assert control_around(im, [28, 12, 76, 30], "tab") is not None
    assert control_around(im, [28, 12, 76, 30]) is None         # not a button


def test_find_controls_reading_order():
    im = canvas()
    for x, word in ((220, "Two"), (40, "One")):
        cv2.rectangle(im, (x, 80), (x + 70, 110), (118, 118, 118), 1)
        text(im, word, (x + 15, 101))
    lines = [Line([233, 88, 270, 104], "Two"), Line([53, 88, 90, 104], "One"), Line([5, 5, 40, 20], "x")]
    got = find_controls(im, lines, "button")
    assert [int(c.xyxy[0]) for c in got] == [40, 220]
    assert find_controls(im, [], "button") == []


# ------------------------------------------------------------------------------------------------
# OCR lines: links inside prose, marks inside the line, several buttons on one line
# ------------------------------------------------------------------------------------------------

BLACK, BLUE = (0, 0, 0), (170, 90, 0)          # BGR: #005aaa, a Sphinx-like link blue


def prose_with_link(bg=255, ink=BLACK, link=BLUE):
    im = canvas(bg, (60, 600))
    ln = draw_line(im, [("See", ink), ("also", ink), ("os.path", link), ("and", ink), ("the", ink),
                        ("docs", ink)], 10, 35, 0.6)
    return im, ln


@pytest.mark.parametrize("bg, ink, link", [
    (255, BLACK, BLUE),                          # light theme
    (20, (225, 225, 225), (250, 180, 140)),      # dark theme: light-blue link on light-grey prose
])
def test_link_span_inside_a_prose_line(bg, ink, link):
    im, ln = prose_with_link(bg, ink, link)
    spans = link_spans(im, ln)
    assert [(ln.text[a:b], cue) for a, b, _, cue in spans] == [("os.path", "colour")]
    a, b, box, _ = spans[0]
    assert close(box, [ln.char_xyxy[a, 0], ln.xyxy[1], ln.char_xyxy[b - 1, 2], ln.xyxy[3]], 0.5)
    got = find_controls(im, [ln], "link")
    assert len(got) == 1 and got[0].text == "os.path" and got[0].cue == "colour"
    assert close(got[0].xyxy, box, 0.5)
    assert got[0].to_dict()["text"] == "os.path"


def test_link_span_trailing_punctuation_and_two_word_link():
    im = canvas(255, (60, 600))
    ln = draw_line(im, [("Read", BLACK), ("the", BLACK), ("User", BLUE), ("Manual", BLUE), ("now", BLACK)], 10, 35, 0.6)
    assert [ln.text[a:b] for a, b, _, _ in link_spans(im, ln)] == ["User Manual"]
    black = draw_line(im, [("nothing", BLACK), ("here", BLACK)], 10, 15, 0.5)
    assert link_spans(im, black) == []
    assert find_controls(im, [black], "link") == []


def test_underlined_link_span():
    im = canvas(255, (60, 600))
    ln = draw_line(im, [("a", BLACK), ("plain", BLACK), ("underlined", BLACK), ("word", BLACK)], 10, 35, 0.6)
    t0 = ln.text.index("underlined")
    x0, x1 = int(ln.char_xyxy[t0, 0]), int(ln.char_xyxy[t0 + len("underlined") - 1, 2])
    cv2.line(im, (x0, 38), (x1 - 1, 38), BLACK, 1)
    assert [(ln.text[a:b], cue) for a, b, _, cue in link_spans(im, ln)] == [("underlined", "underline")]


def test_control_box_text_is_optional():
    c = ControlBox([0, 0, 2, 2], "link", "colour", 0.8)
    assert c.text is None and "text" not in c.to_dict()


@pytest.mark.parametrize("junk", ["口 ", "O ", ""])
def test_checkbox_mark_inside_the_ocr_line(junk):
    # OCR often starts the label's line at the mark and reads it as a character (or nothing)
    im = canvas()
    cv2.rectangle(im, (90, 88), (102, 100), (118, 118, 118), 1)
    text(im, "Share", (110, 100))
    line = Line([89, 86, 160, 103], junk + "Share")
    got = control_around(im, line.xyxy, "checkbox")
    assert got is not None and got.cue == "square" and close(got.xyxy, [90, 88, 103, 101], 1.5)
    found = find_controls(im, [line], "checkbox")
    assert len(found) == 1 and found[0].text == "Share"


def test_letter_at_line_start_is_no_mark():
    im = canvas()
    text(im, "Options", (110, 100))
    text(im, "Help", (110, 140))
    assert find_controls(im, [Line([108, 86, 180, 103], "Options"), Line([108, 126, 150, 143], "Help")], "radio") == []
    assert find_controls(im, [Line([108, 86, 180, 103], "Options")], "checkbox") == []


def test_two_buttons_on_one_ocr_line():
    im = canvas(255, (60, 600))
    first = draw_line(im, [("Add", BLACK), ("Printer", BLACK)], 30, 35)
    second = draw_line(im, [("Find", BLACK), ("New", BLACK), ("Printers", BLACK)], int(first.xyxy[2]) + 40, 35)
    for ln in (first, second):
        x0, y0, x1, y1 = (int(v) for v in ln.xyxy)
        cv2.rectangle(im, (x0 - 10, y0 - 5), (x1 + 10, y1 + 5), (118, 118, 118), 1)
    # OCR joined both captions into one line (a wide gap between "Printer" and "Find")
    joined = Line([first.xyxy[0], first.xyxy[1], second.xyxy[2], second.xyxy[3]],
                  first.text + " " + second.text,
                  [*first.char_xyxy, [first.xyxy[2], first.xyxy[1], second.xyxy[0], first.xyxy[3]], *second.char_xyxy])
    got = find_controls(im, [joined], "button")
    assert [c.text for c in got] == ["Add Printer", "Find New Printers"]
    for c, ln in zip(got, (first, second)):
        x0, y0, x1, y1 = ln.xyxy
        assert close(c.xyxy, [x0 - 10, y0 - 5, x1 + 11, y1 + 6], 1.5)


def test_reading_order_rows():
    im = canvas(255, (120, 600))
    lines = [draw_line(im, [("third", BLUE)], 10, 90), draw_line(im, [("second", BLUE)], 300, 38),
             draw_line(im, [("first", BLUE)], 10, 35)]
    assert [c.text for c in find_controls(im, lines, "link")] == ["first", "second", "third"]


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rgb, box, kind, match", [
    (np.zeros((20, 20), np.uint8), [1, 1, 5, 5], None, "shape"),
    (np.zeros((20, 20, 4), np.uint8), [1, 1, 5, 5], None, "shape"),
    (np.zeros((20, 20, 3), np.float32), [1, 1, 5, 5], None, "dtype"),
    ([[0]], [1, 1, 5, 5], None, "numpy array"),
    (np.zeros((20, 20, 3), np.uint8), [1, 1, 50, 5], None, "inside"),
    (np.zeros((20, 20, 3), np.uint8), [5, 5, 1, 1], None, "x1 > x0"),
    (np.zeros((20, 20, 3), np.uint8), [1, 1, 5], None, "4"),
    (np.zeros((20, 20, 3), np.uint8), [1, 1, np.nan, 5], None, "finite"),
    (np.zeros((20, 20, 3), np.uint8), [1, 1, 5, 5], "buton", "did you mean 'button'"),
    (np.zeros((20, 20, 3), np.uint8), [1, 1, 5, 5], "chec", "did you mean 'checkbox'"),
])
def test_bad_input(rgb, box, kind, match):
    with pytest.raises(InvalidArgumentError, match=match):
        control_around(rgb, box, kind)


def test_bad_input_other_entry_points():
    im = canvas()
    with pytest.raises(InvalidArgumentError, match="did you mean 'field'"):
        find_controls(im, [], "feild")
    with pytest.raises(InvalidArgumentError, match="at most"):
        find_controls(im, [[0, 0, 1, 1]] * (MAX_LINES + 1), "button")
    with pytest.raises(InvalidArgumentError, match="label_xyxy"):
        field_for_label(im, [0, 0, 1000, 10])
    with pytest.raises(InvalidArgumentError, match="shape"):
        classify(np.zeros((5, 5), np.uint8), [0, 0, 1, 1])
    with pytest.raises(InvalidArgumentError):
        ControlBox(np.zeros(3), "button", "border", 1.0)
    assert set(CONTROL_KINDS) == {"button", "link", "field", "checkbox", "radio", "menu", "tab"}
    assert ControlBox([0, 0, 1, 1], "button", "fill", 3.0).confidence == 1.0


# ------------------------------------------------------------------------------------------------
# real screenshots (committed subset), hand-checked element boxes
# ------------------------------------------------------------------------------------------------

# (screenshot, kind, label text box, element box, cue) -- element boxes from getBoundingClientRect,
# checked on crops of the PNGs
REAL_CASES = [
    ("cups-admin-2560x1440-d2-light-s0", "button", [56, 406.7, 189.4, 436.7], [40, 400.7, 205.4, 442.7]),
    ("cups-admin-2560x1440-d2-light-s0", "button", [1302.2, 868.7, 1499.3, 898.7], [1286.2, 862.7, 1515.3, 904.7]),
    ("cups-admin-2560x1440-d2-light-s0", "checkbox", [1335.0, 584.7, 1897.1, 618.7], [1294.2, 584.7, 1320.2, 610.7]),
    ("cups-printers-1280x800-d1-light-s0", "button", [836.8, 122.9, 879.0, 137.9], [828.8, 119.9, 887.0, 140.9]),
    ("cups-printers-1280x800-d1-light-s0", "button", [899.5, 122.9, 931.4, 137.9], [891.5, 119.9, 939.4, 140.9]),
    ("cups-printer-office-1920x1080-d1-dark-s0", "menu", [25, 180.9, 101.3, 195.9], [20, 178.9, 160, 197.9]),
    ("cups-printer-office-1920x1080-d1-dark-s0", "button", [28, 427.9, 161.4, 442.9], [20, 424.9, 169.4, 445.9]),
    ("cups-edit-config-3840x2160-d2-dark-s0", "button", [56, 1167.8, 230.9, 1197.8], [40, 1161.8, 246.9, 1203.8]),
    ("pydoc-index-1366x768-d1-dark-s302", "field", [1044.7, 740.0, 1114.7, 754.0], [1041.7, 738.0, 1181.7, 756.0]),
    ("pydoc-index-1366x768-d1-dark-s302", "button", [1197.7, 740.0, 1213.7, 754.0], [1185.7, 738.0, 1225.7, 756.0]),
]


@pytest.fixture(scope="module")
def real_images():
    cache: dict[str, np.ndarray] = {}

    def get(ident: str) -> np.ndarray:
        if ident not in cache:
            cache[ident] = np.asarray(Image.open(REAL / "images" / f"{ident}.png").convert("RGB"))
        return cache[ident]

    return get


@pytest.mark.parametrize("ident, kind, label, element", REAL_CASES)
def test_real_controls(real_images, ident, kind, label, element):
    rgb = real_images(ident)
    got = control_around(rgb, label, kind)
    assert got is not None and got.kind == kind
    assert close(got.xyxy, element, 2.0), (got.xyxy, element)
    if kind != "checkbox":
        assert classify(rgb, label).kind == kind


def test_real_field_for_label(real_images):
    # "Search in Printers:" -> the search field right of it (element box hand-checked on a crop)
    rgb = real_images("cups-printers-1280x800-d1-light-s0")
    got = field_for_label(rgb, [340.6, 120.9, 482.9, 137.9])
    assert got is not None and close(got.xyxy, [487, 120, 824, 141], 2.0)
    assert classify(rgb, [340.6, 120.9, 482.9, 137.9]).kind == "text"


def test_real_cups_buttons_are_button_sized(real_images):
    """Every DOM "button" word on the committed CUPS pages lies inside a found frame that is at
    most ~2.5 text heights tall (a button, not a panel)."""
    n = 0
    for rec in map(json.loads, (REAL / "labels.jsonl").read_text(encoding="utf-8").splitlines()):
        if not rec["id"].startswith("cups-"):
            continue
        rgb = real_images(rec["id"])
        for ln in rec["lines"]:
            if ln["kind"] != "button":
                continue
            got = control_around(rgb, ln["xyxy"], "button")
            assert got is not None, (rec["id"], ln["text"])
            b, t = got.xyxy, ln["xyxy"]
            assert b[0] <= t[0] + 1 and b[1] <= t[1] + 1 and b[2] >= t[2] - 1 and b[3] >= t[3] - 1
            assert (b[3] - b[1]) <= 2.5 * (t[3] - t[1]) and (b[2] - b[0]) <= (t[2] - t[0]) + 4 * (t[3] - t[1])
            n += 1
    assert n >= 8


# ------------------------------------------------------------------------------------------------
# real OCR lines (the built-in text model) on a committed real screenshot
# ------------------------------------------------------------------------------------------------

OFFICE = "cups-printer-office-1920x1080-d1-dark-s0"


@pytest.fixture(scope="module")
def office_ocr():
    import groundlite

    rgb = np.asarray(Image.open(REAL / "images" / f"{OFFICE}.png").convert("RGB"))
    return rgb, groundlite.load("text").read(str(REAL / "images" / f"{OFFICE}.png"))


def test_real_ocr_links_and_buttons(office_ocr):
    """CUPS printer page, dark theme, OCR lines: the DOM's 8 links (7 cells of the navigation bar,
    "Printers" the current page's white cell, and the blue "Office_Laser" inside the heading)
    and its 4 buttons. Checked by eye on crops: the nav cells span the bar's height (0-28 px);
    the one false link is the "Maintenance" select menu (a light fill on the black page)."""
    rgb, lines = office_ocr
    rec = next(r for r in map(json.loads, (REAL / "labels.jsonl").read_text(encoding="utf-8").splitlines())
               if r["id"] == OFFICE)
    dom = [w for w in rec["words"] if w["kind"] == "link"]
    assert len(dom) == 9                            # "OpenPrinting CUPS" is one link of two words
    links = find_controls(rgb, lines, "link")
    texts = [c.text for c in links]
    nav = ["OpenPrinting CUPS", "Home", "Administration", "Classes", "Help", "Jobs", "Printers"]
    assert texts[:7] == nav                         # reading order: the bar, left to right
    assert "Office_Laser" in texts
    for c in links[:7]:
        assert c.cue == "fill" and c.xyxy[1] <= 1 and 26 <= c.xyxy[3] <= 30
    for w in dom:                                  # every DOM link word is in a found link
        cx, cy = 0.5 * (w["xyxy"][0] + w["xyxy"][2]), 0.5 * (w["xyxy"][1] + w["xyxy"][3])
        assert any(c.xyxy[0] <= cx <= c.xyxy[2] and c.xyxy[1] <= cy <= c.xyxy[3] and w["text"] in c.text
                   for c in links), w["text"]
    assert close(links[6].xyxy, [530, 0, 605, 28], 3.0)     # the white "Printers" cell (by eye)
    assert len(links) <= 9                          # precision >= 8 / 9
    buttons = find_controls(rgb, lines, "button")
    assert [c.text for c in buttons] == ["Search", "Clear", "Show Completed Jobs", "Show All Jobs"]
    dom_b = [ln["xyxy"] for ln in rec["lines"] if ln["kind"] == "button"]
    for c in buttons:
        assert any(c.xyxy[0] <= t[0] and t[2] <= c.xyxy[2] and c.xyxy[1] <= t[1] and t[3] <= c.xyxy[3] for t in dom_b)
