"""ONNX Runtime backend: one ``InferenceSession`` per graph, execution providers mapped to devices.

``gpu`` uses the first of TensorRT / CUDA / ROCm / MIGraphX / DirectML providers that this
onnxruntime build has, ``npu`` the first of QNN / VitisAI / CoreML, ``cpu`` the CPU provider.
Each chain ends with the CPU provider for nodes the accelerator does not take. (ONNX Runtime's own
OpenVINO provider is not used: the native ``openvino`` backend reaches the same devices.)

ONNX Runtime computes what the graph says (an FP16 or QDQ-INT8 graph carries its precision), so
``precision`` only has to be one it can serve: ``bf16`` (an OpenVINO inference precision for FP32
artifacts) is refused.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import BackendError, BackendUnavailableError
from .base import check_precision, device_kind

__all__ = ["OnnxRuntimeBackend", "OnnxRuntimeSession", "PROVIDER_DEVICES", "PRECISIONS"]

#: precisions an ONNX Runtime session serves (each is the artifact graph's own arithmetic)
PRECISIONS = ("fp32", "fp16", "int8")

#: device kind -> providers that serve it, best first
PROVIDER_DEVICES: dict[str, tuple[str, ...]] = {
    "gpu": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "ROCMExecutionProvider",
            "MIGraphXExecutionProvider", "DmlExecutionProvider"),
    "npu": ("QNNExecutionProvider", "VitisAIExecutionProvider", "CoreMLExecutionProvider"),
    "cpu": ("CPUExecutionProvider",),
}


class OnnxRuntimeSession:
    """A thread-safe ``InferenceSession`` addressed by tensor names."""

    def __init__(self, session: Any, path: Path) -> None:
        self._session = session
        self.path = path
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_names = tuple(o.name for o in session.get_outputs())
        self.providers = tuple(session.get_providers())

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on ``feeds`` (every input name must be present); returns all outputs by name."""
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise BackendError(f"expected inputs {list(self.input_names)} for {self.path.name}, missing {missing}")
        try:
            outs = self._session.run(None, {n: feeds[n] for n in self.input_names})
        except Exception as e:  # onnxruntime raises its own untyped exceptions
            raise BackendError(f"expected onnxruntime to run {self.path.name}, got: {_first_line(e)}") from e
        return dict(zip(self.output_names, outs))


class OnnxRuntimeBackend:
    """The ``onnxruntime`` backend (imported lazily)."""

    name = "onnxruntime"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._providers: list[str] | None = None

    def _available_providers(self) -> list[str]:
        with self._lock:
            if self._providers is None:
                try:
                    import onnxruntime as ort

                    self._providers = list(ort.get_available_providers())
                except Exception:  # a broken install counts as "not available"
                    self._providers = []
            return self._providers

    def is_available(self) -> bool:
        return bool(self._available_providers())

    def devices(self) -> list[str]:
        have = set(self._available_providers())
        return [kind for kind in ("gpu", "npu", "cpu") if have & set(PROVIDER_DEVICES[kind])]

    def providers_for(self, device: str) -> list[Any]:
        """The provider chain (names or ``(name, options)``) used for ``device``."""
        kind = device_kind(device)
        if kind not in PROVIDER_DEVICES:
            raise BackendUnavailableError(f"expected an onnxruntime device in {list(PROVIDER_DEVICES)}, got {device!r}")
        have = self._available_providers()
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        for p in PROVIDER_DEVICES[kind]:
            if p in have:
                chain: list[Any] = []
                if p in ("CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider",
                         "MIGraphXExecutionProvider", "DmlExecutionProvider"):
                    chain.append((p, {"device_id": index}))
                    if p == "TensorrtExecutionProvider" and "CUDAExecutionProvider" in have:
                        chain.append(("CUDAExecutionProvider", {"device_id": index}))
                else:
                    chain.append(p)
                if p != "CPUExecutionProvider":
                    chain.append("CPUExecutionProvider")
                return chain
        raise BackendUnavailableError(
            f"expected an onnxruntime provider for {device!r} (one of {list(PROVIDER_DEVICES[kind])}), "
            f"got only {have}"
        )

    def load(self, path: Path, device: str, *, threads: int | None = None,
             precision: str = "fp32") -> OnnxRuntimeSession:
        """Create an ``InferenceSession`` for the ONNX file at ``path`` on ``device``.

        ``precision`` is the artifact's (``fp32``, ``fp16``, ``int8``); ``bf16`` raises
        :class:`BackendUnavailableError`.
        """
        check_precision(self.name, precision, PRECISIONS)
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendUnavailableError(f"expected onnxruntime to be installed, got ImportError: {e}") from None
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.enable_mem_pattern = True
        so.log_severity_level = 3  # keep provider chatter off the user's terminal
        if threads:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        chain = self.providers_for(device)
        try:
            session = ort.InferenceSession(str(path), sess_options=so, providers=chain)
        except Exception as e:
            raise BackendError(f"expected onnxruntime to load {path.name} on {device}, got: {_first_line(e)}") from e
        wanted = chain[0][0] if isinstance(chain[0], tuple) else chain[0]
        if wanted not in session.get_providers():
            raise BackendError(f"expected onnxruntime to use {wanted} for {path.name}, got {session.get_providers()}")
        return OnnxRuntimeSession(session, Path(path))

    def describe(self) -> dict[str, object]:
        try:
            import onnxruntime as ort

            version = ort.__version__
        except Exception:
            version = None
        return {"version": version, "providers": self._available_providers(), "devices": self.devices()}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
