"""INT8 / FP16 conversion of exported ONNX graphs, shared by every family's exporter.

Stable API (the OWL and text exporters both call it):

* :func:`upgrade_opset` — bring an ONNX model to at least opset 17.
* :func:`quantize_onnx_int8` — ONNX Runtime static QDQ INT8 (per-channel weights).
* :func:`quantize_openvino_int8` — OpenVINO IR INT8 through NNCF post-training quantisation.
* :func:`convert_openvino` — ONNX → OpenVINO IR (FP32 or FP16 weights).
* :func:`convert_fp16_onnx` — ONNX FP16 weights/compute with float32 inputs and outputs.

Why only the weight-carrying MatMul/Gemm/Conv nodes get QDQ by default: fully-INT8 vision
transformers are known to collapse (LayerNorm, Softmax, GELU and the residual adds have outlier
activations that an 8-bit grid cannot hold), while the large weight matmuls hold nearly all of the
compute and all of the bytes. Everything here imports its heavy library inside the function.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from groundlite.errors import BackendUnavailableError, CalibrationError, ExportError

__all__ = [
    "DEFAULT_EXCLUDED_OP_TYPES",
    "DEFAULT_QUANTIZED_OP_TYPES",
    "CALIBRATION_METHODS",
    "upgrade_opset",
    "quantize_onnx_int8",
    "quantize_openvino_int8",
    "convert_openvino",
    "convert_fp16_onnx",
    "select_quantized_nodes",
    "pre_process",
]

log = logging.getLogger(__name__)


#: op types that stay float unless the caller says otherwise: LayerNorm (fused and the decomposed
#: ReduceMean/Sub/Pow/Sqrt/Div pattern), Softmax, GELU/Erf and the residual Adds.
DEFAULT_EXCLUDED_OP_TYPES: tuple[str, ...] = (
    "LayerNormalization", "ReduceMean", "Sub", "Pow", "Sqrt", "Div",
    "Softmax", "Gelu", "Erf", "Add",
)
#: op types that receive QDQ when one of their inputs is a constant weight.
DEFAULT_QUANTIZED_OP_TYPES: tuple[str, ...] = ("MatMul", "Gemm", "Conv")
#: calibration method names accepted by :func:`quantize_onnx_int8` ("mean-minmax": the mean over
#: calibration samples of each sample's min / max, as NNCF's default range estimator; one odd photo
#: cannot stretch a range the way it does under "minmax").
CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "mean-minmax", "entropy", "percentile")

Feeds = dict[str, np.ndarray]
Progress = Callable[[int, int], None]


def upgrade_opset(model_or_path: Any, target: int = 17) -> Any:
    """Return the model (``onnx.ModelProto`` or a path to one) at default-domain opset >= ``target``.

    Models already at or above ``target`` are returned unchanged (loaded if a path was given).
    """
    import onnx
    from onnx import version_converter

    model = model_or_path if isinstance(model_or_path, onnx.ModelProto) else onnx.load(str(model_or_path))
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if current >= target:
        return model
    try:
        return version_converter.convert_version(model, target)
    except Exception as e:  # the converter raises bare RuntimeErrors with adapter names
        raise ExportError(f"expected to upgrade the ONNX model from opset {current} to {target}, got: {e}") from None


def _initializer_names(graph: Any) -> set[str]:
    names = {i.name for i in graph.initializer}
    for node in graph.node:  # constants folded into Constant nodes are weights too
        if node.op_type == "Constant":
            names.update(node.output)
    return names


def select_quantized_nodes(
    model: Any,
    *,
    op_types: Iterable[str] = DEFAULT_QUANTIZED_OP_TYPES,
    exclude_op_types: Iterable[str] = DEFAULT_EXCLUDED_OP_TYPES,
    exclude_nodes: Iterable[str] = (),
    activation_matmuls: bool = False,
) -> tuple[list[str], list[str]]:
    """Split an ONNX graph's node names into (quantise, keep-float).

    A node is quantised when its op type is in ``op_types`` and not in ``exclude_op_types``, one of
    its first two inputs is a constant weight (so activation x activation matmuls such as
    attention scores stay float), and its name matches none of the ``exclude_nodes`` regular
    expressions (``re.search``). Nodes of an excluded op type are returned in the keep-float list.
    ``activation_matmuls=True`` also quantises MatMuls of two activations (attention ``QK^T`` and
    ``AV``), which otherwise run in float32 between integer GEMMs.
    """
    graph = model.graph
    weights = _initializer_names(graph)
    wanted = set(op_types) - set(exclude_op_types)
    excluded_types = set(exclude_op_types)
    patterns = [re.compile(p) for p in exclude_nodes]
    quantize: list[str] = []
    keep: list[str] = []
    for node in graph.node:
        if not node.name:
            continue
        if node.op_type in excluded_types or any(p.search(node.name) for p in patterns):
            keep.append(node.name)
        elif node.op_type in wanted and any(i in weights for i in node.input[:2]):
            quantize.append(node.name)
        elif activation_matmuls and node.op_type == "MatMul" and "MatMul" in wanted:
            quantize.append(node.name)
    return quantize, keep


def _name_nodes(model: Any) -> None:
    # ORT selects nodes by name; anonymous nodes would be impossible to exclude.
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def _check_calibration(calibration: Sequence[Feeds]) -> None:
    if len(calibration) == 0:
        raise CalibrationError("expected at least one calibration feed dict, got an empty sequence")
    for i, feeds in enumerate(calibration):
        if not isinstance(feeds, dict) or not feeds:
            raise CalibrationError(f"expected calibration[{i}] to be a non-empty dict of name -> array, got {type(feeds).__name__}")


#: run in a child process whose working directory is a temp dir (see :func:`pre_process`)
_PRE_PROCESS_SCRIPT = """
import shutil, sys
from onnxruntime.quantization.shape_inference import quant_pre_process
src, dst = sys.argv[1], sys.argv[2]
try:
    quant_pre_process(src, dst, skip_optimization=True, skip_symbolic_shape=False)
    print("symbolic")
