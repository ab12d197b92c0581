"""TensorRT engines built on the target from a package's ONNX, cached in the user cache dir.

Engines are never shipped: they depend on the GPU model and the TensorRT version, so they are
built where they run and cached under ``cache_dir("tensorrt")``, keyed by GPU name + TensorRT
version + the artifact's SHA-256 + the build options (precision first). The precision is the
artifact's *manifest* precision, passed in by the backend — the ONNX graph is never read with the
``onnx`` package (the thin runtime does not depend on it). INT8 uses *explicit* quantisation (the
QDQ nodes carry the scales; no calibrator). Dynamic axes get one optimisation profile
(:data:`DEFAULT_PROFILE`), whose axis names come from the graph's inputs, read by
:func:`onnx_input_dims`, a small bounds-checked protobuf reader that looks at nothing but
``graph.input`` (and the initializer names, to skip initializers listed as inputs).

``tensorrt`` and ``cuda-python`` are imported lazily; where either, or an NVIDIA GPU, is missing
every entry point raises :class:`BackendUnavailableError` with one sentence. The pure helpers
(:func:`engine_cache_key`, :func:`engine_path`, :func:`onnx_input_dims`, :func:`profile_shapes`,
:func:`builder_flags`) need neither.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import mmap
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..cache import atomic_write_bytes
from ..errors import BackendError, BackendUnavailableError
from ..package import sha256_file
from .base import check_precision

__all__ = [
    "DEFAULT_PROFILE",
    "PRECISIONS",
    "BuildOptions",
    "builder_flags",
    "engine_cache_key",
    "engine_path",
    "onnx_input_dims",
    "profile_shapes",
    "require_tensorrt",
    "cuda_device_count",
    "gpu_name",
    "build_engine",
    "load_engine_session",
    "TensorRtSession",
]

#: precisions a TensorRT engine is built at (``bf16`` is an OpenVINO inference precision here)
PRECISIONS = ("fp32", "fp16", "int8")

#: (min, opt, max) for each named dynamic axis: image batch ``B``, text query count ``Q``, and
#: anything else (e.g. a text recogniser's batch or width)
DEFAULT_PROFILE: dict[str, tuple[int, int, int]] = {"B": (1, 1, 8), "Q": (1, 16, 256), "*": (1, 1, 16)}


@dataclass(frozen=True)
class BuildOptions:
    """Builder settings that change the engine, hence part of the cache key."""

    precision: str = "fp16"          # "fp32" | "fp16" | "int8" (int8 = explicit QDQ, FP16 elsewhere)
    workspace_mib: int = 2048
    profile: tuple[tuple[str, tuple[int, int, int]], ...] = tuple(sorted(DEFAULT_PROFILE.items()))

    def __post_init__(self) -> None:
        check_precision("tensorrt", self.precision, PRECISIONS)

    def to_json(self) -> str:
        return json.dumps({"precision": self.precision, "workspace_mib": self.workspace_mib,
                           "profile": [[k, list(v)] for k, v in self.profile]}, sort_keys=True)


def builder_flags(precision: str) -> tuple[str, ...]:
    """Names of the ``trt.BuilderFlag`` members set for ``precision``.

    ``fp32``: none (TensorRT keeps FP32, TF32 where the GPU has it). ``fp16``: FP16 kernels allowed.
    ``int8``: INT8 for the QDQ-quantised layers, FP16 for the float layers the QDQ graph leaves.
    """
    check_precision("tensorrt", precision, PRECISIONS)
    return {"fp32": (), "fp16": ("FP16",), "int8": ("FP16", "INT8")}[precision]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "unknown"


def engine_cache_key(artifact_sha256: str, gpu: str, trt_version: str, options: BuildOptions = BuildOptions()) -> str:
    """Hex key of one engine: SHA-256 over GPU name, TensorRT version, artifact SHA-256 and options."""
    payload = json.dumps({"gpu": gpu, "trt": trt_version, "onnx": artifact_sha256, "options": options.to_json()},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def _file_sha256(path: Path) -> str:
    """SHA-256 of ``path``, remembered per (path, size, mtime) for the life of the process."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    with _digests_lock:
        if key not in _digests:
            _digests[key] = sha256_file(path)
        return _digests[key]


