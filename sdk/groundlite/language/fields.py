"""Fields: the *value* that belongs to a label on a form, receipt, table or settings page.

Someone asks for "the total amount", "the invoice date", "the value of Location" or "Driver:".
The label is found elsewhere (a literal fuzzy match, :mod:`groundlite.text.matching`, or by
meaning); this module takes the recognised lines of the screen and the label's location and finds
the value **by layout and by type**:

===============  ==========================================================================
layout           where the value is, relative to the label
===============  ==========================================================================
``same-line``    on the label's own recognised line, after a ``:`` or a wide gap
                 ("Description: Office laser" read as one line); cut with ``char_xyxy``
``right``        the first other line to the right on the same row (vertical overlap
                 >= :data:`ROW_OVERLAP` of the smaller height), gap <= :data:`RIGHT_MAX_GAP`
                 label heights
``below``        the nearest line directly below, overlapping the label's columns (or
                 left-aligned with it, or indented to at most :data:`BELOW_INDENT` label
                 heights past its end), gap <= :data:`BELOW_MAX_GAP` label heights
``cell-right``   as ``right``, but label and value are cells of a grid (another row holds a
                 line in the label's column *and* one in the value's column), which allows a
                 gap up to :data:`CELL_RIGHT_MAX_GAP` label heights
``cell-below``   as ``below`` for a column header: the label's row holds other cells and the
                 value's row has a cell under one of them; gap <= :data:`CELL_BELOW_MAX_GAP`
===============  ==========================================================================

A value is one cell: it stops at the next wide gap on its line (a column boundary, a gap wider
than :data:`COLUMN_GAP` line heights between two characters) or before the next ``Key:`` word
(a ``,`` or ``;`` before the cut dropped), and takes up to :data:`MAX_WRAP_LINES` continuation
lines stacked tightly under it: a wrapped table cell, left-aligned, the gap between the
characters' boxes at most :data:`WRAP_GAP` of their height (character boxes, because OCR's
detected line boxes are inflated and overlap from row to row), and the continuation's first word
would not have fitted on the line above (the column's right edge being the furthest right edge
of the lines left-aligned with the value nearby), so two short list items are not joined. A
value right of its label never continues onto a row that has a line in the label's column.

Each candidate's ``score`` (in [0, 1]) is ``layout prior x distance decay x type agreement x
penalties``: layout priors prefer same-line, then right, then below (:data:`LAYOUT_PRIOR`); with
``want_type`` a value of that type scores :data:`TYPE_MATCH`, a compatible type (a plain number
for money, :data:`COMPATIBLE`) :data:`TYPE_COMPATIBLE`, any other :data:`TYPE_MISMATCH` — small
enough that *any* matching candidate beats *any* mismatching one, whatever their layouts.
Penalties: a candidate that is itself label-like (:func:`is_label_like`: ends with ``:`` or is a
short known label word such as "Total") x :data:`LABEL_LIKE_FACTOR`; plain text to the right of
a column header that heads a column itself (or, in a header row read as one line, the text after
a wide gap with a line under it), when the label has no colon and a value below it exists, x
:data:`HEADER_FACTOR`; more than :data:`MAX_VALUE_WORDS` words (a paragraph of a neighbouring
column) x :data:`PROSE_FACTOR`.

Types (:func:`value_type`) are a short table of regular expressions (:data:`TYPE_PATTERNS`), and
what a label asks for (:func:`expected_type`) a small keyword table (:data:`LABEL_KEYWORDS`).

Work is bounded: a query looks only at the lines whose centres lie within :data:`WINDOW` label
heights above or below the label (found by binary search), with a few vectorised passes over
them; grid checks use at most :data:`MAX_GRID_LINES` aligned lines, character work at most
:data:`MAX_VALUE_CHARS` characters per candidate, and more than :data:`MAX_LINES` lines are
refused. The line geometry of the last screen is kept (keyed by its line objects), so further
queries on the same lines skip that pass; line objects are treated as immutable (as
:class:`~groundlite.text.TextLine` is). ``benchmarks/results/fields.md`` has measured times.
Pure numpy and :mod:`re`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidArgumentError, did_you_mean

__all__ = [
    "VALUE_TYPES",
    "LAYOUTS",
    "ValueCandidate",
    "value_type",
    "expected_type",
    "find_values",
    "split_label_value",
    "is_label_like",
]

VALUE_TYPES = ("money", "date", "number", "percent", "email", "phone", "url", "identifier", "text")
LAYOUTS = ("same-line", "right", "below", "cell-right", "cell-below")

#: more lines than this in one screen is refused (bounded work)
MAX_LINES = 20000
#: characters of one candidate value examined (and returned) at most
MAX_VALUE_CHARS = 256
#: aligned lines considered when deciding whether label and value form a grid
MAX_GRID_LINES = 64
#: continuation lines a wrapped value may take under its first line
MAX_WRAP_LINES = 3

#: two boxes are on one row when their vertical overlap is at least this fraction of the smaller height
ROW_OVERLAP = 0.5
#: a gap between two characters wider than this many line heights is a column boundary
COLUMN_GAP = 1.0
#: a gap between the label and the rest of its line at least this many line heights separates a value
SAME_LINE_GAP = 0.8
#: gap bounds in label heights
RIGHT_MAX_GAP = 10.0
CELL_RIGHT_MAX_GAP = 40.0
BELOW_MAX_GAP = 1.5
#: a line below may start up to this many label heights right of the label's end (hanging indent)
BELOW_INDENT = 1.0
CELL_BELOW_MAX_GAP = 4.0
#: a continuation line of a wrapped value starts at most this many line heights below the previous one
WRAP_GAP = 0.2
#: column alignment tolerance (left edges, right edges or centres), in line heights
ALIGN_TOL = 0.5
#: grid rows are looked for within this many label heights above and below
GRID_WINDOW = 12.0
#: no rule looks further than this many label heights above or below the label (the lines outside
#: are not examined at all)
WINDOW = GRID_WINDOW + 8.0

#: layout priors (before distance decay); ``same-line`` is after a ':' (wide gap: ``SAME_LINE_GAP_PRIOR``,
#: neither: ``SAME_LINE_WEAK_PRIOR`` and only for a typed, non-text value)
LAYOUT_PRIOR = {"same-line": 1.0, "right": 0.9, "cell-right": 0.9, "below": 0.75, "cell-below": 0.75}
SAME_LINE_GAP_PRIOR = 0.95
SAME_LINE_WEAK_PRIOR = 0.6
#: the score falls linearly by up to this fraction over a layout's allowed gap
DISTANCE_DECAY = 0.15
TYPE_MATCH = 1.0
TYPE_COMPATIBLE = 0.85
TYPE_MISMATCH = 0.45
LABEL_LIKE_FACTOR = 0.5
HEADER_FACTOR = 0.6
#: a candidate of more than this many words reads like prose, not a field value: x ``PROSE_FACTOR``
MAX_VALUE_WORDS = 12
PROSE_FACTOR = 0.6

#: value types that may stand in for one another (want -> also acceptable)
COMPATIBLE = {
    "money": ("number",),
    "number": ("money", "percent", "identifier"),
    "percent": ("number",),
    "identifier": ("number", "text", "url"),  # "Source code" -> Lib/shelve.py, a path
    "date": (),
    "email": (),
    "phone": ("number",),
    "url": ("identifier",),
    "text": ("identifier", "number", "money", "date", "percent", "email", "phone", "url"),
}

_CURRENCY_SYMBOLS = "$€£¥₹₩₽¢₪₫฿₴₦"
_CURRENCY_CODES = "USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|CNY|RMB|INR|SEK|NOK|DKK|PLN|CZK|HUF|BRL|MXN|RUB|KRW|ZAR|SGD|HKD|TRY"
_AMOUNT = r"(?:\d{1,3}(?:[,.\u00a0 ']\d{3})+|\d+)(?:[.,]\d{1,2})?"
_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_TIME = r"(?:[ T,]+\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?\s*(?:[ap]\.?m\.?)?\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?)?"

#: ``value_type``: (type, full-match pattern), tried in order on the stripped text; the first match wins
TYPE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"(?:mailto:)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.I)),
    ("url", re.compile(r"(?:https?|ftp|file|ipp|ipps|smb|ssh)://\S*|www\.\S+", re.I)),
    ("date", re.compile(
        r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}-\d{1,2}-\d{4}"
        r"|\d{1,2}\.\d{1,2}\.\d{2,4}"
        rf"|(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS},?\s+\d{{2,4}}"
        rf"|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{2,4}}|{_MONTHS}\s+\d{{4}}|\d{{1,2}}-{_MONTHS}-\d{{2,4}})"
        rf"){_TIME}", re.I)),
    ("percent", re.compile(r"[+-]?\d+(?:[.,]\d+)?\s?%|%\s?\d+(?:[.,]\d+)?", re.I)),
    ("money", re.compile(
        rf"\(?[+-]?\s?(?:[{_CURRENCY_SYMBOLS}]\s?{_AMOUNT}|{_AMOUNT}\s?[{_CURRENCY_SYMBOLS}]"
        rf"|(?:{_CURRENCY_CODES})\s?{_AMOUNT}|{_AMOUNT}\s?(?:{_CURRENCY_CODES})"
        r"|(?:\d{1,3}(?:[,.\u00a0 ']\d{3})+|\d+)[.,]\d{2})\)?(?:\s?(?:CR|DR|-))?", re.I)),
    ("number", re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")),
    ("phone", re.compile(r"(?:tel:)?\+?(?=(?:\D*\d){7})[\d ().\-/]{7,24}(?:\s?(?:ext\.?|x)\s?\d{1,5})?", re.I)),
    ("url", re.compile(
        r"(?:~|\.{1,2})?/[\w.~+%@=,-]*(?:/[\w.~+%@=,-]*)*"              # /usr/share, ./run, ~/x
        r"|[A-Za-z]:\\\S*"                                              # C:\Windows
        r"|[\w.~-]+(?:/[\w.~+%@=,-]*)+"                                 # Lib/shelve.py, Lib/re/
        r"|(?:[\w-]+\.)+(?:com|org|net|io|dev|gov|edu|info|app|co|uk|de|fr|eu|localhost)(?::\d+)?(?:/\S*)?",
        re.I)),
    ("identifier", re.compile(
        r"#?(?=[\w.\-/#:]*\d)(?=[\w.\-/#:]*[A-Za-z_])[\w][\w.\-/#:]*"   # letters and digits: INV-2024-001
        r"|[A-Za-z]+(?:_[A-Za-z0-9]+)+|_\w+"                            # underscores: Office_Laser
        r"|#\d+|\d+(?:[-./]\d+){1,5}")),                                # #12345, 3.11.2, 2024-001
)

#: ``expected_type``: (pattern searched in the lower-cased label, type), first match wins; order
#: matters ("due date" is a date, "amount due" money; "phone number" a phone, "invoice number" an id)
LABEL_KEYWORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), t) for p, t in (
    (r"e-?mail|\bmail address", "email"),
    (r"\burl\b|\bwebsite\b|\bweb ?site\b|\bweb address\b|\bhomepage\b|\blink\b|\buri\b", "url"),
    (r"\bphone\b|\btel\b|\btel\.|\btelephone\b|\bmobile\b|\bfax\b|\bcell\b", "phone"),
    (r"%|\bpercent|\bpercentage\b|\brate\b|\bratio\b|\bvat rate\b", "percent"),
    (r"\bdate\b|\bdated\b|\bissued\b|\bcreated\b|\bmodified\b|\bupdated\b|\bexpir(?:y|es|ation|ed)\b"
     r"|\bdob\b|\bbirthday\b|\bborn\b|\bdeadline\b|\blast (?:login|seen|run)\b|\bdue on\b", "date"),
    (r"\bnumber of\b|\bcount\b|\bqty\b|\bquantity\b|\bhow many\b|\bpages\b|\bitems\b|\bunits\b", "number"),
    (r"\bid\b|\bnumber\b|\bno\b\.?|\bnr\b|#|\bref\b|\breference\b|\bserial\b|\bsku\b|\bcode\b|\biban\b"
     r"|\baccount\b|\border\b|\binvoice\b|\breceipt\b|\bticket\b|\btracking\b", "identifier"),
    (r"\btotal\b|\bsubtotal\b|\bsub-total\b|\bamount\b|\bprice\b|\bcost\b|\bbalance\b|\bdue\b|\bfee\b"
     r"|\bfees\b|\bcharge\b|\bpaid\b|\bpayment\b|\btax\b|\bvat\b|\bgst\b|\btip\b|\bsum\b|\bsalary\b", "money"),
))

#: short words that name a field rather than hold a value (with the keywords above), lower case
LABEL_WORDS = frozenset("""
name description location driver connection defaults status state type model make queue user users
address city country zip postcode vendor customer client seller buyer supplier company from to bill
ship owner author title subject category class kind size format version value label field key
item items qty quantity unit price total subtotal amount date time due tax vat balance notes note
invoice order receipt account reference ref id number no email mail phone tel fax mobile website url
link rate percent discount fee cost charge paid payment issued created modified updated expires
""".split())
#: words that may join label words ("Date of issue", "Make and Model")
_CONNECTORS = frozenset("of and the for per e".split())


@dataclass(frozen=True)
class ValueCandidate:
    """One candidate value for a label.

    Attributes:
        xyxy: float32 ``[4]`` box of the value's characters (union over its lines), image pixels.
        text: the value's recognised text (one cell; wrapped continuation lines joined by a space).
        lines: indices into the ``lines`` given to :func:`find_values` that hold the value.
        layout: one of :data:`LAYOUTS`.
        value_type: one of :data:`VALUE_TYPES` (:func:`value_type` of ``text``).
        score: layout x type agreement x label-likeness, in [0, 1].
    """

    xyxy: np.ndarray
    text: str
    lines: tuple[int, ...]
    layout: str
    value_type: str
    score: float


# ----------------------------------------------------------------------------- types

def value_type(text: str) -> str:
    """The type of a value string: one of :data:`VALUE_TYPES`.

    The stripped text (surrounding punctuation such as ``,;.()`` removed, at most
    :data:`MAX_VALUE_CHARS` characters) is full-matched against :data:`TYPE_PATTERNS` in order:
    e-mail, URL with a scheme, date (ISO ``2024-01-15``, slashed ``01/15/2024``, dotted
    ``15.01.2024``, month names ``Jan 5, 2024`` / ``5 January 2024``, optional time), percentage,
    money (currency symbol or code with an amount, or an amount with exactly two decimals), number,
    phone (>= 7 digits with separators), path / domain URL, identifier (letters mixed with digits or
    underscores: ``INV-2024-001``, ``Office_Laser``, ``#123``, ``3.11.2``); anything else is ``text``.
    """
    if not isinstance(text, str):
        raise InvalidArgumentError(f"expected text to be a str, got {type(text).__name__}")
    t = text[:MAX_VALUE_CHARS].strip().strip(",;").strip()
    if t.endswith(".") and not re.search(r"\d\.$", t):
        t = t[:-1].rstrip()
    if not t:
        return "text"
    for kind, pattern in TYPE_PATTERNS:
        if pattern.fullmatch(t):
            if kind == "phone" and re.fullmatch(r"\d+", t):
                return "number"       # a bare run of digits is a number, not a phone
            return kind
    return "text"


def expected_type(label: str) -> str | None:
    """The value type a label asks for, or ``None`` when it does not say.

    Searches the lower-cased label with :data:`LABEL_KEYWORDS` in order: "e-mail" -> ``email``;
    "url", "website", "link" -> ``url``; "phone", "tel", "fax" -> ``phone``; "%", "percent",
    "rate" -> ``percent``; "date", "issued", "created", "modified", "due date" -> ``date``;
    "number of", "count", "qty" -> ``number``; "id", "number", "no.", "#", "invoice", "order" ->
    ``identifier``; "total", "amount", "price", "balance", "due", "tax" -> ``money``.
    """
    if not isinstance(label, str):
        raise InvalidArgumentError(f"expected label to be a str, got {type(label).__name__}")
    low = " ".join(label[:MAX_VALUE_CHARS].lower().split())
    for pattern, kind in LABEL_KEYWORDS:
        if pattern.search(low):
            return kind
    return None


def is_label_like(text: str) -> bool:
    """True for text that names a field rather than holding a value: it ends with ``:``, or it is
    at most three words without a digit, all known label words (:data:`LABEL_WORDS`) or
    connectors such as "of" / "and" ("Invoice date", "Total", "Make and Model"; not "Paid in full")."""
    t = text.strip()
    if not t:
        return False
    if t.endswith((":", "：")):
        return True
    words = re.findall(r"[^\W\d_]+", t.lower())
    if not words or len(words) > 3 or re.search(r"\d", t) or len(t) > 40:
        return False
    return all(w in LABEL_WORDS or w in _CONNECTORS for w in words) and any(w in LABEL_WORDS for w in words)


_SPLIT = re.compile(r"\s*(?P<key>[^:：\n]{1,60}?)\s*[:：](?P<sep>\s*)(?P<value>\S.*?)\s*", re.S)
_SCHEMES = frozenset("http https ftp file mailto tel ipp ipps smb ssh urn data".split())


def split_label_value(text: str) -> tuple[str, str] | None:
    """``("Key", "value")`` for ``"Key: value"`` text, else ``None``.

    The key is the text before the first ``:`` (or full-width ``：``): 1-60 characters, at most six
    words, with a letter. Without a space after the colon the key must not be a URL scheme and
    the value must not start with a digit or ``/`` ("http://x", "12:30", "C:\\\\" are not fields).
    ``"Time: 12:30"`` splits into ``("Time", "12:30")``.
    """
    if not isinstance(text, str):
        raise InvalidArgumentError(f"expected text to be a str, got {type(text).__name__}")
    m = _SPLIT.fullmatch(text[: 4 * MAX_VALUE_CHARS])
    if not m:
        return None
    key, sep, value = m.group("key").strip(), m.group("sep"), m.group("value").strip()
    if not re.search(r"[^\W\d_]", key) or len(key.split()) > 6:
        return None
    if not sep and (key.lower() in _SCHEMES or len(key) == 1 or re.match(r"[\d/\\]", value)):
        return None
    return key, value


# ----------------------------------------------------------------------------- geometry

def _line_box(line: Any) -> np.ndarray:
    xyxy = getattr(line, "xyxy", None)
    if xyxy is not None:
        b = np.asarray(xyxy, np.float64).reshape(-1)
        if b.shape == (4,):
            return b
    c = np.asarray(getattr(line, "char_xyxy", np.zeros((0, 4))), np.float64).reshape(-1, 4)
    if not len(c):
        return np.full(4, np.nan)
    return np.array([c[:, 0].min(), c[:, 1].min(), c[:, 2].max(), c[:, 3].max()])


def _boxes(lines: Sequence[Any]) -> np.ndarray:
    if not len(lines):
        return np.zeros((0, 4))
    try:
        b = np.array([line.xyxy for line in lines], np.float64)
        if b.shape == (len(lines), 4):
            return b
    except (AttributeError, ValueError, TypeError):
        pass
    return np.stack([_line_box(line) for line in lines])


_cache_lock = threading.Lock()
_cache: tuple[list[Any], tuple[np.ndarray, ...]] | None = None


def _same_objects(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    try:
        return a == b       # identity is checked first, element by element, in C
    except Exception:       # an element whose == is not a plain bool (numpy fields)
        return all(x is y for x, y in zip(a, b))


def _geometry(lines: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """``(boxes [N,4] f64, heights [N], valid [N] bool, non-empty text [N] bool, order [N] int64,
    sorted centres [N])`` of ``lines``: ``order`` sorts the lines by vertical centre.

    The last screen's geometry is kept, keyed by its line objects (the same objects, or equal ones;
    the cache holds them, so an identity cannot be reused), so many queries against one screen
    compute it once.
    """
    global _cache
    seq = list(lines)
    with _cache_lock:
        hit = _cache
    if hit is not None and _same_objects(hit[0], seq):
        return hit[1]
    boxes = _boxes(lines)
    valid = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
    heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    heights[~valid] = 1.0
    nonempty = np.fromiter((bool(str(line.text).strip()) for line in lines), bool, len(lines))
    cy = np.where(valid, 0.5 * (boxes[:, 1] + boxes[:, 3]), np.inf)
    order = np.argsort(cy, kind="stable")
    geo = (boxes, heights, valid, nonempty, order, cy[order])
    for a in geo:
        a.setflags(write=False)
    with _cache_lock:
        _cache = (seq, geo)
    return geo


def _chars(line: Any) -> np.ndarray | None:
    """The line's char boxes ``[len(text),4]`` float64, or None when absent or malformed."""
    c = getattr(line, "char_xyxy", None)
    if c is None:
        return None
    c = np.asarray(c, np.float64)
    if c.ndim != 2 or c.shape != (len(line.text), 4) or not np.isfinite(c).all():
        return None
    return c


