"""``Detections``: the one result type every grounder returns.

A frozen dataclass of read-only numpy arrays, validated on construction (errors name the expected
and the actual shape), indexable with an int, a slice, a boolean mask or an integer array.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from .errors import InvalidArgumentError

__all__ = ["Detection", "Detections"]


class Detection(NamedTuple):
    """One detection: ``xyxy`` in original-image pixels, its score, label index, phrase, text and
    (for an interpreted query) the :class:`~groundlite.language.evidence.Evidence` that produced it."""

    xyxy: tuple[float, float, float, float]
    score: float
    label: int
    phrase: str
    text: str | None = None
    evidence: Any = None


def _frozen(a: np.ndarray) -> np.ndarray:
    # _as_array always copies, so freezing never touches the caller's array
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _as_array(value: Any, name: str, dtype: type, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"expected {name} to be array-like, got {type(value).__name__} ({e})") from None
    if arr.size == 0:
        # an empty list has shape (0,); give it the right rank so empty results validate
        arr = arr.reshape((0, 4) if ndim == 2 else (0,))
    if arr.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"expected {name} to hold numbers, got dtype {arr.dtype}")
    if np.dtype(dtype).kind in "iu" and arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InvalidArgumentError(f"expected {name} to hold whole numbers, got fractional or non-finite values")
    return arr.astype(dtype, copy=True)


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes found for a list of phrases in one image.

    Attributes:
        xyxy: float32 ``[N, 4]`` boxes ``(x1, y1, x2, y2)`` in original-image pixels, clipped to the image.
        scores: float32 ``[N]`` confidences in ``[0, 1]`` (sigmoid of the region-phrase logit).
        labels: int64 ``[N]`` index of each box's phrase in ``phrases``.
        phrases: the phrases that were searched for, in query order.
        texts: optional recognised text of each region (text model), ``len(texts) == N``.
        evidence: optional, per detection, the :class:`~groundlite.language.evidence.Evidence` of
            an interpreted query (``None`` for a literal match), ``len(evidence) == N``.
        unresolved: one record per query with no answer, saying which part was not found
            (``{"query", "interpretation", "missing", "ignored"}``); empty for literal search.

    Arrays are converted to the dtypes above and made read-only, so a ``Detections`` can be shared
    between threads.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    phrases: tuple[str, ...] = ()
    texts: tuple[str, ...] | None = None
    evidence: tuple[Any, ...] | None = None
    unresolved: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        xyxy = _as_array(self.xyxy, "xyxy", np.float32, 2)
        scores = _as_array(self.scores, "scores", np.float32, 1)
        labels = _as_array(self.labels, "labels", np.int64, 1)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise InvalidArgumentError(f"expected xyxy of shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        if scores.shape != (n,):
            raise InvalidArgumentError(f"expected scores of shape ({n},) to match xyxy, got {scores.shape}")
        if labels.shape != (n,):
            raise InvalidArgumentError(f"expected labels of shape ({n},) to match xyxy, got {labels.shape}")
        if not np.all(np.isfinite(xyxy)) or not np.all(np.isfinite(scores)):
            raise InvalidArgumentError("expected finite xyxy and scores, got NaN or infinity")
        if isinstance(self.phrases, str) or not all(isinstance(p, str) for p in self.phrases):
            raise InvalidArgumentError(f"expected phrases to be a sequence of str, got {self.phrases!r}")
        phrases = tuple(self.phrases)
        if n and (labels.min() < 0 or labels.max() >= len(phrases)):
            raise InvalidArgumentError(
                f"expected labels in [0, {len(phrases)}) to index phrases, got values in "
                f"[{int(labels.min())}, {int(labels.max())}]"
            )
        texts = self.texts
        if texts is not None:
            if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
                raise InvalidArgumentError(f"expected texts to be a sequence of str or None, got {texts!r}")
            texts = tuple(texts)
            if len(texts) != n:
                raise InvalidArgumentError(f"expected {n} texts to match xyxy, got {len(texts)}")
        object.__setattr__(self, "xyxy", _frozen(xyxy))
        object.__setattr__(self, "scores", _frozen(scores))
        object.__setattr__(self, "labels", _frozen(labels))
        object.__setattr__(self, "phrases", phrases)
        object.__setattr__(self, "texts", texts)
        evidence = self.evidence
        if evidence is not None:
            if isinstance(evidence, (str, bytes)) or not isinstance(evidence, Sequence):
                raise InvalidArgumentError(f"expected evidence to be a sequence, got {type(evidence).__name__}")
            evidence = tuple(evidence)
            if len(evidence) != n:
                raise InvalidArgumentError(f"expected {n} evidence entries to match xyxy, got {len(evidence)}")
        object.__setattr__(self, "evidence", evidence)
        unresolved = self.unresolved
        if isinstance(unresolved, (str, bytes, Mapping)) or not all(isinstance(u, Mapping) for u in unresolved):
            raise InvalidArgumentError(f"expected unresolved to be a sequence of dicts, got {unresolved!r}")
        object.__setattr__(self, "unresolved", tuple(unresolved))

    # ----------------------------------------------------------------------------------------
    @classmethod
    def empty(cls, phrases: Sequence[str] = (), *, with_texts: bool = False) -> "Detections":
        """No detections for ``phrases``: arrays of shape ``[0, 4]`` / ``[0]``."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                   tuple(phrases), () if with_texts else None)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __iter__(self) -> Iterator[Detection]:
        for i in range(len(self)):
            yield self._record(i)

    def _record(self, i: int) -> Detection:
        label = int(self.labels[i])
        return Detection(tuple(float(v) for v in self.xyxy[i]), float(self.scores[i]), label,  # type: ignore[arg-type]
                         self.phrases[label], None if self.texts is None else self.texts[i],
                         None if self.evidence is None else self.evidence[i])

    def __getitem__(self, index: Any) -> "Detection | Detections":
        """``d[i]`` is one :class:`Detection`; a slice, boolean mask ``[N]`` or int array gives a ``Detections``."""
        n = len(self)
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"expected an index in [{-n}, {n}), got {i}")
            return self._record(i % n)
        if isinstance(index, slice):
            idx = np.arange(n)[index]
        else:
            arr = np.asarray(index)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise InvalidArgumentError(f"expected a boolean mask of shape ({n},), got {arr.shape}")
                idx = np.flatnonzero(arr)
            elif arr.dtype.kind in "iu" and arr.ndim == 1:
                if arr.size and (arr.min() < -n or arr.max() >= n):
                    raise IndexError(f"expected indices in [{-n}, {n}), got values in [{arr.min()}, {arr.max()}]")
                idx = arr.astype(np.int64) % max(n, 1)
            elif arr.ndim == 1 and arr.size == 0:
                idx = np.zeros(0, np.int64)
            else:
                raise InvalidArgumentError(
                    f"expected an int, slice, boolean mask or 1-D int array, got {type(index).__name__} "
                    f"of dtype {arr.dtype} and shape {arr.shape}"
                )
        texts = None if self.texts is None else tuple(self.texts[int(i)] for i in idx)
        evidence = None if self.evidence is None else tuple(self.evidence[int(i)] for i in idx)
        return Detections(self.xyxy[idx], self.scores[idx], self.labels[idx], self.phrases, texts, evidence,
                          self.unresolved)

    # ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{"phrases": [...], "detections": [{"xyxy", "score", "label", "phrase"[, "text"]
        [, "evidence"]}][, "unresolved": [...]]}``."""
        dets = []
        for d in self:
            item: dict[str, Any] = {"xyxy": [round(v, 3) for v in d.xyxy], "score": round(d.score, 6),
                                    "label": d.label, "phrase": d.phrase}
            if d.text is not None:
                item["text"] = d.text
            if d.evidence is not None:
                item["evidence"] = d.evidence.to_dict() if hasattr(d.evidence, "to_dict") else d.evidence
            dets.append(item)
        out: dict[str, Any] = {"phrases": list(self.phrases), "detections": dets}
        if self.unresolved:
            out["unresolved"] = [dict(u) for u in self.unresolved]
        return out

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_coco(self, image_id: int) -> list[dict[str, Any]]:
        """COCO result records: ``bbox`` is ``[x, y, width, height]``, ``category_id`` is the label index."""
        out = []
        for d in self:
            x1, y1, x2, y2 = d.xyxy
            out.append({"image_id": image_id, "category_id": d.label,
                        "bbox": [x1, y1, x2 - x1, y2 - y1], "score": d.score})
        return out

    def to_supervision(self) -> Any:
        """Convert to ``supervision.Detections`` (``confidence`` = scores, ``class_id`` = labels)."""
        try:
            import supervision as sv
        except ImportError:
            raise ImportError(
                "expected the optional 'supervision' package for to_supervision(), but it is not installed; "
                "run: pip install supervision"
            ) from None
        names = np.array([self.phrases[i] for i in self.labels], dtype=object)
        data: dict[str, Any] = {"class_name": names}
        if self.texts is not None:
            data["text"] = np.array(self.texts, dtype=object)
        return sv.Detections(xyxy=self.xyxy.copy(), confidence=self.scores.copy(),
                             class_id=self.labels.copy(), data=data)

    def __repr__(self) -> str:
        return f"Detections(n={len(self)}, phrases={self.phrases!r})"
