"""Inference backends behind one small protocol (see ``base.py``); each imports its library lazily."""

from __future__ import annotations

import difflib
import threading

from ..errors import InvalidArgumentError
from .base import DEVICE_KINDS, Backend, Session, device_kind

__all__ = ["Backend", "Session", "DEVICE_KINDS", "device_kind", "get_backend", "all_backends", "BACKEND_NAMES"]

#: preference order used when listing backends
BACKEND_NAMES = ("tensorrt", "openvino", "onnxruntime")

_lock = threading.Lock()
_instances: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The process-wide singleton backend called ``name`` (``onnxruntime``, ``openvino``, ``tensorrt``)."""
    with _lock:
        if name not in _instances:
            if name == "onnxruntime":
                from .onnxruntime import OnnxRuntimeBackend as cls
            elif name == "openvino":
                from .openvino import OpenVinoBackend as cls  # type: ignore[assignment]
            elif name == "tensorrt":
                from .tensorrt import TensorRtBackend as cls  # type: ignore[assignment]
            else:
                hint = difflib.get_close_matches(str(name), BACKEND_NAMES, n=1)
                raise InvalidArgumentError(
                    f"expected a backend in {list(BACKEND_NAMES)}, got {name!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else "")
                )
            _instances[name] = cls()
        return _instances[name]


def all_backends() -> dict[str, Backend]:
    """Every known backend by name (available or not)."""
    return {n: get_backend(n) for n in BACKEND_NAMES}