def engine_path(cache_dir: Path, onnx_path: Path, gpu: str, trt_version: str,
                options: BuildOptions = BuildOptions(), *, onnx_sha256: str | None = None) -> Path:
    """Where the engine for ``onnx_path`` lives: ``cache_dir/<gpu>-trt<version>/<stem>-<precision>-<key16>.engine``.

    Grouping by GPU and version keeps stale engines easy to find and delete after an upgrade.
    """
    digest = onnx_sha256 or _file_sha256(Path(onnx_path))
    key = engine_cache_key(digest, gpu, trt_version, options)
    name = f"{Path(onnx_path).stem}-{options.precision}-{key[:16]}.engine"
    return Path(cache_dir) / f"{_slug(gpu)}-trt{_slug(trt_version)}" / name


# --------------------------------------------------------------------------------------------
# graph inputs, read from the ONNX protobuf without the onnx package
# --------------------------------------------------------------------------------------------
class _Malformed(Exception):
    pass


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed(pos)
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int):
    """Yield (field number, wire type, value) of one message; a LEN value is its (start, end) span."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed(pos)
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            value, pos = (pos, pos + size), pos + size
        else:  # groups (3, 4) are not used by ONNX
            raise _Malformed(pos)
        if pos > end:
            raise _Malformed(pos)
        yield number, wire, value


def _text(buf: memoryview, span: tuple[int, int]) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", errors="replace")


def _value_info(buf: memoryview, span: tuple[int, int]) -> tuple[str, tuple[int | str, ...] | None]:
    name, dims = "", None
    for number, wire, value in _fields(buf, *span):
        if number == 1 and wire == 2:                                  # ValueInfoProto.name
            name = _text(buf, value)
        elif number == 2 and wire == 2:                                # ValueInfoProto.type
            for tn, tw, tv in _fields(buf, *value):
                if tn == 1 and tw == 2:                                # TypeProto.tensor_type
                    dims = ()
                    for sn, sw, sv in _fields(buf, *tv):
                        if sn == 2 and sw == 2:                        # Tensor.shape
                            for dn, dw, dv in _fields(buf, *sv):
                                if dn == 1 and dw == 2:                # TensorShapeProto.dim
                                    dim: int | str = "*"
                                    for xn, xw, xv in _fields(buf, *dv):
                                        if xn == 1 and xw == 0:        # Dimension.dim_value
                                            dim = xv if 0 < xv < 1 << 62 else "*"
                                        elif xn == 2 and xw == 2:      # Dimension.dim_param
                                            dim = _text(buf, xv) or "*"
                                    dims += (dim,)
    return name, dims


def onnx_input_dims(onnx_path: Path) -> dict[str, tuple[int | str, ...]]:
    """Graph inputs of an ONNX file: name -> dims (an int, or the dynamic axis' name, ``"*"`` if unnamed).

    Initializers listed as inputs (IR version < 4) are left out. Reads only the protobuf fields it
    needs (weights are skipped by length, the file is memory-mapped); raises :class:`BackendError`
    for a file that is not a well-formed ONNX model.
    """
    path = Path(onnx_path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise BackendError(f"expected an ONNX model in {path.name}, got an empty file")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                buf = memoryview(mm)
                try:
                    return _graph_inputs(buf, size)
                finally:
                    buf.release()
    except OSError as e:
        raise BackendError(f"expected to read the ONNX model {path.name}, got {type(e).__name__}: {e}") from None
    except _Malformed as e:
        raise BackendError(
            f"expected an ONNX model in {path.name}, got a malformed protobuf near byte {e.args[0]}") from None


def _graph_inputs(buf: memoryview, size: int) -> dict[str, tuple[int | str, ...]]:
    graph = None
    for number, wire, value in _fields(buf, 0, size):
        if number == 7 and wire == 2:                                  # ModelProto.graph
            graph = value
    if graph is None:
        raise _Malformed(size)
    inputs: list[tuple[str, tuple[int | str, ...] | None]] = []
    initializers: set[str] = set()
    for number, wire, value in _fields(buf, *graph):
        if number == 11 and wire == 2:                                 # GraphProto.input
            inputs.append(_value_info(buf, value))
        elif number == 5 and wire == 2:                                # GraphProto.initializer
            for tn, tw, tv in _fields(buf, *value):
                if tn == 8 and tw == 2:                                # TensorProto.name
                    initializers.add(_text(buf, tv))
    return {name: dims or () for name, dims in inputs if name not in initializers}


def profile_shapes(inputs: Mapping[str, Sequence[int | str]], profile: Mapping[str, tuple[int, int, int]] = DEFAULT_PROFILE
                   ) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shapes for every input (name -> dims, see :func:`onnx_input_dims`).

    A static dim is used as is; a dynamic one takes ``profile[axis name]`` (or ``profile["*"]``).
    Raises :class:`BackendError` for a dynamic axis with no entry and no ``"*"`` fallback.
    """
    shapes = {}
    for name, dims in inputs.items():
        ranges = []
        for dim in dims:
            if isinstance(dim, int):
                ranges.append((dim,) * 3)
                continue
            rng = profile.get(dim, profile.get("*"))
            if rng is None:
                raise BackendError(f"expected a profile range for dynamic axis {dim!r} of input {name!r}, got none")
            ranges.append(tuple(int(v) for v in rng))
        lo, opt, hi = zip(*ranges) if ranges else ((), (), ())
        shapes[name] = (tuple(lo), tuple(opt), tuple(hi))
    return shapes


# --------------------------------------------------------------------------------------------
# Everything below needs tensorrt + cuda-python + an NVIDIA GPU
# --------------------------------------------------------------------------------------------
def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def _cudart() -> Any | None:
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(name)
        except Exception:
            continue
    return None


def require_tensorrt() -> tuple[Any, Any]:
    """Import (tensorrt, cudart) or raise :class:`BackendUnavailableError` saying what is missing."""
    if importlib.util.find_spec("tensorrt") is None:
        raise BackendUnavailableError("expected the tensorrt Python package for TensorRT engines, got none installed")
    try:
        trt = importlib.import_module("tensorrt")
    except Exception as e:  # a broken CUDA install surfaces here as OSError/ImportError
        raise BackendUnavailableError(f"expected tensorrt to import, got: {_first_line(e)}") from None
    cudart = _cudart()
    if cudart is None:
        raise BackendUnavailableError("expected cuda-python (cuda.bindings.runtime) for TensorRT buffers, got none installed")
    if cuda_device_count(cudart) == 0:
        raise BackendUnavailableError("expected an NVIDIA GPU for TensorRT, got none visible to the CUDA runtime")
    return trt, cudart


def _check(result: Any, what: str) -> Any:
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"expected {what} to succeed, got CUDA error {int(err)}")
    return rest[0] if len(rest) == 1 else (tuple(rest) if rest else None)