def _union(b: np.ndarray) -> np.ndarray:
    lo, hi = b[:, :2].min(axis=0), b[:, 2:].max(axis=0)
    return np.array([lo[0], lo[1], hi[0], hi[1]])


#: the next "Key:" of a line ("Date: 2024-01-15 Total: $5"): 1-2 words and a colon with text after it
#: (a line that is only "Media Source:" is a label, not "Media" cut before "Source:")
_NEXT_KEY = re.compile(r"\s([^\W\d_]\w*(?: \w+)?[:：])(?=\s+\S)")


def _spaces(seg: str) -> np.ndarray:
    """Whitespace mask of ``seg`` (ASCII, no-break, typographic and ideographic spaces)."""
    c = np.frombuffer(seg.encode("utf-32-le"), np.uint32)
    return (c <= 32) | (c == 0xA0) | ((c >= 0x2000) & (c <= 0x200B)) | (c == 0x202F) | (c == 0x3000)


def _cell(text: str, chars: np.ndarray | None, start: int, h: float) -> tuple[str, np.ndarray | None, int, int] | None:
    """The value cell of ``text`` from character ``start``: up to the first column gap (or before
    the next ``Key:`` word), surrounding spaces dropped. Returns ``(text, box or None, c0, c1)``."""
    n = min(len(text), start + MAX_VALUE_CHARS)
    seg = text[start:n]
    idx = np.nonzero(~_spaces(seg))[0]
    if not len(idx):
        return None
    last = len(idx) - 1
    if chars is not None and len(idx) > 1:
        pos = idx + start
        wide = np.nonzero(chars[pos[1:], 0] - chars[pos[:-1], 2] > COLUMN_GAP * h)[0]
        if len(wide):
            last = int(wide[0])
    m = _NEXT_KEY.search(seg, int(idx[0]) + 1)
    if m and m.start(1) <= idx[last]:
        last = int(np.searchsorted(idx, m.start(1))) - 1
    while 0 < last < len(idx) - 1 and seg[idx[last]] in ",;，；":
        last -= 1                        # "Next: Introduction, Previous: ..." -> "Introduction"
    c0, c1 = start + int(idx[0]), start + int(idx[last]) + 1
    value = text[c0:c1]
    box = None
    if chars is not None:
        keep = idx[: last + 1] + start
        box = _union(chars[keep])
    return value, box, c0, c1