except Exception:  # symbolic shape inference fails on some dynamic graphs
    try:
        quant_pre_process(src, dst, skip_optimization=True, skip_symbolic_shape=True)
        print("onnx-shape")
    except Exception:
        shutil.copyfile(src, dst)
        print("none")
"""


def pre_process(src: Path, dst: Path, scratch: Path) -> str:
    """ONNX Runtime's quantisation pre-processing (shape inference) of ``src`` into ``dst``.

    ``quant_pre_process`` takes no directory for its scratch files: when symbolic shape
    inference is incomplete, ``SymbolicShapeInference.infer_shapes`` saves
    ``sym_shape_infer_temp.onnx`` plus a ``<uuid>`` external-data file into the *current*
    directory before raising. Rather than change this process's working directory (the exporter
    never does), the step runs in a child Python whose ``cwd`` is ``scratch``. Returns which
    shape inference succeeded: ``"symbolic"``, ``"onnx-shape"`` or ``"none"`` (copied as is).
    """
    import subprocess
    import sys

    src, dst = Path(src).resolve(), Path(dst).resolve()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", _PRE_PROCESS_SCRIPT, str(src), str(dst)], cwd=str(scratch),
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not dst.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ExportError(f"expected ONNX Runtime's quantisation pre-processing of {src.name} to succeed, got: {tail[0]}")
    how = (proc.stdout.strip().splitlines() or ["none"])[-1]
    log.info("quant_pre_process of %s: %s", src.name, how)
    return how



def quantize_onnx_int8(
    fp32_onnx: Path,
    out_path: Path,
    calibration: Sequence[Feeds],
    *,
    method: str = "minmax",
    exclude_op_types: Iterable[str] | None = DEFAULT_EXCLUDED_OP_TYPES,
    exclude_nodes: Iterable[str] = (),
    per_channel: bool = True,
    op_types: Iterable[str] = DEFAULT_QUANTIZED_OP_TYPES,
    symmetric_activations: bool = False,
    activation_matmuls: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Statically quantise an FP32 ONNX graph to QDQ INT8 for ONNX Runtime.

    Args:
        fp32_onnx: FP32 model path.
        out_path: where the QDQ model is written (parent dirs are created).
        calibration: feed dicts, one per calibration sample, e.g.
            ``{"pixel_values": float32 [1,3,S,S]}``; names must match the graph inputs.
        method: ``"minmax"``, ``"mean-minmax"`` (mean of per-sample extremes), ``"entropy"`` or
            ``"percentile"`` (99.999th percentile). (Mean-)MinMax
            memory is bounded (ranges are folded every 4 samples); ONNX Runtime's histogram
            methods keep every calibrated activation of every sample in memory, so use a
            smaller calibration set with them on base-size models.
        exclude_op_types: op types that stay float (see :data:`DEFAULT_EXCLUDED_OP_TYPES`);
            ``None`` means the default.
        exclude_nodes: regular expressions; nodes whose name matches stay float (use this for the
            final detection-head layers).
        per_channel: per-output-channel weight scales (recommended).
        op_types: op types that may be quantised when they carry a constant weight.
        symmetric_activations: zero-point-0 signed INT8 activations; TensorRT's explicit
            quantisation requires them. The default is asymmetric **uint8** activations: ONNX
            Runtime's x86 CPU kernels are U8S8 (VPMADDUBSW / VNNI), and with int8 activations most
            QDQ MatMuls are not fused into integer GEMMs at all (measured: slower than FP32).
            Same 256 levels, so the same accuracy; ``reduce_range`` stays off (VNNI and ARM do
            not saturate; pre-VNNI AVX2/AVX-512 CPUs may lose a little accuracy).
        activation_matmuls: also quantise activation x activation MatMuls (attention), see
            :func:`select_quantized_nodes`.
        progress: called as ``progress(done, total)`` after each calibration sample.

    Runs ``quant_pre_process`` first (symbolic shape inference is skipped when it fails), then
    ``quantize_static`` in QDQ format with signed INT8 weights and activations.
    Returns ``out_path``.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    methods = {"minmax": CalibrationMethod.MinMax, "mean-minmax": CalibrationMethod.MinMax,
               "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ExportError(f"expected calibration method in {CALIBRATION_METHODS}, got {method!r}")
    _check_calibration(calibration)
    fp32_onnx, out_path = Path(fp32_onnx), Path(out_path)
    excluded = tuple(DEFAULT_EXCLUDED_OP_TYPES if exclude_op_types is None else exclude_op_types)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._i = 0

        def get_next(self) -> Feeds | None:
            if self._i >= len(calibration):
                return None
            feeds = calibration[self._i]
            self._i += 1
            if progress is not None:
                progress(self._i, len(calibration))
            return feeds

        def rewind(self) -> None:
            self._i = 0

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="groundlite-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        pre_process(Path(fp32_onnx), pre, Path(tmp))
        model = onnx.load(str(pre))
        _name_nodes(model)
        quantize, keep = select_quantized_nodes(
            model, op_types=op_types, exclude_op_types=excluded, exclude_nodes=exclude_nodes,
            activation_matmuls=activation_matmuls,
        )
        if not quantize:
            raise ExportError(
                f"expected at least one {tuple(op_types)} node with a constant weight to quantise in "
                f"{fp32_onnx.name}, got none after exclusions"
            )
        named = Path(tmp) / "named.onnx"
        onnx.save(model, str(named))
        extra: dict[str, Any] = {"ActivationSymmetric": symmetric_activations, "WeightSymmetric": True}
        fold = _fold_every(len(calibration))
        if method == "minmax" and fold:
            # fold ranges every few samples instead of holding every activation of every sample
            extra["CalibMaxIntermediateOutputs"] = fold
        if method == "mean-minmax":
            # one fold: ORT averages per-sample min/max within a fold (the per-sample ranges are
            # scalars, so memory stays small) but blends later folds with a 0.01 moving average
            extra["CalibMovingAverage"] = True
        if method == "percentile":
            extra["CalibPercentile"] = 99.999
        with _lean_calibration_sessions():
            quantize_static(
                str(named),
                str(out_path),
                _Reader(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=sorted(set(op_types) - set(excluded)),
                per_channel=per_channel,
                activation_type=QuantType.QInt8 if symmetric_activations else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_quantize=quantize,
                nodes_to_exclude=keep,
                calibrate_method=methods[method],
                extra_options=extra,
            )
    log.info("quantised %d nodes of %s (%d kept float)", len(quantize), fp32_onnx.name, len(keep))
    return out_path


_CALIBRATION_SESSION_LOCK = threading.Lock()


@contextmanager
def _lean_calibration_sessions() -> Iterator[None]:
    """Run ONNX Runtime's calibration session without its CPU memory arena and memory patterns.

    ``quantize_static`` builds the calibration session itself (``CalibraterBase.
    create_inference_session``) and takes no session options. With the arena on, that session
    kept most intermediates of a forward pass resident and grew with every sample: on OWL-ViT
    B/16 at 768 px (2,305 tokens, 255 MB attention maps per layer) it passed 14 GB after two
    calibration images. Without the arena the same calibration peaked at 9.9 GB with 2 images
    and 10.3 GB with 3 (one forward pass's intermediates; it no longer grows per sample). The
    ranges are the same: only where tensors are allocated changes. The patch is scoped to this
    block.
    """
    from onnxruntime.quantization import calibrate

    base = getattr(calibrate, "CalibraterBase", None)
    original = getattr(base, "create_inference_session", None)
    if base is None or original is None:  # another ONNX Runtime layout: leave it alone
        yield
        return

    def create_inference_session(self: Any) -> None:
        import onnxruntime

        so = onnxruntime.SessionOptions()
        so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL  # as upstream
        so.enable_cpu_mem_arena = False
        so.enable_mem_pattern = False
        self.infer_session = onnxruntime.InferenceSession(
            self.augmented_model_path, sess_options=so, providers=self.execution_providers)

    with _CALIBRATION_SESSION_LOCK:
        base.create_inference_session = create_inference_session
        try:
            yield
        finally:
            base.create_inference_session = original


def _fold_every(n: int) -> int | None:
    """A MinMax folding interval that does not divide ``n`` (ONNX Runtime 1.2x-1.3x raises "No data
    is collected" when the last fold leaves nothing behind), or None for small sets."""
    for k in range(4, n):
        if n % k:
            return k
    return None


def _require_openvino() -> Any:
    try:
        import openvino as ov
    except ImportError:
        raise BackendUnavailableError(
            "expected the openvino package for OpenVINO artifacts, but it is not installed; "
            "pip install 'groundlite[openvino]' or choose other backends"
        ) from None
    return ov


def convert_openvino(onnx_path: Path, out_xml: Path, *, fp16: bool = False) -> Path:
    """Convert an ONNX graph to OpenVINO IR (``out_xml`` + the ``.bin`` beside it).

    ``fp16=True`` stores weights as FP16 (for GPU/NPU plug-ins; CPU upcasts them at load time).
    Input/output names, dtypes and dynamic axes are kept. Returns ``out_xml``.
    """
    ov = _require_openvino()
    out_xml = Path(out_xml)
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(out_xml), compress_to_fp16=fp16)
    return out_xml


def quantize_openvino_int8(
    fp32_onnx: Path,
    out_xml: Path,
    calibration: Sequence[Feeds],
    *,
    model_type: str | None = "transformer",
    ignored_op_types: Iterable[str] = (),
    ignored_patterns: Iterable[str] = (),
    subset_size: int | None = None,
    preset: str = "mixed",
) -> Path:
    """Quantise an FP32 ONNX graph to an INT8 OpenVINO IR with NNCF post-training quantisation.

    Args:
        fp32_onnx: FP32 ONNX model path (converted with ``ov.convert_model``).
        out_xml: IR path to write (the ``.bin`` is written beside it).
        calibration: feed dicts keyed by graph input name (as for :func:`quantize_onnx_int8`).
        model_type: ``"transformer"`` (NNCF keeps LayerNorm/Softmax/GELU paths float and applies
            SmoothQuant-style handling) or ``None`` for CNNs.
        ignored_op_types: OpenVINO op type names that stay float, e.g. ``("MVN", "SoftMax")``.
        ignored_patterns: regular expressions over OpenVINO node names that stay float
            (the final detection-head layers).
        subset_size: calibration samples NNCF uses; default all of ``calibration``.
        preset: ``"mixed"`` (symmetric weights, asymmetric activations) or ``"performance"``.

    Returns ``out_xml``.
    """
    ov = _require_openvino()
    import nncf

    _check_calibration(calibration)
    presets = {"mixed": nncf.QuantizationPreset.MIXED, "performance": nncf.QuantizationPreset.PERFORMANCE}
    if preset not in presets:
        raise ExportError(f"expected preset in {tuple(presets)}, got {preset!r}")
    model_types = {"transformer": nncf.ModelType.TRANSFORMER, None: None}
    if model_type not in model_types:
        raise ExportError(f"expected model_type 'transformer' or None, got {model_type!r}")
    out_xml = Path(out_xml)
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(fp32_onnx))
    scope = nncf.IgnoredScope(types=list(ignored_op_types), patterns=list(ignored_patterns), validate=False)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(list(calibration)),
        preset=presets[preset],
        model_type=model_types[model_type],
        subset_size=subset_size or len(calibration),
        ignored_scope=scope,
    )
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return out_xml


def convert_fp16_onnx(fp32_onnx: Path, out_path: Path, *, keep_io_types: bool = True,
                      op_block_list: Iterable[str] | None = None) -> Path:
    """Convert an ONNX graph's weights and compute to float16, keeping float32 inputs/outputs.

    Uses ``onnxconverter_common`` when installed, else ONNX Runtime's bundled
    ``onnxruntime.transformers.float16`` (same algorithm). FP16 artifacts target GPUs and NPUs
    (TensorRT, OpenVINO GPU); most CPUs run them slower than FP32. ``op_block_list`` names op
    types that stay float32 (the converter's default list when ``None``). Returns ``out_path``.
    """
    import onnx

    try:
        from onnxconverter_common import float16  # type: ignore[import-not-found]
    except ImportError:
        from onnxruntime.transformers import float16
    model = onnx.load(str(fp32_onnx))
    kwargs: dict[str, Any] = {"keep_io_types": keep_io_types}
    if op_block_list is not None:
        kwargs["op_block_list"] = list(op_block_list)
    converted = float16.convert_float_to_float16(model, **kwargs)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, str(out_path))
    return out_path
