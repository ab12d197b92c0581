"""OpenVINO backend: ``ov.Core().compile_model`` with the LATENCY hint, devices NPU / GPU / CPU.

A compiled model is shared; each call borrows an infer request from a pool (created on demand),
so one session serves many threads without two of them touching the same request.

``precision`` (the artifact's manifest precision) sets ``INFERENCE_PRECISION_HINT``: on CPU,
``fp32`` and ``int8`` compute in ``f32`` (OpenVINO would otherwise pick bf16 by itself on CPUs that
have it, and the artifact's fidelity was measured in f32), ``bf16`` in ``bf16`` — refused with
:class:`BackendUnavailableError` where the CPU's ``OPTIMIZATION_CAPABILITIES`` lack ``BF16`` (OpenVINO
would silently compute in f32 instead) — and ``fp16`` in ``f16`` where the device lists ``FP16``
(else f32 on CPU). On GPU/NPU ``fp16`` asks for ``f16`` where listed; other precisions keep the
plug-in's default; ``bf16`` is a CPU-only precision here.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import BackendError, BackendUnavailableError
from .base import check_precision, device_kind
from .onnxruntime import _first_line

__all__ = ["OpenVinoBackend", "OpenVinoSession", "PRECISIONS"]

#: precisions an OpenVINO session serves
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


def _ov_device(device: str) -> str:
    kind, _, index = device.partition(":")
    return kind.upper() + (f".{index}" if index else "")


class OpenVinoSession:
    """A compiled OpenVINO model addressed by tensor names; ``run`` is thread-safe."""

    def __init__(self, compiled: Any, path: Path) -> None:
        self._compiled = compiled
        self.path = path
        self.input_names = tuple(p.get_any_name() for p in compiled.inputs)
        self.output_names = tuple(p.get_any_name() for p in compiled.outputs)
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on ``feeds`` (every input name must be present); returns copies of all outputs by name."""
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise BackendError(f"expected inputs {list(self.input_names)} for {self.path.name}, missing {missing}")
        try:
            request = self._pool.get_nowait()
        except queue.Empty:
            request = self._compiled.create_infer_request()
        try:
            # share_inputs: the request reads the caller's (contiguous) arrays instead of copying
            # them (a 768 px image is 7 MB); outputs come back as copies (share_outputs=False),
            # because the request's buffers are reused by the next call
            result = request.infer({n: np.ascontiguousarray(feeds[n]) for n in self.input_names},
                                   share_inputs=True, share_outputs=False)
            return {n: result[port] for n, port in zip(self.output_names, self._compiled.outputs)}
        except Exception as e:  # openvino raises RuntimeError with multi-line text
            raise BackendError(f"expected openvino to run {self.path.name}, got: {_first_line(e)}") from e
        finally:
            self._pool.put(request)


class OpenVinoBackend:
    """The ``openvino`` backend (imported lazily)."""

    name = "openvino"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._core: Any = None
        self._devices: list[str] | None = None
        self._capabilities: dict[str, frozenset[str]] = {}

    def _get_core(self) -> Any:
        with self._lock:
            if self._core is None:
                import openvino as ov

                self._core = ov.Core()
            return self._core

    def is_available(self) -> bool:
        try:
            self._get_core()
        except Exception:  # not installed, or a broken plugin
            return False
        return True

    def devices(self) -> list[str]:
        if self._devices is None:
            try:
                raw = list(self._get_core().available_devices)
            except Exception:
                raw = []
            found = []
            for kind in ("NPU", "GPU", "CPU"):
                names = sorted(d for d in raw if d.split(".")[0] == kind)
                for d in names:
                    _, _, index = d.partition(".")
                    found.append(kind.lower() + (f":{index}" if index and index != "0" else ""))
            self._devices = found
        return list(self._devices)

    def capabilities(self, device: str) -> frozenset[str]:
        """The device's ``OPTIMIZATION_CAPABILITIES`` (e.g. ``{"FP32", "INT8", "BF16"}``); empty if unknown."""
        ov_name = _ov_device(device)
        if ov_name not in self._capabilities:
            try:
                raw = self._get_core().get_property(ov_name, "OPTIMIZATION_CAPABILITIES")
                caps = frozenset(str(c).upper() for c in raw)
            except Exception:  # an absent device or a plug-in without the property
                caps = frozenset()
            self._capabilities[ov_name] = caps
        return self._capabilities[ov_name]

    def inference_precision(self, device: str, precision: str) -> str | None:
        """The ``INFERENCE_PRECISION_HINT`` for ``precision`` on ``device`` (``None``: the plug-in's default).

        Raises :class:`BackendUnavailableError` for ``bf16`` off the CPU or on a CPU without BF16.
        """
        check_precision(self.name, precision, PRECISIONS)
        cpu = device_kind(device) == "cpu"
        if precision == "bf16":
            if not cpu:
                raise BackendUnavailableError(f"expected a cpu device for openvino bf16, got {device!r}")
            if "BF16" not in self.capabilities(device):
                raise BackendUnavailableError(
                    "expected a CPU with BF16 (OPTIMIZATION_CAPABILITIES listing BF16) for openvino bf16, "
                    f"got {sorted(self.capabilities(device))}")
            return "bf16"
        if precision == "fp16" and "FP16" in self.capabilities(device):
            return "f16"
        return "f32" if cpu else None

    def load(self, path: Path, device: str, *, threads: int | None = None, precision: str = "fp32") -> OpenVinoSession:
        """Read the IR (``.xml`` + ``.bin``) or ONNX at ``path`` and compile it for ``device``.

        ``precision`` (the manifest's) picks the inference precision (see the module docstring).
        """
        try:
            core = self._get_core()
        except Exception as e:
            raise BackendUnavailableError(f"expected openvino to be installed, got: {_first_line(e)}") from None
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        hint = self.inference_precision(device, precision)
        if hint is not None:
            config["INFERENCE_PRECISION_HINT"] = hint
        if threads:
            config["NUM_STREAMS"] = "1"
            if device.startswith("cpu"):
                config["INFERENCE_NUM_THREADS"] = int(threads)
        # compiling from the path (not a read model) lets OpenVINO memory-map the weights and reuse
        # its compiled blob from CACHE_DIR: a warm load of OWL-ViT B/32 INT8 took 0.1 s, not 1 s
        from ..cache import cache_dir

        config["CACHE_DIR"] = str(cache_dir("openvino"))
        try:
            compiled = core.compile_model(str(path), _ov_device(device), config)
        except Exception as e:
            raise BackendError(f"expected openvino to compile {path.name} for {device}, got: {_first_line(e)}") from e
        return OpenVinoSession(compiled, Path(path))

    def describe(self) -> dict[str, object]:
        try:
            from importlib import metadata

            version = metadata.version("openvino")
            core = self._get_core()
            names = {d: core.get_property(d, "FULL_DEVICE_NAME") for d in core.available_devices}
        except Exception:
            version, names = None, {}
        return {"version": version, "devices": self.devices(), "device_names": names}
