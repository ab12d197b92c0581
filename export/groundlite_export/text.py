"""Full packages of the built-in text models (``text-ppocrv6``, ``text-ppocrv4``), INT8 gated on real screenshots.

The weights are the FP32 ONNX files the runtime's table names
(:data:`groundlite.text.models.BUILTIN_TEXT_MODELS`, located by
:func:`groundlite.text.builtin.source_files`); the pre/post-processing is groundlite's. The
family's :class:`TextRecipe` supplies to the shared :mod:`groundlite_export.pipeline`:

* graph preparation: I/O renamed to the schema names (recorded in the manifest's ``text``
  block), the character list moved to ``charset.txt``, the recogniser height read from its
  ONNX input (dynamic -> 48), opset 17, Constant weights folded into initialisers;
* calibration feeds from *real* data: the detector inputs and recogniser batches the FP32
  pipeline itself builds on the ``tune`` split of the real screenshot subset (its sessions are
  wrapped to record what they are fed), so the recogniser calibrates on real line crops;
* INT8 keeping sensitive layers float: each graph's edge convolutions / CTC classifier plus the
  per-layer list of ``assets/text_int8_keep_float.json`` when present;
* fidelity on the ``test`` split, per artifact against the package's FP32 artifact on the same
  backend: ``grounding_accuracy`` (and ``_fp32``), ``accuracy_drop_points``, ``cer``,
  ``word_accuracy``, ``detection_agreement`` (:mod:`groundlite_export.text_fidelity`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from groundlite import schema
from groundlite._version import __version__
from groundlite.errors import CalibrationError, ExportError
from groundlite.package import open_package, sha256_file

from .pipeline import Build, Feeds, run_export, validate_combos

__all__ = ["export_text", "source_models", "source_sha256", "prepare_graph", "keep_float_patterns", "TextRecipe",
           "SUPPORTED_PRECISIONS", "SUPPORTED_BACKENDS", "KEEP_FLOAT_FILE"]

SUPPORTED_PRECISIONS = ("fp32", "int8", "bf16")
SUPPORTED_BACKENDS = ("onnxruntime", "openvino")
TARGET_OPSET = 17
#: quantised op types: every weight-carrying convolution (both graphs) and the recogniser's
#: SVTR matmuls; LayerNorm / Softmax / residual Adds stay float (quantize.DEFAULT_EXCLUDED_OP_TYPES)
INT8_OP_TYPES = ("Conv", "MatMul", "Gemm")
#: calibration batches kept (evenly spaced over what the tune screens produce): bounds memory
#: (a 1920x1080 detector input is 25 MB) and build time
MAX_DET_CALIB_BATCHES = 8
MAX_REC_CALIB_BATCHES = 24
#: per-layer sensitivity study's output: {model: {graph: {"onnxruntime": [regex], "openvino": [regex]}}}
KEEP_FLOAT_FILE = Path(__file__).resolve().parent / "assets" / "text_int8_keep_float.json"


def _model(name: str) -> Any:
    from groundlite.errors import PackageNotFoundError
    from groundlite.text.models import builtin_text_model

    try:
        return builtin_text_model(name)
    except PackageNotFoundError as e:
        raise ExportError(str(e)) from None


def source_models(model: str = "text-ppocrv6") -> dict[str, Path]:
    """Graph -> path of the built-in model's FP32 ONNX file inside its wheel."""
    from groundlite.errors import PackageNotFoundError
    from groundlite.text.builtin import source_files

    try:
        return source_files(_model(model))
    except PackageNotFoundError as e:
        raise ExportError(str(e)) from None


