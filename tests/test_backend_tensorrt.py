"""TensorRT backend: the pure parts (engine cache keys and paths, graph inputs read without the
``onnx`` package, optimisation profiles, builder flags per precision) everywhere; clear errors
without TensorRT; a real engine build where tensorrt + an NVIDIA GPU exist."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from groundlite import schema
from groundlite.backends import _tensorrt_engine as trt_engine
from groundlite.backends import get_backend
from groundlite.errors import BackendError, BackendUnavailableError, InvalidArgumentError
from groundlite.package import open_package

HAS_TRT = importlib.util.find_spec("tensorrt") is not None
BuildOptions = trt_engine.BuildOptions


def test_cache_key_depends_on_gpu_version_artifact_and_precision():
    base = trt_engine.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0")
    assert base == trt_engine.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0")
    others = {
        trt_engine.engine_cache_key("b" * 64, "NVIDIA H100", "10.3.0"),
        trt_engine.engine_cache_key("a" * 64, "NVIDIA L4", "10.3.0"),
        trt_engine.engine_cache_key("a" * 64, "NVIDIA H100", "10.4.0"),
        trt_engine.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0", BuildOptions(precision="int8")),
        trt_engine.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0", BuildOptions(precision="fp32")),
        trt_engine.engine_cache_key("a" * 64, "NVIDIA H100", "10.3.0", BuildOptions(workspace_mib=512)),
    }
    assert base not in others and len(others) == 6


def test_engine_path_layout(tmp_path):
    onnx_file = tmp_path / "image_encoder.int8.onnx"
    onnx_file.write_bytes(b"graph-bytes")
    p = trt_engine.engine_path(tmp_path / "cache", onnx_file, "NVIDIA GeForce RTX 4090", "10.3.0.26",
                               BuildOptions(precision="int8"))
    assert p.parent == tmp_path / "cache" / "nvidia-geforce-rtx-4090-trt10.3.0.26"
    assert p.name.startswith("image_encoder.int8-int8-") and p.suffix == ".engine"
    # keyed by the artifact's SHA-256: a re-exported ONNX never reuses a stale engine
    same_size = tmp_path / "other" / "image_encoder.int8.onnx"
    same_size.parent.mkdir()
    same_size.write_bytes(b"graph-bytez")
    assert trt_engine.engine_path(tmp_path / "cache", same_size, "NVIDIA GeForce RTX 4090", "10.3.0.26",
                                  BuildOptions(precision="int8")) != p
    # a given digest is used as is (the manifest's), the file is not hashed again
    assert trt_engine.engine_path(tmp_path / "cache", tmp_path / "missing.onnx", "g", "1",
                                  onnx_sha256="c" * 64).name.startswith("missing-fp16-")


@pytest.mark.parametrize("precision,flags", [("fp32", ()), ("fp16", ("FP16",)), ("int8", ("FP16", "INT8"))])
def test_builder_flags_follow_the_manifest_precision(precision, flags):
    assert trt_engine.builder_flags(precision) == flags
    assert BuildOptions(precision=precision).precision == precision


@pytest.mark.parametrize("precision,error", [("bf16", BackendUnavailableError), ("int4", InvalidArgumentError)])
def test_unsupported_precisions_are_refused(precision, error, tmp_path):
    with pytest.raises(error, match=f"got '{precision}'"):
        trt_engine.builder_flags(precision)
    with pytest.raises(error, match=f"got '{precision}'"):
        get_backend("tensorrt").load(tmp_path / "x.onnx", "gpu", precision=precision)


def _reference_dims(path: Path) -> dict[str, tuple]:
    """The same table read with the onnx package (tests may use it; the runtime may not)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    return {i.name: tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "*")
                          for d in i.type.tensor_type.shape.dim)
            for i in model.graph.input if i.name not in initializers}


def _real_onnx_files(tiny_owlvit_package) -> list[Path]:
    files = sorted(Path(tiny_owlvit_package).rglob("*.onnx"))
    for dist in ("rapidocr", "rapidocr_onnxruntime"):
        spec = importlib.util.find_spec(dist)
        if spec is not None and spec.submodule_search_locations:
            files += sorted(Path(list(spec.submodule_search_locations)[0], "models").glob("*.onnx"))
    return files


def test_onnx_input_dims_match_the_onnx_package(tiny_owlvit_package):
    files = _real_onnx_files(tiny_owlvit_package)
    assert len(files) >= 4
    for f in files:
        assert trt_engine.onnx_input_dims(f) == _reference_dims(f), f.name


def test_onnx_input_dims_skip_initializers_listed_as_inputs(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 4]),
                               helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 3  # IR < 4 lists initializers among the inputs
    onnx.save(model, str(tmp_path / "old.onnx"))
    assert trt_engine.onnx_input_dims(tmp_path / "old.onnx") == {"x": ("B", 4)}


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "group-wire-type", "huge-length"])
def test_onnx_input_dims_refuse_malformed_files(tiny_owlvit_package, tmp_path, damage):
    good = next(iter(sorted(Path(tiny_owlvit_package).rglob("*.onnx")))).read_bytes()
    data = {"empty": b"", "truncated": good[: len(good) // 2], "garbage": bytes(range(256)) * 4,
            "group-wire-type": b"\x3b\x00", "huge-length": b"\x3a\xff\xff\xff\xff\x0f"}[damage]
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(data)
    with pytest.raises(BackendError, match="bad.onnx") as info:
        trt_engine.onnx_input_dims(bad)
    assert "\n" not in str(info.value)


def test_random_bytes_never_escape_as_untyped_errors(tmp_path):
    rng = np.random.default_rng(0)
    bad = tmp_path / "r.onnx"
    for _ in range(300):
        bad.write_bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes())
        try:
            dims = trt_engine.onnx_input_dims(bad)
        except BackendError:
            continue
        assert isinstance(dims, dict)


