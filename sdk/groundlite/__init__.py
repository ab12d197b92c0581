"""groundlite — on-device image grounding: find what a phrase refers to in an image.

``import groundlite`` is light: it imports neither onnxruntime, openvino nor torch. Heavy modules
load on first use through module-level ``__getattr__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from . import ops
    from .detections import Detections
    from .grounder import OwlGrounder
    from .images import load_image
    from .runtime import load
    from .selection import BackendInfo

# public name -> module that defines it (imported lazily)
_LAZY = {
    "ops": ("groundlite.ops", None),
    "Detections": ("groundlite.detections", "Detections"),
    "load": ("groundlite.runtime", "load"),
    "load_image": ("groundlite.images", "load_image"),
    "OwlGrounder": ("groundlite.grounder", "OwlGrounder"),
    "BackendInfo": ("groundlite.selection", "BackendInfo"),
}

__all__ = ["__version__", "errors", "ops", "Detections", "load", "load_image", "OwlGrounder", "BackendInfo"]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'groundlite' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
