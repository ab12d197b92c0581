"""``groundlite.load``: open a package, choose a backend, return the family's grounder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from . import schema
from .backends import Backend
from .cache import JsonCache
from .errors import InvalidArgumentError, PackageNotFoundError, did_you_mean
from .families import Grounder, family_spec
from .package import Package, open_package
from .selection import select, validate_request

__all__ = ["load", "builtin_names", "open_model"]


def builtin_names() -> list[str]:
    """Names ``groundlite.load`` accepts besides a package directory (``"text"`` and the text models)."""
    from .text.models import ALIASES, BUILTIN_TEXT_MODELS

    return [*ALIASES, *BUILTIN_TEXT_MODELS]


def open_model(model: str | os.PathLike[str], *, verify: bool | str = "lazy") -> Package:
    """A package directory, or a built-in name (``"text"``, ``"text-ppocrv6"``, ...) -> :class:`Package`.

    A directory is opened with ``verify`` (see :func:`groundlite.package.open_package`); a built-in
    text model is the installed full package when there is one, else assembled from its wheel.
    """
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.is_dir():
            return open_package(path, verify=verify)
        name = os.fspath(model)
        if name in builtin_names():
            from .text.builtin import builtin_package

            package = builtin_package(name)
            if verify in (True, "all"):
                package.verify_all()
            return package
        names = builtin_names()
        raise PackageNotFoundError(
            f"expected a model package directory or a built-in name in {names}, got {name!r}" + did_you_mean(name, names))
    raise PackageNotFoundError(f"expected a package path or built-in name, got {type(model).__name__}")


def load(
    model: str | os.PathLike[str],
    backend: str = "auto",
    device: str = "auto",
    precision: str = "auto",
    *,
    threads: int | None = None,
    min_agreement: float = schema.MIN_FIDELITY_AGREEMENT,
    max_accuracy_drop: float = schema.MAX_ACCURACY_DROP_POINTS,
    cache: bool | JsonCache = True,
    progress: bool = True,
    backends: Mapping[str, Backend] | None = None,
) -> Grounder:
    """Load a model package and return its grounder (``OwlGrounder`` or ``TextGrounder``).

    Args:
        model: a package directory, or a built-in name (``"text"`` = the default text model,
            ``"text-ppocrv6"``, ``"text-ppocrv4"``; see :func:`open_model`).
        backend: ``"auto"``, ``"onnxruntime"``, ``"openvino"`` or ``"tensorrt"``.
        device: ``"auto"``, ``"cpu"``, ``"gpu"`` (``"gpu:1"``), ``"npu"``.
        precision: ``"auto"``, ``"fp32"``, ``"fp16"``, ``"bf16"`` or ``"int8"``. Under ``auto`` an
            fp16 / bf16 / int8 artifact needs stored fidelity: where the package stores
            ``accuracy_drop_points`` (grounding accuracy lost against FP32 on real data, in
            percentage points) it must be at most ``max_accuracy_drop``; otherwise its
            ``detection_agreement`` must be at least ``min_agreement``.
        threads: intra-op threads per session (``None``: the backend's default).
        cache: reuse / store the backend decision in the user cache dir (``False``: probe every time).
        progress: kept for compatibility (built-in models are assembled without a build step).
        backends: replace the backend table (tests inject failing backends through this).

    The chosen candidate, the others with their probe timings and the exclusions are in
    ``grounder.backend_info``. Raises ``PackageError`` subclasses for bad packages,
    ``InvalidArgumentError`` for unknown names and ``NoBackendError`` when nothing loads.
    """
    # fail fast, before any file is read
    validate_request(backend, device, precision, threads, min_agreement, max_accuracy_drop)
    # sizes now; each file's SHA-256 right before a backend or the tokenizer first reads it
    package = open_model(model, verify="lazy")
    spec = family_spec(package.family)
    if spec.loader is not None:
        raise InvalidArgumentError(f"expected a grounder package (owlvit, owlv2 or text), got the {spec.name} encoder "
                                   f"package {str(package.root)!r}; load it with {spec.loader}")
    cls = spec.grounder_class()
    sessions, info = select(package, cls.probe_feeds, backend=backend, device=device, precision=precision,
                            threads=threads, min_agreement=min_agreement, max_accuracy_drop=max_accuracy_drop,
                            cache=cache, backends=backends)
    return cls(package, sessions, info, threads=threads)