def cuda_device_count(cudart: Any | None = None) -> int:
    """Visible CUDA devices (0 when cuda-python, the runtime or a driver is missing)."""
    try:
        cudart = cudart if cudart is not None else _cudart()
        if cudart is None:
            return 0
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
    if kind not in ("gpu", "cuda") or (idx and not idx.isdigit()):
        raise BackendUnavailableError(f"expected a gpu device for TensorRT, got {device!r}")
    return int(idx) if idx else 0


def build_engine(onnx_path: Path, out_path: Path, options: BuildOptions) -> Path:
    """Parse ``onnx_path`` with TensorRT's ONNX parser and write a serialised engine to ``out_path``.

    The engine is written atomically (temp name, then rename), so a concurrent or interrupted
    build never leaves a partial engine behind. Flags: :func:`builder_flags`.
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
    for flag in builder_flags(options.precision):
        config.set_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile_shapes(onnx_input_dims(Path(onnx_path)), dict(options.profile)).items():
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
        self._runtime = runtime  # the engine must not outlive its runtime
        self._engine = runtime.deserialize_cuda_engine(Path(engine_file).read_bytes())
        if self._engine is None:
            raise BackendError(f"expected a TensorRT engine in {Path(engine_file).name}, got one this TensorRT cannot load")
        self.path = Path(engine_file)
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
        """Run on named host arrays; returns every output as a new host array (FP16 outputs as float32)."""
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


def load_engine_session(onnx_path: Path, device: str, *, precision: str, cache_dir: Path,
                        options: BuildOptions | None = None) -> TensorRtSession:
    """Build (first time) or reuse the cached engine for ``onnx_path`` on ``device`` and open it.

    ``precision`` is the artifact's manifest precision (``fp32``, ``fp16``, ``int8``). A cached
    engine this TensorRT cannot deserialise (a damaged cache file) is rebuilt once.
    """
    options = options if options is not None else BuildOptions(precision=precision)
    if options.precision != precision:
        raise BackendError(f"expected build options for precision {precision!r}, got {options.precision!r}")
    trt, cudart = require_tensorrt()
    index = _device_index(device)
    path = engine_path(Path(cache_dir), Path(onnx_path), gpu_name(cudart, index), trt.__version__, options)
    if not path.is_file():
        _check(cudart.cudaSetDevice(index), "cudaSetDevice")
        build_engine(Path(onnx_path), path, options)
        return TensorRtSession(path, index)
    try:
        return TensorRtSession(path, index)
    except BackendError:
        path.unlink(missing_ok=True)
        build_engine(Path(onnx_path), path, options)
        return TensorRtSession(path, index)