def source_sha256(model: str = "text-ppocrv6") -> str:
    """SHA-256 over the source files' SHA-256s (detector, recogniser)."""
    h = hashlib.sha256()
    for graph, path in source_models(model).items():
        h.update(f"{graph}:{sha256_file(path)}\n".encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Graph preparation
# ----------------------------------------------------------------------------------------------
def _rename(model: Any, old: str, new: str) -> None:
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.name == old:
            vi.name = new


def _name_dims(value_info: Any, names: Sequence[str | None]) -> None:
    for dim, name in zip(value_info.type.tensor_type.shape.dim, names):
        if name is not None:
            dim.ClearField("dim_value")
            dim.dim_param = name


def prepare_graph(src: Path, graph: str, out_path: Path, source_label: str = "") -> dict[str, Any]:
    """Write the FP32 graph with schema tensor names at opset 17.

    Returns ``{"input", "output"}`` (the schema names used) and, for the recogniser, ``charset``
    (the dictionary + the trailing space, CTC blank excluded), ``rec_height`` (the ONNX input's
    fixed height, or 48 when dynamic) and ``num_classes`` (the output's class count).
    """
    import onnx
    import onnxslim

    from .quantize import upgrade_opset

    model = onnx.load(str(src))
    if len(model.graph.input) != 1 or len(model.graph.output) != 1:
        raise ExportError(f"expected one input and one output in {src.name}, got "
                          f"{len(model.graph.input)} and {len(model.graph.output)}")
    meta = {p.key: p.value for p in model.metadata_props}
    info: dict[str, Any] = {}
    if graph == schema.GRAPH_TEXT_DETECTOR:
        names = (schema.DET_IMAGE, schema.DET_PROBABILITY)
        dims: tuple[str | None, ...] = ("batch", None, "height", "width")
    else:
        if "character" not in meta:
            raise ExportError(f"expected the recogniser {src.name} to carry a 'character' metadata entry, got none")
        # PaddleOCR's CTC head: class 0 = blank, then the dictionary, then a space
        info["charset"] = meta["character"].split("\n") + [" "]
        h = model.graph.input[0].type.tensor_type.shape.dim[2]
        info["rec_height"] = int(h.dim_value) if h.HasField("dim_value") and h.dim_value > 0 else 48
        c = model.graph.output[0].type.tensor_type.shape.dim[-1]
        info["num_classes"] = int(c.dim_value) if c.HasField("dim_value") and c.dim_value > 0 else len(info["charset"]) + 1
        if info["num_classes"] != len(info["charset"]) + 1:
            raise ExportError(f"expected {src.name} to have {len(info['charset']) + 1} classes (its dictionary + blank), "
                              f"got {info['num_classes']}")
        names = (schema.REC_IMAGE, schema.REC_LOGITS)
        dims = ("batch", None, None, "width")
    _rename(model, model.graph.input[0].name, names[0])
    _rename(model, model.graph.output[0].name, names[1])
    _name_dims(model.graph.input[0], dims)
    info.update(input=names[0], output=names[1])
    del model.metadata_props[:]
    model = upgrade_opset(model, TARGET_OPSET)
    # Paddle2ONNX stores weights and biases as Constant nodes and keeps BatchNormalization
    # separate; the INT8 quantiser needs weights/biases as initializers (else it quantises biases
    # as activations and the detector collapses), so fold them first. Outputs are unchanged.
    model = onnxslim.slim(model)
    for key, value in (("groundlite.family", "text"), ("groundlite.graph", graph), ("groundlite.precision", "fp32"),
                       ("groundlite.image_size", "dynamic"), ("groundlite.sdk_version", __version__),
                       ("groundlite.source", source_label or src.name)):
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))
    return info


# ----------------------------------------------------------------------------------------------
# Nodes kept float in INT8
# ----------------------------------------------------------------------------------------------
def keep_float_patterns(model: str, graph: str, backend: str, path: Path = KEEP_FLOAT_FILE) -> list[str]:
    """Node-name regexes the per-layer sensitivity study keeps float (``[]`` without its file)."""
    if not path.is_file():
        return []
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        patterns = table.get(model, {}).get(graph, {}).get(backend, [])
    except (json.JSONDecodeError, AttributeError) as e:
        raise ExportError(f"expected {path.name} to be {{model: {{graph: {{backend: [regex]}}}}}}, got: {e}") from None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ExportError(f"expected a list of regexes for {model}/{graph}/{backend} in {path.name}, got {patterns!r}")
    for p in patterns:
        try:
            re.compile(p)
        except re.error as e:
            raise ExportError(f"expected valid regexes in {path.name}, got {p!r}: {e}") from None
    return list(patterns)