@dataclass
class _Cand:
    layout: str
    prior: float
    gap_frac: float
    lines: list[int]
    text: str
    box: np.ndarray
    header_right: bool = False


# ----------------------------------------------------------------------------- find_values

def _check(lines: Sequence[Any], label_lines: Any, label_xyxy: Any, want_type: Any,
           limit: Any) -> tuple[tuple[int, ...], np.ndarray]:
    if isinstance(lines, (str, bytes)) or not hasattr(lines, "__len__") or not hasattr(lines, "__getitem__"):
        raise InvalidArgumentError(f"expected lines to be a sequence of text lines, got {type(lines).__name__}")
    if len(lines) > MAX_LINES:
        raise InvalidArgumentError(f"expected at most {MAX_LINES} lines, got {len(lines)}")
    if isinstance(label_lines, (int, np.integer)) and not isinstance(label_lines, bool):
        label_lines = (label_lines,)
    try:
        idx = tuple(label_lines)
    except TypeError:
        raise InvalidArgumentError(f"expected label_lines to be a tuple of line indices, got {label_lines!r}") from None
    if not idx or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in idx):
        raise InvalidArgumentError(f"expected label_lines to be a non-empty tuple of ints, got {label_lines!r}")
    bad = [int(i) for i in idx if not 0 <= int(i) < len(lines)]
    if bad:
        raise InvalidArgumentError(f"expected label_lines in [0, {len(lines)}), got {bad[0]} (of {list(idx)})")
    try:
        box = np.asarray(label_xyxy, np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"expected label_xyxy to be 4 numbers [x0, y0, x1, y1], got {label_xyxy!r}") from None
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] < box[0] or box[3] < box[1]:
        raise InvalidArgumentError(
            f"expected label_xyxy to be 4 finite numbers [x0, y0, x1, y1] with x1 >= x0 and y1 >= y0, "
            f"got {np.asarray(label_xyxy).tolist() if box.size < 16 else f'shape {box.shape}'}")
    if want_type is not None and want_type not in VALUE_TYPES:
        raise InvalidArgumentError(
            f"expected want_type to be one of {', '.join(VALUE_TYPES)} or None, got {want_type!r}"
            + did_you_mean(want_type, VALUE_TYPES))
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise InvalidArgumentError(f"expected limit to be an int >= 1, got {limit!r}")
    return tuple(dict.fromkeys(int(i) for i in idx)), box


