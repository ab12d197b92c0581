"""Score calibration read from the manifest, and the OCR cache keyed by pixel content."""

from __future__ import annotations

import numpy as np
import pytest

from groundlite.errors import ManifestError
from groundlite.text.ocr_cache import ContentCache, content_key
from groundlite.text.scoring import FEATURES, Scoring, features

BLOCK = {"features": list(FEATURES), "weights": [1.0, 0.5, 2.0, -1.0], "bias": -0.5, "threshold": 0.6,
         "fitted_on": {"split": "tune"}}


def test_features_columns_match_their_definition() -> None:
    x = features([0.5, 0.9], [0.9, 0.5], [True, False], [4, 10])
    assert x.shape == (2, len(FEATURES))
    np.testing.assert_allclose(x[:, 0], np.log([1.0, 9.0]), atol=1e-9)
    np.testing.assert_allclose(x[:, 1], np.log([9.0, 1.0]), atol=1e-9)
    np.testing.assert_array_equal(x[:, 2], [1.0, 0.0])
    np.testing.assert_allclose(x[:, 3], [0.25, 0.1])
    assert np.all(np.isfinite(features([0.0, 1.0], [1.0, 0.0], [1, 1], [0, 1])))  # clipped, not inf
    with pytest.raises(ValueError, match="equal-length"):
        features([0.5], [0.5, 0.5], [1], [3])


def test_scoring_is_the_logistic_model_of_its_block() -> None:
    s = Scoring.from_manifest(BLOCK)
    assert s is not None and s.threshold == 0.6 and s.to_dict()["weights"] == BLOCK["weights"]
    x = features([0.8], [0.95], [1], [6])
    z = float(x[0] @ np.array(BLOCK["weights"]) + BLOCK["bias"])
    assert s(x)[0] == pytest.approx(1 / (1 + np.exp(-z)))
    assert Scoring.from_manifest(None) is None


@pytest.mark.parametrize("change", [
    {"features": ["a", "b", "c", "d"]},
    {"weights": [1.0, 2.0]},
    {"weights": [1.0, float("nan"), 0.0, 0.0]},
    {"threshold": 1.5},
    {"bias": "x"},
])
def test_bad_scoring_blocks_are_manifest_errors(change: dict) -> None:
    with pytest.raises(ManifestError):
        Scoring.from_manifest({**BLOCK, **change})
    with pytest.raises(ManifestError):
        Scoring.from_manifest([1, 2])


def test_content_key_sees_every_pixel_and_the_shape() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (1080, 1920, 3), np.uint8)  # large: hashed in parallel chunks
    k = content_key(a)
    assert content_key(a.copy()) == k
    b = a.copy()
    b[-1, -1, -1] ^= 1
    assert content_key(b) != k
    assert content_key(a.reshape(1920, 1080, 3)) != k        # same bytes, other shape
    assert content_key(a[:, :, ::-1]) != k                   # a view: made contiguous first
    small = rng.integers(0, 256, (8, 8, 3), np.uint8)
    assert content_key(small) == content_key(small.copy()) != content_key(np.zeros((0, 8, 3), np.uint8))


def test_content_cache_is_a_bounded_lru(tmp_path) -> None:
    c = ContentCache(2)
    c.put(b"a", ("A",))
    c.put(b"b", ("B",))
    assert c.get(b"a") == ("A",)  # a is now the most recent
    c.put(b"c", ("C",))
    assert c.get(b"b") is None and c.get(b"a") == ("A",) and len(c) == 2
    off = ContentCache(0)
    off.put(b"a", ("A",))
    assert off.get(b"a") is None and len(off) == 0


def test_content_cache_remembers_files_by_size_and_mtime(tmp_path) -> None:
    import os

    f = tmp_path / "x.png"
    f.write_bytes(b"12345")
    c = ContentCache(4)
    key = c.file_key(f)
    assert key is not None and c.file_key(str(f)) == key
    c.put(b"k", ("lines",), key)
    assert c.get_file(key) == ("lines",)
    f.write_bytes(b"123456")  # changed: a different key, so nothing stale is returned
    assert c.file_key(f) != key and c.get_file(c.file_key(f)) is None
    os.remove(f)
    assert c.file_key(f) is None and c.file_key(np.zeros(3)) is None
