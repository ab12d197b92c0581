"""The query parser: every phrasing the language issue lists, unknown words, contradictions."""

from __future__ import annotations

import pytest

from groundlite.errors import InvalidPhraseError
from groundlite.language.query import Ref, Relation, parse

# query -> (intent, target text, target kind, relations [(name, anchor texts)], ordinal, scope text, region, superlative)
CASES = [
    # field values
    ("the value of Location", "field", "Location", None, [], None, None, None, None),
    ("value for Printer State", "field", "Printer State", None, [], None, None, None, None),
    ("Location value", "field", "Location", None, [], None, None, None, None),
    ("what is the Driver", "field", "Driver", None, [], None, None, None, None),
    ("what is the total amount?", "field", "total amount", None, [], None, None, None, None),
    ("who is the vendor", "field", "vendor", None, [], None, None, None, None),
    ("Driver:", "field", "Driver", None, [], None, None, None, None),
    ("'Printer Name':", "field", "Printer Name", None, [], None, None, None, None),
    ("the Description field value", "field", "Description", None, [], None, None, None, None),
    # controls
    ("the Add Printer button", "control", "Add Printer", "button", [], None, None, None, None),
    ("button Add Printer", "control", "Add Printer", "button", [], None, None, None, None),
    ("the Jobs link", "control", "Jobs", "link", [], None, None, None, None),
    ("the Remember me checkbox", "control", "Remember me", "checkbox", [], None, None, None, None),
    ("the search box", "control", "search", "field", [], None, None, None, None),
    ("the Name field", "control", "Name", "field", [], None, None, None, None),
    ("the Maintenance menu", "control", "Maintenance", "menu", [], None, None, None, None),
    ("the Settings tab", "control", "Settings", "tab", [], None, None, None, None),
    ("click the \"Log in\" button", "control", "Log in", "button", [], None, None, None, None),
    ("the button labelled Save", "control", "Save", "button", [], None, None, None, None),
    # relations
    ("the button below Welcome back", "structured", None, "button", [("below", ["Welcome back"])], None, None, None, None),
    ("the link above Installation", "structured", None, "link", [("above", ["Installation"])], None, None, None, None),
    ("the field right of Name", "structured", None, "field", [("right_of", ["Name"])], None, None, None, None),
    ("the field to the right of Name", "structured", None, "field", [("right_of", ["Name"])], None, None, None, None),
    ("the checkbox left of Remember me", "structured", None, "checkbox", [("left_of", ["Remember me"])], None, None, None, None),
    ("the button next to Cancel", "structured", None, "button", [("next_to", ["Cancel"])], None, None, None, None),
    ("the Help near Search", "structured", "Help", None, [("near", ["Search"])], None, None, None, None),
    ("the person nearest the door", "structured", "person", None, [("near", ["door"])], None, None, None, None),
    ("read the button below the price", "structured", None, "button", [("below", ["price"])], None, None, None, None),
    ("the link between Home and Help", "structured", None, "link", [("between", ["Home", "Help"])], None, None, None, None),
    ("the 'Save' button below 'Left of here'", "structured", "Save", "button", [("below", ["Left of here"])], None, None, None, None),
    # ordinals
    ("the first link under Installation", "structured", None, "link", [], 1, "Installation", None, None),
    ("the second button", "structured", None, "button", [], 2, None, None, None),
    ("the third link under 'Getting started'", "structured", None, "link", [], 3, "Getting started", None, None),
    ("the 4th link", "structured", None, "link", [], 4, None, None, None),
    ("the last link", "structured", None, "link", [], -1, None, None, None),
    ("the second last button", "structured", None, "button", [], -2, None, None, None),
    # image regions and superlatives
    ("the Printers at the top right", "structured", "Printers", None, [], None, None, "top-right", None),
    ("the Printers in the bottom-left corner", "structured", "Printers", None, [], None, None, "bottom-left", None),
    ("the Help on the left", "structured", "Help", None, [], None, None, "left", None),
    ("what is at the top right?", "structured", None, None, [], None, None, "top-right", None),
    ("the leftmost Printers", "structured", "Printers", None, [], None, None, None, "leftmost"),
    ("the rightmost Jobs", "structured", "Jobs", None, [], None, None, None, "rightmost"),
    ("the largest bottle", "structured", "bottle", None, [], None, None, None, "largest"),
    ("the lowest link", "structured", None, "link", [], None, None, None, "bottommost"),
    # literal
    ("Submit", "literal", "Submit", None, [], None, None, None, None),
    ("Top", "literal", "Top", None, [], None, None, None, None),
    ("left column", "literal", "left column", None, [], None, None, None, None),
    ("Sign in", "literal", "Sign in", None, [], None, None, None, None),
]


@pytest.mark.parametrize("query,intent,text,kind,relations,ordinal,scope,region,superlative", CASES,
                         ids=[c[0] for c in CASES])
def test_phrasings(query, intent, text, kind, relations, ordinal, scope, region, superlative):
    q = parse(query)
    assert q.intent == intent, q.describe()
    assert q.target.text == text
    assert q.target.kind == kind
    assert [(r.name, [a.text for a in r.anchors]) for r in q.relations] == relations
    assert q.ordinal == ordinal
    assert (q.scope.text if q.scope else None) == scope
    assert q.region == region
    assert q.superlative == superlative
    assert q.understood, "what was understood is always reported"


def test_colour_attributes_and_kinds():
    q = parse("the red box on the left")
    assert (q.target.text, q.target.attributes, q.region) == ("box", ("red",), "left")
    q = parse("the red button")
    assert (q.target.kind, q.target.attributes) == ("button", ("red",))
    assert parse("red").target == Ref("red")  # a colour alone is a phrase to find


def test_quotes_protect_keywords():
    q = parse("the 'Add to cart' button")
    assert (q.target.text, q.target.kind, q.relations) == ("Add to cart", "button", ())
    q = parse('"Below the line"')
    assert q.is_literal and q.target.text == "Below the line"


@pytest.mark.parametrize("query", ["left of itself", "the Log in button left of the Log in button",
                                   "the button below it"])
def test_contradictions_are_ignored_and_reported(query):
    q = parse(query)
    assert not q.relations
    assert any("itself" in i or "names nothing" in i for i in q.ignored), q.ignored


def test_unknown_words_never_crash_and_stay_in_the_phrase():
    for query in ["", "   ", "?", "the", "frobnicate the wibble", "between and", "the first", "the 0th link",
                  "::", "the ' button", "x" * 5000, "below", "the below", "value of", "what is",
                  "the 999th link under", "the value of the value of X"]:
        q = parse(query)
        assert q.raw == query
        assert isinstance(q.describe(), str)
    q = parse("frobnicate the wibble")
    assert q.is_literal and q.target.text == "frobnicate the wibble"
    assert parse("the 0th link").ordinal is None


def test_non_string_is_a_typed_error():
    with pytest.raises(InvalidPhraseError, match="expected a query string, got int"):
        parse(3)  # type: ignore[arg-type]


def test_parse_is_deterministic_and_serialisable():
    import json

    a, b = parse("the first link under Installation"), parse("the first link under Installation")
    assert a == b
    d = json.loads(json.dumps(a.to_dict()))
    assert d["scope"]["text"] == "Installation" and d["ordinal"] == 1 and d["target"]["kind"] == "link"
    assert a.phrases() == ["Installation"]
    assert Relation("below", (Ref("X"),)).describe() == "below 'X'"