def find_values(lines: Sequence[Any], label_lines: tuple[int, ...], label_xyxy: Any, *,
                want_type: str | None = None, limit: int = 5) -> list[ValueCandidate]:
    """Candidate values for the label at ``label_xyxy`` on ``label_lines``, best first.

    Args:
        lines: recognised lines (:class:`~groundlite.text.TextLine` or anything with ``text``,
            ``char_xyxy`` float ``[len(text),4]`` and optionally ``xyxy`` float ``[4]``; without
            ``xyxy`` the union of the character boxes is used), image pixels.
        label_lines: indices into ``lines`` of the line(s) the label occupies (``Match.lines``).
        label_xyxy: ``[x0, y0, x1, y1]`` box of the label's characters (``Match.xyxy``).
        want_type: a type from :data:`VALUE_TYPES` the value should have (for example
            ``expected_type(label)``); a candidate of that type beats every candidate of another.
        limit: at most this many candidates are returned.

    Returns:
        Up to ``limit`` :class:`ValueCandidate` (at most one per layout), sorted by score, then by
        layout preference; ``[]`` when nothing is laid out like a value. The label's own characters
        are never returned.

    Raises:
        InvalidArgumentError: a label line index out of range, a malformed box, an unknown
            ``want_type``, a bad ``limit`` or more than :data:`MAX_LINES` lines.
    """
    label_idx, lbox = _check(lines, label_lines, label_xyxy, want_type, limit)
    boxes, heights, valid, nonempty, order, cy_sorted = _geometry(lines)
    own = np.zeros(len(lines), bool)
    own[list(label_idx)] = True
    lh = [float(heights[i]) for i in label_idx if valid[i]]
    h = (lh[0] if len(lh) == 1 else float(np.median(lh))) if lh else max(float(lbox[3] - lbox[1]), 1.0)
    last = label_idx[-1] if len(label_idx) == 1 else max(label_idx, key=lambda i: (boxes[i, 1] if valid[i] else -1e30))

    cands: list[_Cand] = []
    same = _same_line(lines[last], lbox, h)
    if same is not None:
        text, box, prior, c0 = same
        cands.append(_Cand("same-line", prior, 0.0, [last], text, box))

    # the label's column box: its (last) line, so right-aligned "Label:" cells line up with each other
    col = boxes[last] if valid[last] else lbox
    # every rule looks at most WINDOW label heights above or below the label: work on those lines only
    reach = WINDOW * h
    lo = int(np.searchsorted(cy_sorted, min(lbox[1], col[1]) - reach, "left"))
    hi = int(np.searchsorted(cy_sorted, max(lbox[3], col[3]) + reach, "right"))
    win = np.sort(order[lo:hi])
    win = win[valid[win] & nonempty[win] & ~own[win]]
    if len(win):
        sub = [lines[i] for i in win.tolist()]
        b, hs, other = boxes[win], heights[win], np.ones(len(win), bool)
        right = _right(b, hs, other, lbox, h, col)
        below = _below(b, hs, other, lbox, h, col)
        for layout, found in (("right", right), ("below", below)):
            if found is None:
                continue
            j, kind, gap_frac, header = found
            span = _column_span(b, hs, lbox, h) if layout == "below" else None
            cell = _value_of(sub, j, hs[j], b, hs, other, col if layout == "right" else None, span)
            if cell is None:
                continue
            text, box, used = cell
            cands.append(_Cand(kind, LAYOUT_PRIOR[kind], gap_frac, [int(win[k]) for k in used], text, box, header))

    # a cell right of a column header that heads a column of its own is another header
    has_cell_below = any(c.layout == "cell-below" for c in cands)
    for c in cands:
        # a header row read as one line ("Description    Location"): the wide-gap "value" heads a
        # column of its own, with a line under it, while the label has a value below too
        if c.layout == "same-line" and c.prior == SAME_LINE_GAP_PRIOR \
                and any(d.layout in ("below", "cell-below") for d in cands):
            vb, wb = c.box, boxes[win]
            under = (wb[:, 0] < vb[2]) & (wb[:, 2] > vb[0]) & (wb[:, 1] >= vb[3] - 0.3 * h) \
                & (wb[:, 1] - vb[3] <= CELL_BELOW_MAX_GAP * h)
            if under.any():
                c.header_right, has_cell_below = True, True
    colon: bool | None = None            # does the label end with ':' (computed when needed)
    out = []
    for c in cands:
        vt = value_type(c.text)
        score = c.prior * (1.0 - DISTANCE_DECAY * min(max(c.gap_frac, 0.0), 1.0))
        if want_type is not None:
            score *= TYPE_MATCH if vt == want_type else \
                TYPE_COMPATIBLE if vt in COMPATIBLE[want_type] else TYPE_MISMATCH
        if is_label_like(c.text):
            score *= LABEL_LIKE_FACTOR
        if len(c.text.split()) > MAX_VALUE_WORDS:
            score *= PROSE_FACTOR
        if c.header_right and has_cell_below and vt == "text":
            if colon is None:
                colon = _label_text(lines[last], lbox).rstrip().endswith((":", "：")) or \
                    (same is not None and same[2] == LAYOUT_PRIOR["same-line"])
            if not colon:
                score *= HEADER_FACTOR
        out.append(ValueCandidate(np.asarray(c.box, np.float32), c.text, tuple(c.lines), c.layout, vt,
                                  float(min(max(score, 0.0), 1.0))))
    rank = {k: i for i, k in enumerate(("same-line", "right", "cell-right", "below", "cell-below"))}
    out.sort(key=lambda v: (-v.score, rank[v.layout]))
    return out[: int(limit)]


