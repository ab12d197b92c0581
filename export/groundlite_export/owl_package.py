"""``export_owl``: checkpoint or random init -> a complete, self-describing OWL model package.

The family's :class:`OwlRecipe` runs through the shared :mod:`groundlite_export.pipeline`
(staging + atomic rename, progress, artifacts, quantisation, fidelity, manifest), so an
interrupted or failed export leaves neither a package nor a temp dir behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from groundlite import schema
from groundlite.errors import CalibrationError, ExportError

from .formats import check_backend_installed, parse_choices
from .package_writer import file_entry
from .pipeline import Build, run_export, validate_combos
from .quantize import CALIBRATION_METHODS, DEFAULT_EXCLUDED_OP_TYPES

__all__ = ["export_owl", "OwlRecipe", "CALIBRATION_PHRASES", "HEAD_NODE_PATTERNS"]

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
        raise ExportError("expected an output directory, got none")
    out = Path(out).expanduser()
    precisions_t, backends_t = validate_combos(precisions, backends)
    if calib_method not in CALIBRATION_METHODS:
        parse_choices("calibration method", [calib_method], CALIBRATION_METHODS)
    for b in ("onnxruntime", *backends_t):  # ONNX Runtime is always needed for the FP32 reference
        check_backend_installed(b)
    if image_size is not None and (not isinstance(image_size, int) or isinstance(image_size, bool) or image_size <= 0):
        raise ExportError(f"expected image_size to be a positive integer, got {image_size!r}")
    excluded = tuple(DEFAULT_EXCLUDED_OP_TYPES if exclude_op_types is None else exclude_op_types)
    if random_init is not None:
        from .random_init import get_spec

        spec = get_spec(random_init)  # typos fail before anything slow
        patch = int(spec.vision["patch_size"])
        if image_size is not None and image_size % patch:
            raise ExportError(f"expected image_size to be a positive multiple of the patch size {patch}, got {image_size}")
    if out.exists() and not out.is_dir():
        raise ExportError(f"expected the output path to be a directory, got the existing file {str(out)!r}")
    if out.exists() and not force:
        raise ExportError(f"expected {str(out)!r} not to exist, but it does; pass force=True to replace it")
    if "int8" in precisions_t:
        from .calibration import list_images, load_rgb

        if not isinstance(calib_size, int) or isinstance(calib_size, bool) or calib_size < 1:
            raise CalibrationError(f"expected calib_size to be a positive integer, got {calib_size!r}")
        if calib_dir is not None:
            for path in list_images(calib_dir)[:calib_size]:  # fail before the slow steps
                load_rgb(path)
    recipe = OwlRecipe(source, random_init=random_init, image_size=image_size, calib_dir=calib_dir,
                       calib_size=calib_size, calib_method=calib_method, excluded=excluded,
                       fidelity_images=fidelity_images)
    return run_export(recipe, out, precisions=precisions_t, backends=backends_t, force=force, progress=progress,
                      fidelity=fidelity_images > 0)


class OwlRecipe:
    """The OWL family's part of the export pipeline: ONNX export of the checkpoint, calibration
    feeds from real photos and phrases, the head layers kept float, embedding/logit fidelity."""

    backend_references = False  # every artifact is compared with the ONNX Runtime FP32 graphs

    def __init__(self, source: str | None, *, random_init: str | None, image_size: int | None,
                 calib_dir: str | Path | None, calib_size: int, calib_method: str, excluded: tuple[str, ...],
                 fidelity_images: int) -> None:
        self.source, self.random_init, self.image_size = source, random_init, image_size
        self.calib_dir, self.calib_size, self.calib_method = calib_dir, calib_size, calib_method
        self.excluded, self.fidelity_images = excluded, fidelity_images
        self.graphs: tuple[str, ...] = ()
        self._reference: dict[str, Any] | None = None
        self._fid: tuple[list[np.ndarray], dict[str, np.ndarray], list[str]] | None = None

    def prepare(self, build: Build) -> dict[str, Path]:
        from tokenizers import Tokenizer

        from .owlvit import export_owl_onnx, load_owl, resize_model

        build.stage("loading model")
        self.loaded = loaded = load_owl(self.source, random_init=self.random_init)
        self.native = loaded.image_size
        if self.image_size is not None:
            resize_model(loaded, self.image_size)
        self.tok_path = _write_tokenizer(loaded, build.root)
        self.tokenizer = Tokenizer.from_file(str(self.tok_path))
        build.stage("exporting FP32 ONNX graphs")
        self.fp32 = export_owl_onnx(loaded, build.scratch / "fp32")
        self.graphs = tuple(self.fp32)
        return self.fp32

    def manifest_fields(self, build: Build) -> dict[str, Any]:
        loaded, tokenizer = self.loaded, self.tokenizer
        pre = schema.FAMILY_PREPROCESS[loaded.family]
        name = loaded.name if loaded.image_size == self.native else f"{loaded.name}-{loaded.image_size}"
        return {
            "name": name,
            "family": loaded.family,
            "source": loaded.source,
            "image_size": loaded.image_size,
            "native_image_size": self.native,
            "patch_size": loaded.patch_size,
            "num_regions": loaded.num_regions,
            "embed_dim": loaded.embed_dim,
            "preprocess": {k: (list(v) if isinstance(v, tuple) else v) for k, v in pre.items()},
            "max_text_length": loaded.max_text_length,
            "pad_token_id": tokenizer.padding["pad_id"] if tokenizer.padding else 0,
            "files": {"tokenizer": file_entry(build.root, self.tok_path).to_dict()},
        }

    def calibration_feeds(self, build: Build, fp32: Mapping[str, Path]) -> dict[str, list[dict[str, np.ndarray]]]:
        from . import calibration, quantize

        calib_set, _ = calibration.calibration_and_fidelity(self.calib_dir, self.calib_size, 0)
        n = len(calib_set.images)
        advance = build.stage(f"pre-processing {n} calibration images", n)
        pixels = []
        for i, im in enumerate(calib_set.images):
            pixels.extend(calibration.preprocess_images([im], self.loaded.family, self.loaded.image_size))
            advance(i + 1, n)
        build.calibration = {
            "method": self.calib_method, "size": n, "source": calib_set.source,
            "images_sha256": calib_set.sha256, "augmented": calib_set.augmented,
            "augmentation": "seeded crops (60-90 %) and horizontal flips" if calib_set.augmented else None,
            "excluded_op_types": list(self.excluded), "excluded_nodes": list(HEAD_NODE_PATTERNS),
            "quantized_op_types": list(quantize.DEFAULT_QUANTIZED_OP_TYPES),
            "text_phrases": len(CALIBRATION_PHRASES),
            "onnxruntime": {"format": "QDQ", "per_channel": True, "activations": "uint8 asymmetric",
                            "weights": "int8 symmetric", "attention_matmuls": "int8"},
            "openvino": {"tool": "nncf", "model_type": "transformer", "preset": "mixed"},
        }
        return {
            schema.GRAPH_IMAGE_ENCODER: [{schema.PIXEL_VALUES: p} for p in pixels],
            schema.GRAPH_TEXT_ENCODER: [_tokenize(self.tokenizer, CALIBRATION_PHRASES[i:i + _TEXT_BATCH])
                                        for i in range(0, len(CALIBRATION_PHRASES), _TEXT_BATCH)],
        }

    def onnx_int8_options(self, graph: str, fp32: Path, *, symmetric: bool) -> dict[str, Any]:
        return {"method": self.calib_method, "exclude_op_types": self.excluded, "exclude_nodes": HEAD_NODE_PATTERNS,
                "symmetric_activations": symmetric, "activation_matmuls": not symmetric}

    def openvino_int8_options(self, graph: str, fp32: Path) -> dict[str, Any]:
        return {"ignored_patterns": HEAD_NODE_PATTERNS}

    def finish_onnx(self, path: Path, graph: str, precision: str) -> None:
        _retag(path, self.loaded, graph, precision)

    def fidelity(self, build: Build, backend: str, precision: str) -> dict[str, Any] | None:
        from . import calibration, fidelity

        if self._fid is None:
            _, fid_set = calibration.calibration_and_fidelity(None, 1, self.fidelity_images)
            pixels = calibration.preprocess_images(fid_set.images, self.loaded.family, self.loaded.image_size)
            self._fid = (pixels, _tokenize(self.tokenizer, fidelity.FIDELITY_PHRASES), fid_set.names)
            self._reference = {g: fidelity.memoize(fidelity.onnxruntime_runner(self.fp32[g])) for g in self.graphs}
        pixels, text, names = self._fid
        files = build.files[(backend, precision)]
        if backend == "openvino":
            config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
            candidate = {g: fidelity.openvino_runner(p, config=config) for g, p in files.items()}
        else:
            candidate = {g: fidelity.onnxruntime_runner(p) for g, p in files.items()}
        block = fidelity.compare(self._reference, candidate, pixels, text, fidelity.FIDELITY_PHRASES)
        block["images"] = names
        if backend == "openvino":
            block["openvino_config"] = config
        if block["detection_agreement"] < schema.MIN_FIDELITY_AGREEMENT:
            build.reporter.warn(
                f"{backend}:{precision} reproduces only {block['detection_agreement']:.1%} of the FP32 detections "
                f"(< {schema.MIN_FIDELITY_AGREEMENT:.0%}); try another calib_method, a larger calib_size or "
                "more exclude_op_types, or ship FP32")
        return block
