"""Build the built-in ``text`` package from the PP-OCRv4 ONNX files shipped in rapidocr-onnxruntime.

rapidocr-onnxruntime is only the *source of the weight files* (Apache-2.0): the detector
``ch_PP-OCRv4_det_infer.onnx`` and recogniser ``ch_PP-OCRv4_rec_infer.onnx``, whose character
list lives in the ONNX metadata (key ``character``). The pre/post-processing is groundlite's
(:mod:`groundlite.text`). Steps:

1. rename graph I/O to the schema names, move the character list to ``charset.txt``, upgrade to
   opset 17 (per-channel QDQ needs >= 13; 17 is what the OWL family uses), stamp metadata;
2. OpenVINO IR of the FP32 graphs;
3. INT8 through the shared quantisation code (:mod:`groundlite.export.quantize`): ONNX Runtime
   static QDQ and NNCF for OpenVINO, calibrated on real photos (scikit-image's ``page.png`` and
   ``text.png``) plus deterministic rendered documents/forms/receipts/screenshots; recogniser
   calibration batches are the real line crops the FP32 pipeline produces on those images;
4. fidelity on held-out rendered images: ``detection_agreement`` = fraction of FP32 recognised
   lines that INT8 reproduces with IoU >= 0.5 and the same normalised text.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.util
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from groundlite import schema
from groundlite._version import __version__
from groundlite.errors import CalibrationError, ExportError
from groundlite.package import file_entry, open_package, sha256_file, staging_dir, write_manifest

from .fidelity import box_iou

__all__ = ["export_text", "source_models", "source_sha256", "SOURCE_FILES", "CALIB_SEED", "HELDOUT_SEED"]

SOURCE_PACKAGE = "rapidocr_onnxruntime"
SOURCE_FILES = {
    schema.GRAPH_TEXT_DETECTOR: "ch_PP-OCRv4_det_infer.onnx",
    schema.GRAPH_TEXT_RECOGNIZER: "ch_PP-OCRv4_rec_infer.onnx",
}
#: seeds of the rendered calibration and held-out fidelity images (the benchmark uses others)
CALIB_SEED = 11
HELDOUT_SEED = 12
N_HELDOUT = 8
#: recogniser calibration batches kept (line crops of the calibration images)
MAX_REC_CALIB_BATCHES = 12
TARGET_OPSET = 17
#: quantised op types: every weight-carrying convolution (both graphs) and the recogniser's
#: SVTR matmuls; LayerNorm / Softmax / residual Adds stay float (quantize.DEFAULT_EXCLUDED_OP_TYPES).
INT8_OP_TYPES = ("Conv", "MatMul", "Gemm")
SUPPORTED_PRECISIONS = ("fp32", "int8")
SUPPORTED_BACKENDS = ("onnxruntime", "openvino")

Step = Callable[[str], None]


def source_models() -> dict[str, Path]:
    """Paths of the PP-OCRv4 ONNX files inside the installed rapidocr-onnxruntime wheel."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)  # locating, not importing (it loads onnxruntime)
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(
            f"expected the {SOURCE_PACKAGE.replace('_', '-')} package (source of the PP-OCRv4 weights) "
            "to be installed, but it is not; pip install rapidocr-onnxruntime==1.4.4"
        )
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    paths = {graph: models / name for graph, name in SOURCE_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ExportError(f"expected the PP-OCRv4 ONNX files in {models}, missing {missing}")
    return paths


def source_sha256() -> str:
    """SHA-256 over the two source ONNX files' SHA-256s (detector, recogniser)."""
    h = hashlib.sha256()
    for graph, path in source_models().items():
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


def prepare_graph(src: Path, graph: str, out_path: Path) -> list[str]:
    """Write the FP32 graph with schema tensor names at opset 17; return its charset (recogniser) or []."""
    import onnx
    import onnxslim

    from groundlite.export.quantize import upgrade_opset

    model = onnx.load(str(src))
    if len(model.graph.input) != 1 or len(model.graph.output) != 1:
        raise ExportError(f"expected one input and one output in {src.name}, got "
                          f"{len(model.graph.input)} and {len(model.graph.output)}")
    charset: list[str] = []
    meta = {p.key: p.value for p in model.metadata_props}
    if graph == schema.GRAPH_TEXT_DETECTOR:
        _rename(model, model.graph.input[0].name, schema.DET_IMAGE)
        _rename(model, model.graph.output[0].name, schema.DET_PROBABILITY)
        _name_dims(model.graph.input[0], ("batch", None, "height", "width"))
    else:
        if "character" not in meta:
            raise ExportError(f"expected the recogniser {src.name} to carry a 'character' metadata entry, got none")
        # PaddleOCR's CTC head: class 0 = blank, then the dictionary, then a space
        charset = meta["character"].split("\n") + [" "]
        _rename(model, model.graph.input[0].name, schema.REC_IMAGE)
        _rename(model, model.graph.output[0].name, schema.REC_LOGITS)
        _name_dims(model.graph.input[0], ("batch", None, None, "width"))
    del model.metadata_props[:]
    model = upgrade_opset(model, TARGET_OPSET)
    # Paddle2ONNX stores weights and biases as Constant nodes and keeps BatchNormalization
    # separate; the INT8 quantiser needs weights/biases as initializers (else it quantises biases
    # as activations and the detector collapses), so fold them first. Outputs are unchanged
    # (max abs difference < 1e-6 on random inputs).
    model = onnxslim.slim(model)
    for key, value in (("groundlite.family", "text"), ("groundlite.graph", graph), ("groundlite.precision", "fp32"),
                       ("groundlite.image_size", "dynamic"), ("groundlite.sdk_version", __version__),
                       ("groundlite.source", f"{SOURCE_PACKAGE}/models/{src.name}")):
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))
    return charset


