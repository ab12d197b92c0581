"""groundlite_export — the toolchain that turns checkpoints into self-describing model packages.

Importing this package is light; torch/transformers/nncf load only inside the export functions.

>>> from groundlite_export import export_owl
>>> export_owl(random_init="tiny", out="pkg/tiny")  # doctest: +SKIP
>>> from groundlite_export import export_text
>>> export_text(model="text-ppocrv6", install=True)  # doctest: +SKIP
>>> from groundlite_export import export_sentence
>>> export_sentence(install=True)  # all-MiniLM-L6-v2, for matching by meaning  # doctest: +SKIP

All run through :mod:`groundlite_export.pipeline`; a family adds only a small recipe.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["export_owl", "export_text", "export_sentence"]

_LAZY = {"export_owl": ("groundlite_export.owl_package", "export_owl"),
         "export_text": ("groundlite_export.text", "export_text"),
         "export_sentence": ("groundlite_export.sentence", "export_sentence")}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'groundlite_export' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
