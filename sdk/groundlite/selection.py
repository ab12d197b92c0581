"""Load-time choice of (backend, device, precision) for a package on this machine.

Candidates are the triples both the machine (available backends and their devices) and the package
(``Package.combos()``) support, minus what the caller filtered out and, for ``precision="auto"``,
quantised artifacts whose stored ``detection_agreement`` is below ``min_agreement``.

``auto`` prefers accelerators in a fixed order (TensorRT GPU > OpenVINO NPU > OpenVINO GPU >
ONNX Runtime GPU > ONNX Runtime NPU). With only CPU candidates it times a few warm inferences of
each and keeps the fastest. The decision is cached per (machine fingerprint, package checksum,
request), so the next load skips the probe. A candidate that fails to load or to run its first
inference is skipped with a warning; if all fail, :class:`NoBackendError` lists every failure.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
import platform
import statistics
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Mapping

import numpy as np

from . import schema
from ._version import __version__
from .backends import BACKEND_NAMES, Backend, Session, all_backends, device_kind
from .cache import JsonCache
from .errors import BackendUnavailableError, GroundliteError, IntegrityError, InvalidArgumentError, NoBackendError
from .package import Package

__all__ = ["Candidate", "Exclusion", "BackendInfo", "select", "validate_request", "machine_fingerprint", "PROBE_RUNS"]

log = logging.getLogger("groundlite")

#: timed warm runs per CPU candidate (after one untimed first run)
PROBE_RUNS = 3

#: (backend, device kind) -> rank; lower is preferred. CPU candidates are ranked by measured speed.
ACCELERATOR_RANK = {
    ("tensorrt", "gpu"): 0,
    ("openvino", "npu"): 1,
    ("openvino", "gpu"): 2,
    ("onnxruntime", "gpu"): 3,
    ("onnxruntime", "npu"): 4,
}
#: precision preference on accelerators (GPUs are fastest at fp16, NPUs at int8)
PRECISION_RANK = {"gpu": ("fp16", "int8", "fp32"), "npu": ("int8", "fp16", "fp32")}


@dataclass(frozen=True)
class Candidate:
    """One (backend, device, precision) the machine and the package both support.

    ``probe_ms`` is the median of :data:`PROBE_RUNS` warm runs of every graph of the family on
    dummy inputs (``None`` when not probed); ``status`` is ``chosen``, ``probed``, ``not tried``,
    ``cached`` or ``failed: <reason>``.
    """

    backend: str
    device: str
    precision: str
    probe_ms: float | None = None
    status: str = "not tried"

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.device}/{self.precision}"


@dataclass(frozen=True)
class Exclusion:
    """A triple (or pair, ``device=""``) that was not a candidate, and why."""

    backend: str
    device: str
    precision: str
    reason: str


@dataclass(frozen=True)
class BackendInfo:
    """What ``groundlite.load`` chose and why.

    ``load_ms`` covers loading every graph of the chosen candidate, ``first_run_ms`` its first
    inference on the probe inputs (both ``None`` when the decision came with pre-loaded sessions).
    """

    backend: str
    device: str
    precision: str
    candidates: tuple[Candidate, ...]
    excluded: tuple[Exclusion, ...]
    from_cache: bool
    failures: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    load_ms: float | None = None
    first_run_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        src = "cached decision" if self.from_cache else f"{len(self.candidates)} candidate(s)"
        return f"{self.backend}/{self.device}/{self.precision} ({src})"


def machine_fingerprint() -> dict[str, Any]:
    """CPU model, a hash of the CPU flags, core count, OS/arch and inference-library versions."""
    model = flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = value.strip()
                if model and flags:
                    break
    except OSError:
        pass
    model = model or platform.processor()
    versions = {}
    for dist in ("onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": model,
        "cpu_flags": hashlib.sha256(flags.encode()).hexdigest()[:16],
        "cores": os.cpu_count(),
        "os": platform.system(),
        "arch": platform.machine(),
        "libraries": versions,
        "groundlite": __version__,
    }


# ------------------------------------------------------------------------------------------------
def _hint(value: str, choices: tuple[str, ...] | list[str]) -> str:
    value = str(value).lower()
    match = [c for c in choices if value and c.startswith(value)] or difflib.get_close_matches(value, list(choices), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def validate_request(backend: str, device: str, precision: str, threads: int | None, min_agreement: float) -> tuple[str, str, str]:
    backend, device, precision = (str(backend).lower(), str(device).lower(), str(precision).lower())
    if backend not in ("auto", *BACKEND_NAMES):
        raise InvalidArgumentError(f"expected backend in {['auto', *BACKEND_NAMES]}, got {backend!r}"
                                   + _hint(backend, ("auto", *BACKEND_NAMES)))
    if precision not in ("auto", *schema.PRECISIONS):
        raise InvalidArgumentError(f"expected precision in {['auto', *schema.PRECISIONS]}, got {precision!r}"
                                   + _hint(precision, ("auto", *schema.PRECISIONS)))
    kind, _, index = device.partition(":")
    if device == "cuda" or kind == "cuda":
        device = "gpu" + (f":{index}" if index else "")
        kind = "gpu"
    if not (device == "auto" or (kind in ("cpu", "gpu", "npu") and (not index or index.isdigit()))):
        raise InvalidArgumentError(f"expected device in ['auto', 'cpu', 'gpu', 'gpu:N', 'npu'], got {device!r}"
                                   + _hint(device, ("auto", "cpu", "gpu", "npu")))
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InvalidArgumentError(f"expected threads to be a positive int or None, got {threads!r}")
    if not isinstance(min_agreement, (int, float)) or not 0.0 <= float(min_agreement) <= 1.0:
        raise InvalidArgumentError(f"expected min_agreement in [0, 1], got {min_agreement!r}")
    return backend, device, precision


def _device_matches(requested: str, device: str) -> bool:
    if requested == "auto":
        return True
    if ":" in requested:
        return requested == device or (requested.endswith(":0") and device == requested[:-2])
    return device_kind(device) == requested


def _order_key(c: Candidate) -> tuple[int, int]:
    kind = device_kind(c.device)
    rank = ACCELERATOR_RANK.get((c.backend, kind), 9)
    prefs = PRECISION_RANK.get(kind, ("int8", "fp32", "fp16"))
    return rank, prefs.index(c.precision) if c.precision in prefs else len(prefs)


def _load_all(package: Package, backend: Backend, c: Candidate, threads: int | None) -> dict[str, Session]:
    sessions = {}
    for graph in schema.FAMILY_GRAPHS[package.family]:
        artifact = package.find(graph, c.backend, c.precision)
        if artifact is None:  # combos() lists only complete pairs; this guards hand-made candidates
            raise BackendUnavailableError(f"expected a {graph} artifact for {c.key}, got none in the package")
        sessions[graph] = backend.load(package.path(artifact.file), c.device, threads=threads)
    return sessions


def _run_probe(sessions: Mapping[str, Session], feeds: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    for graph, session in sessions.items():
        if graph in feeds:
            session.run(feeds[graph])


def _fail_text(e: BaseException) -> str:
    return str(e) if isinstance(e, GroundliteError) else f"{type(e).__name__}: {e}"


# ------------------------------------------------------------------------------------------------
def select(
    package: Package,
    probe_feeds: Callable[[Package], Mapping[str, Mapping[str, np.ndarray]]],
    *,
    backend: str = "auto",
    device: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    min_agreement: float = schema.MIN_FIDELITY_AGREEMENT,
    cache: bool | JsonCache = True,
    backends: Mapping[str, Backend] | None = None,
) -> tuple[dict[str, Session], BackendInfo]:
    """Choose and load the best candidate for ``package``.

    Args:
        probe_feeds: the family class's ``probe_feeds``: graph name -> dummy input tensors.
        backend, device, precision: ``"auto"`` or a name to pin (``device`` also accepts ``"gpu:1"``).
        threads: intra-op threads for every session (``None``: the library's default).
        min_agreement: lowest stored ``detection_agreement`` a quantised artifact needs under
            ``precision="auto"``.
        cache: ``False`` to neither read nor write the decision cache, or a :class:`JsonCache`.
        backends: name -> backend table to use instead of the real ones (fault-injection tests).

    Returns:
        graph name -> loaded session, and the :class:`BackendInfo` describing the decision.
    """
    backend, device, precision = validate_request(backend, device, precision, threads, min_agreement)
    table = dict(backends) if backends is not None else all_backends()

    available: dict[str, list[str]] = {}
    excluded: list[Exclusion] = []
    candidates: list[Candidate] = []
    for b, p in package.combos():
        if backend != "auto" and b != backend:
            excluded.append(Exclusion(b, "", p, f"backend={backend!r} was requested"))
            continue
        if precision != "auto" and p != precision:
            excluded.append(Exclusion(b, "", p, f"precision={precision!r} was requested"))
            continue
        if b not in available:
            impl = table.get(b)
            available[b] = impl.devices() if impl is not None and impl.is_available() else []
        if not available[b]:
            excluded.append(Exclusion(b, "", p, f"{b} is not available on this machine"))
            continue
        if precision == "auto" and p != "fp32":
            fid = package.fidelity(b, p)
            agreement = None if not isinstance(fid, Mapping) else fid.get("detection_agreement")
            if not isinstance(agreement, (int, float)):
                excluded.append(Exclusion(b, "", p, "no stored fidelity (detection_agreement) for this artifact"))
                continue
            if agreement < min_agreement:
                excluded.append(Exclusion(
                    b, "", p, f"detection_agreement {agreement:.3f} is below min_agreement {min_agreement:.3f}"))
                continue
        for d in available[b]:
            if _device_matches(device, d):
                candidates.append(Candidate(b, d, p))
            else:
                excluded.append(Exclusion(b, d, p, f"device={device!r} was requested"))

    if not candidates:
        why = "; ".join(f"{e.backend}/{e.device or '*'}/{e.precision}: {e.reason}" for e in excluded) or "none"
        cls = NoBackendError if (backend, device, precision) == ("auto", "auto", "auto") else BackendUnavailableError
        raise cls(
            f"expected at least one (backend, device, precision) that both this machine and the package "
            f"{package.manifest.get('name', package.root.name)!r} support, got none (package offers "
            f"{package.combos()}; excluded: {why})"
        )

    store = cache if isinstance(cache, JsonCache) else (JsonCache("selection") if cache else None)
    cache_key = json.dumps({
        "machine": machine_fingerprint(), "package": package.checksum,
        "request": [backend, device, precision, threads, round(float(min_agreement), 6)],
        "candidates": sorted(c.key for c in candidates),
    }, sort_keys=True)

    ranked = sorted(candidates, key=_order_key)
    accelerators = [c for c in ranked if device_kind(c.device) != "cpu"]
    cpu = [c for c in ranked if device_kind(c.device) == "cpu"]
    feeds = probe_feeds(package)
    loaded: dict[str, dict[str, Session]] = {}
    failures: list[str] = []
    status: dict[str, str] = {}
    timings: dict[str, float] = {}

    cached = store.get(cache_key) if store is not None else None
    cached_key = cached.get("choice") if cached else None
    from_cache = any(c.key == cached_key for c in candidates)
    if from_cache:
        timings = {k: float(v) for k, v in (cached or {}).get("probe_ms", {}).items()}
        order = [c for c in candidates if c.key == cached_key]
        order += [c for c in accelerators + cpu if c.key != cached_key]
    else:
        if not accelerators and len(cpu) > 1:
            for c in cpu:
                try:
                    sessions = _load_all(package, table[c.backend], c, threads)
                    _run_probe(sessions, feeds)  # first run: warms caches, proves it runs
                    runs = []
                    for _ in range(PROBE_RUNS):
                        t0 = time.perf_counter()
                        _run_probe(sessions, feeds)
                        runs.append((time.perf_counter() - t0) * 1e3)
                except IntegrityError:  # a tampered file is refused, not worked around
                    raise
                except Exception as e:  # any other failure of a candidate is reported, never fatal here
                    failures.append(f"{c.key}: {_fail_text(e)}")
                    status[c.key] = f"failed: {_fail_text(e)}"
                    log.warning("groundlite: candidate %s failed during the probe: %s", c.key, _fail_text(e))
                    continue
                timings[c.key] = statistics.median(runs)
                # keep only the fastest so far loaded: peak memory is two candidates, not all of them
                if all(timings[c.key] < timings[k] for k in loaded):
                    loaded = {c.key: sessions}
                del sessions
            cpu.sort(key=lambda c: timings.get(c.key, float("inf")))
        order = accelerators + cpu

    chosen: Candidate | None = None
    sessions = {}
    load_ms = first_ms = None
    for c in order:
        if status.get(c.key, "").startswith("failed"):
            continue
        try:
            if c.key in loaded:
                sessions = loaded.pop(c.key)
            else:
                t0 = time.perf_counter()
                sessions = _load_all(package, table[c.backend], c, threads)
                t1 = time.perf_counter()
                _run_probe(sessions, feeds)
                load_ms, first_ms = (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3
        except IntegrityError:
            raise
        except Exception as e:
            failures.append(f"{c.key}: {_fail_text(e)}")
            status[c.key] = f"failed: {_fail_text(e)}"
            log.warning("groundlite: %s failed, trying the next candidate: %s", c.key, _fail_text(e))
            continue
        chosen = c
        break
    loaded.clear()  # release the probe sessions that lost

    if chosen is None:
        raise NoBackendError(
            f"expected one of {len(candidates)} candidate(s) to load and run, got a failure from each: "
            + " | ".join(failures)
        )
    # a cached choice that no longer loads is replaced by the fallback that did
    from_cache = from_cache and chosen.key == cached_key
    if store is not None and not from_cache:
        store.put(cache_key, {"choice": chosen.key, "probe_ms": timings, "created": time.time()})

    def final(c: Candidate) -> Candidate:
        st = status.get(c.key) or ("chosen" if c.key == chosen.key else
                                   "probed" if c.key in timings else "not tried")
        return dataclasses.replace(c, probe_ms=timings.get(c.key), status=st)

    providers: tuple[str, ...] = ()
    first = next(iter(sessions.values()), None)
    if first is not None:
        providers = tuple(getattr(first, "providers", ()) or ())
    info = BackendInfo(
        backend=chosen.backend, device=chosen.device, precision=chosen.precision,
        candidates=tuple(final(c) for c in ranked), excluded=tuple(excluded), from_cache=from_cache,
        failures=tuple(failures), providers=providers, load_ms=load_ms, first_run_ms=first_ms,
    )
    return sessions, info
