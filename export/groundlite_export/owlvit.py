"""Load OWL-ViT / OWLv2 (local checkpoint or random init), wrap its encoders, export them to ONNX.

The two graphs follow the contract in docs/ARCHITECTURE.md:

* image encoder ``pixel_values [B,3,S,S]`` -> ``region_embeds [B,N,D]`` (class-head ``dense0``
  output *before* its L2 norm), ``boxes [B,N,4]`` (sigmoid cxcywh, = ``pred_boxes``),
  ``logit_shift [B,N,1]``, ``logit_scale [B,N,1]`` (after ``elu + 1``), OWLv2 ``objectness [B,N]``;
* text encoder ``input_ids [Q,L]``, ``attention_mask [Q,L]`` (int64) -> ``query_embeds [Q,D]``
  (text projection output, not normalised; the head normalises).

so that ``(normalize(region) . normalize(query) + shift) * scale`` equals transformers' logits.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groundlite import schema
from groundlite.errors import ExportError

from .random_init import DEFAULT_SEED, build_random_model, weights_sha256

__all__ = ["LoadedOwl", "load_owl", "resize_model", "make_wrappers", "export_owl_onnx", "set_metadata", "graph_metadata"]

OPSET = 17
log = logging.getLogger(__name__)
_MODEL_TYPES = {"owlvit": "owlvit", "owlv2": "owlv2"}


@dataclass
class LoadedOwl:
    """A loaded detection model plus what the manifest needs to say about it."""

    model: Any                  # OwlViTForObjectDetection | Owlv2ForObjectDetection, eval mode
    family: str                 # "owlvit" | "owlv2"
    name: str
    source: dict[str, Any]      # manifest "source" block
    checkpoint_dir: Path | None  # where tokenizer files may live (None for random init)

    @property
    def patch_size(self) -> int:
        return int(self.model.config.vision_config.patch_size)

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    @property
    def num_regions(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    @property
    def max_text_length(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    @property
    def tower(self) -> Any:
        """The CLIP-like two-tower model inside the detector (``owlvit`` or ``owlv2`` attribute)."""
        return getattr(self.model, self.family)


def _use_eager_attention(model: Any) -> None:
    # Eager attention exports to plain MatMul/Softmax, which every backend and quantiser handles.
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:  # pragma: no cover - older transformers
        model.config._attn_implementation = "eager"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _load_pretrained(source: str) -> tuple[Any, str, str, Path | None]:
    path = Path(source).expanduser()
    is_local = path.exists()
    if not is_local and (source.startswith(("/", ".", "~", "\\")) or source.count("/") > 1 or "\\" in source):
        raise ExportError(f"expected SOURCE to be an existing checkpoint directory or a model id, got {source!r} which does not exist")
    if is_local:
        if not path.is_dir():
            raise ExportError(f"expected SOURCE to be a checkpoint directory with config.json, got the file {str(path)!r}")
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise ExportError(f"expected a transformers checkpoint directory with config.json, got {str(path)!r} without one")
        try:
            model_type = json.loads(cfg_file.read_text(encoding="utf-8")).get("model_type")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ExportError(f"expected {str(cfg_file)!r} to be readable JSON, got: {_first_line(e)}") from None
        if model_type not in _MODEL_TYPES:
            raise ExportError(
                f"expected an OWL-ViT or OWLv2 checkpoint (model_type 'owlvit' or 'owlv2'), "
                f"got model_type {model_type!r} in {str(path)!r}"
            )
    from transformers import Owlv2ForObjectDetection, OwlViTForObjectDetection

    cached_only = is_local

    def load(cls: Any) -> Any:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        return cls.from_pretrained(str(path) if is_local else source, local_files_only=cached_only)

    try:
        if is_local:
            family = _MODEL_TYPES[model_type]
            model = load(Owlv2ForObjectDetection if family == "owlv2" else OwlViTForObjectDetection)
        else:
            from transformers import AutoConfig

            try:  # a model id already in the local cache loads without touching the network
                config = AutoConfig.from_pretrained(source, local_files_only=True)
                cached_only = True
            except Exception:
                config = AutoConfig.from_pretrained(source)
            family = _MODEL_TYPES.get(config.model_type, "")
            if not family:
                raise ExportError(
                    f"expected an OWL-ViT or OWLv2 model id, got {source!r} with model_type {config.model_type!r}"
                )
            model = load(Owlv2ForObjectDetection if family == "owlv2" else OwlViTForObjectDetection)
    except ExportError:
        raise
    except Exception as e:  # transformers/hub raise many unrelated types for "not found/offline"
        log.debug("loading %r failed", source, exc_info=True)
        if is_local:
            raise ExportError(f"could not load the checkpoint in {source!r}: {_first_line(e)}") from None
        # the library's message names hosts and cache paths; the one line a user needs is this
        raise ExportError(f"could not load model id {source!r} (no network/hub access?) — pass a local directory") from None
    name = path.resolve().name if is_local else source.rsplit("/", 1)[-1]
    return model.eval(), family, name, (path.resolve() if is_local else None)


def load_owl(source: str | None, *, random_init: str | None = None, seed: int = DEFAULT_SEED) -> LoadedOwl:
    """Load the detector from ``source`` (local dir or model id) or build ``random_init``.

    Raises :class:`ExportError` (one line) for a missing/unknown source, an unreachable hub, or a
    checkpoint of another architecture.
    """
    if random_init is not None and source:
        raise ExportError(f"expected either a source or random_init, got both ({source!r} and {random_init!r})")
    if random_init is not None:
        model, spec = build_random_model(random_init, seed)
        _use_eager_attention(model)
        source_info = {"kind": "random-init", "id": spec.name, "seed": seed, "weights_sha256": weights_sha256(model)}
        return LoadedOwl(model, spec.family, spec.name, source_info, None)
    if not source:
        raise ExportError("expected a SOURCE (checkpoint directory or model id) or random_init, got neither")
    model, family, name, local_dir = _load_pretrained(source)
    _use_eager_attention(model)
    kind = "local" if local_dir is not None else "hf"
    source_info = {"kind": kind, "id": str(local_dir or source), "weights_sha256": weights_sha256(model)}
    return LoadedOwl(model, family, name, source_info, local_dir)


def resize_model(loaded: LoadedOwl, image_size: int) -> None:
    """Re-grid the vision tower for ``image_size`` pixels, in place.

    The position embeddings are resampled bicubically on the patch grid (transformers'
    ``interpolate_pos_encoding``) and the box-bias grid is recomputed, so the exported graph has
    fixed ``(S/patch)^2`` regions and no interpolation at run time. Output equals transformers'
    ``interpolate_pos_encoding=True`` on the original model.
    """
    import torch

    patch = loaded.patch_size
    if not isinstance(image_size, int) or image_size <= 0 or image_size % patch:
        raise ExportError(
            f"expected image_size to be a positive multiple of the patch size {patch}, got {image_size!r}"
        )
    if image_size == loaded.image_size:
        return
    vision = loaded.tower.vision_model
    emb = vision.embeddings
    grid = image_size // patch
    with torch.no_grad():
        dummy = torch.zeros(1, grid * grid + 1, emb.embed_dim)
        new_pos = emb.interpolate_pos_encoding(dummy, image_size, image_size)[0].clone()
    emb.position_embedding = torch.nn.Embedding.from_pretrained(new_pos, freeze=True)
    emb.num_patches = grid * grid
    emb.num_positions = grid * grid + 1
    emb.register_buffer("position_ids", torch.arange(grid * grid + 1).expand((1, -1)), persistent=False)
    loaded.model.config.vision_config.image_size = image_size
    vision.config.image_size = image_size
    loaded.model.num_patches_height = grid
    loaded.model.num_patches_width = grid
    loaded.model.box_bias = loaded.model.compute_box_bias(grid, grid)


def make_wrappers(loaded: LoadedOwl) -> tuple[Any, Any]:
    """The (image encoder, text encoder) torch modules whose outputs the ONNX graphs reproduce."""
    import torch

    class ImageEncoder(torch.nn.Module):
        """pixel_values -> (region_embeds, boxes, logit_shift, logit_scale[, objectness])."""

        def __init__(self, model: Any, family: str) -> None:
            super().__init__()
            self.model = model
            self.owlv2 = family == "owlv2"

        def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
            feature_map, _ = self.model.image_embedder(pixel_values=pixel_values)
            b, h, w, d = feature_map.shape
            feats = feature_map.reshape(b, h * w, d)
            boxes = self.model.box_predictor(feats, feature_map)
            head = self.model.class_head
            region = head.dense0(feats)
            shift = head.logit_shift(feats)
            scale = head.elu(head.logit_scale(feats)) + 1
            if self.owlv2:
                return region, boxes, shift, scale, self.model.objectness_predictor(feats)
            return region, boxes, shift, scale

    class TextEncoder(torch.nn.Module):
        """(input_ids, attention_mask) -> query_embeds (text projection output)."""

        def __init__(self, tower: Any) -> None:
            super().__init__()
            self.tower = tower

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.tower.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            return out.pooler_output if hasattr(out, "pooler_output") else out

    return ImageEncoder(loaded.model, loaded.family).eval(), TextEncoder(loaded.tower).eval()


def _dummy_text(loaded: LoadedOwl, q: int = 2) -> tuple[Any, Any]:
    import torch

    length = loaded.max_text_length
    ids = torch.zeros(q, length, dtype=torch.int64)
    mask = torch.zeros(q, length, dtype=torch.int64)
    ids[:, 0] = 49406
    ids[:, 1:4] = torch.tensor([320, 1125, 539])
    ids[:, 4] = loaded.model.config.text_config.eos_token_id or 49407
    mask[:, :5] = 1
    return ids, mask


def set_metadata(model: Any, meta: dict[str, str]) -> None:
    """Set (replace) ``metadata_props`` entries on an ``onnx.ModelProto``."""
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)


def graph_metadata(loaded: LoadedOwl, graph: str, precision: str) -> dict[str, str]:
    """The ``schema.ONNX_META_KEYS`` values (plus shape facts) for one exported graph."""
    from groundlite import __version__

    values = (loaded.family, graph, precision, str(loaded.image_size), __version__)
    meta = dict(zip(schema.ONNX_META_KEYS, values))
    meta.update({"groundlite.patch_size": str(loaded.patch_size), "groundlite.num_regions": str(loaded.num_regions),
                 "groundlite.embed_dim": str(loaded.embed_dim), "groundlite.max_text_length": str(loaded.max_text_length),
                 "groundlite.source": loaded.source.get("id", "")})
    return meta


def _finish(path: Path, meta: dict[str, str]) -> None:
    import onnx
    import onnxslim

    model = onnx.load(str(path))
    slim = onnxslim.slim(model)
    slim = onnx.shape_inference.infer_shapes(slim)
    set_metadata(slim, meta)
    onnx.checker.check_model(slim)
    onnx.save(slim, str(path))


def export_owl_onnx(loaded: LoadedOwl, out_dir: Path) -> dict[str, Path]:
    """Export both FP32 graphs to ``out_dir/{graph}.fp32.onnx`` (opset 17, onnxslim-simplified,
    shapes inferred, metadata set). Dynamic axes: image batch ``B`` and text query count ``Q``;
    the text length is fixed at ``max_text_length``. Returns graph name -> path."""
    import torch

    image_enc, text_enc = make_wrappers(loaded)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {g: out_dir / f"{g}.fp32.onnx" for g in (schema.GRAPH_IMAGE_ENCODER, schema.GRAPH_TEXT_ENCODER)}
    outputs = schema.IMAGE_ENCODER_OUTPUTS_OWLV2 if loaded.family == "owlv2" else schema.IMAGE_ENCODER_OUTPUTS
    size = loaded.image_size
    pixel = torch.zeros(1, 3, size, size)
    ids, mask = _dummy_text(loaded)
    image_axes = {schema.PIXEL_VALUES: {0: "B"}, **{o: {0: "B"} for o in outputs}}
    text_axes = {schema.INPUT_IDS: {0: "Q"}, schema.ATTENTION_MASK: {0: "Q"}, schema.QUERY_EMBEDS: {0: "Q"}}
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter warns about tracing constructs that are static for us
        warnings.simplefilter("ignore")
        torch.onnx.export(image_enc, (pixel,), str(paths[schema.GRAPH_IMAGE_ENCODER]),
                          input_names=list(schema.IMAGE_ENCODER_INPUTS), output_names=list(outputs),
                          dynamic_axes=image_axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)
        torch.onnx.export(text_enc, (ids, mask), str(paths[schema.GRAPH_TEXT_ENCODER]),
                          input_names=list(schema.TEXT_ENCODER_INPUTS), output_names=list(schema.TEXT_ENCODER_OUTPUTS),
                          dynamic_axes=text_axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)
    for graph, path in paths.items():
        _finish(path, graph_metadata(loaded, graph, "fp32"))
    return paths
