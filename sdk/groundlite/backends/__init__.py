"""Inference backends behind one small protocol (see ``base.py``); each imports its library lazily.

The backend names come from ``schema.BACKENDS`` (the one table); this module maps each name to the
class that implements it.
"""

from __future__ import annotations

import importlib
import threading

from .. import schema
from ..errors import InvalidArgumentError, did_you_mean
from .base import DEVICE_KINDS, Backend, Session, device_kind

__all__ = ["Backend", "Session", "DEVICE_KINDS", "device_kind", "get_backend", "all_backends", "BACKEND_NAMES"]

#: preference order used when listing backends (``schema.BACKENDS``)
BACKEND_NAMES = schema.BACKENDS

#: backend name -> "module:class" implementing it (imported on first use)
_IMPLEMENTATIONS = {
    "onnxruntime": "groundlite.backends.onnxruntime:OnnxRuntimeBackend",
    "openvino": "groundlite.backends.openvino:OpenVinoBackend",
    "tensorrt": "groundlite.backends.tensorrt:TensorRtBackend",
}
assert set(_IMPLEMENTATIONS) == set(schema.BACKENDS)  # noqa: S101 - import-time consistency

_lock = threading.Lock()
_instances: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The process-wide singleton backend called ``name`` (``onnxruntime``, ``openvino``, ``tensorrt``)."""
    with _lock:
        if name not in _instances:
            ref = _IMPLEMENTATIONS.get(name)
            if ref is None:
                raise InvalidArgumentError(
                    f"expected a backend in {list(BACKEND_NAMES)}, got {name!r}" + did_you_mean(name, BACKEND_NAMES))
            module, _, attr = ref.partition(":")
            _instances[name] = getattr(importlib.import_module(module), attr)()
        return _instances[name]


def all_backends() -> dict[str, Backend]:
    """Every known backend by name (available or not)."""
    return {n: get_backend(n) for n in BACKEND_NAMES}
