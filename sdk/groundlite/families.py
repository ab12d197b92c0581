"""The family contract, in one table: what each model family ships and what its grounder can do.

``groundlite.load`` and the CLI read this table instead of inspecting a grounder's signature:
which graphs a package of the family must ship, which class grounds it, which ``predict``
options it takes and what else it can do (``read`` for the text family). A family grounder
implements :class:`Grounder`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from . import schema
from .errors import ManifestError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from .detections import Detections
    from .package import Package

__all__ = ["Grounder", "FamilySpec", "FAMILIES", "family_spec"]


@runtime_checkable
class Grounder(Protocol):
    """What every family's grounder offers (``OwlGrounder``, ``TextGrounder``).

    Built as ``cls(package, sessions, backend_info, threads=None)`` by ``groundlite.load``.
    """

    family: str
    backend_info: Any

    @classmethod
    def probe_feeds(cls, package: "Package") -> dict[str, dict[str, np.ndarray]]:
        """Graph name -> dummy inputs for the load-time timing probe."""
        ...

    def predict(self, image: Any, phrases: str | Sequence[str], threshold: float = ..., **options: Any) -> "Detections":
        """Boxes of ``phrases`` in ``image`` (options: :attr:`FamilySpec.predict_options`)."""
        ...

    @property
    def last_timings(self) -> dict[str, float]:
        """Stage times of the latest call, in ms."""
        ...


@dataclass(frozen=True)
class FamilySpec:
    """One family's contract.

    Attributes:
        name: the manifest's ``family``.
        graphs: graphs every (backend, precision) of the package must ship.
        grounder: ``"module:Class"`` of the grounder (imported on first use).
        preprocess: default pre-processing constants (``None``: the family reads its own block).
        predict_options: keyword options ``predict`` takes besides ``image``, ``phrases``, ``threshold``.
        can_read: whether the grounder has ``read(image)`` (every line of text, for ``groundlite read``).
        loader: for a family that is not a grounder (``sentence``), the one sentence
            ``groundlite.load`` raises instead, naming what loads it; ``None`` for grounders.
    """

    name: str
    graphs: tuple[str, ...]
    grounder: str
    preprocess: Mapping[str, Any] | None
    predict_options: frozenset[str]
    can_read: bool
    loader: str | None = None

    def grounder_class(self) -> Any:
        module, _, attr = self.grounder.partition(":")
        return getattr(importlib.import_module(module), attr)


_OWL_OPTIONS = frozenset({"nms_iou", "top_k", "interpret"})

FAMILIES: dict[str, FamilySpec] = {
    "owlvit": FamilySpec("owlvit", schema.FAMILY_GRAPHS["owlvit"], "groundlite.grounder:OwlGrounder",
                         schema.FAMILY_PREPROCESS["owlvit"], _OWL_OPTIONS, can_read=False),
    "owlv2": FamilySpec("owlv2", schema.FAMILY_GRAPHS["owlv2"], "groundlite.grounder:OwlGrounder",
                        schema.FAMILY_PREPROCESS["owlv2"], _OWL_OPTIONS, can_read=False),
    "text": FamilySpec("text", schema.FAMILY_GRAPHS["text"], "groundlite.text.pipeline:TextGrounder",
                       None, frozenset({"interpret"}), can_read=True),
    # not a grounder: it embeds phrases (matching by meaning); groundlite.load refuses it
    "sentence": FamilySpec("sentence", schema.FAMILY_GRAPHS["sentence"], "groundlite.language.encoder:SentenceEncoder",
                           None, frozenset(), can_read=False,
                           loader="groundlite.language.encoder.load_encoder(path)"),
}
assert set(FAMILIES) == set(schema.FAMILIES)  # noqa: S101 - import-time consistency of two tables


def family_spec(name: str) -> FamilySpec:
    """The :class:`FamilySpec` of family ``name``; :class:`ManifestError` for an unknown family."""
    spec = FAMILIES.get(name)
    if spec is None:
        raise ManifestError(f"expected a model family in {list(FAMILIES)}, got {name!r}" + did_you_mean(name, FAMILIES))
    return spec
