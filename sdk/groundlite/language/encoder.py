"""The optional sentence encoder: phrase -> unit vector, so phrases can be matched by meaning.

A ``sentence`` package (one graph, ``sentence_encoder``: ``input_ids`` / ``attention_mask`` int64
``[B, T]`` -> ``sentence_embedding`` float32 ``[B, D]``, mean-pooled and L2-normalised inside the
graph) is built by the exporter — ``groundlite_export.sentence.export_sentence(install=True)``
writes the all-MiniLM-L6-v2 package to :func:`installed_package_dir` — and nothing is downloaded
at run time. Callers treat the encoder as optional: :func:`available` says whether one is installed.

>>> enc = load_encoder("minilm")                      # doctest: +SKIP
>>> enc.similarity(["Sign in"], ["Log in", "Delete printer"])  # doctest: +SKIP
array([[0.87, 0.11]], dtype=float32)

Backend and precision: the runtime's own selection (:func:`groundlite.selection.select`: CPU
candidates timed, the decision cached). ``precision="auto"`` asks for INT8 when some INT8
artifact's stored fidelity passes :func:`fidelity_gate` (mean cosine to the FP32 reference
>= :data:`groundlite.schema.MIN_SENTENCE_COSINE` and top-1 retrieval agreement >=
:data:`groundlite.schema.MIN_SENTENCE_RETRIEVAL_AGREEMENT`, measured on real screenshot texts),
among the backends whose INT8 passes; otherwise FP32. Only numpy, tokenizers and the backend
libraries are used here.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import schema
from .._version import __version__
from ..cache import cache_dir
from ..errors import InvalidArgumentError, ManifestError, PackageError, PackageNotFoundError, did_you_mean
from ..package import Package, open_package
from ..phrases import validate_phrases

__all__ = ["SentenceEncoder", "load_encoder", "available", "installed_package_dir", "fidelity_gate",
           "SENTENCE_MODELS", "CACHE_SIZE", "BATCH_SIZE", "RECIPE_VERSION"]

#: names :func:`load_encoder` accepts besides a package directory (each an installed package)
SENTENCE_MODELS = ("minilm",)
#: texts whose embeddings one encoder keeps (LRU); 4096 x 384 float32 is about 6 MB
CACHE_SIZE = 4096
#: texts per inference call; new texts are sorted by token count first, so a batch pads little
BATCH_SIZE = 32
#: bump when the exporter's recipe changes what an installed package holds (a new install location)
RECIPE_VERSION = 1


def installed_package_dir(model: str = "minilm") -> Path:
    """Where ``export_sentence(install=True)`` puts the package of ``model`` (may not exist).

    Keyed by the SDK version and :data:`RECIPE_VERSION`, so another SDK version looks elsewhere.
    """
    if model not in SENTENCE_MODELS:
        raise InvalidArgumentError(f"expected a sentence model in {list(SENTENCE_MODELS)}, got {model!r}"
                                   + did_you_mean(str(model), SENTENCE_MODELS))
    key = hashlib.sha256(f"{model}:{__version__}:{RECIPE_VERSION}".encode()).hexdigest()[:16]
    return cache_dir("packages", f"{model}-{key}")


def _open(model: str | os.PathLike[str], verify: bool | str) -> Package:
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidArgumentError(f"expected a sentence package path or a name in {list(SENTENCE_MODELS)}, "
                                   f"got {type(model).__name__}")
    path = Path(model)
    if not path.is_dir():
        name = os.fspath(model)
        if name not in SENTENCE_MODELS:
            raise PackageNotFoundError(f"expected a sentence package directory or a name in {list(SENTENCE_MODELS)}, "
                                       f"got {name!r}" + did_you_mean(name, SENTENCE_MODELS))
        path = installed_package_dir(name)
        if not (path / schema.MANIFEST_NAME).is_file():
            raise PackageNotFoundError(
                f"expected an installed {name!r} sentence-encoder package at {str(path)!r}, got none; build it with "
                f"groundlite_export.sentence.export_sentence(install=True) (the exporter's 'export' extra)")
    package = open_package(path, verify=verify)
    if package.family != "sentence":
        raise InvalidArgumentError(f"expected a sentence package, got a {package.family!r} package at {str(path)!r}; "
                                   "load grounders with groundlite.load")
    return package


def available(model: str | os.PathLike[str] = "minilm") -> bool:
    """Whether a sentence package for ``model`` (a name or a directory) exists and opens (sizes checked,
    no hashing, nothing loaded). Never raises for a missing or broken package."""
    try:
        _open(model, verify=False)
    except (PackageError, InvalidArgumentError):
        return False
    return True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        return None
    return float(value)


def fidelity_gate(fidelity: Any, min_cosine: float = schema.MIN_SENTENCE_COSINE,
                  min_retrieval_agreement: float = schema.MIN_SENTENCE_RETRIEVAL_AGREEMENT) -> str | None:
    """Why ``precision="auto"`` must not pick a reduced-precision artifact with this stored fidelity, or ``None``."""
    if not isinstance(fidelity, Mapping):
        return "no stored fidelity (mean_cosine, retrieval_agreement) for this artifact"
    for key, low in (("mean_cosine", min_cosine), ("retrieval_agreement", min_retrieval_agreement)):
        value = _number(fidelity.get(key))
        if value is None:
            return f"expected a finite stored {key}, got {fidelity.get(key)!r}"
        if value < low:
            return f"{key} {value:.4f} is below the gate {low:.4f}"
    return None


def _plan(package: Package, backend: str, precision: str, min_cosine: float,
          min_agreement: float) -> tuple[str, dict[str, Any] | None, tuple[str, ...]]:
    """(precision to request, backend table restricted to passing INT8 backends or None, notes)."""
    if precision != "auto":
        return precision, None, ()
    from ..backends import get_backend

    notes: list[str] = []
    passing = []
    for b, p in package.combos():
        if p != "int8" or backend not in ("auto", b):
            continue
        why = fidelity_gate(package.fidelity(b, p), min_cosine, min_agreement)
        if why is not None:
            notes.append(f"{b}/int8 refused: {why}")
        elif not get_backend(b).is_available():
            notes.append(f"{b}/int8 skipped: {b} is not available on this machine")
        else:
            passing.append(b)
    if not passing:
        return "fp32", None, tuple(notes)
    return "int8", {b: get_backend(b) for b in passing}, tuple(notes)


class SentenceEncoder:
    """Texts -> L2-normalised float32 embeddings ``[N, dim]``, with a per-text LRU cache.

    Built by :func:`load_encoder` (or ``SentenceEncoder.load``). Thread-safe: the sessions are, and
    the cache and timings are guarded by a lock (two threads missing the same text may both compute
    it; the results are equal).
    """

    family = "sentence"

    def __init__(self, package: Package, sessions: Mapping[str, Any], backend_info: Any, *,
                 threads: int | None = None, cache_size: int = CACHE_SIZE, batch_size: int = BATCH_SIZE) -> None:
        from tokenizers import Tokenizer

        for name, value, low in (("cache_size", cache_size, 0), ("batch_size", batch_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgumentError(f"expected {name} to be an int >= {low}, got {value!r}")
        block = package.manifest.get("sentence")
        if not isinstance(block, Mapping):
            raise ManifestError("expected a 'sentence' block (dim, max_tokens) in the manifest, got none")
        dim, max_tokens = block.get("dim"), block.get("max_tokens")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (dim, max_tokens)):
            raise ManifestError(f"expected positive ints sentence.dim and sentence.max_tokens, got {dim!r} and {max_tokens!r}")
        if "tokenizer" not in package.files:
            raise ManifestError("expected files.tokenizer (tokenizer.json) in the sentence package, got none")
        if schema.GRAPH_SENTENCE_ENCODER not in sessions:
            raise ManifestError(f"expected a session for graph {schema.GRAPH_SENTENCE_ENCODER!r}, got {list(sessions)}")
        try:
            tok = Tokenizer.from_file(str(package.path(package.files["tokenizer"])))
        except PackageError:
            raise
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise ManifestError(f"expected tokenizer.json to be a tokenizers JSON file, got: {e}") from None
        tok.no_padding()  # padding is per batch, here
        tok.enable_truncation(int(max_tokens))
        self._tok = tok
        self._session = sessions[schema.GRAPH_SENTENCE_ENCODER]
        self.package = package
        self.backend_info = backend_info
        self.dim = int(dim)
        self.max_tokens = int(max_tokens)
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.precision_notes: tuple[str, ...] = ()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._tok_lock = threading.Lock()  # Tokenizer.encode_batch is not documented as thread-safe
        self._hits = self._misses = 0
        self._timings: dict[str, float] = {}

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def load(cls, model: str | os.PathLike[str] = "minilm", backend: str = "auto", precision: str = "auto",
             threads: int | None = None, **options: Any) -> "SentenceEncoder":
        """Same as :func:`load_encoder`."""
        return load_encoder(model, backend, precision, threads, **options)

    @classmethod
    def probe_feeds(cls, package: Package) -> dict[str, dict[str, np.ndarray]]:
        """A short phrase (``[1, 6]``), the size the encoder mostly runs at, for the timing probe."""
        ids = np.array([[101, 2131, 1999, 2000, 2115, 102]], dtype=np.int64)
        return {schema.GRAPH_SENTENCE_ENCODER: {schema.INPUT_IDS: ids, schema.ATTENTION_MASK: np.ones_like(ids)}}

    # -- encoding -------------------------------------------------------------------------------
    def _infer(self, texts: list[str]) -> np.ndarray:
        """float32 [len(texts), dim] for new texts: sorted by token count, batched, padded per batch."""
        with self._tok_lock:
            enc = self._tok.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in enc])
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), self.dim), np.float32)
        t_infer = 0.0
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for j, r in enumerate(rows):
                ids[j, :lengths[r]] = enc[r].ids
                mask[j, :lengths[r]] = 1
            t0 = time.perf_counter()
            emb = self._session.run({schema.INPUT_IDS: ids, schema.ATTENTION_MASK: mask})[schema.SENTENCE_EMBEDDING]
            t_infer += time.perf_counter() - t0
            if emb.shape != (len(rows), self.dim):
                raise ManifestError(f"expected the sentence encoder to return [{len(rows)}, {self.dim}], got {list(emb.shape)}")
            out[rows] = emb
        # the graph normalises; again here so a package whose graph does not still gives unit vectors
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        self._t_infer = t_infer
        return out

    def encode(self, texts: str | Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings, float32 ``[N, dim]`` (``N = len(texts)``; a str counts as one text).

        An empty list gives ``[0, dim]``. Texts are stripped; repeated and cached texts are encoded
        once. Raises :class:`~groundlite.errors.InvalidPhraseError` for a non-str, blank or
        unencodable text, :class:`~groundlite.errors.BackendError` if the backend fails.
        """
        t0 = time.perf_counter()
        if isinstance(texts, (list, tuple)) and len(texts) == 0:
            self._timings = {"tokenize_infer_ms": 0.0, "infer_ms": 0.0, "total_ms": 0.0, "texts": 0.0,
                             "cache_hits": 0.0, "new": 0.0}
            return np.zeros((0, self.dim), np.float32)
        items = validate_phrases(texts)
        out = np.empty((len(items), self.dim), np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(items):
                row = self._cache.get(text)
                if row is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = row
            hits = len(items) - sum(len(v) for v in missing.values())
            self._hits += hits
            self._misses += len(missing)
        self._t_infer = 0.0
        t1 = time.perf_counter()
        if missing:
            new = list(missing)
            emb = self._infer(new)
            for text, row in zip(new, emb):
                out[missing[text]] = row
            if self.cache_size:
                with self._lock:
                    for text, row in zip(new, emb):
                        frozen = row.copy()
                        frozen.flags.writeable = False
                        self._cache[text] = frozen
                        self._cache.move_to_end(text)
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        t2 = time.perf_counter()
        self._timings = {"tokenize_infer_ms": (t2 - t1) * 1e3, "infer_ms": self._t_infer * 1e3,
                         "total_ms": (t2 - t0) * 1e3, "texts": float(len(items)), "cache_hits": float(hits),
                         "new": float(len(missing))}
        return out

    def similarity(self, a_texts: str | Sequence[str], b_texts: str | Sequence[str]) -> np.ndarray:
        """Cosine similarity, float32 ``[Na, Nb]`` in [-1, 1] (``encode(a) @ encode(b).T``)."""
        a, b = self.encode(a_texts), self.encode(b_texts)
        return np.clip(a @ b.T, -1.0, 1.0).astype(np.float32, copy=False)

    # -- introspection --------------------------------------------------------------------------
    @property
    def last_timings(self) -> dict[str, float]:
        """The latest ``encode``: ``total_ms``, ``tokenize_infer_ms`` (new texts), ``infer_ms`` (backend
        runs only), and counts ``texts``, ``cache_hits``, ``new`` (distinct new texts)."""
        return dict(self._timings)

    def cache_info(self) -> dict[str, int]:
        """``hits``, ``misses`` (distinct texts computed), ``size`` and ``maxsize`` of the LRU cache."""
        with self._lock:
            return {"hits": self._hits, "misses": self._misses, "size": len(self._cache), "maxsize": self.cache_size}

    def clear_cache(self) -> None:
        """Forget every cached embedding (counters too)."""
        with self._lock:
            self._cache.clear()
            self._hits = self._misses = 0

    def __repr__(self) -> str:
        info = self.backend_info
        where = getattr(info, "summary", lambda: str(info))()
        return f"SentenceEncoder({self.package.manifest.get('name', '?')!r}, dim={self.dim}, {where})"


def load_encoder(model: str | os.PathLike[str] = "minilm", backend: str = "auto", precision: str = "auto",
                 threads: int | None = None, *, device: str = "auto", cache_size: int = CACHE_SIZE,
                 batch_size: int = BATCH_SIZE, min_cosine: float = schema.MIN_SENTENCE_COSINE,
                 min_retrieval_agreement: float = schema.MIN_SENTENCE_RETRIEVAL_AGREEMENT,
                 decision_cache: bool = True) -> SentenceEncoder:
    """Load a sentence package and return its :class:`SentenceEncoder`.

    Args:
        model: ``"minilm"`` (the installed package, :func:`installed_package_dir`) or a package directory.
        backend: ``"auto"``, ``"onnxruntime"``, ``"openvino"`` (or ``"tensorrt"``).
        precision: ``"auto"`` (INT8 where its stored fidelity passes the gate, else FP32), ``"fp32"``, ``"int8"``.
        threads: intra-op threads (``None``: the backend's default).
        device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"npu"``.
        cache_size: texts kept in the per-encoder LRU cache (0 disables it).
        batch_size: texts per inference call.
        min_cosine, min_retrieval_agreement: the ``precision="auto"`` gate (see :func:`fidelity_gate`).
        decision_cache: reuse / store the backend decision in the user cache dir.

    Raises :class:`PackageNotFoundError` when no package is installed (see :func:`available`),
    :class:`InvalidArgumentError` for a bad name or value, other ``PackageError`` subclasses for a
    broken package and ``NoBackendError`` / ``BackendUnavailableError`` when nothing loads.
    """
    from ..selection import select, validate_request

    backend, device, precision = validate_request(backend, device, precision, threads, schema.MIN_FIDELITY_AGREEMENT)
    for name, value in (("min_cosine", min_cosine), ("min_retrieval_agreement", min_retrieval_agreement)):
        if _number(value) is None or not 0.0 <= float(value) <= 1.0:
            raise InvalidArgumentError(f"expected {name} in [0, 1], got {value!r}")
    package = _open(model, verify="lazy")
    wanted, table, notes = _plan(package, backend, precision, float(min_cosine), float(min_retrieval_agreement))
    sessions, info = select(package, SentenceEncoder.probe_feeds, backend=backend, device=device, precision=wanted,
                            threads=threads, cache=decision_cache, backends=table)
    encoder = SentenceEncoder(package, sessions, info, threads=threads, cache_size=cache_size, batch_size=batch_size)
    encoder.precision_notes = notes
    return encoder
