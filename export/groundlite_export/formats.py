"""Export formats described as data: which backends and precisions exist, where their files go.

The CLI and :func:`groundlite_export.export_owl` validate user choices against these tables, with a
"did you mean" hint for typos.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Iterable, Sequence

from groundlite import schema
from groundlite.errors import ExportError, did_you_mean

__all__ = ["BackendFormat", "EXPORT_BACKENDS", "choose", "parse_choices", "check_backend_installed"]


@dataclass(frozen=True)
class BackendFormat:
    """How one backend's artifacts are produced and stored in a package."""

    name: str
    directory: str              # sub-folder of the package
    suffix: str                 # artifact file suffix
    precisions: tuple[str, ...]  # precisions this backend can ship
    requires: str | None        # module that must be importable at export time (None: built on target)
    install_hint: str


EXPORT_BACKENDS: dict[str, BackendFormat] = {
    "onnxruntime": BackendFormat("onnxruntime", "onnxruntime", ".onnx", ("fp32", "fp16", "int8"), "onnxruntime",
                                 "pip install onnxruntime"),
    # bf16: the FP32 IR listed again, run with INFERENCE_PRECISION_HINT=bf16 (an inference precision)
    "openvino": BackendFormat("openvino", "openvino", ".xml", ("fp32", "fp16", "int8", "bf16"), "openvino",
                              "pip install 'groundlite[openvino]'"),
    # TensorRT engines are built on the target from these ONNX files, so nothing is needed here.
    "tensorrt": BackendFormat("tensorrt", "tensorrt", ".onnx", ("fp32", "fp16", "int8"), None, ""),
}
assert set(EXPORT_BACKENDS) == set(schema.BACKENDS)  # noqa: S101 - import-time consistency of two tables


def choose(kind: str, value: str, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ExportError with a close match."""
    options = list(choices)
    if value in options:
        return value
    raise ExportError(f"expected {kind} in {options}, got {value!r}" + did_you_mean(value, options))


def parse_choices(kind: str, values: str | Sequence[str], choices: Iterable[str]) -> tuple[str, ...]:
    """Validate a comma-separated string or a sequence of names; keeps order, drops duplicates."""
    items = [v.strip() for v in values.split(",")] if isinstance(values, str) else [str(v).strip() for v in values]
    items = [v for v in items if v]
    if not items:
        raise ExportError(f"expected at least one {kind}, got none")
    options = list(choices)
    out: list[str] = []
    for item in items:
        chosen = choose(kind, item, options)
        if chosen not in out:
            out.append(chosen)
    return tuple(out)


def check_backend_installed(name: str) -> None:
    """Raise ExportError when the library a backend needs at export time is not installed."""
    fmt = EXPORT_BACKENDS[name]
    if fmt.requires and importlib.util.find_spec(fmt.requires) is None:
        raise ExportError(
            f"expected the {fmt.requires} package to export {name} artifacts, but it is not installed; "
            f"{fmt.install_hint} or choose other backends"
        )
