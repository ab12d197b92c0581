"""groundlite.export — the toolchain that turns checkpoints into self-describing model packages.

Importing this package is light; torch/transformers/nncf load only inside the export functions.

>>> from groundlite.export import export_owl
>>> export_owl(random_init="tiny", out="pkg/tiny")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["export_owl"]

_LAZY = {"export_owl": ("groundlite.export.owl_package", "export_owl")}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'groundlite.export' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
