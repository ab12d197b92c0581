"""TensorRT engines built on the target from a package's FP16 or QDQ-INT8 ONNX, cached on disk.

Engines are never shipped: they depend on the GPU model and the TensorRT version, so they are
built where they run and cached under the user cache dir, keyed by GPU name + TensorRT version +
the ONNX file's SHA-256 + the build options. INT8 uses *explicit* quantisation (the QDQ nodes in
the ONNX carry the scales; no implicit-INT8 calibrator is involved). Dynamic axes get one
optimisation profile (see :data:`DEFAULT_PROFILE`).

``tensorrt`` and ``cuda-python`` are imported lazily; where either, or an NVIDIA GPU, is missing
every entry point raises :class:`BackendUnavailableError` with one sentence. The pure helpers
(:func:`engine_cache_key`, :func:`engine_path`, :func:`profile_shapes`) need neither.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from groundlite.errors import BackendError, BackendUnavailableError
from groundlite.package import atomic_write_bytes, sha256_file

__all__ = [
    "DEFAULT_PROFILE",
    "BuildOptions",
    "engine_cache_key",
    "engine_path",
    "profile_shapes",
    "require_tensorrt",
    "cuda_device_count",
    "gpu_name",
    "build_engine",
    "load_engine_session",
    "TensorRtSession",
]

#: (min, opt, max) for each named dynamic axis: image batch ``B``, text query count ``Q``, and
#: anything else (e.g. a text recogniser's batch)
DEFAULT_PROFILE: dict[str, tuple[int, int, int]] = {"B": (1, 1, 8), "Q": (1, 16, 256), "*": (1, 1, 16)}


@dataclass(frozen=True)
class BuildOptions:
    """Builder settings that change the engine, hence part of the cache key."""

    precision: str = "fp16"          # "fp32" | "fp16" | "int8" (int8 = explicit QDQ, FP16 elsewhere)
    workspace_mib: int = 2048
    profile: tuple[tuple[str, tuple[int, int, int]], ...] = tuple(sorted(DEFAULT_PROFILE.items()))

    def to_json(self) -> str:
        return json.dumps({"precision": self.precision, "workspace_mib": self.workspace_mib,
                           "profile": [[k, list(v)] for k, v in self.profile]}, sort_keys=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "unknown"


def engine_cache_key(onnx_sha256: str, gpu: str, trt_version: str, options: BuildOptions = BuildOptions()) -> str:
    """Hex key of one engine: SHA-256 over GPU name, TensorRT version, ONNX SHA-256 and options."""
    payload = json.dumps({"gpu": gpu, "trt": trt_version, "onnx": onnx_sha256, "options": options.to_json()},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def engine_path(cache_dir: Path, onnx_path: Path, gpu: str, trt_version: str,
                options: BuildOptions = BuildOptions(), *, onnx_sha256: str | None = None) -> Path:
    """Where the engine for ``onnx_path`` lives: ``cache_dir/<gpu>-trt<version>/<stem>-<key16>.engine``.

    Grouping by GPU and version keeps stale engines easy to find and delete after an upgrade.
    """
    digest = onnx_sha256 or sha256_file(onnx_path)
    key = engine_cache_key(digest, gpu, trt_version, options)
    return Path(cache_dir) / f"{_slug(gpu)}-trt{_slug(trt_version)}" / f"{Path(onnx_path).stem}-{key[:16]}.engine"


def profile_shapes(onnx_path: Path, profile: Mapping[str, tuple[int, int, int]] = DEFAULT_PROFILE
                   ) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shapes for every graph input, from its static dims and named dynamic axes.

    Dynamic dims use ``profile[dim_name]`` (or ``profile["*"]``). Raises :class:`BackendError`
    for an input whose dynamic dim has no entry and no ``"*"`` fallback.
    """
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    shapes = {}
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        ranges = []
        for dim in inp.type.tensor_type.shape.dim:
            if dim.HasField("dim_value") and dim.dim_value > 0:
                ranges.append((dim.dim_value,) * 3)
                continue
            name = dim.dim_param or "*"
            rng = profile.get(name, profile.get("*"))
            if rng is None:
                raise BackendError(f"expected a profile range for dynamic axis {name!r} of input {inp.name!r}, got none")
            ranges.append(tuple(rng))
        lo, opt, hi = zip(*ranges) if ranges else ((), (), ())
        shapes[inp.name] = (tuple(lo), tuple(opt), tuple(hi))
    return shapes


# --------------------------------------------------------------------------------------------
# Everything below needs tensorrt + cuda-python + an NVIDIA GPU
# --------------------------------------------------------------------------------------------
def require_tensorrt() -> tuple[Any, Any]:
    """Import (tensorrt, cudart) or raise :class:`BackendUnavailableError` saying what is missing."""
    if importlib.util.find_spec("tensorrt") is None:
        raise BackendUnavailableError(
            "expected the tensorrt Python package for TensorRT engines, got none installed; "
            "pip install tensorrt on a machine with an NVIDIA GPU"
        )
    try:
        trt = importlib.import_module("tensorrt")
    except Exception as e:  # a broken CUDA install surfaces here as OSError/ImportError
        raise BackendUnavailableError(f"expected tensorrt to import, got: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    cudart = None
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            cudart = importlib.import_module(name)
            break
        except Exception:
            continue
    if cudart is None:
        raise BackendUnavailableError("expected cuda-python (cuda.bindings.runtime) for TensorRT buffers, got none; pip install cuda-python")
    if cuda_device_count(cudart) == 0:
        raise BackendUnavailableError("expected an NVIDIA GPU for TensorRT, got none visible to the CUDA runtime")
    return trt, cudart


def _check(result: Any, what: str) -> Any:
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"expected {what} to succeed, got CUDA error {int(err)}")
    return rest[0] if len(rest) == 1 else (tuple(rest) if rest else None)


