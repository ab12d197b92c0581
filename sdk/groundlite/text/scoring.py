"""Calibrated match scores: P(the box is the phrase's region) from a match's features.

A raw match has a similarity (1 - edit distance / phrase length), a recognition confidence (mean
character probability of the matched characters), whether it is a whole-word occurrence, and
the phrase's normalised length. :func:`features` turns those into a fixed feature vector and
:class:`Scoring` applies a logistic model fitted on the *tuning* split of the real screenshot set
(``benchmarks/text_grounding.py --fit-calibration``), shipped in the package's ``scoring`` block
next to its default threshold (chosen on the same split), as model packages in this field carry
their thresholds and calibration (OpenVINO model_api, MediaPipe Tasks metadata).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import ManifestError

__all__ = ["FEATURES", "features", "Scoring"]

#: feature names, in column order
FEATURES = ("logit_similarity", "logit_confidence", "whole_word", "inv_length")

_EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def features(similarity: Any, confidence: Any, whole_word: Any, n_chars: Any) -> np.ndarray:
    """Feature matrix float64 ``[N, len(FEATURES)]`` from equal-length 1-D arrays.

    Columns: logit of the similarity, logit of the confidence (both clipped to [1e-4, 1 - 1e-4]),
    whole-word flag (0/1), 1 / normalised phrase length.
    """
    sim = np.asarray(similarity, np.float64).reshape(-1)
    conf = np.asarray(confidence, np.float64).reshape(-1)
    whole = np.asarray(whole_word, np.float64).reshape(-1)
    n = np.maximum(np.asarray(n_chars, np.float64).reshape(-1), 1.0)
    if not (len(sim) == len(conf) == len(whole) == len(n)):
        raise ValueError(f"expected equal-length feature arrays, got {len(sim)}, {len(conf)}, {len(whole)}, {len(n)}")
    return np.stack([_logit(sim), _logit(conf), whole, 1.0 / n], axis=1)


@dataclass(frozen=True)
class Scoring:
    """A fitted logistic calibration: ``score = sigmoid(features @ weights + bias)``.

    ``threshold`` is the default score threshold chosen with it; ``fitted_on`` records where it
    came from (split, counts, data hash).
    """

    weights: tuple[float, ...]
    bias: float
    threshold: float
    fitted_on: Mapping[str, Any]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, np.float64) @ np.asarray(self.weights, np.float64) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "weights": list(self.weights), "bias": self.bias,
                "threshold": self.threshold, "fitted_on": dict(self.fitted_on)}

    @classmethod
    def from_manifest(cls, block: Any) -> "Scoring | None":
        """The package's ``scoring`` block -> :class:`Scoring`, or ``None`` when there is none."""
        if block is None:
            return None
        if not isinstance(block, Mapping):
            raise ManifestError(f"expected manifest 'scoring' to be an object, got {type(block).__name__}")
        names = block.get("features")
        if list(names or []) != list(FEATURES):
            raise ManifestError(f"expected scoring features {list(FEATURES)}, got {names!r}")
        try:
            weights = tuple(float(w) for w in block["weights"])
            bias, threshold = float(block["bias"]), float(block["threshold"])
        except (KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"expected numeric scoring weights, bias and threshold, got {e!r}") from None
        if len(weights) != len(FEATURES) or not np.all(np.isfinite(weights)) or not np.isfinite(bias):
            raise ManifestError(f"expected {len(FEATURES)} finite scoring weights, got {list(weights)}")
        if not 0.0 <= threshold <= 1.0:
            raise ManifestError(f"expected a scoring threshold in [0, 1], got {threshold}")
        return cls(weights, bias, threshold, dict(block.get("fitted_on") or {}))
