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
        scoring={
            "features": ["logit_similarity", "logit_confidence", "whole_word", "inv_length"],
            "weights": [1.192956, -0.275752, 1.561438, -0.049329],
            "bias": -5.487307,
            # on the tune split every threshold from 0.2 to 0.95 gives the same top-1 (97.9 %, 0.5
            # point below the best, 98.4 % at 0.05) and no absent-phrase false positive (0 from 0.05
            # up); 0.5 is where a returned box is more likely right than wrong
            "threshold": 0.5,
            "fitted_on": {"split": "tune", "n_screens": 81, "n_present": 809,
                          "n_absent": 405, "n_matches": 2352,
                          "data_sha256": "307fc16985817851bf4143da0c8dba3bf30d81ab6418829d0ef7d542f859e6ed",
                          "data": "benchmarks/realscreens/generate.py full set", "config": "onnxruntime fp32",
                          "ece_tune": 0.00088, "tune_top1": 0.9790, "tune_fp": 0.0,
                          "command": "python benchmarks/text_grounding.py --split tune --fit-calibration OUT.json "
                                     "--configs text=text:onnxruntime:fp32 --peers"},
        },
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