# ----------------------------------------------------------------------------------------------
# Calibration / fidelity images
# ----------------------------------------------------------------------------------------------
def _real_photos() -> list[tuple[str, np.ndarray]]:
    from groundlite.images import load_image

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return [(f"skimage:{n}", load_image(data / n)) for n in ("page.png", "text.png") if (data / n).is_file()]


def calibration_images(calib_dir: str | Path | None, size: int) -> tuple[list[np.ndarray], str, str]:
    """RGB images for INT8 calibration, the source label and a SHA-256 over their pixels.

    Built-in: scikit-image's real photos ``page.png`` and ``text.png`` plus rendered samples
    (:func:`groundlite.text.synth.render_samples`, seed :data:`CALIB_SEED`) up to ``size``.
    """
    from groundlite.images import load_image
    from groundlite.text.synth import render_samples

    if size < 1:
        raise CalibrationError(f"expected a calibration size >= 1, got {size}")
    if calib_dir is not None:
        root = Path(calib_dir)
        if not root.is_dir():
            raise CalibrationError(f"expected a directory of calibration images, got {str(root)!r}")
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp"))
        if not files:
            raise CalibrationError(f"expected .png/.jpg images in {str(root)!r}, got none")
        images = [load_image(p) for p in files[:size]]
        source = str(root)
    else:
        real = [img for _, img in _real_photos()][:size]
        images = real + [s.image for s in render_samples(max(0, size - len(real)), CALIB_SEED)]
        source = "builtin" if real else "builtin-synthetic-only (scikit-image not installed)"
    h = hashlib.sha256()
    for img in images:
        h.update(np.ascontiguousarray(img).tobytes())
    return images, source, h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Package assembly
# ----------------------------------------------------------------------------------------------
def _artifact(root: Path, graph: str, backend: str, precision: str, path: Path) -> dict[str, Any]:
    d = {"graph": graph, "backend": backend, "precision": precision, **file_entry(root, path).to_dict()}
    if path.suffix == ".xml":
        d["extra_files"] = [file_entry(root, path.with_suffix(".bin")).to_dict()]
    return d


