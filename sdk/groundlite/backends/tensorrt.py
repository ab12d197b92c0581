"""TensorRT backend: engines built on the target from the package's ONNX, cached per GPU + version.

Engine building, the engine cache and the session live beside this file in
``_tensorrt_engine.py``; they need tensorrt and cuda-python (neither a dependency of the thin
runtime), import them lazily, and never read the graph with the ``onnx`` package: the precision is
the manifest's, passed to :meth:`TensorRtBackend.load`. Where tensorrt, cuda-python or an NVIDIA GPU
is missing the backend reports itself unavailable.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..cache import cache_dir
from ..errors import BackendError, BackendUnavailableError
from . import _tensorrt_engine as engine
from .base import Session, check_precision
from .onnxruntime import _first_line

__all__ = ["TensorRtBackend", "PRECISIONS"]

PRECISIONS = engine.PRECISIONS


class TensorRtBackend:
    """The ``tensorrt`` backend; available only with tensorrt, cuda-python and an NVIDIA GPU."""

    name = "tensorrt"

    def is_available(self) -> bool:
        try:
            return bool(self.devices())
        except Exception:
            return False

    def devices(self) -> list[str]:
        if importlib.util.find_spec("tensorrt") is None:
            return []
        count = engine.cuda_device_count()
        return (["gpu"] + [f"gpu:{i}" for i in range(1, count)]) if count > 0 else []

    def load(self, path: Path, device: str, *, threads: int | None = None, precision: str = "fp32") -> Session:
        """Build (or reuse the cached) engine for the ONNX at ``path`` at ``precision`` and wrap it.

        ``precision`` is the artifact's manifest precision (``fp32``, ``fp16``, ``int8``; ``bf16``
        raises :class:`BackendUnavailableError`); ``threads`` does not apply to a GPU engine.
        """
        check_precision(self.name, precision, PRECISIONS)
        try:
            return engine.load_engine_session(Path(path), device, precision=precision, cache_dir=cache_dir("tensorrt"))
        except (BackendError, BackendUnavailableError):
            raise
        except Exception as e:
            raise BackendError(f"expected tensorrt to load {Path(path).name} on {device}, got: {_first_line(e)}") from e

    def describe(self) -> dict[str, object]:
        version = None
        if importlib.util.find_spec("tensorrt") is not None:
            try:
                version = importlib.import_module("tensorrt").__version__
            except Exception:
                version = None
        return {"version": version, "devices": self.devices()}
