"""The query parser: what a person asks -> a :class:`Query` (target, attributes, relations, ...).

Deterministic and rule-based (regular expressions over the lower-cased query; the original case is
kept for the phrases it extracts). It never raises for a string: what it does not understand stays
part of the target phrase, and what it dropped is listed in :attr:`Query.ignored`.

Grammar (``X``, ``Y``: phrases on the screen, quotes optional; ``K``: a kind, :data:`KINDS`):

* **verbs** first are dropped: "find", "show me", "where is", "click", "tap", "press", "read", ...
* **field values**: "the value of X", "value for X", "X value", "what is the X", "who is the X",
  "X:" -> ``intent="field"``, target ``X`` (the label).
* **controls**: "the X K", "K X", "the K labelled X" -> target ``X`` of kind ``K``.
* **relations**: "T below X", "T above X", "T right of X" / "to the right of X", "T left of X",
  "T next to X" / "beside X", "T near X" / "close to X", "T inside X", "T between X and Y",
  "T in the row of X", "T in the column of X" (one level: ``X`` is parsed as a target, not as a
  query with its own relations).
* **ordinals**: "the first / second / ... / tenth / 3rd / last / second last T", and
  "the first T under X" (in reading order within the section under the heading or label X).
* **image regions**: "T at the top right", "T in the bottom-left corner", "T on the left",
  "T in the middle"; **superlatives**: "the leftmost / rightmost / topmost / lowest / largest /
  smallest T".
* **attributes**: colour words (:data:`COLOURS`), and for text "bold", "heading", "underlined".

A target with neither text nor kind ("what is at the top right?") means *anything*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidPhraseError

__all__ = ["Ref", "Relation", "Query", "parse", "KINDS", "COLOURS", "RELATIONS", "REGIONS", "SUPERLATIVES"]

#: control and text kinds a query can name, with the words that name them (longest first wins)
_KIND_WORDS: dict[str, str] = {
    "radio button": "radio", "radio buttons": "radio", "radio": "radio", "option button": "radio",
    "check box": "checkbox", "checkbox": "checkbox", "checkboxes": "checkbox", "tick box": "checkbox",
    "tickbox": "checkbox", "toggle": "checkbox", "switch": "checkbox",
    "button": "button", "buttons": "button", "btn": "button",
    "link": "link", "links": "link", "hyperlink": "link",
    "text field": "field", "input field": "field", "field": "field", "fields": "field", "input": "field",
    "text box": "field", "textbox": "field", "entry": "field",
    "drop-down": "menu", "dropdown": "menu", "drop down": "menu", "menu": "menu", "select": "menu",
    "combo box": "menu", "list box": "menu",
    "tab": "tab", "tabs": "tab",
    "heading": "heading", "headings": "heading", "title": "heading", "header": "heading",
}
#: the kinds, in a fixed order
KINDS = ("button", "link", "field", "checkbox", "radio", "menu", "tab", "heading")
#: colour words -> canonical colour
COLOURS: dict[str, str] = {
    "red": "red", "orange": "orange", "yellow": "yellow", "green": "green", "blue": "blue",
    "purple": "purple", "violet": "purple", "pink": "pink", "brown": "brown", "black": "black",
    "white": "white", "gray": "gray", "grey": "gray", "cyan": "cyan", "magenta": "pink",
}
_TEXT_ATTRS = {"bold": "bold", "underlined": "underlined", "highlighted": "highlighted"}
#: relation names
RELATIONS = ("below", "above", "right_of", "left_of", "next_to", "near", "inside", "between",
             "same_row", "same_column")
#: image regions
REGIONS = ("top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right")
#: superlatives
SUPERLATIVES = ("leftmost", "rightmost", "topmost", "bottommost", "largest", "smallest")

_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "last": -1, "second last": -2, "second to last": -2,
    "penultimate": -2, "third last": -3, "third to last": -3, "final": -1,
}
_SUPERLATIVE_WORDS = {
    "leftmost": "leftmost", "left-most": "leftmost", "rightmost": "rightmost", "right-most": "rightmost",
    "topmost": "topmost", "top-most": "topmost", "uppermost": "topmost", "highest": "topmost",
    "bottommost": "bottommost", "bottom-most": "bottommost", "lowest": "bottommost", "lowermost": "bottommost",
    "largest": "largest", "biggest": "largest", "smallest": "smallest", "tiniest": "smallest",
}
# relation phrases -> name; matched longest first, surrounded by spaces
_RELATION_WORDS: dict[str, str] = {
    "to the right of": "right_of", "on the right of": "right_of", "right of": "right_of",
    "to the left of": "left_of", "on the left of": "left_of", "left of": "left_of",
    "next to": "next_to", "beside": "next_to", "alongside": "next_to",
    "close to": "near", "closest to": "near", "nearest to": "near", "nearest": "near", "closest": "near",
    "near": "near", "by": "near",
    "underneath": "below", "beneath": "below", "below": "below", "under": "below",
    "above": "above", "over": "above",
    "inside": "inside", "within": "inside",
    "between": "between",
    "in the same row as": "same_row", "in the row of": "same_row", "in the same column as": "same_column",
    "in the column of": "same_column",
}
_VERBS = re.compile(
    r"^(?:please\s+)?(?:can you\s+)?(?:find|show(?:\s+me)?|where\s+is|where's|where\s+are|locate|click(?:\s+on)?|"
    r"tap(?:\s+on)?|press|choose|open|read(?:\s+out)?|highlight|go\s+to|point\s+(?:to|at)|get|give\s+me|select)\s+",
    re.I)
_WH = re.compile(r"^(?:what|who|which|when|where)(?:\s+is|'s|\s+are|\s+was)\s+(?P<x>.+)$", re.I)
_VALUE_OF = re.compile(r"^(?:the\s+)?value\s+(?:of|for)\s+(?P<x>.+)$", re.I)
_X_VALUE = re.compile(r"^(?P<x>.+?)\s+value$", re.I)
_X_COLON = re.compile(r"^(?P<x>[^:]+?)\s*:$")
_REGION = re.compile(
    r"^(?P<head>.*?)\s*(?:\b(?:at|in|on|from)\s+)?(?:the\s+)?(?P<r>(?:top|bottom|upper|lower)(?:[\s-]+(?:left|right))?|"
    r"left|right|middle|centre|center)(?:[\s-]+(?:hand\s+)?(?:corner|side|edge|half|part|area))?"
    r"(?:\s+of\s+the\s+(?:screen|image|page|picture|window|photo))?$", re.I)
_LABELLED = re.compile(r"^(?P<k>.+?)\s+(?:labell?ed|named|called|titled|saying|that says|with the text)\s+(?P<x>.+)$", re.I)
_ARTICLES = ("the", "a", "an", "any", "some")
#: nouns that name no particular thing: "the text at the top right" means anything there
_GENERIC = {"text", "item", "items", "thing", "things", "one", "element", "something", "anything", "word",
            "words", "line", "object", "it", "there", "here"}


@dataclass(frozen=True)
class Ref:
    """Something to find: literal ``text`` (or ``None``: anything) of ``kind`` (``None``: plain
    text or an object category), with ``attributes`` (colours, ``bold``, ...)."""

    text: str | None
    kind: str | None = None
    attributes: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [*self.attributes]
        if self.text:
            parts.append(repr(self.text))
        if self.kind:
            parts.append(self.kind)
        return " ".join(parts) if parts else "anything"


@dataclass(frozen=True)
class Relation:
    """``name`` (:data:`RELATIONS`) to ``anchors`` (one, or two for ``between``)."""

    name: str
    anchors: tuple[Ref, ...]

    def describe(self) -> str:
        words = self.name.replace("_", " ")
        if self.name == "between":
            return f"between {self.anchors[0].describe()} and {self.anchors[1].describe()}"
        return f"{words} {self.anchors[0].describe()}"


@dataclass(frozen=True)
class Query:
    """A parsed query.

    Attributes:
        raw: the query as given.
        intent: ``"literal"`` (find this text / category), ``"field"`` (the value of label
            ``target.text``), ``"control"`` (a UI control) or ``"structured"`` (relations, ordinals,
            regions or superlatives choose among candidates).
        target: what to find.
        relations: geometric relations the answer must satisfy.
        ordinal: 1-based position in reading order (``-1``: last), or ``None``.
        scope: for "the first K under X": the heading/label ``X`` whose section is searched.
        region: image region (:data:`REGIONS`) or ``None``.
        superlative: :data:`SUPERLATIVES` or ``None``.
        understood: what was understood, in words (one item per piece).
        ignored: words or parts that were dropped (articles, verbs, contradictions).
    """

    raw: str
    intent: str
    target: Ref
    relations: tuple[Relation, ...] = ()
    ordinal: int | None = None
    scope: Ref | None = None
    region: str | None = None
    superlative: str | None = None
    understood: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def is_literal(self) -> bool:
        """True when nothing beyond "find this text" was understood."""
        return (self.intent == "literal" and not self.relations and self.ordinal is None and self.region is None
                and self.superlative is None and not self.target.attributes and self.target.kind is None)

    @property
    def has_rules(self) -> bool:
        """True when relations, an ordinal, a section, a region or a superlative choose among
        candidates (colour words alone do not: a detector's text encoder reads them itself)."""
        return bool(self.relations or self.ordinal is not None or self.scope is not None or self.region is not None
                    or self.superlative is not None)

    def phrases(self) -> list[str]:
        """Every literal phrase the query needs grounded (target, anchors, scope)."""
        out = [r.text for r in (self.target, self.scope, *(a for rel in self.relations for a in rel.anchors))
               if r is not None and r.text]
        return list(dict.fromkeys(out))

    def describe(self) -> str:
        """The interpretation in words, e.g. ``"field value of 'Location'"``."""
        head = {"field": "value of ", "control": "", "structured": "", "literal": ""}[self.intent]
        parts = [head + self.target.describe()]
        if self.ordinal is not None:
            parts.insert(0, _ordinal_word(self.ordinal))
        if self.superlative:
            parts.insert(0, self.superlative)
        if self.scope is not None:
            parts.append(f"under {self.scope.describe()}")
        parts += [rel.describe() for rel in self.relations]
        if self.region:
            parts.append(f"at the {self.region}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        def ref(r: Ref | None) -> Any:
            return None if r is None else {"text": r.text, "kind": r.kind, "attributes": list(r.attributes)}

        return {"raw": self.raw, "intent": self.intent, "target": ref(self.target),
                "relations": [{"name": r.name, "anchors": [ref(a) for a in r.anchors]} for r in self.relations],
                "ordinal": self.ordinal, "scope": ref(self.scope), "region": self.region,
                "superlative": self.superlative, "understood": list(self.understood), "ignored": list(self.ignored),
                "description": self.describe()}


def _ordinal_word(n: int) -> str:
    for word, v in _ORDINALS.items():
        if v == n:
            return word
    return f"#{n}"


# ---------------------------------------------------------------------------------------------
class _Quotes:
    """Quoted spans replaced by placeholders so keywords inside them are not parsed."""

    def __init__(self, text: str) -> None:
        self.spans: list[str] = []

        def sub(m: re.Match[str]) -> str:
            self.spans.append(m.group(2))
            return f"\x00{len(self.spans) - 1}\x00"

        self.text = re.sub(r"([\"'\u201c\u2018\u00ab])(.+?)([\"'\u201d\u2019\u00bb])(?=$|[\s:,?.!])", sub, text)

    def restore(self, s: str) -> str:
        return re.sub(r"\x00(\d+)\x00", lambda m: self.spans[int(m.group(1))], s)


def _strip_articles(s: str, ignored: list[str]) -> str:
    words = s.split()
    while words and words[0].lower() in _ARTICLES:
        ignored.append(words.pop(0))
    return " ".join(words)


def _parse_ref(s: str, quotes: _Quotes, ignored: list[str], *, allow_kind: bool = True) -> Ref:
    """A target phrase -> :class:`Ref` (kind word at either end, colour/text attributes first)."""
    s = _strip_articles(s.strip(" ,"), ignored)
    attrs: list[str] = []
    kind = None
    m = _LABELLED.match(s)
    if m and allow_kind:
        k = _kind_of(m.group("k").lower())
        if k is not None:
            kind, s = k, m.group("x")
    words = s.split()
    # leading attributes ("red", "bold")
    while words and (words[0].lower() in COLOURS or words[0].lower() in _TEXT_ATTRS) and len(words) > 1:
        w = words.pop(0).lower()
        attrs.append(COLOURS.get(w) or _TEXT_ATTRS[w])
    if allow_kind and kind is None and words:
        low = [w.lower() for w in words]
        for n in (3, 2, 1):  # "the X K": kind words at the end, longest first
            if len(low) >= n and " ".join(low[-n:]) in _KIND_WORDS and "\x00" not in " ".join(words[-n:]):
                kind = _KIND_WORDS[" ".join(low[-n:])]
                words = words[:-n]
                break
        if kind is None:
            for n in (3, 2, 1):  # "K X": kind words first
                if len(low) > n and " ".join(low[:n]) in _KIND_WORDS and "\x00" not in " ".join(words[:n]):
                    kind = _KIND_WORDS[" ".join(low[:n])]
                    words = words[n:]
                    break
        if kind is None and len(words) > 1 and low[-1] == "box" and not attrs:
            kind, words = "field", words[:-1]  # "the search box" (but "the red box" is an object)
        # attributes may also sit between the article and the kind: "the red button"
        while words and words[0].lower() in COLOURS and kind is not None:
            attrs.append(COLOURS[words.pop(0).lower()])
    text = quotes.restore(" ".join(words)).strip(" ,") or None
    if text is not None and text.lower() in _GENERIC:
        ignored.append(text)  # "the text at the top", "the item on the left": anything
        text = None
    return Ref(text, kind, tuple(attrs))


def _kind_of(s: str) -> str | None:
    s = _strip_articles(s, []).lower().strip()
    return _KIND_WORDS.get(s)


def _split_relation(s: str) -> tuple[str, str, str] | None:
    """``"A rel B"`` -> (A, relation name, B) at the first relation phrase with text on both sides
    (``A`` may be empty: "below X" means anything below X)."""
    low = s.lower()
    best: tuple[int, int, str] | None = None
    for phrase, name in sorted(_RELATION_WORDS.items(), key=lambda kv: -len(kv[0])):
        for m in re.finditer(rf"(?:^|\s){re.escape(phrase)}\s+", low):
            start = m.start() + (1 if low[m.start()].isspace() else 0)
            if not low[m.end():].strip():
                continue
            if best is None or start < best[0] or (start == best[0] and m.end() > best[1]):
                best = (start, m.end(), name)
            break
    if best is None:
        return None
    start, end, name = best
    return s[:start].strip(), name, s[end:].strip()


def parse(query: str) -> Query:
    """Parse one query (see the module docstring for the grammar).

    Raises :class:`~groundlite.errors.InvalidPhraseError` only for a non-string; any string gives
    a :class:`Query` (at worst the literal interpretation, with what was ignored reported).
    """
    if not isinstance(query, str):
        raise InvalidPhraseError(f"expected a query string, got {type(query).__name__}")
    raw = query
    ignored: list[str] = []
    understood: list[str] = []
    s = " ".join(query.split())
    s = s.rstrip("?!. ") if not s.endswith(":") else s
    quotes = _Quotes(s)
    s = quotes.text
    m = _VERBS.match(s)
    if m:
        ignored.append(m.group(0).strip())
        s = s[m.end():]
    intent = "literal"
    field_label: str | None = None

    # ---- field values
    wh = _WH.match(s)
    if wh and not _REGION.match(wh.group("x")):
        field_label = wh.group("x")
    elif wh:
        s = wh.group("x")  # "what is at the top right": the region applies to anything
        ignored.append("what is")
    else:
        for rx in (_VALUE_OF, _X_VALUE, _X_COLON):
            fm = rx.match(s)
            if fm and fm.group("x").strip():
                field_label = fm.group("x")
                break
    if field_label is not None:
        label = _strip_articles(field_label, ignored)
        words = label.split()
        if len(words) > 1 and words[-1].lower() in ("field", "box", "entry", "input"):
            ignored.append(words.pop())  # "the Description field value": the label is "Description"
            label = " ".join(words)
        if label:
            text = quotes.restore(label).strip()
            understood.append(f"the value of the field labelled {text!r}")
            return Query(raw, "field", Ref(text), understood=tuple(understood), ignored=tuple(ignored))

    # ---- superlative / ordinal prefixes
    superlative = ordinal = None
    scope = None
    body = _strip_articles(s, ignored)
    low = body.lower()
    for word, name in sorted(_SUPERLATIVE_WORDS.items(), key=lambda kv: -len(kv[0])):
        if low.startswith(word + " ") or low == word:
            superlative, body = name, body[len(word):].strip()
            understood.append(f"the {name} one")
            break
    if superlative is None:
        om = re.match(r"^(?P<o>second\s+to\s+last|third\s+to\s+last|second\s+last|third\s+last|first|second|third|fourth|"
                      r"fifth|sixth|seventh|eighth|ninth|tenth|last|final|penultimate|(?P<n>\d{1,3})(?:st|nd|rd|th|\.))\s+(?P<rest>.+)$",
                      body, re.I)
        if om:
            ordinal = int(om.group("n")) if om.group("n") else _ORDINALS[" ".join(om.group("o").lower().split())]
            if ordinal == 0:
                ignored.append(om.group("o"))
                ordinal = None
            else:
                understood.append(f"number {ordinal} in reading order" if ordinal > 0 else
                                  f"number {-ordinal} from the end in reading order")
            body = om.group("rest")

    # ---- image region suffix
    region = None
    rm = _REGION.match(body)
    if rm and rm.group("r") and (rm.group("head").strip() or superlative is None):
        head = rm.group("head").strip()
        suffix = body[len(rm.group("head")):].strip()
        # "the Top link" / "the left column": a bare region word needs a preposition or a corner word
        if re.match(r"^(?:at|in|on|from)\s", suffix, re.I) or (head and re.search(r"corner|side|edge|half|part|area", suffix, re.I)):
            region = _region_name(rm.group("r"))
            body = head
            understood.append(f"in the {region} of the image")

    # ---- relations ("T rel X")
    relations: list[Relation] = []
    split = _split_relation(body)
    if split is not None:
        head, name, rest = split
        if ordinal is not None and name == "below" and re.match(r"^.*\bunder\b", body, re.I):
            scope = _parse_ref(rest, quotes, ignored)
            understood.append(f"within the section under {scope.describe()}")
            body = head
        else:
            if name == "between":
                parts = re.split(r"\s+and\s+", rest, maxsplit=1)
                if len(parts) == 2 and parts[0].strip() and parts[1].strip():
                    anchors = (_parse_ref(parts[0], quotes, ignored), _parse_ref(parts[1], quotes, ignored))
                else:
                    anchors = ()
                    ignored.append(f"between {quotes.restore(rest)}")
            else:
                anchors = (_parse_ref(rest, quotes, ignored),)
            target_probe = _parse_ref(head, quotes, []) if head else Ref(None)
            if anchors and any(a.text is None and a.kind is None for a in anchors):
                ignored.append(f"{name.replace('_', ' ')} {quotes.restore(rest)} (names nothing to be {name.replace('_', ' ')})")
            elif anchors and target_probe.text and any(
                    a.text and a.text.lower() == target_probe.text.lower() and a.kind == target_probe.kind for a in anchors) \
                    or re.fullmatch(r"(?:it|itself|themselves|this|that)", rest.strip().lower()):
                ignored.append(f"{name.replace('_', ' ')} {quotes.restore(rest)} (a thing cannot be {name.replace('_', ' ')} itself)")
            elif anchors:
                relations.append(Relation(name, anchors))
                understood.append(relations[-1].describe())
            body = head

    target = _parse_ref(body, quotes, ignored) if body else Ref(None)
    if target.kind:
        understood.insert(0, f"a {target.kind}" + (f" labelled {target.text!r}" if target.text else ""))
    elif target.text:
        understood.insert(0, f"the text or object {target.text!r}")
    if target.attributes:
        understood.append("with " + ", ".join(target.attributes))
    structured = bool(relations or ordinal is not None or region or superlative or scope or target.attributes)
    intent = "structured" if structured else ("control" if target.kind else "literal")
    if target.text is None and target.kind is None and not structured:
        # nothing left: the literal interpretation of the whole query (keeping what was dropped)
        ignored = [i for i in ignored if "cannot be" in i or i.startswith("between")]
        understood = [f"the text or object {raw.strip()!r}"]
        target = Ref(raw.strip() or None)
        intent = "literal"
    return Query(raw, intent, target, tuple(relations), ordinal, scope, region, superlative,
                 tuple(understood), tuple(i for i in ignored if i))


def _region_name(r: str) -> str:
    r = r.lower().replace("upper", "top").replace("lower", "bottom")
    r = re.sub(r"[\s-]+", "-", r.strip())
    return {"middle": "center", "centre": "center"}.get(r, r)


def literal(query: str) -> Query:
    """The literal interpretation of ``query`` (``interpret=False``)."""
    return Query(query, "literal", Ref(query), understood=(f"the text or object {query!r}",))
