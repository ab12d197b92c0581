"""The backend protocol: is it available, which devices, load an artifact, run named tensors.

Device names are the same for every backend: ``"cpu"``, ``"gpu"``, ``"npu"``, with an optional
index for a second card (``"gpu:1"``). Each backend maps them to its own notion (ONNX Runtime
execution providers, OpenVINO device strings, a CUDA device for TensorRT).

Precision names are ``schema.PRECISIONS``. ``load(..., precision=)`` is the artifact's manifest
precision, never guessed from the file: ONNX Runtime runs the graph's own numerics (``bf16`` is
refused), OpenVINO sets its ``INFERENCE_PRECISION_HINT`` from it (``bf16``: an FP32 artifact run in
bfloat16 on CPUs that have it), TensorRT builds its engine with the matching builder flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Protocol, runtime_checkable

import numpy as np

__all__ = ["Backend", "Session", "DEVICE_KINDS", "device_kind", "check_precision"]

DEVICE_KINDS = ("gpu", "npu", "cpu")


def device_kind(device: str) -> str:
    """``"gpu:1"`` -> ``"gpu"``."""
    return device.split(":", 1)[0]


def check_precision(backend: str, precision: str, supported: tuple[str, ...]) -> str:
    """``precision`` if ``backend`` serves it, else :class:`BackendUnavailableError` (one sentence)."""
    from .. import schema
    from ..errors import BackendUnavailableError, InvalidArgumentError, did_you_mean

    if precision not in schema.PRECISIONS:
        raise InvalidArgumentError(f"expected a precision in {list(schema.PRECISIONS)}, got {precision!r}"
                                   + did_you_mean(precision, schema.PRECISIONS))
    if precision not in supported:
        raise BackendUnavailableError(f"expected a {backend} precision in {list(supported)}, got {precision!r}")
    return precision


@runtime_checkable
class Session(Protocol):
    """A loaded graph. ``run`` is safe to call from several threads at once."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on named inputs; returns every output by name (arrays owned by the caller)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """An inference library. Implementations import it lazily, inside their methods."""

    name: str

    def is_available(self) -> bool:
        """Whether the library imports here; never raises."""
        ...

    def devices(self) -> list[str]:
        """Usable devices, best first, e.g. ``["gpu", "cpu"]``; ``[]`` when unavailable."""
        ...

    def load(self, path: Path, device: str, *, threads: int | None = None, precision: str = "fp32") -> Session:
        """Load the artifact at ``path`` for ``device`` computing at ``precision`` (the manifest's).

        Raises ``BackendUnavailableError`` when this backend or device cannot serve ``precision``
        here (e.g. ``bf16`` on a CPU without BF16), ``BackendError`` when the artifact fails to load.
        """
        ...

    def describe(self) -> dict[str, object]:
        """Version and device details for ``groundlite info``."""
        ...
