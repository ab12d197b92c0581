"""Load-time choice of (backend, device, precision) for a package on this machine.

Candidates are the triples both the machine (available backends and their devices) and the package
(``Package.combos()``) support, minus what the caller filtered out and, for ``precision="auto"``,
reduced-precision artifacts (``fp16``, ``bf16``, ``int8``) whose stored fidelity fails the gate: a
stored ``accuracy_drop_points`` (grounding accuracy lost against FP32, percentage points, measured
on real data) above ``max_accuracy_drop``, or — where no drop is stored — a ``detection_agreement``
below ``min_agreement``. An artifact without either is excluded under ``auto``.

``auto`` prefers accelerators in a fixed order (TensorRT GPU > OpenVINO NPU > OpenVINO GPU >
ONNX Runtime GPU > ONNX Runtime NPU). With only CPU candidates it *probes* them (:class:`ProbePolicy`):
at most ``max_loaded`` (3) are loaded at once — with more, each is first pre-ranked by one timed
run and only the fastest three go on — then timed runs are *interleaved*: round r runs every
finalist once, the order rotated by r, for ``rounds`` rounds (fewer, but at least ``min_rounds``,
once ``budget_s`` is spent). Each candidate's median decides, so a busy neighbour during a few
rounds slows every candidate alike and moves no median far; timing the candidates one after the
other let a neighbour busy during one candidate's turn lock in the slower backend.

The decision is cached per (machine fingerprint, package checksum, request) with the winner's
*margin* (runner-up median / winner median) and the round count. A clear margin (>= ``close_margin``,
1.10) is trusted from then on; a small one is re-probed on a later load: on the
``reprobe_every``-th (10th) cached load since its probe, or once it is older than
``reprobe_after_s`` (7 days), whichever comes first. A candidate that fails to load or to run is
skipped with a warning (one the backend reports unavailable for its precision or device, e.g. bf16
on a CPU without BF16, only at INFO); if all fail, :class:`NoBackendError` lists every failure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
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
from .errors import (BackendUnavailableError, GroundliteError, IntegrityError, InvalidArgumentError, NoBackendError,
                     did_you_mean)
from .package import Package

__all__ = ["Candidate", "Exclusion", "BackendInfo", "ProbePolicy", "DEFAULT_PROBE", "select", "validate_request",
           "machine_fingerprint", "fidelity_gate"]

log = logging.getLogger("groundlite")

#: (backend, device kind) -> rank; lower is preferred. CPU candidates are ranked by measured speed.
ACCELERATOR_RANK = {
    ("tensorrt", "gpu"): 0,
    ("openvino", "npu"): 1,
    ("openvino", "gpu"): 2,
    ("onnxruntime", "gpu"): 3,
    ("onnxruntime", "npu"): 4,
}
#: precision preference on accelerators (GPUs are fastest at fp16, NPUs at int8)
PRECISION_RANK = {"gpu": ("fp16", "int8", "bf16", "fp32"), "npu": ("int8", "fp16", "bf16", "fp32")}


@dataclass(frozen=True)
class ProbePolicy:
    """How the CPU probe times candidates, and when a cached decision is probed again.

    ``timer`` (seconds, monotonic) times the runs and the budget; ``clock`` (seconds since the
    epoch) dates decisions. Tests inject both to make timings and ages deterministic.
    """

    rounds: int = 5                    # interleaved timed rounds (after one untimed warm run each)
    min_rounds: int = 3                # rounds run even when the budget is spent
    budget_s: float = 10.0             # wall budget of the timed rounds
    max_loaded: int = 3                # candidates loaded at once during the probe
    close_margin: float = 1.10         # runner-up / winner medians below this: a small margin
    reprobe_every: int = 10            # a small-margin decision is re-probed on this cached load ...
    reprobe_after_s: float = 7 * 86400.0  # ... or once it is this old
    timer: Callable[[], float] = time.perf_counter
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if not (1 <= self.min_rounds <= self.rounds and self.max_loaded >= 1 and self.reprobe_every >= 1
                and self.close_margin >= 1.0 and self.budget_s >= 0 and self.reprobe_after_s >= 0):
            raise InvalidArgumentError(f"expected 1 <= min_rounds <= rounds, max_loaded >= 1, reprobe_every >= 1, "
                                       f"close_margin >= 1 and non-negative times, got {self!r}")


DEFAULT_PROBE = ProbePolicy()


@dataclass(frozen=True)
class Candidate:
    """One (backend, device, precision) the machine and the package both support.

    ``probe_ms`` is the median of the candidate's timed probe runs of every graph of the family on
    dummy inputs (``None`` when not probed); ``status`` is ``chosen``, ``probed``, ``pre-ranked out``
    (one timed run, slower than the finalists), ``not tried``, ``failed: <reason>`` or
    ``unavailable: <reason>``.
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
    """What ``groundlite.load`` chose and why; ``str(info)`` (= :meth:`describe`) prints it.

    ``load_ms`` covers loading every graph of the chosen candidate, ``first_run_ms`` its first
    inference on the probe inputs (both ``None`` when the probe had already loaded it).
    ``reason`` says how the choice was made; ``margin`` is the runner-up's probe median over the
    winner's (``None`` without a probe of two or more candidates), ``rounds`` the interleaved
    probe rounds behind it, ``reprobed`` whether a cached small-margin decision was probed again.
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
    reason: str = ""
    margin: float | None = None
    runner_up: str | None = None
    rounds: int = 0
    reprobed: bool = False

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.device}/{self.precision}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line: ``backend/device/precision (how it was chosen)``."""
        return f"{self.key} ({'cached decision' if self.from_cache else self.reason or 'chosen'})"

    def describe(self) -> str:
        """Several lines: the choice and why, every candidate with its probe median and status,
        the exclusions with their reasons, the failures, and whether the decision came from the cache."""
        lines = [f"chosen: {self.key}" + (f" — {self.reason}" if self.reason else "")]
        if self.margin is not None and self.runner_up:
            lines.append(f"margin: {self.margin:.2f}x over {self.runner_up} "
                         f"(median of {self.rounds} interleaved round{'s' if self.rounds != 1 else ''})")
        if self.from_cache:
            lines.append("decision: from the decision cache (no probe this time)")
        elif self.reprobed:
            lines.append("decision: probed again (the cached decision's margin was small)")
        else:
            lines.append("decision: made now")
        if self.load_ms is not None:
            first = f", first run {self.first_run_ms:.1f} ms" if self.first_run_ms is not None else ""
            lines.append(f"load: {self.load_ms:.1f} ms{first}")
        if self.providers:
            lines.append(f"providers: {', '.join(self.providers)}")
        width = max((len(c.key) for c in self.candidates), default=0)
        lines.append(f"candidates ({len(self.candidates)}):")
        for c in self.candidates:
            ms = f"{c.probe_ms:9.2f} ms" if c.probe_ms is not None else f"{'-':>9}   "
            lines.append(f"  {'*' if c.key == self.key else ' '} {c.key:<{width}}  {ms}  {c.status}")
        if self.excluded:
            lines.append(f"excluded ({len(self.excluded)}):")
            for e in self.excluded:
                lines.append(f"    {e.backend}/{e.device or '*'}/{e.precision}: {e.reason}")
        if self.failures:
            lines.append(f"failures ({len(self.failures)}):")
            lines.extend(f"    {f}" for f in self.failures)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


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
def validate_request(backend: str, device: str, precision: str, threads: int | None, min_agreement: float,
                     max_accuracy_drop: float = schema.MAX_ACCURACY_DROP_POINTS) -> tuple[str, str, str]:
    """Normalised ``(backend, device, precision)``; :class:`InvalidArgumentError` for a bad name or value."""
    backend, device, precision = (str(backend).lower(), str(device).lower(), str(precision).lower())
    if backend not in ("auto", *BACKEND_NAMES):
        raise InvalidArgumentError(f"expected backend in {['auto', *BACKEND_NAMES]}, got {backend!r}"
                                   + did_you_mean(backend, ("auto", *BACKEND_NAMES)))
    if precision not in ("auto", *schema.PRECISIONS):
        raise InvalidArgumentError(f"expected precision in {['auto', *schema.PRECISIONS]}, got {precision!r}"
                                   + did_you_mean(precision, ("auto", *schema.PRECISIONS)))
    kind, _, index = device.partition(":")
    if device == "cuda" or kind == "cuda":
        device = "gpu" + (f":{index}" if index else "")
        kind = "gpu"
    if not (device == "auto" or (kind in ("cpu", "gpu", "npu") and (not index or index.isdigit()))):
        raise InvalidArgumentError(f"expected device in ['auto', 'cpu', 'gpu', 'gpu:N', 'npu'], got {device!r}"
                                   + did_you_mean(device, ("auto", "cpu", "gpu", "npu")))
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InvalidArgumentError(f"expected threads to be a positive int or None, got {threads!r}")
    if _number(min_agreement) is None or not 0.0 <= float(min_agreement) <= 1.0:
        raise InvalidArgumentError(f"expected min_agreement in [0, 1], got {min_agreement!r}")
    if _number(max_accuracy_drop) is None or not 0.0 <= float(max_accuracy_drop) <= 100.0:
        raise InvalidArgumentError(
            f"expected max_accuracy_drop in [0, 100] percentage points, got {max_accuracy_drop!r}")
    return backend, device, precision


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (bools, strings, NaN and infinities are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def fidelity_gate(fidelity: Any, min_agreement: float, max_accuracy_drop: float) -> str | None:
    """Why ``precision="auto"`` must not pick a reduced-precision artifact with this stored fidelity, or ``None``.

    ``accuracy_drop_points`` decides where it is stored; otherwise ``detection_agreement``.
    """
    if not isinstance(fidelity, Mapping):
        return "no stored fidelity (accuracy_drop_points or detection_agreement) for this artifact"
    if "accuracy_drop_points" in fidelity:
        drop = _number(fidelity["accuracy_drop_points"])
        if drop is None:
            return f"expected a finite stored accuracy_drop_points, got {fidelity['accuracy_drop_points']!r}"
        if drop > max_accuracy_drop:
            return (f"accuracy_drop_points {drop:.2f} exceeds max_accuracy_drop {max_accuracy_drop:.2f} "
                    "(grounding accuracy lost against FP32, in percentage points)")
        return None
    if "detection_agreement" not in fidelity:
        return "no stored fidelity (accuracy_drop_points or detection_agreement) for this artifact"
    agreement = _number(fidelity["detection_agreement"])
    if agreement is None:
        return f"expected a finite stored detection_agreement, got {fidelity['detection_agreement']!r}"
    if agreement < min_agreement:
        return f"detection_agreement {agreement:.3f} is below min_agreement {min_agreement:.3f}"
    return None


def _device_matches(requested: str, device: str) -> bool:
    if requested == "auto":
        return True
    if ":" in requested:
        return requested == device or (requested.endswith(":0") and device == requested[:-2])
    return device_kind(device) == requested


def _order_key(c: Candidate) -> tuple[int, int]:
    kind = device_kind(c.device)
    rank = ACCELERATOR_RANK.get((c.backend, kind), 9)
    prefs = PRECISION_RANK.get(kind, ("int8", "fp32", "bf16", "fp16"))
    return rank, prefs.index(c.precision) if c.precision in prefs else len(prefs)


def _load_all(package: Package, backend: Backend, c: Candidate, threads: int | None) -> dict[str, Session]:
    sessions = {}
    for graph in schema.FAMILY_GRAPHS[package.family]:
        artifact = package.find(graph, c.backend, c.precision)
        if artifact is None:  # combos() lists only complete pairs; this guards hand-made candidates
            raise BackendUnavailableError(f"expected a {graph} artifact for {c.key}, got none in the package")
        sessions[graph] = backend.load(package.path(artifact.file), c.device, threads=threads, precision=c.precision)
    return sessions


def _run_probe(sessions: Mapping[str, Session], feeds: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    for graph, session in sessions.items():
        if graph in feeds:
            session.run(feeds[graph])


def _timed(sessions: Mapping[str, Session], feeds: Mapping[str, Mapping[str, np.ndarray]],
           timer: Callable[[], float]) -> float:
    t0 = timer()
    _run_probe(sessions, feeds)
    return (timer() - t0) * 1e3


def _fail_text(e: BaseException) -> str:
    return str(e) if isinstance(e, GroundliteError) else f"{type(e).__name__}: {e}"


class _Outcomes:
    """Failures and statuses of candidates, shared by the probe and the final load."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.status: dict[str, str] = {}

    def failed(self, c: Candidate, e: BaseException, when: str) -> None:
        text = _fail_text(e)
        self.failures.append(f"{c.key}: {text}")
        if isinstance(e, BackendUnavailableError):  # e.g. bf16 on a CPU without BF16: not a fault
            self.status[c.key] = f"unavailable: {text}"
            log.info("groundlite: %s is unavailable here (%s): %s", c.key, when, text)
        else:
            self.status[c.key] = f"failed: {text}"
            log.warning("groundlite: candidate %s failed %s: %s", c.key, when, text)

    def done(self, c: Candidate) -> bool:
        return self.status.get(c.key, "").startswith(("failed", "unavailable"))


@dataclass
class _Probe:
    medians: dict[str, float]
    prerank: dict[str, float]
    rounds: int
    winner: str | None
    winner_sessions: dict[str, Session] | None
    margin: float | None
    runner_up: str | None


def _probe_cpu(package: Package, table: Mapping[str, Backend], cpu: list[Candidate],
               feeds: Mapping[str, Mapping[str, np.ndarray]], threads: int | None, policy: ProbePolicy,
               out: _Outcomes) -> _Probe:
    """Interleaved timing of the CPU candidates (see the module docstring); keeps only the winner loaded."""

    def warm(c: Candidate) -> dict[str, Session] | None:
        try:
            sessions = _load_all(package, table[c.backend], c, threads)
            _run_probe(sessions, feeds)  # first run: warms caches, proves it runs; never timed
            return sessions
        except IntegrityError:  # a tampered file is refused, not worked around
            raise
        except Exception as e:  # any other failure of a candidate is reported, never fatal here
            out.failed(c, e, "during the probe")
            return None

    pool: dict[str, dict[str, Session]] = {}
    prerank: dict[str, float] = {}
    finalists = list(cpu)
    if len(cpu) > policy.max_loaded:
        # one timed run each; between loads at most max_loaded - 1 stay loaded, so loading the
        # next one never holds more than max_loaded candidates in memory
        for c in cpu:
            sessions = warm(c)
            if sessions is not None:
                try:
                    prerank[c.key] = _timed(sessions, feeds, policy.timer)
                except IntegrityError:
                    raise
                except Exception as e:
                    out.failed(c, e, "during the probe")
                else:
                    pool[c.key] = sessions
            sessions = None  # the pool holds what is kept; nothing else may pin a candidate
            while len(pool) > policy.max_loaded - 1:
                del pool[max(pool, key=lambda k: prerank[k])]
        finalists = sorted((c for c in cpu if c.key in prerank), key=lambda c: prerank[c.key])[:policy.max_loaded]
    for c in finalists:
        if c.key not in pool and not out.done(c):
            sessions = warm(c)
            if sessions is not None:
                pool[c.key] = sessions
            sessions = None
    finalists = [c for c in finalists if c.key in pool]

    samples: dict[str, list[float]] = {c.key: [] for c in finalists}
    start = policy.timer()
    rounds = 0
    for r in range(policy.rounds):
        if r >= policy.min_rounds and policy.timer() - start > policy.budget_s:
            break
        active = [c for c in finalists if c.key in pool]
        if not active:
            break
        k = r % len(active)
        for c in active[k:] + active[:k]:  # rotated: no candidate always runs right after another
            try:
                samples[c.key].append(_timed(pool[c.key], feeds, policy.timer))
            except IntegrityError:
                raise
            except Exception as e:
                out.failed(c, e, "during the probe")
                del pool[c.key]
                samples.pop(c.key)
        rounds += 1

    medians = {k: statistics.median(v) for k, v in samples.items() if v and k in pool}
    ranking = sorted(medians, key=lambda k: medians[k])
    winner = ranking[0] if ranking else None
    margin = runner_up = None
    if len(ranking) > 1:
        runner_up = ranking[1]
        margin = medians[runner_up] / medians[winner] if medians[winner] > 0 else float("inf")
    winner_sessions = pool.pop(winner) if winner is not None else None
    pool.clear()  # release the finalists that lost
    return _Probe(medians, prerank, rounds, winner, winner_sessions, margin, runner_up)


def _timings(value: Any) -> dict[str, float]:
    """A stored ``{candidate key: ms}`` table, with anything malformed dropped."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): float(v) for k, v in value.items() if _number(v) is not None}


def _cached_decision(cached: Mapping[str, Any] | None, candidates: list[Candidate],
                     policy: ProbePolicy) -> tuple[str | None, bool]:
    """(cached choice usable now, whether it must be re-probed because its margin is small)."""
    if not isinstance(cached, Mapping):
        return None, False
    choice = cached.get("choice")
    if not any(c.key == choice for c in candidates):
        return None, False
    margin = _number(cached.get("margin"))
    if margin is None or margin >= policy.close_margin:
        return choice, False  # a clear margin (or no probe behind the choice) is trusted
    uses = _number(cached.get("uses")) or 0.0
    created = _number(cached.get("created"))
    old = created is None or policy.clock() - created >= policy.reprobe_after_s
    if old or uses + 1 >= policy.reprobe_every:
        return None, True
    return choice, False


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
    max_accuracy_drop: float = schema.MAX_ACCURACY_DROP_POINTS,
    cache: bool | JsonCache = True,
    backends: Mapping[str, Backend] | None = None,
    probe: ProbePolicy = DEFAULT_PROBE,
) -> tuple[dict[str, Session], BackendInfo]:
    """Choose and load the best candidate for ``package``.

    Args:
        probe_feeds: the family class's ``probe_feeds``: graph name -> dummy input tensors.
        backend, device, precision: ``"auto"`` or a name to pin (``device`` also accepts ``"gpu:1"``).
        threads: intra-op threads for every session (``None``: the library's default).
        min_agreement: lowest stored ``detection_agreement`` a reduced-precision artifact needs
            under ``precision="auto"`` when it stores no ``accuracy_drop_points``.
        max_accuracy_drop: largest stored ``accuracy_drop_points`` (percentage points of grounding
            accuracy lost against FP32) a reduced-precision artifact may have under ``precision="auto"``.
        cache: ``False`` to neither read nor write the decision cache, or a :class:`JsonCache`.
        backends: name -> backend table to use instead of the real ones (fault-injection tests).
        probe: how CPU candidates are timed and when cached decisions are re-probed.

    Returns:
        graph name -> loaded session, and the :class:`BackendInfo` describing the decision.
    """
    backend, device, precision = validate_request(backend, device, precision, threads, min_agreement,
                                                  max_accuracy_drop)
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
        if precision == "auto" and p in schema.REDUCED_PRECISIONS:
            why = fidelity_gate(package.fidelity(b, p), float(min_agreement), float(max_accuracy_drop))
            if why is not None:
                excluded.append(Exclusion(b, "", p, why))
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
        "request": [backend, device, precision, threads, round(float(min_agreement), 6),
                    round(float(max_accuracy_drop), 6)],
        "candidates": sorted(c.key for c in candidates),
    }, sort_keys=True)

    ranked = sorted(candidates, key=_order_key)
    accelerators = [c for c in ranked if device_kind(c.device) != "cpu"]
    cpu = [c for c in ranked if device_kind(c.device) == "cpu"]
    feeds = probe_feeds(package)
    out = _Outcomes()
    timings: dict[str, float] = {}
    loaded: dict[str, dict[str, Session]] = {}
    margin: float | None = None
    runner_up: str | None = None
    rounds = 0

    cached = store.get(cache_key) if store is not None else None
    cached_key, reprobed = _cached_decision(cached, candidates, probe)
    from_cache = cached_key is not None
    prerank: dict[str, float] = {}
    if from_cache and isinstance(cached, Mapping):
        timings, prerank = _timings(cached.get("probe_ms")), _timings(cached.get("prerank_ms"))
        margin, rounds = _number(cached.get("margin")), int(_number(cached.get("rounds")) or 0)
        runner_up = cached.get("runner_up") if isinstance(cached.get("runner_up"), str) else None
        order = [c for c in candidates if c.key == cached_key]
        order += [c for c in accelerators + cpu if c.key != cached_key]
        stored = cached.get("reason")
        reason = f"{stored} (cached)" if isinstance(stored, str) and stored else "cached decision"
    elif not accelerators and len(cpu) > 1:
        result = _probe_cpu(package, table, cpu, feeds, threads, probe, out)
        timings, prerank, rounds = dict(result.medians), result.prerank, result.rounds
        margin, runner_up = result.margin, result.runner_up
        if result.winner is not None and result.winner_sessions is not None:
            loaded[result.winner] = result.winner_sessions
        cpu.sort(key=lambda c: (timings.get(c.key, math.inf), prerank.get(c.key, math.inf)))
        order = accelerators + cpu
        reason = f"fastest median in a CPU probe of {len(result.medians)} candidate(s)"
    else:
        order = accelerators + cpu
        reason = ("accelerator preferred (fixed order, no probe)" if accelerators
                  else "the only candidate")

    chosen: Candidate | None = None
    sessions: dict[str, Session] = {}
    load_ms = first_ms = None
    for c in order:
        if out.done(c):
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
            out.failed(c, e, "to load, trying the next candidate")
            continue
        chosen = c
        break
    loaded.clear()

    if chosen is None:
        raise NoBackendError(
            f"expected one of {len(candidates)} candidate(s) to load and run, got a failure from each: "
            + " | ".join(out.failures)
        )
    if chosen.key != order[0].key:
        # the preferred (or cached) choice did not load: the fallback that did is what gets cached,
        # and the probe margin, which was about another winner, no longer applies
        reason = f"first working fallback after {len(out.failures)} failure(s)"
        from_cache, margin, runner_up = False, None, None
    if store is not None:
        if not from_cache:
            store.put(cache_key, {"choice": chosen.key, "probe_ms": timings, "prerank_ms": prerank, "margin": margin,
                                  "runner_up": runner_up, "rounds": rounds, "reason": reason, "created": probe.clock(),
                                  "uses": 0})
        elif margin is not None and margin < probe.close_margin and isinstance(cached, Mapping):
            # count the loads a small-margin decision serves, so the N-th one probes again
            store.put(cache_key, {**cached, "uses": int(_number(cached.get("uses")) or 0) + 1})

    def final(c: Candidate) -> Candidate:
        st = out.status.get(c.key) or ("chosen" if c.key == chosen.key else
                                       "probed" if c.key in timings else
                                       "pre-ranked out" if c.key in prerank else "not tried")
        ms = timings.get(c.key, prerank.get(c.key))
        return dataclasses.replace(c, probe_ms=ms, status=st)

    providers: tuple[str, ...] = ()
    first = next(iter(sessions.values()), None)
    if first is not None:
        providers = tuple(getattr(first, "providers", ()) or ())
    info = BackendInfo(
        backend=chosen.backend, device=chosen.device, precision=chosen.precision,
        candidates=tuple(final(c) for c in ranked), excluded=tuple(excluded), from_cache=from_cache,
        failures=tuple(out.failures), providers=providers, load_ms=load_ms, first_run_ms=first_ms,
        reason=reason, margin=margin, runner_up=runner_up, rounds=rounds,
        reprobed=reprobed,
    )
    return sessions, info
