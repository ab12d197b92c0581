"""The built-in text models: which real weights they use, where those ship, and their settings.

Each entry names a PP-OCR detector + recogniser pair inside an installed wheel (the weights only;
the pipeline is groundlite's) and the pipeline settings that suit it. Nothing here assumes a
charset, an input size or a tensor name: those are read from the ONNX files when the package is
assembled (:mod:`.builtin`) and carried by the package's manifest.

``scoring`` is the score calibration fitted on the *tuning* split of the real screenshot set
(``benchmarks/text_grounding.py --fit-calibration``): a logistic model over the match features of
:mod:`.scoring` and the default threshold chosen on that split. ``None`` means "not fitted":
scores are then the raw similarity x confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import PackageNotFoundError, did_you_mean

__all__ = ["BuiltinTextModel", "BUILTIN_TEXT_MODELS", "DEFAULT_TEXT_MODEL", "ALIASES", "builtin_text_model"]


@dataclass(frozen=True)
class BuiltinTextModel:
    """One built-in text model.

    Attributes:
        name: the name ``groundlite.load`` takes.
        distribution: the pip distribution whose wheel ships the weights (``rapidocr``).
        module: its import name, used only to *locate* the files (never imported).
        version: the distribution version the settings were measured with.
        detector / recognizer: paths of the ONNX files inside the module's folder.
        license: the weights' licence.
        description: one line for ``groundlite info``.
        config: :class:`~groundlite.text.config.TextConfig` overrides for this pair.
        scoring: score calibration (see the module docstring) or ``None``.
    """

    name: str
    distribution: str
    module: str
    version: str
    detector: str
    recognizer: str
    license: str
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)
    scoring: Mapping[str, Any] | None = None


BUILTIN_TEXT_MODELS: dict[str, BuiltinTextModel] = {
    "text-ppocrv6": BuiltinTextModel(
        name="text-ppocrv6", distribution="rapidocr", module="rapidocr", version="3.10.0",
        detector="models/PP-OCRv6_det_small.onnx", recognizer="models/PP-OCRv6_rec_small.onnx",
        license="Apache-2.0",
        description="PP-OCRv6 small detector + multilingual recogniser (18,710 classes), from rapidocr 3.10.0",
    ),
    "text-ppocrv4": BuiltinTextModel(
        name="text-ppocrv4", distribution="rapidocr-onnxruntime", module="rapidocr_onnxruntime", version="1.4.4",
        detector="models/ch_PP-OCRv4_det_infer.onnx", recognizer="models/ch_PP-OCRv4_rec_infer.onnx",
        license="Apache-2.0",
        description="PP-OCRv4 mobile detector + Chinese/English recogniser (6,625 classes), from rapidocr-onnxruntime 1.4.4",
    ),
}

#: what ``groundlite.load("text")`` loads
DEFAULT_TEXT_MODEL = "text-ppocrv6"
ALIASES = {"text": DEFAULT_TEXT_MODEL}


def builtin_text_model(name: str) -> BuiltinTextModel:
    """The :class:`BuiltinTextModel` called ``name`` (or an alias such as ``"text"``)."""
    real = ALIASES.get(name, name)
    model = BUILTIN_TEXT_MODELS.get(real)
    if model is None:
        names = [*ALIASES, *BUILTIN_TEXT_MODELS]
        raise PackageNotFoundError(f"expected a built-in text model in {names}, got {name!r}" + did_you_mean(name, names))
    return model