def _edge_nodes(nodes: list[tuple[str, str]], graph: str, *, conv: str) -> list[str]:
    """Nodes kept float: the detector's first and last convolution (the input stem sees raw pixels;
    the last one feeds the probability map), the recogniser's first convolution and its CTC
    classifier matmul (PP-OCRv4, 8 held-out rendered images: line agreement 0.949 with every Conv
    quantised, 0.966 with the first and last kept float)."""
    convs = [n for n, t in nodes if t == conv]
    keep = convs[:1]
    if graph == schema.GRAPH_TEXT_DETECTOR:
        keep += convs[-1:]
    else:
        keep += [n for n, t in nodes if t == "MatMul"][-1:]
    return ["^" + re.escape(n) + "$" for n in keep]


def _edge_nodes_onnx(path: Path, graph: str) -> list[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return _edge_nodes([(n.name, n.op_type) for n in model.graph.node], graph, conv="Conv")


def _edge_nodes_openvino(path: Path, graph: str) -> list[str]:
    import openvino as ov

    # the same conversion NNCF runs, so the friendly names match (BatchNorm is folded into Conv)
    model = ov.convert_model(str(path))
    return _edge_nodes([(o.get_friendly_name(), o.get_type_name()) for o in model.get_ordered_ops()], graph,
                       conv="Convolution")


# ----------------------------------------------------------------------------------------------
# Sessions
# ----------------------------------------------------------------------------------------------
class _Recorder:
    """A session proxy that keeps every feed dict it runs (the FP32 pipeline's real inputs)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.feeds: list[Feeds] = []

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.feeds.append({k: np.array(v, copy=True) for k, v in feeds.items()})
        return self._session.run(feeds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _bf16_session(path: Path) -> tuple[Any, str]:
    """The FP32 IR compiled by OpenVINO CPU with the bf16 hint, and the precision it runs in."""
    import openvino as ov

    from groundlite.backends.openvino import OpenVinoSession

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
    used = compiled.get_property("INFERENCE_PRECISION_HINT")  # f32 on CPUs without native bf16
    return OpenVinoSession(compiled, Path(path)), used.to_string() if hasattr(used, "to_string") else str(used)


# ----------------------------------------------------------------------------------------------
# The recipe
# ----------------------------------------------------------------------------------------------
class TextRecipe:
    """The text family's part of the export pipeline (see the module docstring)."""

    graphs = (schema.GRAPH_TEXT_DETECTOR, schema.GRAPH_TEXT_RECOGNIZER)
    backend_references = True  # INT8/BF16 on a backend are measured against its own FP32

    def __init__(self, model: str, *, calib_dir: str | Path | None, calib_size: int, fidelity_screens: int | None) -> None:
        self.model = _model(model)
        self.calib_dir, self.calib_size, self.fidelity_screens = calib_dir, calib_size, fidelity_screens
        self.sources = source_models(self.model.name)
        self.info: dict[str, dict[str, Any]] = {}
        self.charset_path: Path | None = None
        self._reads: dict[tuple[str, str], list[tuple[list[tuple[str, list[float]]], dict[str, Any]]]] = {}
        self._precision_used: dict[tuple[str, str], str] = {}
        self._kept: dict[str, dict[str, list[str]]] = {}
        self._test = None

    # -- graphs ------------------------------------------------------------------------------
    def prepare(self, build: Build) -> dict[str, Path]:
        fp32 = {}
        for graph, src in self.sources.items():
            out = build.root / "onnxruntime" / f"{graph}.fp32.onnx"
            label = f"{self.model.distribution}=={self.model.version}:{self.model.detector if graph == schema.GRAPH_TEXT_DETECTOR else self.model.recognizer}"
            self.info[graph] = prepare_graph(src, graph, out, label)
            fp32[graph] = out
        rec = self.info[schema.GRAPH_TEXT_RECOGNIZER]
        self.charset_path = build.root / "charset.txt"
        self.charset_path.write_text("\n".join(rec["charset"]), encoding="utf-8")
        return fp32

    def manifest_fields(self, build: Build) -> dict[str, Any]:
        from groundlite.text.config import TextConfig

        from .package_writer import file_entry

        det, rec = self.info[schema.GRAPH_TEXT_DETECTOR], self.info[schema.GRAPH_TEXT_RECOGNIZER]
        cfg = TextConfig(**{**dict(self.model.config), "rec_height": rec["rec_height"], "det_input": det["input"],
                            "det_output": det["output"], "rec_input": rec["input"], "rec_output": rec["output"]})
        m = self.model
        fields: dict[str, Any] = {
            "name": m.name,
            "family": "text",
            "source": {"kind": "wheel", "id": f"{m.distribution}=={m.version}",
                       "files": {schema.GRAPH_TEXT_DETECTOR: m.detector, schema.GRAPH_TEXT_RECOGNIZER: m.recognizer},
                       "weights_sha256": source_sha256(m.name), "license": m.license},
            "text": {**cfg.to_dict(), "num_classes": rec["num_classes"]},
            "files": {"charset": file_entry(build.root, self.charset_path).to_dict()},
        }
        if m.scoring is not None:
            fields["scoring"] = dict(m.scoring)
        return fields

    # -- INT8 --------------------------------------------------------------------------------
    def _keep(self, graph: str, backend: str, fp32: Path) -> list[str]:
        edge = _edge_nodes_onnx(fp32, graph) if backend == "onnxruntime" else _edge_nodes_openvino(fp32, graph)
        kept = edge + keep_float_patterns(self.model.name, graph, backend)
        self._kept.setdefault(graph, {})[backend] = kept
        return kept

    def onnx_int8_options(self, graph: str, fp32: Path, *, symmetric: bool) -> dict[str, Any]:
        return {"op_types": INT8_OP_TYPES, "exclude_nodes": self._keep(graph, "onnxruntime", fp32),
                "symmetric_activations": symmetric}

    def openvino_int8_options(self, graph: str, fp32: Path) -> dict[str, Any]:
        return {"model_type": "transformer" if graph == schema.GRAPH_TEXT_RECOGNIZER else None,
                "ignored_patterns": self._keep(graph, "openvino", fp32)}

    def finish_onnx(self, path: Path, graph: str, precision: str) -> None:
        return None

    def _grounder(self, build: Build, backend: str, precision: str, *, record: bool = False) -> Any:
        from groundlite.backends import get_backend
        from groundlite.text.pipeline import TextGrounder

        package = open_package(build.root, verify=False)
        sessions = {}
        for graph in self.graphs:
            art = package.find(graph, backend, precision)
            if art is None:
                raise ExportError(f"expected a {graph} artifact for {backend}/{precision} in the staging package, got none")
            path = package.path(art.file)
            if precision == "bf16":
                sessions[graph], self._precision_used[(backend, precision)] = _bf16_session(path)
            else:
                sessions[graph] = get_backend(backend).load(path, "cpu")
            if record:
                sessions[graph] = _Recorder(sessions[graph])
        return TextGrounder(package, sessions, {"backend": backend, "precision": precision, "device": "cpu"})

    def calibration_feeds(self, build: Build, fp32: Mapping[str, Path]) -> dict[str, list[Feeds]]:
        from . import calibration
        from .quantize import DEFAULT_EXCLUDED_OP_TYPES

        if self.calib_dir is not None:
            paths = calibration.list_images(self.calib_dir)[: self.calib_size]
            images = [np.asarray(calibration.load_rgb(p)) for p in paths]
            data: dict[str, Any] = {"source": str(self.calib_dir), "images": {p.name: sha256_file(p) for p in paths}}
        else:
            tune = calibration.load_screens("tune", self.calib_size)
            images = [s.rgb for s in tune.screens]
            data = tune.record()
        reference = self._grounder(build, "onnxruntime", "fp32", record=True)
        for rgb in images:
            reference.read(rgb)
        det = reference._det.feeds
        rec = reference._rec.feeds
        if not rec:
            raise CalibrationError("expected the calibration images to contain text lines, but the FP32 detector found none")
        det, rec = _spread(det, MAX_DET_CALIB_BATCHES), _spread(rec, MAX_REC_CALIB_BATCHES)
        build.calibration = {
            "method": "minmax", "size": len(images), "data": data,
            "detector_batches": len(det), "recognizer_batches": len(rec),
            "recognizer_feeds": "the line crops the FP32 pipeline cuts from the calibration images",
            "quantized_op_types": list(INT8_OP_TYPES), "excluded_op_types": list(DEFAULT_EXCLUDED_OP_TYPES),
            "keep_float_file": KEEP_FLOAT_FILE.name if KEEP_FLOAT_FILE.is_file() else None,
            "kept_float_nodes": self._kept,
        }
        return {schema.GRAPH_TEXT_DETECTOR: det, schema.GRAPH_TEXT_RECOGNIZER: rec}

    # -- fidelity ------------------------------------------------------------------------------
    def _test_set(self) -> Any:
        if self._test is None:
            from . import calibration

            self._test = calibration.load_screens("test", self.fidelity_screens)
        return self._test

    def _measure(self, build: Build, backend: str, precision: str) -> list[tuple[list[tuple[str, list[float]]], dict[str, Any]]]:
        from .text_fidelity import top_boxes

        key = (backend, precision)
        if key not in self._reads:
            grounder = self._grounder(build, backend, precision)
            out = []
            for screen in self._test_set().screens:
                lines = [(ln.text, [float(v) for v in ln.xyxy]) for ln in grounder.read(screen.rgb)]
                phrases = list(dict.fromkeys(str(p["phrase"]) for p in screen.present))
                tops = top_boxes(grounder.predict(screen.rgb, phrases), phrases) if phrases else {}
                out.append((lines, tops))
            self._reads[key] = out
        return self._reads[key]

    def fidelity(self, build: Build, backend: str, precision: str) -> dict[str, Any] | None:
        from . import text_fidelity as tf

        if precision == "fp32":
            return None
        test = self._test_set()
        ref, cand = self._measure(build, backend, "fp32"), self._measure(build, backend, precision)
        g_hit = g_ref = n_phr = err = chars = w_hit = words = l_hit = n_lines = 0
        for screen, (r_lines, r_tops), (c_lines, c_tops) in zip(test.screens, ref, cand):
            h, n = tf.grounding_hits(screen.present, c_tops)
            g_hit, n_phr = g_hit + h, n_phr + n
            g_ref += tf.grounding_hits(screen.present, r_tops)[0]
            e, c = tf.cer_counts(r_lines, c_lines)
            err, chars = err + e, chars + c
            h, n = tf.word_counts(r_lines, c_lines)
            w_hit, words = w_hit + h, words + n
            h, n = tf.line_agreement(r_lines, c_lines)
            l_hit, n_lines = l_hit + h, n_lines + n
        acc = g_hit / n_phr if n_phr else 0.0
        acc_fp32 = g_ref / n_phr if n_phr else 0.0
        block: dict[str, Any] = {
            "grounding_accuracy": round(acc, 4),
            "grounding_accuracy_fp32": round(acc_fp32, 4),
            "accuracy_drop_points": round(100.0 * (acc_fp32 - acc), 2),
            "cer": round(err / chars, 5) if chars else 0.0,
            "word_accuracy": round(w_hit / words, 4) if words else 1.0,
            "detection_agreement": round(l_hit / n_lines, 4) if n_lines else 0.0,
            "n_screens": len(test.screens), "n_phrases": n_phr, "n_lines": n_lines,
            "reference": f"{backend}:fp32",
            "data": test.record(),
        }
        if (backend, precision) in self._precision_used:
            block["inference_precision"] = self._precision_used[(backend, precision)]
        return block


def _spread(items: list[Feeds], n: int) -> list[Feeds]:
    """At most ``n`` items, evenly spaced (keeps the spread of sizes)."""
    if len(items) <= n:
        return items
    keep = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in keep]


