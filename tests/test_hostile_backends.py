"""Backend faults through ``groundlite.load`` on the real tiny OWL-ViT package.

``tests/test_selection.py`` injects faults into ``selection.select``; these go through the public
``groundlite.load(..., backends=...)``: a candidate that raises at load or on its first run is
skipped with a logged warning and the next one is used (and then predicts exactly like that
backend loaded directly); when every candidate fails, one ``NoBackendError`` names each failure.
The faulty backends wrap the real ONNX Runtime / OpenVINO backends.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import groundlite
from groundlite.backends import get_backend
from groundlite.errors import BackendError, NoBackendError

IMAGE = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


class Wrapped:
    """A real backend, optionally claiming other devices (which then run on the real CPU)."""

    def __init__(self, name: str, devices: list[str] | None = None) -> None:
        self.inner = get_backend(name)
        self.name = name
        self._devices = devices

    def is_available(self) -> bool:
        return self.inner.is_available()

    def devices(self) -> list[str]:
        return list(self._devices) if self._devices is not None else self.inner.devices()

    def load(self, path, device, *, threads=None, precision="fp32"):
        return self.inner.load(path, "cpu" if self._devices is not None else device, threads=threads, precision=precision)

    def describe(self):
        return self.inner.describe()


class RaisesAtLoad(Wrapped):
    def __init__(self, name, devices=None, exc: Exception | None = None):
        super().__init__(name, devices)
        self.exc = exc or RuntimeError(f"{name} driver crashed while compiling")

    def load(self, path, device, *, threads=None, precision="fp32"):
        raise self.exc


class _BrokenSession:
    def __init__(self, real):
        self.input_names, self.output_names = real.input_names, real.output_names

    def run(self, feeds):
        raise MemoryError("device out of memory on first run")


class RaisesOnFirstRun(Wrapped):
    def load(self, path, device, *, threads=None, precision="fp32"):
        return _BrokenSession(super().load(path, device, threads=threads))


def _load(pkg, table, **kw):
    return groundlite.load(pkg, cache=False, progress=False, backends=table, precision="fp32", **kw)


def _same_as_direct(g, pkg, backend: str) -> None:
    direct = groundlite.load(pkg, backend=backend, precision="fp32", cache=False, progress=False)
    a, b = g.predict(IMAGE, ["a cat"], threshold=0.0), direct.predict(IMAGE, ["a cat"], threshold=0.0)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.slow
@pytest.mark.parametrize("fault", [RaisesAtLoad, RaisesOnFirstRun])
def test_accelerator_fault_falls_back_to_cpu_with_warning(tiny_owlvit_package, caplog, fault):
    """An accelerator is tried first without a probe; its failure must not be fatal."""
    table = {"openvino": fault("openvino", devices=["gpu"]), "onnxruntime": Wrapped("onnxruntime"),
             "tensorrt": get_backend("tensorrt")}
    with caplog.at_level(logging.WARNING, logger="groundlite"):
        g = _load(tiny_owlvit_package, table)
    assert (g.backend_info.backend, g.backend_info.device) == ("onnxruntime", "cpu")
    failed = [c for c in g.backend_info.candidates if c.status.startswith("failed")]
    assert [(c.backend, c.device) for c in failed] == [("openvino", "gpu")]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("openvino" in m and ("crashed" in m or "out of memory" in m) for m in warned), warned
    _same_as_direct(g, tiny_owlvit_package, "onnxruntime")


@pytest.mark.slow
@pytest.mark.parametrize("fault", [RaisesAtLoad, RaisesOnFirstRun])
def test_cpu_probe_fault_excludes_the_candidate(tiny_owlvit_package, caplog, fault):
    table = {"openvino": Wrapped("openvino"), "onnxruntime": fault("onnxruntime"),
             "tensorrt": get_backend("tensorrt")}
    with caplog.at_level(logging.WARNING, logger="groundlite"):
        g = _load(tiny_owlvit_package, table)
    assert g.backend_info.backend == "openvino"
    assert any("onnxruntime" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    _same_as_direct(g, tiny_owlvit_package, "openvino")


@pytest.mark.slow
def test_all_failing_raises_one_error_naming_each(tiny_owlvit_package):
    table = {"openvino": RaisesOnFirstRun("openvino", devices=["gpu", "cpu"]),
             "onnxruntime": RaisesAtLoad("onnxruntime", exc=KeyError("CPUExecutionProvider")),
             "tensorrt": get_backend("tensorrt")}
    with pytest.raises(NoBackendError) as e:
        _load(tiny_owlvit_package, table)
    msg = str(e.value)
    assert "\n" not in msg
    for key in ("openvino/gpu/fp32", "openvino/cpu/fp32", "onnxruntime/cpu/fp32"):
        assert key in msg, msg
    assert "MemoryError" in msg and "KeyError" in msg
    assert isinstance(e.value, BackendError)


@pytest.mark.slow
def test_pinned_backend_that_fails_is_not_silently_replaced(tiny_owlvit_package):
    """backend='onnxruntime' must not fall back to OpenVINO: the user asked for one backend."""
    table = {"openvino": Wrapped("openvino"), "onnxruntime": RaisesAtLoad("onnxruntime"),
             "tensorrt": get_backend("tensorrt")}
    with pytest.raises(NoBackendError, match="onnxruntime"):
        _load(tiny_owlvit_package, table, backend="onnxruntime")