def _label_text(line: Any, lbox: np.ndarray) -> str:
    chars = _chars(line)
    if chars is None:
        return str(line.text)
    inside = _inside(chars, lbox)
    if not inside.any():
        return ""
    k = np.nonzero(inside)[0]
    return str(line.text)[k[0]: k[-1] + 1]


def _inside(chars: np.ndarray, lbox: np.ndarray) -> np.ndarray:
    cx = 0.5 * (chars[:, 0] + chars[:, 2])
    cy = 0.5 * (chars[:, 1] + chars[:, 3])
    tol = 0.5
    return (cx >= lbox[0] - tol) & (cx <= lbox[2] + tol) & (cy >= lbox[1] - tol - 0.5 * (chars[:, 3] - chars[:, 1])) \
        & (cy <= lbox[3] + tol + 0.5 * (chars[:, 3] - chars[:, 1]))


def _same_line(line: Any, lbox: np.ndarray, h: float) -> tuple[str, np.ndarray, float, int] | None:
    """The value on the label's own line: the characters after the label's last character."""
    chars = _chars(line)
    text = str(line.text)
    if chars is None or not len(text):
        return None
    inside = _inside(chars, lbox)
    if not inside.any():
        return None
    end = int(np.nonzero(inside)[0][-1]) + 1            # first character after the label
    if end >= len(text):
        return None
    label_part = text[:end].rstrip()
    colon = label_part.endswith((":", "："))
    i = end
    while i < len(text) and text[i].isspace():
        i += 1
    if i < len(text) and text[i] in ":：":
        colon = True
        i += 1
    cell = _cell(text, chars, i, h)
    if cell is None:
        return None
    value, box, c0, _ = cell
    prev = end - 1
    while prev > 0 and text[prev].isspace():
        prev -= 1
    gap = chars[c0, 0] - chars[prev, 2]
    if colon:
        prior = LAYOUT_PRIOR["same-line"]
    elif gap >= SAME_LINE_GAP * h:
        prior = SAME_LINE_GAP_PRIOR
    elif value_type(value) != "text":
        prior = SAME_LINE_WEAK_PRIOR
    else:
        return None
    return value, box, prior, c0