def cuda_device_count(cudart: Any | None = None) -> int:
    """Visible CUDA devices (0 when the runtime or a driver is missing)."""
    try:
        if cudart is None:
            cudart = importlib.import_module("cuda.bindings.runtime")
        err, count = cudart.cudaGetDeviceCount()
        return int(count) if int(err) == 0 else 0
    except Exception:
        return 0


def gpu_name(cudart: Any, index: int = 0) -> str:
    """The CUDA device's product name, e.g. ``"NVIDIA H100 80GB HBM3"``."""
    props = _check(cudart.cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
    name = props.name
    return (name.split(b"\0", 1)[0].decode() if isinstance(name, (bytes, bytearray)) else str(name)).strip()


def _device_index(device: str) -> int:
    kind, _, idx = device.partition(":")
    if kind not in ("gpu", "cuda"):
        raise BackendUnavailableError(f"expected a gpu device for TensorRT, got {device!r}")
    return int(idx) if idx else 0


def _onnx_precision(onnx_path: Path) -> str:
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if "groundlite.precision" in meta:
        return meta["groundlite.precision"]
    return "int8" if any(n.op_type == "QuantizeLinear" for n in model.graph.node) else "fp32"


def build_engine(onnx_path: Path, out_path: Path, options: BuildOptions) -> Path:
    """Parse ``onnx_path`` with TensorRT's ONNX parser and write a serialised engine to ``out_path``.

    ``fp16``: FP16 kernels allowed. ``int8``: explicit quantisation from the QDQ nodes (INT8 flag,
    no calibrator) with FP16 allowed for the layers the QDQ graph leaves in float.
    """
    trt, _ = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"expected TensorRT to parse {Path(onnx_path).name}, got: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
    if options.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if options.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile_shapes(onnx_path, dict(options.profile)).items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"expected TensorRT to build an engine for {Path(onnx_path).name}, got none (see TensorRT log)")
    atomic_write_bytes(Path(out_path), bytes(serialized))
    return Path(out_path)


class TensorRtSession:
    """A deserialised engine with one execution context; ``run`` is serialised by a lock."""

    def __init__(self, engine_file: Path, device_index: int = 0) -> None:
        self._trt, self._cudart = require_tensorrt()
        trt, cudart = self._trt, self._cudart
        _check(cudart.cudaSetDevice(device_index), "cudaSetDevice")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = runtime.deserialize_cuda_engine(Path(engine_file).read_bytes())
        if self._engine is None:
            raise BackendError(f"expected a TensorRT engine in {engine_file}, got one this TensorRT cannot load")
        self._context = self._engine.create_execution_context()
        self._stream = _check(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._device_index = device_index
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = tuple(n for n in names if is_input[n])
        self.output_names = tuple(n for n in names if not is_input[n])
        self._dtypes = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}
        self._lock = threading.Lock()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on named host arrays; returns every output as a new host array."""
        cudart = self._cudart
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise BackendError(f"expected inputs {list(self.input_names)}, got {sorted(feeds)} (missing {missing})")
        with self._lock:
            _check(cudart.cudaSetDevice(self._device_index), "cudaSetDevice")
            buffers = []
            try:
                hosts = {}
                for name in self.input_names:
                    arr = np.ascontiguousarray(feeds[name], dtype=self._dtypes[name])
                    self._context.set_input_shape(name, arr.shape)
                    ptr = _check(cudart.cudaMalloc(max(arr.nbytes, 1)), "cudaMalloc")
                    buffers.append(ptr)
                    _check(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, arr.nbytes, h2d, self._stream), "cudaMemcpyAsync")
                    self._context.set_tensor_address(name, ptr)
                    hosts[name] = arr  # keep alive until the copy completes
                outputs = {}
                for name in self.output_names:
                    shape = tuple(self._context.get_tensor_shape(name))
                    out = np.empty(shape, dtype=self._dtypes[name])
                    ptr = _check(cudart.cudaMalloc(max(out.nbytes, 1)), "cudaMalloc")
                    buffers.append(ptr)
                    self._context.set_tensor_address(name, ptr)
                    outputs[name] = (out, ptr)
                if not self._context.execute_async_v3(self._stream):
                    raise BackendError("expected TensorRT execute_async_v3 to succeed, got failure")
                for out, ptr in outputs.values():
                    _check(cudart.cudaMemcpyAsync(out.ctypes.data, ptr, out.nbytes, d2h, self._stream), "cudaMemcpyAsync")
                _check(cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
                return {name: out.astype(np.float32, copy=False) if out.dtype == np.float16 else out
                        for name, (out, _) in outputs.items()}
            finally:
                for ptr in buffers:
                    cudart.cudaFree(ptr)


def load_engine_session(onnx_path: Path, device: str, *, cache_dir: Path,
                        options: BuildOptions | None = None) -> TensorRtSession:
    """Build (first time) or reuse the cached engine for ``onnx_path`` on ``device`` and open it.

    The precision comes from the ONNX file's ``groundlite.precision`` metadata (QDQ nodes imply
    INT8); FP32 graphs are built with FP16 disabled.
    """
    trt, cudart = require_tensorrt()
    index = _device_index(device)
    if options is None:
        options = BuildOptions(precision=_onnx_precision(Path(onnx_path)))
    path = engine_path(Path(cache_dir), Path(onnx_path), gpu_name(cudart, index), trt.__version__, options)
    if not path.is_file():
        _check(cudart.cudaSetDevice(index), "cudaSetDevice")
        build_engine(Path(onnx_path), path, options)
    return TensorRtSession(path, index)
