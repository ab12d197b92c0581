"""Relations, ordinals, regions, superlatives and ambiguity over candidates with known boxes, and
colour words measured on a real photo with hand-checked boxes.

The OWL weights available here are random, so only the *resolution* logic is measurable for that
family: these tests feed it hand-checked boxes of real objects in a real photo (scikit-image's
astronaut) through a stand-in detector, and check the real tiny OWLv2 package end to end only for
the contract (evidence, typed results), not for accuracy.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from groundlite.language.colour import colour_fraction
from groundlite.language.resolve import (Candidate, decide, rank_ordinal, rank_region, rank_relation,
                                         rank_superlative, reading_order, relation_distances, section_of)


def C(x0, y0, x1, y1, text=None, score=1.0):
    return Candidate(np.asarray([x0, y0, x1, y1], np.float32), score, text)


# A settings form, 1000 x 600: two rows of label + field, a button row, a heading above.
HEAD = C(100, 20, 400, 60, "Account")
NAME = C(100, 100, 160, 120, "Name")
NAME_F = C(200, 95, 500, 125, "name-field")
MAIL = C(100, 150, 160, 170, "E-mail")
MAIL_F = C(200, 145, 500, 175, "mail-field")
SAVE = C(200, 220, 280, 250, "Save")
CANCEL = C(300, 220, 380, 250, "Cancel")
FORM = [HEAD, NAME, NAME_F, MAIL, MAIL_F, SAVE, CANCEL]


@pytest.mark.parametrize("rel,anchor,targets,expected", [
    ("right_of", NAME, [NAME_F, MAIL_F, SAVE], NAME_F),
    ("right_of", MAIL, [NAME_F, MAIL_F, SAVE], MAIL_F),
    ("left_of", NAME_F, [NAME, MAIL], NAME),
    ("below", NAME_F, [MAIL_F, SAVE, CANCEL], MAIL_F),
    ("below", SAVE, [C(200, 300, 280, 330, "Help"), C(600, 260, 700, 290, "off-column"), HEAD], "Help"),
    ("above", SAVE, [MAIL_F, NAME_F, HEAD], MAIL_F),
    ("next_to", SAVE, [CANCEL, MAIL_F], CANCEL),
    ("near", CANCEL, [SAVE, HEAD], SAVE),
    ("same_row", MAIL, [MAIL_F, NAME_F], MAIL_F),
    ("same_column", NAME_F, [MAIL_F, NAME], MAIL_F),
])
def test_relations_pick_the_human_answer(rel, anchor, targets, expected):
    ranked = rank_relation(rel, targets, [[anchor]])
    assert ranked and (ranked[0].candidate is expected or ranked[0].candidate.text == expected)


def test_relation_excludes_the_anchor_and_wrong_sides():
    d = relation_distances("below", [NAME, HEAD, MAIL], [NAME])
    assert np.isinf(d[0, 0]) and np.isinf(d[1, 0]) and np.isfinite(d[2, 0])
    assert rank_relation("right_of", [NAME], [[NAME_F]]) == []


def test_between_and_inside():
    r = rank_relation("between", [SAVE, CANCEL, C(500, 225, 560, 245)], [[C(100, 220, 180, 250)], [C(600, 220, 680, 250)]])
    assert [x.candidate.text for x in r][:1] == ["Cancel"]
    frame = C(190, 90, 510, 130)
    r = rank_relation("inside", [NAME_F, C(210, 100, 260, 120, "x"), MAIL_F], [[frame]])
    assert {x.candidate.text for x in r} == {"name-field", "x"}


def test_ambiguity_returns_both_rather_than_a_guess():
    # two buttons side by side, equally far below a centred anchor
    anchor = C(240, 100, 340, 120)
    left, right = C(180, 150, 280, 180, "A"), C(300, 150, 400, 180, "B")
    leaders, amb = decide(rank_relation("below", [left, right], [[anchor]]))
    assert amb and {r.candidate.text for r in leaders} == {"A", "B"}
    # one clearly nearer: no ambiguity
    leaders, amb = decide(rank_relation("below", [left, C(300, 400, 400, 430, "far")], [[anchor]]))
    assert not amb and leaders[0].candidate.text == "A"


def test_loose_candidates_never_tie_with_proper_ones():
    anchor = C(100, 100, 200, 120)
    on_row = C(400, 100, 460, 120, "row")
    off_row = C(210, 140, 260, 160, "off")
    leaders, amb = decide(rank_relation("right_of", [on_row, off_row], [[anchor]]))
    assert not amb and leaders[0].candidate.text == "row"


def test_reading_order_and_ordinals():
    cands = [CANCEL, NAME_F, SAVE, HEAD, MAIL_F]
    assert [cands[i].text for i in reading_order(cands)] == ["Account", "name-field", "mail-field", "Save", "Cancel"]
    assert rank_ordinal(1, cands)[0].candidate is HEAD
    assert rank_ordinal(-1, cands)[0].candidate is CANCEL
    assert rank_ordinal(-2, cands)[0].candidate is SAVE
    assert rank_ordinal(9, cands) == []


def test_section_under_a_heading_stops_at_the_next_heading():
    h1, h2 = C(100, 100, 400, 130, "Install"), C(100, 300, 400, 330, "Usage")
    links = [C(100, 150, 200, 170, "a"), C(100, 200, 200, 220, "b"), C(100, 350, 200, 370, "c"),
             C(100, 50, 200, 70, "above")]
    inside = section_of(h1, links, [h1.xyxy, h2.xyxy])
    assert [c.text for c in inside] == ["a", "b"]
    assert rank_ordinal(2, inside)[0].candidate.text == "b"


def test_regions_and_superlatives():
    size = (1000, 600)
    tl, tr, bl, br, mid = (C(10, 10, 60, 30, "tl"), C(900, 10, 990, 30, "tr"), C(10, 560, 60, 590, "bl"),
                           C(900, 560, 990, 590, "br"), C(480, 290, 520, 310, "mid"))
    cands = [tl, tr, bl, br, mid]
    for region, want in [("top-left", "tl"), ("top-right", "tr"), ("bottom-left", "bl"), ("bottom-right", "br"),
                         ("center", "mid")]:
        assert rank_region(region, cands, size)[0].candidate.text == want
    big = C(100, 100, 500, 400, "big")
    for sup, want in [("leftmost", "tl"), ("rightmost", "tr"), ("topmost", "tl"), ("bottommost", "bl"),
                      ("largest", "big"), ("smallest", "mid")]:
        ranked = rank_superlative(sup, [*cands, big], size)
        assert ranked[0].candidate.text == want or (sup in ("topmost", "bottommost", "leftmost", "rightmost")
                                                     and ranked[1].distance == ranked[0].distance)
    # "top": tl and tr are equally high -> ambiguous
    leaders, amb = decide(rank_region("top", cands, size), unit_slack=0.03, ratio=1.0)
    assert amb and {r.candidate.text for r in leaders} == {"tl", "tr"}


# ---------------------------------------------------------------------------------------------
def _astronaut() -> np.ndarray:
    skimage = pytest.importorskip("skimage")
    from PIL import Image

    return np.asarray(Image.open(os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png")).convert("RGB"))


# hand-checked on a 50 px grid over skimage's astronaut.png (512 x 512)
ASTRONAUT = {
    "suit": [50, 250, 130, 340],      # orange suit, her right side
    "helmet": [290, 350, 490, 512],   # black helmet, bottom right
    "shuttle": [365, 100, 400, 240],  # white shuttle model, right
    "patch": [135, 345, 210, 425],    # purple mission patch
    "stripes": [0, 160, 40, 300],     # red and white flag stripes, left edge
}


@pytest.mark.parametrize("colour,best", [("orange", "suit"), ("black", "helmet"), ("white", "shuttle"),
                                         ("purple", "patch"), ("red", "stripes")])
def test_colour_words_on_a_real_photo(colour, best):
    rgb = _astronaut()
    fr = {k: colour_fraction(rgb, b, colour) for k, b in ASTRONAUT.items()}
    assert max(fr, key=fr.get) == best, fr


class _StandInDetector:
    """Returns the hand-checked astronaut boxes for every phrase (the real OWL weights are not
    obtainable here; this isolates the resolution logic, which is what these tests measure)."""

    def _predict_literal(self, image, phrases, threshold, **options):
        from groundlite import Detections

        boxes, labels = [], []
        for i, p in enumerate(phrases):  # a named object's own box, or every box for "object"/"thing"
            named = [b for k, b in ASTRONAUT.items() if k in p]
            for b in named or list(ASTRONAUT.values()):
                boxes.append(b)
                labels.append(i)
        return Detections(np.asarray(boxes, np.float32), np.full(len(boxes), 0.6, np.float32),
                          np.asarray(labels), tuple(phrases))


@pytest.mark.parametrize("query,want", [
    ("the black object on the right", "helmet"),
    ("the largest orange object", "suit"),
    ("the white thing at the top right", "shuttle"),
    ("the object left of the helmet", "patch"),
    ("the largest object", "helmet"),
    ("the leftmost object", "stripes"),
    ("the largest red object", "stripes"),
])
def test_owl_resolution_on_known_boxes(query, want):
    from groundlite.language.interpret import interpret_owl

    answers, evidence, missing = interpret_owl(_StandInDetector(), _astronaut(), [query], 0.1)
    assert answers[0], missing
    got = [k for k, b in ASTRONAUT.items() if np.allclose(answers[0][0].xyxy, b)]
    assert got == [want], (query, [a.xyxy for a in answers[0]])
    assert evidence[0] is not None and evidence[0].query == query


def test_owl_relation_to_a_missing_anchor_says_which_part():
    from groundlite.language.interpret import interpret_owl

    class Empty(_StandInDetector):
        def _predict_literal(self, image, phrases, threshold, **options):
            det = super()._predict_literal(image, phrases, threshold)
            return det[det.labels == 0]  # only the first phrase is ever found

    answers, _, missing = interpret_owl(Empty(), _astronaut(), ["the cup left of the door"], 0.1)
    assert answers == [[]] and "door" in missing[0]["missing"]


def test_owl_package_end_to_end_contract(tiny_owlv2_package):
    """The real (random-init) tiny OWLv2 package: structured queries run, return one Detections
    with evidence per result; plain phrases are unchanged (no evidence)."""
    import groundlite

    g = groundlite.load(tiny_owlv2_package, backend="onnxruntime", precision="fp32", cache=False)
    rgb = _astronaut()
    plain = g.predict(rgb, ["a photo of a cat", "a red block"], threshold=0.0)
    assert plain.evidence is None  # colour words alone: a category phrase, as OWL reads it
    d = g.predict(rgb, ["the largest cat", "the cat on the left"], threshold=0.0)
    assert d.evidence is not None and len(d.evidence) == len(d)
    assert set(d.labels.tolist()) <= {0, 1}
    assert all(e.query in ("the largest cat", "the cat on the left") for e in d.evidence)
    lit = g.predict(rgb, ["the largest cat"], threshold=0.0, interpret=False)
    assert lit.evidence is None