def export_text(out: str | Path | None = None, *, model: str = "text-ppocrv6",
                precisions: str | Sequence[str] = ("fp32", "int8", "bf16"),
                backends: str | Sequence[str] = ("onnxruntime", "openvino"), install: bool = False,
                calib_dir: str | Path | None = None, calib_size: int = 8, fidelity_screens: int | None = None,
                force: bool = False, progress: bool = True) -> Path:
    """Build a full package of built-in text model ``model`` (atomically) and return its path.

    Args:
        out: package directory to create (must not exist unless ``force``); omit with ``install``.
        model: a name of :data:`groundlite.text.models.BUILTIN_TEXT_MODELS` (or the alias ``text``).
        precisions: subset of ``("fp32", "int8", "bf16")``; ``bf16`` artifacts are OpenVINO's FP32
            IR run with the bf16 inference hint (OpenVINO only). The FP32 graphs are always built
            (quantisation source and fidelity reference) and dropped afterwards when not asked for.
        backends: subset of ``("onnxruntime", "openvino")``.
        install: write to :func:`groundlite.text.builtin.installed_package_dir` (replacing an
            older install), where ``groundlite.load(model)`` prefers it.
        calib_dir: calibration images instead of the ``tune`` split of the real screenshot subset.
        calib_size: calibration screens (images).
        fidelity_screens: ``test``-split screens measured (``None``: all).
        force: replace an existing ``out``.
        progress: rich progress bars on stderr.

    Raises :class:`ExportError` (bad choices, missing weights) or :class:`CalibrationError`.
    """
    precisions_t, backends_t = validate_combos(precisions, backends, allowed_precisions=SUPPORTED_PRECISIONS,
                                               allowed_backends=SUPPORTED_BACKENDS)
    spec = _model(model)
    if isinstance(calib_size, bool) or not isinstance(calib_size, int) or calib_size < 1:
        raise CalibrationError(f"expected a calibration size >= 1, got {calib_size!r}")
    if fidelity_screens is not None and (isinstance(fidelity_screens, bool) or not isinstance(fidelity_screens, int)
                                         or fidelity_screens < 1):
        raise CalibrationError(f"expected fidelity_screens to be None or an int >= 1, got {fidelity_screens!r}")
    if install:
        if out is not None:
            raise ExportError(f"expected either an output directory or install=True, got both ({str(out)!r})")
        from groundlite.text.builtin import installed_package_dir

        out, force = installed_package_dir(spec.name), True
    elif out is None or str(out) == "":
        raise ExportError("expected an output directory (or install=True), got none")
    if "int8" in precisions_t and calib_dir is not None:
        from .calibration import list_images, load_rgb

        for path in list_images(calib_dir)[:calib_size]:  # fail before the slow steps
            load_rgb(path)
    recipe = TextRecipe(spec.name, calib_dir=calib_dir, calib_size=calib_size, fidelity_screens=fidelity_screens)
    return run_export(recipe, Path(out), precisions=precisions_t, backends=backends_t, force=force, progress=progress,
                      fidelity=any(p != "fp32" for p in precisions_t))
