"""``export_owl``: checkpoint or random init -> a complete, self-describing OWL model package.

Everything is written inside :func:`groundlite.package.staging_dir`, so an interrupted or failed
export leaves neither a package nor a temp dir behind.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from groundlite import schema
from groundlite.errors import ExportError
from groundlite.package import file_entry, staging_dir, write_manifest

from ._progress import Reporter
from .formats import EXPORT_BACKENDS, check_backend_installed, parse_choices
from .quantize import CALIBRATION_METHODS, DEFAULT_EXCLUDED_OP_TYPES

__all__ = ["export_owl", "CALIBRATION_PHRASES", "HEAD_NODE_PATTERNS"]

#: phrases that calibrate the text encoder (disjoint from the fidelity phrases)
CALIBRATION_PHRASES: tuple[str, ...] = (
    "a photo of a person", "a bicycle", "a traffic light", "a bird on a branch", "a red apple",
    "a laptop computer", "the moon", "a wooden chair", "a stop sign", "a bowl of soup",
    "an astronaut", "a motorcycle", "a brick wall", "green grass", "a microscope image of cells",
    "a clock", "a building", "a boat on the water", "a pair of shoes", "a street at night",
    "a teddy bear", "a glass of water", "a mountain", "a toothbrush", "a handbag", "a kite",
    "a tree", "a bus", "a horse", "a pizza", "a television", "a banana",
)
#: node-name regex kept float in INT8 graphs: the detection heads and the text projection, whose
#: outputs the decoder compares directly. Exported names are "/box_head/dense0/MatMul",
#: "/dense0/MatMul" (class head), "/logit_shift/MatMul", "/text_projection/MatMul", ...; OpenVINO
#: renames output-producing nodes to the output ("region_embeds"). NNCF anchors patterns at the
#: start (re.match) and quantize_onnx_int8 uses re.search, hence the leading ".*".
HEAD_NODE_PATTERNS: tuple[str, ...] = (
    r".*(?:box_head|class_head|objectness_head|text_projection|/dense0/|logit_shift|logit_scale"
    r"|region_embeds|query_embeds|objectness)",
)
_TEXT_BATCH = 4  # phrases per text calibration sample


def _tokenize(tokenizer: Any, phrases: Sequence[str]) -> dict[str, np.ndarray]:
    enc = tokenizer.encode_batch(list(phrases))
    return {schema.INPUT_IDS: np.array([e.ids for e in enc], dtype=np.int64),
            schema.ATTENTION_MASK: np.array([e.attention_mask for e in enc], dtype=np.int64)}


def _write_tokenizer(loaded: Any, pkg: Path) -> Path:
    from .tokenizer import build_clip_tokenizer, tokenizer_from_checkpoint

    if loaded.checkpoint_dir is not None:
        tok = tokenizer_from_checkpoint(loaded.checkpoint_dir, loaded.max_text_length)
    elif loaded.source.get("kind") == "hf":  # a cached model id: its own tokenizer files
        tok = tokenizer_from_checkpoint(loaded.source["id"], loaded.max_text_length)
    else:
        tok = build_clip_tokenizer(loaded.max_text_length)
    path = pkg / "tokenizer.json"
    tok.save(str(path))
    return path


def _retag(path: Path, loaded: Any, graph: str, precision: str) -> None:
    import onnx

    from .owlvit import graph_metadata, set_metadata

    model = onnx.load(str(path))
    set_metadata(model, graph_metadata(loaded, graph, precision))
    onnx.save(model, str(path))


def _artifact(pkg: Path, graph: str, backend: str, precision: str, path: Path) -> dict[str, Any]:
    entry = {"graph": graph, "backend": backend, "precision": precision, **file_entry(pkg, path).to_dict()}
    if path.suffix == ".xml":
        entry["extra_files"] = [file_entry(pkg, path.with_suffix(".bin")).to_dict()]
    return entry


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise ExportError(f"expected {str(out)!r} not to exist, but it does; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise ExportError(f"expected --out to be a directory path, got the existing file {str(out)!r}")


def export_owl(
    source: str | None = None,
    out: str | Path = "",
    *,
    random_init: str | None = None,
    image_size: int | None = None,
    precisions: str | Sequence[str] = ("fp32", "int8"),
    backends: str | Sequence[str] = ("onnxruntime", "openvino"),
    calib_dir: str | Path | None = None,
    calib_size: int = 64,
    calib_method: str = "minmax",
    exclude_op_types: Iterable[str] | None = None,
    force: bool = False,
    fidelity_images: int = 8,
    progress: bool = True,
) -> Path:
    """Export an OWL-ViT / OWLv2 detector to a model package at ``out`` and return its path.

    Args:
        source: local transformers checkpoint directory or model id (ids need hub access).
        out: package directory to create (must not exist unless ``force``).
        random_init: instead of ``source``, a seeded architecture-exact random model
            (``tiny``, ``tiny-owlv2``, ``owlvit-base-patch32``, ``owlvit-base-patch16``,
            ``owlv2-base-patch16``). Speed is real, accuracy is not.
        image_size: input side S (multiple of the patch size); default the native size.
        precisions / backends: names or comma-separated strings (see ``formats.EXPORT_BACKENDS``).
        calib_dir: folder of calibration images (default: built-in real photos).
        calib_size: calibration images for INT8.
        calib_method: ``minmax`` | ``entropy`` | ``percentile`` (ONNX Runtime INT8).
        exclude_op_types: ONNX op types kept float in ONNX Runtime INT8 (default
            ``quantize.DEFAULT_EXCLUDED_OP_TYPES``).
        force: replace an existing ``out``.
        fidelity_images: held-out photos for the fidelity check (0 disables it).
        progress: rich progress bars on stderr.

    Graphs: ``pixel_values [B,3,S,S]`` -> ``region_embeds [B,N,D]``, ``boxes [B,N,4]``,
    ``logit_shift``/``logit_scale [B,N,1]`` (+ ``objectness [B,N]`` for OWLv2); ``input_ids`` /
    ``attention_mask [Q,L]`` int64 -> ``query_embeds [Q,D]``. Raises :class:`ExportError`.
    """
    if not out:
        raise ExportError("expected an output directory (--out DIR), got none")
    out = Path(out).expanduser()
    precisions_t = parse_choices("precision", precisions, schema.PRECISIONS)
    backends_t = parse_choices("backend", backends, EXPORT_BACKENDS)
    if calib_method not in CALIBRATION_METHODS:
        parse_choices("calibration method", [calib_method], CALIBRATION_METHODS)
    for b in ("onnxruntime", *backends_t):  # ONNX Runtime is always needed for the FP32 reference
        check_backend_installed(b)
    if image_size is not None and (not isinstance(image_size, int) or isinstance(image_size, bool) or image_size <= 0):
        raise ExportError(f"expected --image-size to be a positive integer, got {image_size!r}")
    excluded = tuple(DEFAULT_EXCLUDED_OP_TYPES if exclude_op_types is None else exclude_op_types)
    if random_init is not None:
        from .random_init import get_spec

        spec = get_spec(random_init)  # typos fail before anything slow
        patch = int(spec.vision["patch_size"])
        if image_size is not None and image_size % patch:
            raise ExportError(f"expected --image-size to be a positive multiple of the patch size {patch}, got {image_size}")
    _check_out(out, force)
    int8 = "int8" in precisions_t
    if int8 and calib_dir is not None:
        from .calibration import list_images, load_rgb

        for path in list_images(calib_dir)[:calib_size]:  # fail before the slow steps
            load_rgb(path)

    with Reporter(progress) as rep, staging_dir(out, force=force) as pkg, \
            tempfile.TemporaryDirectory(prefix="groundlite-export-") as scratch_str:
        return _export(rep, pkg, out, Path(scratch_str), source, random_init, image_size, precisions_t, backends_t,
                       calib_dir, calib_size, calib_method, excluded, fidelity_images)


def _export(rep: Reporter, pkg: Path, out: Path, scratch: Path, source: str | None, random_init: str | None,
            image_size: int | None, precisions: tuple[str, ...], backends: tuple[str, ...],
            calib_dir: str | Path | None, calib_size: int, calib_method: str, excluded: tuple[str, ...],
            fidelity_images: int) -> Path:
    from . import calibration, fidelity, quantize
    from .owlvit import export_owl_onnx, load_owl, resize_model

    rep.stage("loading model")
    loaded = load_owl(source, random_init=random_init)
    native = loaded.image_size
    if image_size is not None:
        resize_model(loaded, image_size)
    tok_path = _write_tokenizer(loaded, pkg)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tok_path))

    rep.stage("exporting FP32 ONNX graphs")
    fp32 = export_owl_onnx(loaded, scratch / "fp32")
    graphs = tuple(fp32)

    calib_feeds: dict[str, list[dict[str, np.ndarray]]] = {}
    calib_info: dict[str, Any] | None = None
    fid_set = None
    if "int8" in precisions or fidelity_images > 0:
        rep.stage("reading calibration / hold-out images")
        calib_set, fid_set = calibration.calibration_and_fidelity(
            calib_dir, calib_size if "int8" in precisions else 1, fidelity_images)
        if "int8" in precisions:
            advance = rep.stage(f"pre-processing {len(calib_set.images)} calibration images", len(calib_set.images))
            pixels = []
            for i, im in enumerate(calib_set.images):
                pixels.extend(calibration.preprocess_images([im], loaded.family, loaded.image_size))
                advance(i + 1, len(calib_set.images))
            calib_feeds[schema.GRAPH_IMAGE_ENCODER] = [{schema.PIXEL_VALUES: p} for p in pixels]
            calib_feeds[schema.GRAPH_TEXT_ENCODER] = [
                _tokenize(tokenizer, CALIBRATION_PHRASES[i:i + _TEXT_BATCH])
                for i in range(0, len(CALIBRATION_PHRASES), _TEXT_BATCH)]
            calib_info = {
                "method": calib_method, "size": len(calib_set.images), "source": calib_set.source,
                "images_sha256": calib_set.sha256, "augmented": calib_set.augmented,
                "augmentation": "seeded crops (60-90 %) and horizontal flips" if calib_set.augmented else None,
                "excluded_op_types": list(excluded), "excluded_nodes": list(HEAD_NODE_PATTERNS),
                "quantized_op_types": list(quantize.DEFAULT_QUANTIZED_OP_TYPES),
                "text_phrases": len(CALIBRATION_PHRASES),
                "onnxruntime": {"format": "QDQ", "per_channel": True, "activations": "uint8 asymmetric",
                                "weights": "int8 symmetric", "attention_matmuls": "int8"},
                "openvino": {"tool": "nncf", "model_type": "transformer", "preset": "mixed"},
            }

    artifacts: list[dict[str, Any]] = []
    produced: dict[tuple[str, str], dict[str, Path]] = {}  # (backend, precision) -> graph -> file

    def onnx_file(backend_dir: str, graph: str, precision: str) -> Path:
        return pkg / backend_dir / f"{graph}.{precision}.onnx"

    def ort_artifact(backend_dir: str, precision: str, symmetric: bool = False) -> dict[str, Path]:
        files = {}
        for g in graphs:
            dst = onnx_file(backend_dir, g, precision)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if precision == "fp32":
                shutil.copyfile(fp32[g], dst)
            elif precision == "fp16":
                rep.stage(f"FP16 {g} ({backend_dir})")
                quantize.convert_fp16_onnx(fp32[g], dst)
            else:
                advance = rep.stage(f"INT8 calibration of {g} ({backend_dir})", len(calib_feeds[g]))
                quantize.quantize_onnx_int8(fp32[g], dst, calib_feeds[g], method=calib_method, exclude_op_types=excluded,
                                            exclude_nodes=HEAD_NODE_PATTERNS, symmetric_activations=symmetric,
                                            activation_matmuls=not symmetric,
                                            progress=advance)
            _retag(dst, loaded, g, precision)
            files[g] = dst
        return files

    order = list(EXPORT_BACKENDS)  # onnxruntime first, so tensorrt can share its FP32/FP16 files
    for backend in sorted(backends, key=order.index):
        fmt = EXPORT_BACKENDS[backend]
        for precision in precisions:
            if backend == "onnxruntime":
                files = ort_artifact(fmt.directory, precision)
            elif backend == "tensorrt":
                # FP32/FP16 share the ONNX Runtime files when present; INT8 needs zero-point-0 QDQ.
                shared = produced.get(("onnxruntime", precision))
                files = shared if shared and precision != "int8" else ort_artifact(fmt.directory, precision, symmetric=True)
            else:
                files = {}
                for g in graphs:
                    xml = pkg / fmt.directory / f"{g}.{precision}.xml"
                    if precision == "int8":
                        rep.stage(f"INT8 (NNCF) {g} (openvino)")
                        quantize.quantize_openvino_int8(fp32[g], xml, calib_feeds[g], ignored_patterns=HEAD_NODE_PATTERNS)
                    else:
                        rep.stage(f"{precision.upper()} IR {g} (openvino)")
                        quantize.convert_openvino(fp32[g], xml, fp16=precision == "fp16")
                    files[g] = xml
            produced[(backend, precision)] = files
            artifacts.extend(_artifact(pkg, g, backend, precision, p) for g, p in files.items())

    fidelity_block: dict[str, Any] = {}
    if fid_set is not None and fid_set.images:
        rep.stage(f"fidelity on {len(fid_set.images)} held-out photos")
        pixels = calibration.preprocess_images(fid_set.images, loaded.family, loaded.image_size)
        text = _tokenize(tokenizer, fidelity.FIDELITY_PHRASES)
        reference = {g: fidelity.memoize(fidelity.onnxruntime_runner(fp32[g])) for g in graphs}
        for (backend, precision), files in produced.items():
            if (backend, precision) == ("onnxruntime", "fp32") or backend == "tensorrt":
                continue  # the reference itself; TensorRT engines only exist on the target
            runner = fidelity.openvino_runner if backend == "openvino" else fidelity.onnxruntime_runner
            block = fidelity.compare(reference, {g: runner(p) for g, p in files.items()}, pixels, text,
                                     fidelity.FIDELITY_PHRASES)
            block["images"] = fid_set.names
            if backend == "openvino":
                block["openvino_config"] = dict(fidelity.OPENVINO_CONFIG)
            fidelity_block[schema.fidelity_key(backend, precision)] = block
            if block["detection_agreement"] < schema.MIN_FIDELITY_AGREEMENT:
                rep.warn(f"{backend}:{precision} reproduces only {block['detection_agreement']:.1%} of the FP32 "
                         f"detections (< {schema.MIN_FIDELITY_AGREEMENT:.0%}); try --calib-method, more "
                         "--calib-size or --exclude-op-types, or ship FP32")

    rep.stage("writing manifest")
    from groundlite import __version__

    pre = schema.FAMILY_PREPROCESS[loaded.family]
    name = loaded.name if loaded.image_size == native else f"{loaded.name}-{loaded.image_size}"
    manifest: dict[str, Any] = {
        "schema_version": schema.SCHEMA_VERSION,
        "name": name,
        "family": loaded.family,
        "source": loaded.source,
        "image_size": loaded.image_size,
        "native_image_size": native,
        "patch_size": loaded.patch_size,
        "num_regions": loaded.num_regions,
        "embed_dim": loaded.embed_dim,
        "preprocess": {k: (list(v) if isinstance(v, tuple) else v) for k, v in pre.items()},
        "max_text_length": loaded.max_text_length,
        "pad_token_id": tokenizer.padding["pad_id"] if tokenizer.padding else 0,
        "files": {"tokenizer": file_entry(pkg, tok_path).to_dict()},
        "artifacts": artifacts,
        "calibration": calib_info,
        "fidelity": fidelity_block,
        "sdk_version": __version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_manifest(pkg, manifest)
    return out
