"""The built-in ``text`` package: built once from the installed PP-OCRv4 weights, then cached.

The package lives in ``<cache>/packages/text-<key>`` (``<cache>`` is ``$GROUNDLITE_CACHE_DIR`` or
the platform user cache dir); ``<key>`` hashes the source ONNX files, the SDK version and the
build recipe version, so upgrading either rebuilds it. The build writes into a staging dir that
is renamed into place, so an interrupted build leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import schema
from .._version import __version__
from ..cache import cache_dir
from ..errors import PackageNotFoundError

__all__ = ["ensure_text_package", "text_package_path"]

#: bump when the build recipe (graphs, calibration, manifest) changes
RECIPE_VERSION = 3


def text_package_path() -> Path:
    """Where the built-in text package for the installed weights and SDK version lives."""
    from ..export import text as export_text  # light: the heavy export tools load only to build

    src = export_text.source_sha256()
    key = hashlib.sha256(f"{src}:{__version__}:{RECIPE_VERSION}".encode()).hexdigest()[:16]
    return cache_dir("packages", f"text-{key}")


def ensure_text_package(progress: bool = True) -> Path:
    """Path of the built-in text package, building it first if it is not in the cache yet.

    The first call takes on the order of a minute on a laptop CPU (ONNX export, INT8 calibration
    for ONNX Runtime and OpenVINO, fidelity check); later calls return immediately.
    """
    path = text_package_path()
    if (path / schema.MANIFEST_NAME).is_file():
        return path
    export_text = _exporter()
    backends = ["onnxruntime"]
    if _has_module("openvino") and _has_module("nncf"):
        backends.append("openvino")
    return export_text.export_text(path, backends=backends, force=path.exists(), progress=progress)


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _exporter():  # type: ignore[no-untyped-def]
    try:
        from ..export import text as export_text
        import onnx  # noqa: F401  (the build rewrites ONNX graphs)
    except ImportError as e:
        raise PackageNotFoundError(
            f"expected the export tools to build the built-in text model on first use, but {e.name!r} is "
            "not installed; pip install 'groundlite[export]'"
        ) from None
    return export_text