def test_profile_shapes_from_package_graphs(tiny_owlvit_package):
    pkg = open_package(tiny_owlvit_package)
    img = pkg.path(pkg.find(schema.GRAPH_IMAGE_ENCODER, "onnxruntime", "fp32").file)
    txt = pkg.path(pkg.find(schema.GRAPH_TEXT_ENCODER, "onnxruntime", "fp32").file)
    assert trt_engine.profile_shapes(trt_engine.onnx_input_dims(img)) == {
        schema.PIXEL_VALUES: ((1, 3, 96, 96), (1, 3, 96, 96), (8, 3, 96, 96))}
    shapes = trt_engine.profile_shapes(trt_engine.onnx_input_dims(txt), {"Q": (1, 4, 32)})
    assert shapes[schema.INPUT_IDS] == ((1, 16), (4, 16), (32, 16)) == shapes[schema.ATTENTION_MASK]
    with pytest.raises(BackendError, match="profile range for dynamic axis 'Q'"):
        trt_engine.profile_shapes(trt_engine.onnx_input_dims(txt), {"B": (1, 1, 1)})


def test_runtime_tensorrt_path_never_imports_onnx_or_the_exporter(tiny_owlvit_package):
    onnx_file = next(iter(sorted(Path(tiny_owlvit_package).rglob("*.onnx"))))
    code = (
        "import sys\n"
        "from groundlite.backends import get_backend, _tensorrt_engine as e\n"
        "b = get_backend('tensorrt'); b.is_available(); b.devices(); b.describe()\n"
        f"e.profile_shapes(e.onnx_input_dims({str(onnx_file)!r}))\n"
        "try:\n    b.load('x.onnx', 'gpu', precision='fp16')\nexcept Exception:\n    pass\n"
        "bad = sorted(m for m in sys.modules if m == 'onnx' or m.startswith(('onnx.', 'groundlite_export')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    modules = (trt_engine, importlib.import_module("groundlite.backends.tensorrt"))
    source = "".join(Path(m.__file__).read_text() for m in modules)
    assert "import onnx" not in source and "groundlite_export" not in source


@pytest.mark.skipif(HAS_TRT, reason="checks the error raised where tensorrt is missing")
def test_missing_tensorrt_is_a_clear_error(tmp_path):
    with pytest.raises(BackendUnavailableError, match="expected the tensorrt Python package") as info:
        trt_engine.load_engine_session(tmp_path / "x.onnx", "gpu", precision="fp16", cache_dir=tmp_path)
    assert "\n" not in str(info.value)
    with pytest.raises(BackendUnavailableError, match="expected the tensorrt Python package"):
        get_backend("tensorrt").load(tmp_path / "x.onnx", "gpu", precision="fp16")


def test_runtime_backend_reports_unavailable_without_tensorrt():
    backend = get_backend("tensorrt")
    assert backend.is_available() == (HAS_TRT and trt_engine.cuda_device_count() > 0)
    assert backend.describe()["devices"] == backend.devices()


@pytest.mark.tensorrt
@pytest.mark.skipif(not HAS_TRT, reason="tensorrt is not installed")
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_engine_builds_caches_and_matches_onnxruntime(tmp_path, precision):
    if trt_engine.cuda_device_count() == 0:
        pytest.skip("tensorrt is installed but no NVIDIA GPU is visible")
    from groundlite_export import export_owl
    from groundlite_export.fidelity import onnxruntime_runner

    out = export_owl(random_init="tiny", out=tmp_path / "pkg", precisions=precision,
                     backends="onnxruntime,tensorrt", calib_size=4, fidelity_images=0, progress=False)
    pkg = open_package(out)
    onnx_path = pkg.path(pkg.find(schema.GRAPH_IMAGE_ENCODER, "tensorrt", precision).file)
    sess = trt_engine.load_engine_session(onnx_path, "gpu", precision=precision, cache_dir=tmp_path / "cache")
    engines = list((tmp_path / "cache").rglob("*.engine"))
    assert len(engines) == 1 and f"-{precision}-" in engines[0].name
    x = np.random.default_rng(0).standard_normal((2, 3, 96, 96)).astype(np.float32)
    got = sess.run({schema.PIXEL_VALUES: x})
    ref = onnxruntime_runner(pkg.path(pkg.find(schema.GRAPH_IMAGE_ENCODER, "onnxruntime", "fp32").file))(
        {schema.PIXEL_VALUES: x})
    a, b = got[schema.REGION_EMBEDS].ravel(), ref[schema.REGION_EMBEDS].ravel()
    assert np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.98
    mtime = engines[0].stat().st_mtime_ns
    trt_engine.load_engine_session(onnx_path, "gpu", precision=precision, cache_dir=tmp_path / "cache")
    assert engines[0].stat().st_mtime_ns == mtime  # reused, not rebuilt
    engines[0].write_bytes(b"damaged")  # a damaged cache entry is rebuilt, not fatal
    trt_engine.load_engine_session(onnx_path, "gpu", precision=precision, cache_dir=tmp_path / "cache")
    assert engines[0].stat().st_size > 100
