"""Phrase matching over recognised lines (C++ ``ops.fuzzy_find`` underneath), no model needed.

Lines are synthetic: character ``i`` of line ``k`` has the box ``[10 i, 30 k, 10 i + 10, 30 k + 20]``
so the expected box of any match can be written down exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from groundlite.errors import InvalidArgumentError, InvalidPhraseError
from groundlite.text.lines import TextLine
from groundlite.text.matching import check_phrases, match_phrases


def _line(k: int, text: str, score: float = 1.0) -> TextLine:
    n = len(text)
    x = np.arange(n, dtype=np.float32) * 10
    char_xyxy = np.stack([x, np.full(n, 30 * k), x + 10, np.full(n, 30 * k + 20)], 1).astype(np.float32)
    quad = np.array([[0, 30 * k], [10 * n, 30 * k], [10 * n, 30 * k + 20], [0, 30 * k + 20]], np.float32)
    return TextLine(text, score, quad, np.array([0, 30 * k, 10 * n, 30 * k + 20], np.float32), char_xyxy,
                    np.full(n, score, np.float32))


LINES = [
    _line(0, "Region-basedsegmentation"),
    _line(1, "Let us first determine markers"),
    _line(2, "of the coins and the"),
    _line(3, "Crème brûlée: 12.50"),
]


def _chars(k: int, c0: int, c1: int) -> list[float]:
    """Expected box of chars [c0, c1) of line k."""
    return [10.0 * c0, 30.0 * k, 10.0 * c1, 30.0 * k + 20]


@pytest.mark.parametrize(
    ("phrase", "lines", "box", "text"),
    [
        ("markers", (1,), _chars(1, 23, 30), "markers"),                       # exact, inside a line
        ("MARKERS", (1,), _chars(1, 23, 30), "markers"),                       # case
        ("creme brulee", (3,), _chars(3, 0, 12), "Crème brûlée"),             # accents
        ("region based segmentation", (0,), _chars(0, 0, 24), "Region-basedsegmentation"),  # dropped space, hyphen
        ("based-segmentation!", (0,), _chars(0, 7, 24), "basedsegmentation"),  # punctuation in the query
        ("determine markers of the", (1, 2), [0.0, 30.0, 300.0, 80.0], "determine markers of the"),  # next line
        ("determime", (1,), _chars(1, 13, 22), "determine"),                  # one typo
        ("12.50", (3,), _chars(3, 14, 19), "12.50"),
    ],
)
def test_match_table(phrase: str, lines: tuple[int, ...], box: list[float], text: str) -> None:
    matches = match_phrases(LINES, [phrase], threshold=0.6)
    best = max(matches, key=lambda m: m.score)
    assert best.lines == lines
    np.testing.assert_allclose(best.xyxy, box, atol=1e-4)
    assert best.text == text


def test_score_is_similarity_times_char_confidence() -> None:
    lines = [_line(0, "total amount", score=0.8)]
    (m,) = match_phrases(lines, ["amount"], threshold=0.1)
    assert m.similarity == pytest.approx(1.0)
    assert m.score == pytest.approx(0.8, abs=1e-6)
    (m,) = match_phrases(lines, ["amounx"], threshold=0.1)  # one substitution in 6 chars
    assert m.similarity == pytest.approx(5 / 6, abs=1e-6)
    assert m.score == pytest.approx(0.8 * 5 / 6, abs=1e-6)


def test_absent_phrase_is_below_threshold() -> None:
    assert match_phrases(LINES, ["elephant"], threshold=0.0) == []  # nothing within the edit bound
    # a two-edit variant of a word on the screen is a weak candidate, found only at a low threshold
    assert match_phrases(LINES, ["determxnx"], threshold=0.8) == []
    (m,) = match_phrases(LINES, ["determxnx"], threshold=0.3)
    assert m.lines == (1,) and m.similarity == pytest.approx(7 / 9, abs=1e-6)


def test_labels_index_phrases_and_every_line_is_searched() -> None:
    lines = [_line(0, "the cat"), _line(1, "the dog")]
    matches = match_phrases(lines, ["dog", "the"], threshold=0.9)
    assert sorted((m.label, m.lines) for m in matches) == [(0, (1,)), (1, (0,)), (1, (1,))]


def test_every_occurrence_on_a_line_is_returned() -> None:
    line = "the cat and the dog and the bird"
    matches = match_phrases([_line(0, line)], ["the"], threshold=0.9)
    starts = sorted(int(round(float(m.xyxy[0]) / 10)) for m in matches)
    assert starts == [i for i in range(len(line)) if line.startswith("the", i)] == [0, 12, 24]
    assert all(m.whole_word for m in matches)


def test_whole_word_outranks_a_match_inside_a_longer_word() -> None:
    matches = match_phrases([_line(0, "These are the ones")], ["the"], threshold=0.5)
    assert len(matches) == 2
    best, other = matches
    assert best.whole_word and not other.whole_word
    np.testing.assert_allclose(best.xyxy, _chars(0, 10, 13))
    np.testing.assert_allclose(other.xyxy, _chars(0, 0, 3))
    assert best.score > other.score


def test_a_dropped_space_is_found_from_the_character_geometry() -> None:
    # the recogniser read "Tableof Contents" (no space after "Table") but the characters of "of"
    # sit after a gap: centre steps of 10 px, and 25 px between "e" and "o"
    text = "Tableof Contents"
    x = np.array([10.0 * i + (15.0 if i >= 5 else 0.0) for i in range(len(text))], np.float32)
    boxes = np.stack([x, np.zeros_like(x), x + 10, np.full_like(x, 20)], 1).astype(np.float32)
    line = TextLine(text, 1.0, np.zeros((4, 2), np.float32), np.array([0, 0, 175, 20], np.float32), boxes,
                    np.ones(len(text), np.float32))
    (m,) = match_phrases([line], ["of"], threshold=0.5)
    assert m.whole_word
    (m,) = match_phrases([line], ["able"], threshold=0.5)
    assert not m.whole_word


def test_calibrated_scoring_replaces_the_raw_score() -> None:
    from groundlite.text.scoring import Scoring, features

    scoring = Scoring((2.0, 1.0, 1.5, -3.0), -1.0, 0.5, {})
    lines = [_line(0, "These are the ones", score=0.9)]
    raw = match_phrases(lines, ["the"], threshold=0.0)
    cal = match_phrases(lines, ["the"], threshold=0.0, scoring=scoring)
    assert len(raw) == len(cal) == 2
    x = features([m.similarity for m in cal], [m.confidence for m in cal], [m.whole_word for m in cal],
                 [m.n_chars for m in cal])
    np.testing.assert_allclose([m.score for m in cal], scoring(x), rtol=1e-9)
    assert [m.raw_score for m in cal] == pytest.approx([m.score for m in raw])


def test_line_pair_used_only_when_match_crosses_the_break() -> None:
    matches = match_phrases(LINES, ["coins and"], threshold=0.9)
    assert [m.lines for m in matches] == [(2,)]


@pytest.mark.parametrize("phrase", ["東京", "😀", "🇫🇷 flag", "ʕ•ᴥ•ʔ", "\u200d\u200d", "a" * 300, "ﷺ"])
def test_unicode_phrases_never_crash(phrase: str) -> None:
    try:
        matches = match_phrases(LINES, [phrase], threshold=0.5)
    except InvalidPhraseError:
        return  # e.g. only format characters: a typed error is fine, a crash is not
    assert all(0.0 <= m.score <= 1.0 for m in matches)


def test_cjk_phrase_matches_cjk_line() -> None:
    (m,) = match_phrases([_line(0, "欢迎来到东京")], ["东京"], threshold=0.9)
    np.testing.assert_allclose(m.xyxy, _chars(0, 4, 6))


@pytest.mark.parametrize(
    ("phrases", "error"),
    [
        ([], InvalidPhraseError),
        (["   "], InvalidPhraseError),
        (["...", "ok"], InvalidPhraseError),
        (["-–—!?"], InvalidPhraseError),
        ([3], InvalidArgumentError),
        (None, InvalidArgumentError),
    ],
)
def test_bad_phrases_raise_typed_errors(phrases: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        match_phrases(LINES, phrases, threshold=0.5)  # type: ignore[arg-type]


def test_single_string_is_one_phrase() -> None:
    phrases, norms = check_phrases("Hello, World")
    assert phrases == ("Hello, World",)
    assert norms[0].text == "helloworld"


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_out_of_range(threshold: float) -> None:
    with pytest.raises(InvalidArgumentError):
        match_phrases(LINES, ["markers"], threshold=threshold)


def test_no_lines_no_matches() -> None:
    assert match_phrases([], ["markers"], threshold=0.5) == []


def test_textline_words_are_unions_of_char_boxes() -> None:
    words = _line(1, "Let us  first").words()
    assert [w for w, _ in words] == ["Let", "us", "first"]
    np.testing.assert_allclose(words[1][1], _chars(1, 4, 6))
    np.testing.assert_allclose(words[2][1], _chars(1, 8, 13))
