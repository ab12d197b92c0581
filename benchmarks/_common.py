"""Shared helpers for groundlite benchmark programs: environment tags, timing, result files.

Every benchmark row is tagged with the environment it was measured in (commit, CPU, ISA, library
versions, UTC time) so that results from different machines or commits are never mixed silently.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["env_info", "append_jsonl", "markdown_table", "median_ms"]

_REPO_ROOT = Path(__file__).resolve().parent.parent

# ISA features that decide which kernel paths and which backend precisions are fast on a CPU.
_ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
    "neon", "asimd", "asimddp", "sve", "i8mm", "bf16",
)

_VERSIONED_MODULES = ("numpy", "onnxruntime", "openvino", "torch", "cv2", "PIL")

_env_cache: dict[str, Any] | None = None


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=_REPO_ROOT, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=_REPO_ROOT,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out + ("-dirty" if dirty else "")


def _cpu_info() -> tuple[str, list[str]]:
    model = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return model, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and value.strip():
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    return model, [f for f in _ISA_FLAGS if f in flags]


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a broken optional library must not stop a benchmark
        return None
    return str(getattr(mod, "__version__", "unknown"))


def env_info() -> dict[str, Any]:
    """Describe where a measurement ran: commit, CPU model, ISA flags, cores, library versions.

    The result is computed once per process (importing the libraries is slow); ``utc`` is the
    time of the call.
    """
    global _env_cache
    if _env_cache is None:
        model, isa = _cpu_info()
        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:
            usable = os.cpu_count() or 1
        info: dict[str, Any] = {
            "commit": _git_commit(),
            "cpu": model,
            "isa": isa,
            "cores": os.cpu_count() or 1,
            "usable_cores": usable,
            "os": platform.platform(),
            "python": platform.python_version(),
        }
        for module in _VERSIONED_MODULES:
            info[module.lower()] = _version(module)
        _env_cache = info
    return {**_env_cache, "utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def append_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> None:
    """Append each row, tagged with :func:`env_info` under ``"env"``, as one JSON line to ``path``."""
    env = env_info()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({**row, "env": env}, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Render ``rows`` as a GitHub markdown table with the given ``columns`` (missing cells: —)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def median_ms(fn: Callable[[], Any], warmup: int = 3, repeat: int = 20) -> tuple[float, list[float]]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeat`` times; return (median ms, all ms)."""
    if repeat < 1:
        raise ValueError(f"expected repeat >= 1, got {repeat}")
    for _ in range(warmup):
        fn()
    times: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    ordered = sorted(times)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
    return median, times
