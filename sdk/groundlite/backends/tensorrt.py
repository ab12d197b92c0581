"""TensorRT backend: engines built on the target from the package's ONNX, cached per GPU + version.

Engine building and execution live in ``groundlite.export.tensorrt`` (it needs tensorrt and a CUDA
runtime, neither of which the thin runtime depends on). This module only probes for them and
forwards ``load``; where either is missing the backend reports itself unavailable.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from ..cache import cache_dir
from ..errors import BackendError, BackendUnavailableError
from .base import Session
from .onnxruntime import _first_line

__all__ = ["TensorRtBackend"]

_HELPERS = "groundlite.export.tensorrt"


class TensorRtBackend:
    """The ``tensorrt`` backend; available only with tensorrt, an NVIDIA GPU and the engine helpers."""

    name = "tensorrt"

    def _helpers(self) -> Any:
        if importlib.util.find_spec("tensorrt") is None:
            raise BackendUnavailableError("expected the tensorrt package for the tensorrt backend, got none installed")
        try:
            module = importlib.import_module(_HELPERS)
        except ImportError as e:
            raise BackendUnavailableError(f"expected {_HELPERS} to import, got: {_first_line(e)}") from None
        if not hasattr(module, "load_engine_session"):
            raise BackendUnavailableError(f"expected {_HELPERS}.load_engine_session, got a module without it")
        return module

    def is_available(self) -> bool:
        try:
            return bool(self.devices())
        except Exception:
            return False

    def devices(self) -> list[str]:
        try:
            helpers = self._helpers()
            count = int(helpers.cuda_device_count()) if hasattr(helpers, "cuda_device_count") else 1
        except Exception:
            return []
        return ["gpu"] + [f"gpu:{i}" for i in range(1, count)]

    def load(self, path: Path, device: str, *, threads: int | None = None) -> Session:
        """Build (or reuse the cached) engine for the ONNX at ``path`` and wrap it as a session."""
        helpers = self._helpers()
        try:
            return helpers.load_engine_session(Path(path), device, cache_dir=cache_dir("tensorrt"))
        except BackendError:
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
