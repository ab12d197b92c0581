"""Load-time backend selection: real probes, injected availability tables, failing backends,
the decision cache and the fidelity gate.

The package here is a minimal owlvit-shaped package whose two graphs are the small affine graph of
``test_backends`` (selection only loads and times graphs; what they compute does not matter). Its
"int8" artifacts are the same graph under another label, which is all selection looks at.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import groundlite
from groundlite import schema
from groundlite.backends import get_backend
from groundlite.cache import JsonCache
from groundlite.errors import (BackendError, BackendUnavailableError, IntegrityError, InvalidArgumentError,
                               NoBackendError, PackageNotFoundError, SchemaVersionError, UnsafePathError)
from groundlite.package import file_entry, open_package, write_manifest
from groundlite.selection import select
from test_backends import write_affine_ir, write_affine_onnx

GRAPHS = schema.FAMILY_GRAPHS["owlvit"]


def build_package(root: Path, fidelity: dict[str, Any] | None = None, combos=(
        ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "int8"))) -> Path:
    root.mkdir(parents=True)
    artifacts = []
    for backend, precision in combos:
        (root / backend).mkdir(exist_ok=True)
        for graph in GRAPHS:
            if backend == "openvino":
                xml = write_affine_ir(root / backend / f"{graph}.{precision}.xml")
                (root / backend / f"{graph}.{precision}.onnx").unlink()
                artifacts.append({"graph": graph, "backend": backend, "precision": precision,
                                  **file_entry(root, xml).to_dict(),
                                  "extra_files": [file_entry(root, xml.with_suffix(".bin")).to_dict()]})
            else:
                onnx = write_affine_onnx(root / backend / f"{graph}.{precision}.onnx")
                artifacts.append({"graph": graph, "backend": backend, "precision": precision,
                                  **file_entry(root, onnx).to_dict()})
    if fidelity is None:
        fidelity = {schema.fidelity_key(b, p): {"detection_agreement": 0.99} for b, p in combos if p != "fp32"}
    write_manifest(root, {"schema_version": 1, "name": "affine", "family": "owlvit", "artifacts": artifacts,
                          "fidelity": fidelity})
    return root


def feeds(_package) -> dict[str, dict[str, np.ndarray]]:
    x = np.ones((1, 4), np.float32)
    return {g: {"x": x} for g in GRAPHS}


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory) -> Path:
    return build_package(tmp_path_factory.mktemp("sel") / "pkg")


@pytest.fixture
def package(package_dir):
    return open_package(package_dir)


class Counting:
    """Wraps a real backend and counts ``load`` calls (to see whether a probe happened)."""

    def __init__(self, inner, devices=None):
        self.inner, self.name, self.loads = inner, inner.name, []
        self._devices = devices

    def is_available(self):
        return self.inner.is_available()

    def devices(self):
        return list(self._devices) if self._devices is not None else self.inner.devices()

    def load(self, path, device, *, threads=None):
        self.loads.append((Path(path).name, device))
        # an injected accelerator device runs on the real CPU backend underneath
        return self.inner.load(path, "cpu", threads=threads)

    def describe(self):
        return self.inner.describe()


class FailingLoad(Counting):
    def load(self, path, device, *, threads=None):
        self.loads.append((Path(path).name, device))
        raise BackendError(f"injected load failure on {device}")


class _FailingSession:
    input_names, output_names = ("x",), ("y",)

    def run(self, feeds):
        raise RuntimeError("injected failure at first run")


class FailingRun(Counting):
    def load(self, path, device, *, threads=None):
        self.loads.append((Path(path).name, device))
        return _FailingSession()


class Unavailable(Counting):
    def is_available(self):
        return False

    def devices(self):
        return []


def real(name):
    return get_backend(name)


# ------------------------------------------------------------------------------------------------
def test_real_probe_picks_fastest_cpu_candidate(package):
    sessions, info = select(package, feeds, cache=False)
    assert set(sessions) == set(GRAPHS)
    assert {c.key for c in info.candidates} == {"onnxruntime/cpu/fp32", "onnxruntime/cpu/int8",
                                                 "openvino/cpu/fp32", "openvino/cpu/int8"}
    timed = {c.key: c.probe_ms for c in info.candidates}
    assert all(t is not None and t > 0 for t in timed.values())
    chosen = f"{info.backend}/{info.device}/{info.precision}"
    assert timed[chosen] == min(timed.values())
    assert [c.status for c in info.candidates if c.key == chosen] == ["chosen"]
    assert sorted(c.status for c in info.candidates if c.key != chosen) == ["probed"] * 3
    assert not info.from_cache and info.failures == ()
    out = sessions["image_encoder"].run({"x": np.ones((1, 4), np.float32)})
    assert out["y"].shape == (1, 3)


def test_decision_cache_skips_probe_on_second_load(package, tmp_path):
    store = JsonCache("selection", root=tmp_path)
    table = {"onnxruntime": Counting(real("onnxruntime")), "openvino": Counting(real("openvino"))}
    _, first = select(package, feeds, cache=store, backends=table)
    assert not first.from_cache
    assert sum(len(b.loads) for b in table.values()) == 4 * len(GRAPHS)  # every candidate probed
    for b in table.values():
        b.loads.clear()
    _, second = select(package, feeds, cache=store, backends=table)
    assert second.from_cache
    assert (second.backend, second.device, second.precision) == (first.backend, first.device, first.precision)
    assert sum(len(b.loads) for b in table.values()) == len(GRAPHS)  # only the cached choice loaded
    # the stored probe timings come back with the decision
    assert {c.key: c.probe_ms for c in second.candidates} == {c.key: c.probe_ms for c in first.candidates}


def test_cache_key_depends_on_request(package, tmp_path):
    store = JsonCache("selection", root=tmp_path)
    select(package, feeds, cache=store)
    _, info = select(package, feeds, cache=store, threads=1)
    assert not info.from_cache


def test_corrupt_cache_entry_is_ignored(package, tmp_path):
    store = JsonCache("selection", root=tmp_path)
    select(package, feeds, cache=store)
    for f in store.dir.glob("*.json"):
        f.write_text("{not json")
    _, info = select(package, feeds, cache=store)
    assert not info.from_cache


def test_stale_cached_choice_that_fails_falls_back(package, tmp_path):
    store = JsonCache("selection", root=tmp_path)
    _, first = select(package, feeds, cache=store)
    table = {"onnxruntime": Counting(real("onnxruntime")), "openvino": Counting(real("openvino"))}
    table[first.backend] = FailingLoad(real(first.backend))
    _, info = select(package, feeds, cache=store, backends=table)
    assert info.backend != first.backend and info.failures and not info.from_cache
    _, again = select(package, feeds, cache=store, backends=table)  # the fallback is now the cached choice
    assert again.from_cache and again.backend == info.backend


@pytest.mark.parametrize("agreement,min_agreement,included", [
    (0.99, 0.95, True), (0.95, 0.95, True), (0.9, 0.95, False), (0.9, 0.5, True),
])
def test_fidelity_gate(tmp_path, agreement, min_agreement, included):
    root = build_package(tmp_path / "p", combos=(("onnxruntime", "fp32"), ("onnxruntime", "int8")),
                         fidelity={"onnxruntime:int8": {"detection_agreement": agreement}})
    _, info = select(open_package(root), feeds, cache=False, min_agreement=min_agreement)
    keys = {c.key for c in info.candidates}
    assert ("onnxruntime/cpu/int8" in keys) is included
    assert "onnxruntime/cpu/fp32" in keys  # fp32 is always allowed
    if not included:
        (ex,) = [e for e in info.excluded if e.precision == "int8"]
        assert f"detection_agreement {agreement:.3f} is below min_agreement {min_agreement:.3f}" in ex.reason


def test_missing_fidelity_excludes_quantised_but_explicit_precision_bypasses(tmp_path):
    root = build_package(tmp_path / "p", combos=(("onnxruntime", "fp32"), ("onnxruntime", "int8")), fidelity={})
    _, info = select(open_package(root), feeds, cache=False)
    assert [c.key for c in info.candidates] == ["onnxruntime/cpu/fp32"]
    assert any("no stored fidelity" in e.reason for e in info.excluded)
    _, info = select(open_package(root), feeds, cache=False, precision="int8")
    assert (info.backend, info.precision) == ("onnxruntime", "int8")


def test_accelerator_preferred_without_probe(package):
    table = {"onnxruntime": Counting(real("onnxruntime")),
             "openvino": Counting(real("openvino"), devices=["npu", "gpu", "cpu"])}
    _, info = select(package, feeds, cache=False, backends=table)
    assert (info.backend, info.device, info.precision) == ("openvino", "npu", "int8")
    assert all(c.probe_ms is None for c in info.candidates)
    assert table["onnxruntime"].loads == []
    order = [c.key for c in info.candidates]
    assert order.index("openvino/npu/int8") < order.index("openvino/gpu/fp32") < order.index("onnxruntime/cpu/fp32")


def test_onnxruntime_gpu_ranked_after_openvino_gpu(package):
    table = {"onnxruntime": Counting(real("onnxruntime"), devices=["gpu", "cpu"]),
             "openvino": Counting(real("openvino"), devices=["gpu", "cpu"])}
    _, info = select(package, feeds, cache=False, backends=table)
    assert (info.backend, info.device) == ("openvino", "gpu")
    _, info = select(package, feeds, cache=False, backends=table, backend="onnxruntime")
    assert (info.backend, info.device) == ("onnxruntime", "gpu")


def test_failing_at_load_falls_back_with_warning(package, caplog):
    table = {"onnxruntime": Counting(real("onnxruntime")),
             "openvino": FailingLoad(real("openvino"), devices=["npu", "cpu"])}
    with caplog.at_level(logging.WARNING, logger="groundlite"):
        _, info = select(package, feeds, cache=False, backends=table)
    assert info.backend == "onnxruntime"
    assert any("injected load failure on npu" in f for f in info.failures)
    assert any("trying the next candidate" in r.getMessage() for r in caplog.records)
    statuses = {c.key: c.status for c in info.candidates}
    assert statuses["openvino/npu/int8"].startswith("failed: injected load failure")


def test_failing_at_first_run_falls_back(package):
    table = {"onnxruntime": Counting(real("onnxruntime")),
             "openvino": FailingRun(real("openvino"), devices=["gpu"])}
    _, info = select(package, feeds, cache=False, backends=table)
    assert info.backend == "onnxruntime"
    assert any("injected failure at first run" in f for f in info.failures)


def test_failing_during_cpu_probe_is_excluded(package):
    table = {"onnxruntime": Counting(real("onnxruntime")), "openvino": FailingRun(real("openvino"))}
    _, info = select(package, feeds, cache=False, backends=table)
    assert info.backend == "onnxruntime"
    assert sum(1 for c in info.candidates if c.status.startswith("failed")) == 2


def test_all_failing_raises_no_backend_error_listing_each(package):
    table = {"onnxruntime": FailingLoad(real("onnxruntime")), "openvino": FailingRun(real("openvino"))}
    with pytest.raises(NoBackendError) as e:
        select(package, feeds, cache=False, backends=table)
    msg = str(e.value)
    for key in ("onnxruntime/cpu/fp32", "onnxruntime/cpu/int8", "openvino/cpu/fp32", "openvino/cpu/int8"):
        assert key in msg


def test_unavailable_backend_is_excluded(package):
    table = {"onnxruntime": Counting(real("onnxruntime")), "openvino": Unavailable(real("openvino"))}
    _, info = select(package, feeds, cache=False, backends=table)
    assert {c.backend for c in info.candidates} == {"onnxruntime"}
    assert any(e.reason == "openvino is not available on this machine" for e in info.excluded)


@pytest.mark.parametrize("kwargs,expected", [
    (dict(backend="openvino"), {"openvino"}),
    (dict(backend="onnxruntime", precision="fp32"), {"onnxruntime"}),
    (dict(device="cpu", precision="int8"), {"onnxruntime", "openvino"}),
])
def test_request_filters(package, kwargs, expected):
    _, info = select(package, feeds, cache=False, **kwargs)
    assert {c.backend for c in info.candidates} == expected
    if "precision" in kwargs:
        assert {c.precision for c in info.candidates} == {kwargs["precision"]}


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(backend="openvnio"), InvalidArgumentError, "did you mean 'openvino'"),
    (dict(precision="int4"), InvalidArgumentError, "did you mean 'int8'"),
    (dict(device="tpu"), InvalidArgumentError, "expected device in"),
    (dict(threads=0), InvalidArgumentError, "threads"),
    (dict(min_agreement=1.5), InvalidArgumentError, "min_agreement"),
    (dict(device="gpu"), BackendUnavailableError, "device='gpu' was requested"),
    (dict(backend="tensorrt"), BackendUnavailableError, "backend='tensorrt' was requested"),
    (dict(precision="fp16"), BackendUnavailableError, "precision='fp16' was requested"),
])
def test_bad_requests(package, kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace("[", r"\[")):
        select(package, feeds, cache=False, **kwargs)


def test_backend_info_is_frozen_and_serialisable(package):
    _, info = select(package, feeds, cache=False, backend="onnxruntime", precision="fp32")
    with pytest.raises(AttributeError):
        info.backend = "x"  # type: ignore[misc]
    json.dumps(info.to_dict())
    assert info.providers == ("CPUExecutionProvider",)
    assert info.load_ms is not None and info.first_run_ms is not None


# ------------------------------------------------------------------------------------------------
# package problems surface through groundlite.load
def _copy(package_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(package_dir, dst)
    return dst


def _edit_manifest(root: Path, fn) -> None:
    m = json.loads((root / "manifest.json").read_text())
    fn(m)
    (root / "manifest.json").write_text(json.dumps(m))


def test_load_missing_package(tmp_path):
    with pytest.raises(PackageNotFoundError, match="does not exist|built-in name"):
        groundlite.load(tmp_path / "nope")
    with pytest.raises(PackageNotFoundError, match="did you mean 'text'"):
        groundlite.load("txt")


def test_load_unknown_schema_version(package_dir, tmp_path):
    root = _copy(package_dir, tmp_path)
    _edit_manifest(root, lambda m: m.update(schema_version=99))
    with pytest.raises(SchemaVersionError, match="got 99"):
        groundlite.load(root, cache=False)


def test_load_checksum_mismatch_names_file(tiny_owlvit_package, tmp_path):
    root = _copy(tiny_owlvit_package, tmp_path)
    target = root / "onnxruntime" / "image_encoder.fp32.onnx"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="onnxruntime/image_encoder.fp32.onnx"):
        groundlite.load(root, backend="onnxruntime", precision="fp32", cache=False)
    g = groundlite.load(root, backend="openvino", precision="fp32", cache=False)  # never reads it
    assert g.backend_info.backend == "openvino"
    # backend="auto" probes it: refused outright, not quietly replaced by the other backend
    with pytest.raises(IntegrityError, match="onnxruntime/image_encoder.fp32.onnx"):
        groundlite.load(root, precision="fp32", cache=False)


def test_lazy_selection_hashes_only_what_it_loads(package_dir, tmp_path):
    # how groundlite.load opens packages: a damaged artifact that is never read does not block
    # the load; the same artifact, once a backend is about to read it, is refused
    root = _copy(package_dir, tmp_path)
    target = root / "onnxruntime" / "image_encoder.fp32.onnx"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    lazy = open_package(root, verify="lazy")
    _, info = select(lazy, feeds, backend="openvino", precision="fp32", cache=False)
    assert info.backend == "openvino"
    with pytest.raises(IntegrityError, match="onnxruntime/image_encoder.fp32.onnx"):
        select(open_package(root, verify="lazy"), feeds, backend="onnxruntime", precision="fp32", cache=False)
    with pytest.raises(IntegrityError, match="onnxruntime/image_encoder.fp32.onnx"):
        lazy.verify_all()


def test_load_path_outside_package(package_dir, tmp_path):
    root = _copy(package_dir, tmp_path)
    _edit_manifest(root, lambda m: m["artifacts"][0].update(file="../../etc/passwd"))
    with pytest.raises(UnsafePathError, match="inside the package"):
        groundlite.load(root, cache=False)


def test_load_rejects_bad_names_before_opening(tmp_path):
    with pytest.raises(InvalidArgumentError, match="backend"):
        groundlite.load(tmp_path / "nope", backend="cuda")
