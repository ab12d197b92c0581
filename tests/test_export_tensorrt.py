"""TensorRT engine helpers: cache keys/paths and profiles (pure), clear errors without TensorRT,
and a real engine build where tensorrt + an NVIDIA GPU exist."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from groundlite import schema
from groundlite.errors import BackendError, BackendUnavailableError
from groundlite.export import tensorrt as trt_helpers
from groundlite.package import open_package

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


def test_cache_key_depends_on_gpu_version_onnx_and_options():
    base = trt_helpers.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0")
    assert base == trt_helpers.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0")
    others = {
        trt_helpers.engine_cache_key("b" * 64, "NVIDIA H100", "10.3.0"),
        trt_helpers.engine_cache_key("a" * 64, "NVIDIA L4", "10.3.0"),
        trt_helpers.engine_cache_key("a" * 64, "NVIDIA H100", "10.4.0"),
        trt_helpers.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0", trt_helpers.BuildOptions(precision="int8")),
        trt_helpers.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0", trt_helpers.BuildOptions(workspace_mib=512)),
    }
    assert base not in others and len(others) == 5


def test_engine_path_layout(tmp_path):
    onnx_file = tmp_path / "image_encoder.int8.onnx"
    onnx_file.write_bytes(b"graph-bytes")
    p = trt_helpers.engine_path(tmp_path / "cache", onnx_file, "NVIDIA GeForce RTX 4090", "10.3.0.26")
    assert p.parent == tmp_path / "cache" / "nvidia-geforce-rtx-4090-trt10.3.0.26"
    assert p.name.startswith("image_encoder.int8-") and p.suffix == ".engine"
    onnx_file.write_bytes(b"other-graph")  # a re-exported ONNX never reuses a stale engine
    assert trt_helpers.engine_path(tmp_path / "cache", onnx_file, "NVIDIA GeForce RTX 4090", "10.3.0.26") != p


def test_profile_shapes_from_package_graphs(tiny_owlvit_package):
    pkg = open_package(tiny_owlvit_package)
    img = pkg.path(pkg.find(schema.GRAPH_IMAGE_ENCODER, "onnxruntime", "fp32").file)
    txt = pkg.path(pkg.find(schema.GRAPH_TEXT_ENCODER, "onnxruntime", "fp32").file)
    assert trt_helpers.profile_shapes(img) == {schema.PIXEL_VALUES: ((1, 3, 96, 96), (1, 3, 96, 96), (8, 3, 96, 96))}
    shapes = trt_helpers.profile_shapes(txt, {"Q": (1, 4, 32)})
    assert shapes[schema.INPUT_IDS] == ((1, 16), (4, 16), (32, 16)) == shapes[schema.ATTENTION_MASK]
    with pytest.raises(BackendError, match="profile range for dynamic axis 'Q'"):
        trt_helpers.profile_shapes(txt, {"B": (1, 1, 1)})


@pytest.mark.skipif(HAS_TRT, reason="checks the error raised where tensorrt is missing")
def test_missing_tensorrt_is_a_clear_error(tmp_path):
    with pytest.raises(BackendUnavailableError, match="expected the tensorrt Python package") as info:
        trt_helpers.load_engine_session(tmp_path / "x.onnx", "gpu", cache_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_runtime_backend_reports_unavailable_without_tensorrt():
    from groundlite.backends import get_backend

    backend = get_backend("tensorrt")
    assert backend.is_available() == (HAS_TRT and trt_helpers.cuda_device_count() > 0)


@pytest.mark.tensorrt
@pytest.mark.skipif(not HAS_TRT, reason="tensorrt is not installed")
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_engine_builds_caches_and_matches_onnxruntime(tmp_path, precision):
    from groundlite.export import export_owl
    from groundlite.export.fidelity import onnxruntime_runner

    out = export_owl(random_init="tiny", out=tmp_path / "pkg", precisions=precision,
                     backends="onnxruntime,tensorrt", calib_size=4, fidelity_images=0, progress=False)
    pkg = open_package(out)
    onnx_path = pkg.path(pkg.find(schema.GRAPH_IMAGE_ENCODER, "tensorrt", precision).file)
    sess = trt_helpers.load_engine_session(onnx_path, "gpu", cache_dir=tmp_path / "cache")
    engines = list((tmp_path / "cache").rglob("*.engine"))
    assert len(engines) == 1
    x = np.random.default_rng(0).standard_normal((2, 3, 96, 96)).astype(np.float32)
    got = sess.run({schema.PIXEL_VALUES: x})
    ref = onnxruntime_runner(pkg.path(pkg.find(schema.GRAPH_IMAGE_ENCODER, "onnxruntime", "fp32").file))(
        {schema.PIXEL_VALUES: x})
    a, b = got[schema.REGION_EMBEDS].ravel(), ref[schema.REGION_EMBEDS].ravel()
    assert np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.98
    mtime = engines[0].stat().st_mtime_ns
    trt_helpers.load_engine_session(onnx_path, "gpu", cache_dir=tmp_path / "cache")
    assert engines[0].stat().st_mtime_ns == mtime  # reused, not rebuilt