def _row_overlap(boxes: np.ndarray, heights: np.ndarray, box: np.ndarray, hb: float) -> np.ndarray:
    ov = np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1])
    return ov >= ROW_OVERLAP * np.minimum(heights, max(hb, 1.0))


def _aligned(boxes: np.ndarray, mask: np.ndarray, box: np.ndarray, h: float) -> np.ndarray:
    """Indices of ``mask`` lines in the column of ``box`` (left edges, right edges or centres within
    :data:`ALIGN_TOL` heights), within :data:`GRID_WINDOW` heights vertically; nearest first."""
    tol = ALIGN_TOL * h
    cy = 0.5 * (box[1] + box[3])
    ccy = 0.5 * (boxes[:, 1] + boxes[:, 3])
    near = mask & (np.abs(ccy - cy) <= GRID_WINDOW * h) & (np.abs(ccy - cy) >= 0.5 * h)
    al = near & ((np.abs(boxes[:, 0] - box[0]) <= tol) | (np.abs(boxes[:, 2] - box[2]) <= tol)
                 | (np.abs(0.5 * (boxes[:, 0] + boxes[:, 2]) - 0.5 * (box[0] + box[2])) <= tol))
    idx = np.nonzero(al)[0]
    if len(idx) > MAX_GRID_LINES:
        idx = idx[np.argsort(np.abs(ccy[idx] - cy), kind="stable")[:MAX_GRID_LINES]]
    return idx


