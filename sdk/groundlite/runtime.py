"""``groundlite.load``: open a package, choose a backend, return the family's grounder."""

from __future__ import annotations

import difflib
import importlib
import os
from pathlib import Path
from typing import Any, Mapping

from . import schema
from .backends import Backend
from .cache import JsonCache
from .errors import PackageNotFoundError
from .package import Package, open_package
from .selection import select, validate_request

__all__ = ["load", "BUILTIN_MODELS", "resolve_model", "grounder_class"]

#: built-in model name -> "module:function" returning the package directory (built on first use)
BUILTIN_MODELS = {"text": "groundlite.text.builtin:ensure_text_package"}

#: family -> "module:class" of its grounder
FAMILY_GROUNDERS = {
    "owlvit": "groundlite.grounder:OwlGrounder",
    "owlv2": "groundlite.grounder:OwlGrounder",
    "text": "groundlite.text:TextGrounder",
}


def _import(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve_model(model: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """A package directory, or a built-in name (``"text"``) -> the package directory."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.is_dir():
            return path
        name = os.fspath(model)
        if name in BUILTIN_MODELS:
            return Path(_import(BUILTIN_MODELS[name])(progress=progress))
        hint = difflib.get_close_matches(name, list(BUILTIN_MODELS), n=1)
        raise PackageNotFoundError(
            f"expected a model package directory or a built-in name in {list(BUILTIN_MODELS)}, got {name!r}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        )
    raise PackageNotFoundError(f"expected a package path or built-in name, got {type(model).__name__}")


def grounder_class(package: Package) -> Any:
    """The grounder class for the package's family."""
    return _import(FAMILY_GROUNDERS[package.family])


def load(
    model: str | os.PathLike[str],
    backend: str = "auto",
    device: str = "auto",
    precision: str = "auto",
    *,
    threads: int | None = None,
    min_agreement: float = schema.MIN_FIDELITY_AGREEMENT,
    cache: bool | JsonCache = True,
    progress: bool = True,
    backends: Mapping[str, Backend] | None = None,
) -> Any:
    """Load a model package and return its grounder (``OwlGrounder`` or ``TextGrounder``).

    Args:
        model: a package directory, or a built-in name (``"text"``: built on first use, then cached).
        backend: ``"auto"``, ``"onnxruntime"``, ``"openvino"`` or ``"tensorrt"``.
        device: ``"auto"``, ``"cpu"``, ``"gpu"`` (``"gpu:1"``), ``"npu"``.
        precision: ``"auto"``, ``"fp32"``, ``"fp16"`` or ``"int8"``. ``auto`` never picks a quantised
            artifact whose stored ``detection_agreement`` is below ``min_agreement``.
        threads: intra-op threads per session (``None``: the backend's default).
        cache: reuse / store the backend decision in the user cache dir (``False``: probe every time).
        progress: show a progress bar when a built-in model is built for the first time.
        backends: replace the backend table (tests inject failing backends through this).

    The chosen candidate, the others with their probe timings and the exclusions are in
    ``grounder.backend_info``. Raises ``PackageError`` subclasses for bad packages,
    ``InvalidArgumentError`` for unknown names and ``NoBackendError`` when nothing loads.
    """
    validate_request(backend, device, precision, threads, min_agreement)  # fail fast, before any build
    # sizes now; each file's SHA-256 right before a backend or the tokenizer first reads it
    package = open_package(resolve_model(model, progress=progress), verify="lazy")
    cls = grounder_class(package)
    sessions, info = select(package, cls.probe_feeds, backend=backend, device=device, precision=precision,
                            threads=threads, min_agreement=min_agreement, cache=cache, backends=backends)
    import inspect

    # grounders that pre-process on several threads (OwlGrounder) honour the same thread budget
    extra = {"threads": threads} if "threads" in inspect.signature(cls).parameters else {}
    return cls(package, sessions, info, **extra)
