"""The backend protocol: is it available, which devices, load an artifact, run named tensors.

Device names are the same for every backend: ``"cpu"``, ``"gpu"``, ``"npu"``, with an optional
index for a second card (``"gpu:1"``). Each backend maps them to its own notion (ONNX Runtime
execution providers, OpenVINO device strings, a CUDA device for TensorRT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Protocol, runtime_checkable

import numpy as np

__all__ = ["Backend", "Session", "DEVICE_KINDS", "device_kind"]

DEVICE_KINDS = ("gpu", "npu", "cpu")


def device_kind(device: str) -> str:
    """``"gpu:1"`` -> ``"gpu"``."""
    return device.split(":", 1)[0]


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

    def load(self, path: Path, device: str, *, threads: int | None = None) -> Session:
        """Load the artifact at ``path`` for ``device``; raises ``BackendError`` on failure."""
        ...

    def describe(self) -> dict[str, object]:
        """Version and device details for ``groundlite info``."""
        ...