def _same_row(boxes: np.ndarray, heights: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[len(a), len(b)]``: line a[i] and line b[j] share a row."""
    ov = np.minimum(boxes[a, 3][:, None], boxes[b, 3][None, :]) - np.maximum(boxes[a, 1][:, None], boxes[b, 1][None, :])
    return ov >= ROW_OVERLAP * np.minimum(heights[a][:, None], heights[b][None, :])


def _right(boxes, heights, other, lbox, h, col):
    """``(line, layout, gap fraction, header?)`` of the first line right of the label, or None."""
    row = other & _row_overlap(boxes, heights, lbox, float(lbox[3] - lbox[1]) or h)
    cand = row & (boxes[:, 0] >= lbox[2] - 0.3 * h) & (boxes[:, 0] > lbox[0])
    idx = np.nonzero(cand)[0]
    if not len(idx):
        return None
    j = int(idx[np.argmin(boxes[idx, 0])])
    gap = max(0.0, float(boxes[j, 0] - lbox[2])) / h
    if gap > CELL_RIGHT_MAX_GAP:
        return None
    # grid: another row holds a line in the label's column and one in the value's column
    a = _aligned(boxes, other, col, h)
    b = _aligned(boxes, other, boxes[j], h)
    grid = bool(len(a) and len(b)
                and (_same_row(boxes, heights, a, b) & (boxes[b, 0][None, :] > boxes[a, 0][:, None])).any())
    if not grid and gap > RIGHT_MAX_GAP:
        return None
    # the label's row holds >= 2 other cells and j heads a column: j may be a header, not a value
    header = int(row.sum()) >= 2 and len(b) > 0
    kind = "cell-right" if grid else "right"
    return j, kind, gap / (CELL_RIGHT_MAX_GAP if grid else RIGHT_MAX_GAP), header


def _below(boxes, heights, other, lbox, h, col):
    """``(line, layout, gap fraction, False)`` of the nearest line below the label, or None."""
    tol = ALIGN_TOL * h
    # under the label's columns, left-aligned with it, or a hanging indent (a definition starting
    # just past the end of a short term: "nolog" / "    Currently ignored.") that no other cell of
    # the label's row stands above (that would be the next column's cell)
    gap = (boxes[:, 1] - lbox[3]) / h
    y_ok = other & (boxes[:, 1] >= lbox[3] - 0.3 * h) & (0.5 * (boxes[:, 1] + boxes[:, 3]) > lbox[3]) \
        & (gap <= CELL_BELOW_MAX_GAP)
    x_ok = ((boxes[:, 0] < lbox[2]) & (boxes[:, 2] > lbox[0])) | (np.abs(boxes[:, 0] - lbox[0]) <= tol)
    indent = y_ok & ~x_ok & (boxes[:, 0] >= lbox[0]) & (boxes[:, 0] <= lbox[2] + BELOW_INDENT * h)
    if indent.any():
        row = np.nonzero(other & _row_overlap(boxes, heights, lbox, float(lbox[3] - lbox[1]) or h))[0]
        for k in np.nonzero(indent)[0]:
            if ((boxes[row, 0] < boxes[k, 2]) & (boxes[row, 2] > boxes[k, 0])).any():
                indent[k] = False
        x_ok |= indent
    cand = y_ok & x_ok
    idx = np.nonzero(cand)[0]
    if not len(idx):
        return None
    top = boxes[idx, 1].min()
    first = idx[boxes[idx, 1] <= top + 0.5 * h]       # the first row below; in it, the best-aligned line
    ov = np.minimum(boxes[first, 2], lbox[2]) - np.maximum(boxes[first, 0], lbox[0])
    j = int(first[np.argmax(ov - 1e-3 * np.abs(boxes[first, 0] - lbox[0]))])
    g = max(0.0, float(gap[j]))
    # header row: the label's row holds other cells and the value's row has a cell under one of them
    row_l = np.nonzero(other & _row_overlap(boxes, heights, col, float(col[3] - col[1]) or h))[0]
    row_v = np.nonzero(other & _row_overlap(boxes, heights, boxes[j], heights[j]))[0]
    row_v = row_v[row_v != j]
    grid = False
    if len(row_l) and len(row_v):
        row_l, row_v = row_l[:MAX_GRID_LINES], row_v[:MAX_GRID_LINES]
        la, va = boxes[row_l], boxes[row_v]
        xov = np.minimum(la[:, 2][:, None], va[:, 2][None, :]) - np.maximum(la[:, 0][:, None], va[:, 0][None, :])
        wmin = np.minimum((la[:, 2] - la[:, 0])[:, None], (va[:, 2] - va[:, 0])[None, :])
        grid = bool(((xov >= 0.5 * wmin) | (np.abs(la[:, 0][:, None] - va[:, 0][None, :]) <= tol)).any())
    if not grid and g > BELOW_MAX_GAP:
        return None
    kind = "cell-below" if grid else "below"
    return j, kind, g / (CELL_BELOW_MAX_GAP if grid else BELOW_MAX_GAP), False


def _column_span(boxes, heights, lbox, h) -> tuple[float, float]:
    """``(lo, hi)``: the label's column on its row, from the end of the nearest cell to its left
    (or one label height left of the label, if nearer) to the start of the nearest cell to its
    right (unbounded where there is none)."""
    row = _row_overlap(boxes, heights, lbox, float(lbox[3] - lbox[1]) or h)
    left = row & (boxes[:, 2] <= lbox[0])
    right = row & (boxes[:, 0] >= lbox[2])
    lo = float(boxes[left, 2].max()) if left.any() else -np.inf
    hi = float(boxes[right, 0].min()) if right.any() else np.inf
    # a cell starts under its header (left-aligned, or a little left of it when right-aligned)
    return max(lo, float(lbox[0]) - 1.0 * h), hi


def _value_of(lines, j, hj, boxes, heights, other, label_col=None, span=None):
    """The value cell starting line ``j``, with its wrapped continuation lines:
    ``(text, box, line indices)`` or None. With ``label_col`` (a value right of its label), a
    line whose row starts with a line in the label's column is the next row, not a wrap. With
    ``span`` (a value below a column header), only the characters inside the header's column
    count: OCR often reads a table row as one line ("V:821, I:999 7163 Yes")."""
    line = lines[j]
    chars = _chars(line)
    text_j, start = str(line.text), 0
    if span is not None and chars is not None and len(text_j):
        cx = 0.5 * (chars[:, 0] + chars[:, 2])
        inside = np.nonzero((cx >= span[0]) & (cx < span[1]))[0]
        if len(inside) and (inside[0] > 0 or inside[-1] < len(text_j) - 1):
            start, end = int(inside[0]), int(inside[-1]) + 1
            while 0 < start < end and not text_j[start - 1].isspace():
                start += 1               # whole words only
            if start < end:
                text_j, chars = text_j[:end], chars[:end]
            else:
                start = 0
    cell = _cell(text_j, chars, start, float(hj))
    if cell is None:
        return None
    text, box, _, _ = cell
    if box is None:
        box = boxes[j]
    parts, used, cur = [text], [j], box
    first_x0 = box[0]
    tol = ALIGN_TOL * hj
    # lines just under the value, left-aligned with it, of its height: continuation candidates
    under = np.nonzero(other & (np.abs(boxes[:, 0] - first_x0) <= tol) & (np.abs(heights - hj) <= 0.3 * hj)
                       & (boxes[:, 1] > boxes[j, 1]) & (boxes[:, 1] - boxes[j, 3] <= MAX_WRAP_LINES * 1.5 * hj))[0]
    if not len(under):
        return text[:MAX_VALUE_CHARS], box, used
    cy = 0.5 * (boxes[:, 1] + boxes[:, 3])
    column = other & (np.abs(boxes[:, 0] - first_x0) <= tol) & (np.abs(cy - cy[j]) <= GRID_WINDOW * hj)
    right_edge = max(float(boxes[column, 2].max()) if column.any() else -np.inf, float(boxes[j, 2]))
    cells: dict[int, tuple[str, np.ndarray] | None] = {}

    def cell_of(k: int) -> tuple[str, np.ndarray] | None:
        if k not in cells:
            c = _cell(str(lines[k].text), _chars(lines[k]), 0, float(heights[k]))
            cells[k] = None if c is None else (c[0], c[1] if c[1] is not None else boxes[k])
        return cells[k]

    for _ in range(MAX_WRAP_LINES):
        # the gap is measured on the characters' boxes (the ink band grown to the font's content
        # area), which OCR and the DOM agree on; detected line boxes are inflated and overlap
        hc = max(float(cur[3] - cur[1]), 1.0)
        nxt = []
        for k in under.tolist():
            # detected boxes start at or above their characters: a line starting further down
            # cannot be the continuation, and its cell is not worth cutting
            if k in used or boxes[k, 1] <= boxes[used[-1], 1] or boxes[k, 1] - cur[3] > WRAP_GAP * hc + 1.0:
                continue
            c = cell_of(k)
            if c is not None and -0.5 * hc <= c[1][1] - cur[3] <= WRAP_GAP * hc:
                nxt.append(k)
        if len(nxt) != 1:
            break
        k = nxt[0]
        ktext, kb = cells[k]  # type: ignore[misc]
        line_text = str(lines[k].text)
        kchars = _chars(lines[k])
        m = re.search(r"\S+", line_text)
        if m is None:
            break
        if kchars is not None:
            w = float(kchars[m.start():m.end(), 2].max() - kchars[m.start(), 0])
        else:
            w = 0.5 * hj * (m.end() - m.start())
        if cur[2] + 0.25 * hc + w <= right_edge:
            break                        # the word would have fitted on the line above: not a wrap
        if label_col is not None:
            ltol = ALIGN_TOL * hj
            row = np.nonzero(other & _row_overlap(boxes, heights, boxes[k], float(heights[k])))[0]
            if ((np.abs(boxes[row, 0] - label_col[0]) <= ltol) | (np.abs(boxes[row, 2] - label_col[2]) <= ltol)).any():
                break                    # the next row's label
        if is_label_like(ktext):
            break
        parts.append(ktext)
        used.append(k)
        box = np.array([min(box[0], kb[0]), min(box[1], kb[1]), max(box[2], kb[2]), max(box[3], kb[3])])
        cur = kb
    return " ".join(parts)[:MAX_VALUE_CHARS], box, used
