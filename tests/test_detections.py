"""Detections: validation table, indexing, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from groundlite import Detections
from groundlite.detections import Detection
from groundlite.errors import InvalidArgumentError


def make(n: int = 3, texts: bool = False) -> Detections:
    xyxy = np.array([[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4]], np.float64)[:n]
    return Detections(xyxy, [0.9, 0.5, 0.7][:n], [0, 1, 0][:n], ("cat", "dog"),
                      ("a", "b", "c")[:n] if texts else None)


def test_dtypes_are_converted_and_arrays_read_only():
    d = make()
    assert d.xyxy.dtype == np.float32 and d.scores.dtype == np.float32 and d.labels.dtype == np.int64
    assert d.xyxy.shape == (3, 4) and len(d) == 3
    for a in (d.xyxy, d.scores, d.labels):
        with pytest.raises(ValueError):
            a[0] = 1


def test_input_array_is_copied_not_frozen():
    xyxy = np.zeros((1, 4), np.float32)
    Detections(xyxy, [0.5], [0], ("x",))
    xyxy[0, 0] = 3.0  # the caller's array stays writable
    assert xyxy[0, 0] == 3.0


BAD = [
    ("xyxy shape", dict(xyxy=np.zeros((2, 3)), scores=[1, 1], labels=[0, 0]), "expected xyxy of shape (N, 4), got (2, 3)"),
    ("xyxy rank", dict(xyxy=np.zeros(4), scores=[1], labels=[0]), "expected xyxy of shape (N, 4), got (4,)"),
    ("scores len", dict(xyxy=np.zeros((2, 4)), scores=[1], labels=[0, 0]), "expected scores of shape (2,)"),
    ("labels len", dict(xyxy=np.zeros((2, 4)), scores=[1, 1], labels=[0]), "expected labels of shape (2,)"),
    ("label range", dict(xyxy=np.zeros((1, 4)), scores=[1], labels=[2]), "expected labels in [0, 1)"),
    ("negative label", dict(xyxy=np.zeros((1, 4)), scores=[1], labels=[-1]), "expected labels in [0, 1)"),
    ("fractional label", dict(xyxy=np.zeros((1, 4)), scores=[1], labels=[0.5]), "whole numbers"),
    ("nan box", dict(xyxy=[[0, 0, np.nan, 1]], scores=[1], labels=[0]), "finite"),
    ("string scores", dict(xyxy=np.zeros((1, 4)), scores=["a"], labels=[0]), "hold numbers"),
    ("texts len", dict(xyxy=np.zeros((1, 4)), scores=[1], labels=[0], texts=("a", "b")), "expected 1 texts"),
    ("phrases str", dict(xyxy=np.zeros((1, 4)), scores=[1], labels=[0], phrases="x"), "sequence of str"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD, ids=[b[0] for b in BAD])
def test_validation_table(name, kwargs, message):
    kwargs.setdefault("phrases", ("x",))
    with pytest.raises(InvalidArgumentError) as e:
        Detections(**kwargs)
    assert message in str(e.value)


def test_empty_and_empty_list_inputs():
    e = Detections.empty(("a", "b"))
    assert len(e) == 0 and e.xyxy.shape == (0, 4) and e.phrases == ("a", "b")
    assert Detections([], [], [], ()).xyxy.shape == (0, 4)
    assert e.to_dict() == {"phrases": ["a", "b"], "detections": []}
    assert list(e) == []


def test_int_index_gives_record_and_negative_index_works():
    d = make(texts=True)
    r = d[1]
    assert isinstance(r, Detection)
    assert r == Detection((5.0, 5.0, 20.0, 30.0), pytest.approx(0.5), 1, "dog", "b")
    assert d[-1].xyxy == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(IndexError):
        d[3]


@pytest.mark.parametrize("index,expected", [
    (slice(0, 2), [0, 1]),
    (slice(None, None, -1), [2, 1, 0]),
    (np.array([True, False, True]), [0, 2]),
    (np.array([2, 0]), [2, 0]),
    (np.array([-1]), [2]),
    (np.array([], dtype=np.int64), []),
])
def test_selection(index, expected):
    d = make(texts=True)
    s = d[index]
    assert isinstance(s, Detections)
    np.testing.assert_array_equal(s.xyxy, d.xyxy[expected])
    np.testing.assert_array_equal(s.labels, d.labels[expected])
    assert s.texts == tuple(d.texts[i] for i in expected)
    assert s.phrases == d.phrases


@pytest.mark.parametrize("index,error", [
    (np.array([True, False]), InvalidArgumentError),
    (np.array([[0]]), InvalidArgumentError),
    (np.array([5]), IndexError),
    ("a", InvalidArgumentError),
])
def test_bad_selection(index, error):
    with pytest.raises(error):
        make()[index]


def test_score_mask_filtering():
    d = make()
    high = d[d.scores > 0.6]
    assert len(high) == 2 and np.all(high.scores > 0.6)


def test_to_dict_json_roundtrip():
    d = make(texts=True)
    data = json.loads(d.to_json())
    assert data["phrases"] == ["cat", "dog"]
    assert [x["phrase"] for x in data["detections"]] == ["cat", "dog", "cat"]
    assert data["detections"][1] == {"xyxy": [5.0, 5.0, 20.0, 30.0], "score": 0.5, "label": 1,
                                     "phrase": "dog", "text": "b"}


def test_to_coco_is_xywh():
    coco = make().to_coco(image_id=7)
    assert coco[1] == {"image_id": 7, "category_id": 1, "bbox": [5.0, 5.0, 15.0, 25.0], "score": 0.5}


def test_to_supervision_without_package_is_clear():
    try:
        import supervision  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install supervision"):
            make().to_supervision()
    else:
        sv = make().to_supervision()
        np.testing.assert_array_equal(sv.class_id, [0, 1, 0])
        assert list(sv.data["class_name"]) == ["cat", "dog", "cat"]


def test_frozen():
    d = make()
    with pytest.raises(AttributeError):
        d.scores = np.zeros(3)  # type: ignore[misc]