def _grounder(root: Path, backend: str, precision: str) -> Any:
    from groundlite.backends import get_backend
    from groundlite.text.pipeline import TextGrounder

    package = open_package(root, verify=False)
    sessions = {}
    for graph in schema.FAMILY_GRAPHS["text"]:
        art = package.find(graph, backend, precision)
        if art is None:
            raise ExportError(f"expected a {graph} artifact for {backend}/{precision} in the staging package, got none")
        sessions[graph] = get_backend(backend).load(package.path(art.file), "cpu")
    return TextGrounder(package, sessions, {"backend": backend, "precision": precision, "device": "cpu"})


def _manifest(root: Path, artifacts: list[dict[str, Any]], cfg: Any, num_classes: int, charset_path: Path,
              src_sha: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "name": "pp-ocrv4-text",
        "family": "text",
        "source": {"kind": "wheel", "id": f"rapidocr-onnxruntime==1.4.4:{','.join(SOURCE_FILES.values())}",
                   "weights_sha256": src_sha, "license": "Apache-2.0"},
        "text": {**cfg.to_dict(), "num_classes": num_classes},
        "files": {"charset": file_entry(root, charset_path).to_dict()},
        "artifacts": artifacts,
        **extra,
        "sdk_version": __version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _check_choices(values: Sequence[str], allowed: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ExportError(f"expected {what} among {list(allowed)}, got {list(values)}")
    return values


def export_text(out: str | Path, *, precisions: Sequence[str] = ("fp32", "int8"),
                backends: Sequence[str] = ("onnxruntime", "openvino"), calib_dir: str | Path | None = None,
                calib_size: int = 6, force: bool = False, progress: bool = True) -> Path:
    """Build the ``text`` model package at ``out`` (atomically) and return its path.

    Args:
        out: package directory to create (must not exist unless ``force``).
        precisions: subset of ``("fp32", "int8")``; FP32 ONNX is always built (it is the
            quantisation source and the fidelity reference).
        backends: subset of ``("onnxruntime", "openvino")``.
        calib_dir: directory of calibration images instead of the built-in set.
        calib_size: number of calibration images (built-in: 2 real photos + rendered ones).
        force: replace an existing ``out``.
        progress: show a progress bar (rich).
    """
    precisions = _check_choices(precisions, SUPPORTED_PRECISIONS, "precisions")
    backends = _check_choices(backends, SUPPORTED_BACKENDS, "backends")
    steps = ["prepare graphs"]
    if "openvino" in backends and "fp32" in precisions:
        steps.append("openvino fp32")
    if "int8" in precisions:
        steps += ["calibration data"] + [f"{b} int8" for b in backends] + ["fidelity"]
    steps.append("manifest")
    with _Progress(steps, enabled=progress) as step, staging_dir(out, force=force) as root:
        return _build(Path(out), root, precisions, backends, calib_dir, calib_size, step)


def _build(out: Path, root: Path, precisions: tuple[str, ...], backends: tuple[str, ...],
           calib_dir: Any, calib_size: int, step: Step) -> Path:
    from groundlite.export.quantize import DEFAULT_EXCLUDED_OP_TYPES, convert_openvino
    from groundlite.text.config import TextConfig

    root = root.resolve()  # quantisation runs in a scratch cwd (see _scratch_cwd)
    cfg = TextConfig()
    src = source_models()
    src_sha = source_sha256()
    step("prepare graphs")
    fp32 = {g: root / "onnxruntime" / f"{g}.fp32.onnx" for g in src}
    charset: list[str] = []
    for graph, path in src.items():
        charset = prepare_graph(path, graph, fp32[graph]) or charset
    charset_path = root / "charset.txt"
    charset_path.write_text("\n".join(charset), encoding="utf-8")
    num_classes = len(charset) + 1
    artifacts = [_artifact(root, g, "onnxruntime", "fp32", p) for g, p in fp32.items()]
    if "openvino" in backends and "fp32" in precisions:
        step("openvino fp32")
        for g, p in fp32.items():
            xml = convert_openvino(p, root / "openvino" / f"{g}.fp32.xml")
            artifacts.append(_artifact(root, g, "openvino", "fp32", xml))
    extra: dict[str, Any] = {}
    write_manifest(root, _manifest(root, artifacts, cfg, num_classes, charset_path, src_sha, extra))
    if "int8" in precisions:
        step("calibration data")
        images, source, images_sha = calibration_images(calib_dir, calib_size)
        reference = _grounder(root, "onnxruntime", "fp32")
        calib = _calibration_feeds(reference, images)
        for backend in backends:
            step(f"{backend} int8")
            with _scratch_cwd():
                artifacts += _quantize(root, backend, fp32, calib)
            write_manifest(root, _manifest(root, artifacts, cfg, num_classes, charset_path, src_sha, extra))
        step("fidelity")
        from groundlite.text.synth import render_samples

        held_out = [s.image for s in render_samples(N_HELDOUT, HELDOUT_SEED)]
        extra["calibration"] = {
            "method": "minmax", "size": len(images), "source": source, "images_sha256": images_sha,
            "quantized_op_types": list(INT8_OP_TYPES), "excluded_op_types": list(DEFAULT_EXCLUDED_OP_TYPES),
            "kept_float_nodes": {g: _edge_nodes_onnx(p, g) for g, p in fp32.items()},
            "detector_batches": len(calib[schema.GRAPH_TEXT_DETECTOR]),
            "recognizer_batches": len(calib[schema.GRAPH_TEXT_RECOGNIZER]),
        }
        expected = _reference_outputs(reference, held_out)
        extra["fidelity"] = {
            schema.fidelity_key(b, "int8"): _fidelity(expected, _grounder(root, b, "int8"), held_out) for b in backends
        }
    if "fp32" not in precisions:
        # the FP32 ONNX was only the quantisation source / reference: drop it from the package
        for p in fp32.values():
            p.unlink()
        artifacts = [a for a in artifacts if a["precision"] != "fp32"]
    step("manifest")
    extra["build_seconds"] = dict(getattr(step, "seconds", {}))
    write_manifest(root, _manifest(root, artifacts, cfg, num_classes, charset_path, src_sha, extra))
    open_package(root)  # verify what we wrote before it is renamed into place
    return out


@contextlib.contextmanager
def _scratch_cwd() -> Iterator[None]:
    """Run in a temporary working directory: ONNX Runtime's quantisation pre-processing writes
    ``sym_shape_infer_temp.onnx`` and ``<uuid>.data`` weight files into the *current* directory,
    which is the user's directory when the built-in model is built on first use."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="groundlite-text-quant-") as tmp:
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(old)


def _calibration_feeds(reference: Any, images: list[np.ndarray]) -> dict[str, list[dict[str, np.ndarray]]]:
    from groundlite.text.detect import prepare_detector_input
    from groundlite.text.recognize import crop_line, plan_batches, prepare_batch

    cfg = reference.config
    det, rec = [], []
    for rgb in images:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        det.append({schema.DET_IMAGE: prepare_detector_input(bgr, cfg)})
        quads, _ = reference._detect_bgr(bgr)
        crops = [crop_line(bgr, q).image for q in quads]
        ratios = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        for idx, width in plan_batches(ratios, cfg):
            batch, _ = prepare_batch([crops[i] for i in idx], width, cfg)
            rec.append({schema.REC_IMAGE: batch})
    if len(rec) > MAX_REC_CALIB_BATCHES:
        # evenly spaced subset: keeps the spread of widths, bounds the build time
        keep = np.linspace(0, len(rec) - 1, MAX_REC_CALIB_BATCHES).round().astype(int)
        rec = [rec[i] for i in keep]
    if not rec:
        raise CalibrationError("expected the calibration images to contain text lines, but the detector found none")
    return {schema.GRAPH_TEXT_DETECTOR: det, schema.GRAPH_TEXT_RECOGNIZER: rec}


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


def _edge_nodes(nodes: list[tuple[str, str]], graph: str, *, conv: str) -> list[str]:
    """Nodes kept float: the detector's first and last convolution (the input stem sees raw pixels;
    the last one feeds the probability map), the recogniser's first convolution and its CTC
    classifier matmul. Measured for the detector alone on 8 held-out rendered images (before the
    onnxslim folding step was added): line agreement 0.949 with every Conv quantised, 0.966 with
    the first and last kept float."""
    convs = [n for n, t in nodes if t == conv]
    keep = [convs[0]]
    if graph == schema.GRAPH_TEXT_DETECTOR:
        keep.append(convs[-1])
    else:
        keep.append([n for n, t in nodes if t == "MatMul"][-1])
    return ["^" + re.escape(n) + "$" for n in keep]


def _quantize(root: Path, backend: str, fp32: dict[str, Path], calib: dict[str, list]) -> list[dict[str, Any]]:
    from groundlite.export.quantize import quantize_onnx_int8, quantize_openvino_int8

    out = []
    for graph, path in fp32.items():
        feeds = calib[graph]
        if backend == "onnxruntime":
            q = quantize_onnx_int8(path, root / "onnxruntime" / f"{graph}.int8.onnx", feeds, op_types=INT8_OP_TYPES,
                                   exclude_nodes=_edge_nodes_onnx(path, graph))
        else:
            q = quantize_openvino_int8(
                path, root / "openvino" / f"{graph}.int8.xml", feeds,
                model_type="transformer" if graph == schema.GRAPH_TEXT_RECOGNIZER else None,
                ignored_patterns=_edge_nodes_openvino(path, graph),
            )
        out.append(_artifact(root, graph, backend, "int8", q))
    return out


def _reference_outputs(reference: Any, images: list[np.ndarray]) -> list[tuple[dict, np.ndarray, list]]:
    """(detector feeds, FP32 probability map, FP32 lines) per held-out image, computed once."""
    from groundlite.text.detect import prepare_detector_input

    out = []
    for rgb in images:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        x = {schema.DET_IMAGE: prepare_detector_input(bgr, reference.config)}
        out.append((x, reference._det.run(x)[schema.DET_PROBABILITY], reference.read(rgb)))
    return out


def _fidelity(expected: list[tuple[dict, np.ndarray, list]], candidate: Any, images: list[np.ndarray]) -> dict[str, Any]:
    from groundlite.text.normalize import normalize

    matched = total = 0
    max_abs = mean_abs = 0.0
    for rgb, (x, prob, ref_lines) in zip(images, expected):
        diff = np.abs(prob - candidate._det.run(x)[schema.DET_PROBABILITY])
        max_abs = max(max_abs, float(diff.max()))
        mean_abs += float(diff.mean()) / len(images)
        cand_lines = candidate.read(rgb)
        total += len(ref_lines)
        for line in ref_lines:
            text = normalize(line.text).text
            if any(_iou(line.xyxy, c.xyxy) >= 0.5 and normalize(c.text).text == text for c in cand_lines):
                matched += 1
    return {
        "detection_agreement": round(matched / total, 4) if total else 0.0,
        "probability_max_abs": round(max_abs, 4),
        "probability_mean_abs": round(mean_abs, 5),
        "n_images": len(images),
        "n_lines": total,
        "images": f"groundlite.text.synth.render_samples({len(images)}, seed={HELDOUT_SEED})",
    }


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xyxy boxes (the fidelity module's pairwise IoU, for one pair)."""
    return float(box_iou(np.asarray(a, np.float64)[None], np.asarray(b, np.float64)[None])[0, 0])


class _Progress:
    """A rich progress bar over named build steps (or nothing when disabled)."""

    def __init__(self, steps: list[str], *, enabled: bool) -> None:
        self.steps, self.enabled, self._bar, self._task, self._done = steps, enabled, None, None, 0
        self.seconds: dict[str, float] = {}  # wall time per finished step, for the manifest
        self._last: tuple[str, float] | None = None

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("building text model: {task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.steps[0], total=len(self.steps))
        return self

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.seconds[self._last[0]] = round(now - self._last[1], 2)
        self._last = (name, now)
        if self._bar is not None:
            self._bar.update(self._task, description=name, completed=self._done)
        self._done += 1

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=len(self.steps))
            self._bar.stop()
