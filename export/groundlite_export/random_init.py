"""Architecture-exact, seeded random-init OWL-ViT / OWLv2 models.

There are no real checkpoints on this machine, so packages for speed work are built from random
weights with the *published* architectures: speed is real, accuracy is not. The configs below are
the transformers defaults plus the values in the published checkpoints' ``config.json`` files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from groundlite.errors import ExportError, did_you_mean

__all__ = ["RandomInitSpec", "RANDOM_INIT", "DEFAULT_SEED", "get_spec", "build_random_model", "weights_sha256"]

DEFAULT_SEED = 0

# Published OWL-ViT text tower (all three base checkpoints share it).
_TEXT_BASE = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
                  max_position_embeddings=16, vocab_size=49408)
_VISION_BASE = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
_TINY_TEXT = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                  max_position_embeddings=16, vocab_size=49408)
_TINY_VISION = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                    image_size=96, patch_size=16)


@dataclass(frozen=True)
class RandomInitSpec:
    """One named random-init architecture: family + config keyword arguments."""

    name: str
    family: str  # "owlvit" | "owlv2"
    text: dict[str, Any] = field(default_factory=dict)
    vision: dict[str, Any] = field(default_factory=dict)
    projection_dim: int = 512


#: name -> spec; the names users pass to ``--random-init``
RANDOM_INIT: dict[str, RandomInitSpec] = {
    s.name: s
    for s in (
        RandomInitSpec("tiny", "owlvit", _TINY_TEXT, _TINY_VISION, 64),
        RandomInitSpec("tiny-owlv2", "owlv2", _TINY_TEXT, _TINY_VISION, 64),
        RandomInitSpec("owlvit-base-patch32", "owlvit", _TEXT_BASE, {**_VISION_BASE, "image_size": 768, "patch_size": 32}),
        RandomInitSpec("owlvit-base-patch16", "owlvit", _TEXT_BASE, {**_VISION_BASE, "image_size": 768, "patch_size": 16}),
        RandomInitSpec("owlv2-base-patch16", "owlv2", _TEXT_BASE, {**_VISION_BASE, "image_size": 960, "patch_size": 16}),
    )
}


def get_spec(name: str) -> RandomInitSpec:
    """Look up a random-init name; unknown names raise :class:`ExportError` with a suggestion."""
    try:
        return RANDOM_INIT[name]
    except KeyError:
        raise ExportError(f"expected a random-init name in {sorted(RANDOM_INIT)}, got {name!r}"
                          + did_you_mean(name, sorted(RANDOM_INIT))) from None


def build_config(spec: RandomInitSpec) -> Any:
    """The transformers config object for ``spec`` (eager attention: exports to plain ONNX ops)."""
    if spec.family == "owlv2":
        from transformers import Owlv2Config as Config
    else:
        from transformers import OwlViTConfig as Config
    config = Config(text_config=dict(spec.text), vision_config=dict(spec.vision), projection_dim=spec.projection_dim)
    return config


def build_random_model(name: str, seed: int = DEFAULT_SEED) -> tuple[Any, RandomInitSpec]:
    """Build the named model with ``torch.manual_seed(seed)`` weights, in eval mode.

    The same (name, seed, torch version) always yields the same weights; the manifest records
    :func:`weights_sha256` so a package names exactly what it was built from.
    """
    import torch

    spec = get_spec(name)
    config = build_config(spec)
    if spec.family == "owlv2":
        from transformers import Owlv2ForObjectDetection as Model
    else:
        from transformers import OwlViTForObjectDetection as Model
    torch.manual_seed(seed)
    model = Model(config).eval()
    _reinit_heads(model)
    return model, spec


#: detection-head sub-modules re-drawn by :func:`_reinit_heads`
HEAD_MODULES = ("class_head", "box_head", "objectness_head")


def _reinit_heads(model: Any) -> None:
    """Re-draw the detection heads' Linear weights with std ``fan_in ** -0.5`` (biases zero).

    transformers initialises these layers with std 1.0 (the detection config has no
    ``initializer_range``), which saturates every predicted box to 0 or 1 and makes logits huge;
    LeCun-normal weights keep boxes, logits and objectness in the range a trained model has, so
    quantisation error and box agreement are measured on meaningful values. The architecture is
    unchanged and the draw is seeded (it continues the same generator).
    """
    import torch

    with torch.no_grad():
        for name in HEAD_MODULES:
            head = getattr(model, name, None)
            if head is None:
                continue
            for layer in head.modules():
                if isinstance(layer, torch.nn.Linear):
                    layer.weight.normal_(0.0, layer.in_features ** -0.5)
                    if layer.bias is not None:
                        layer.bias.zero_()


def weights_sha256(model: Any) -> str:
    """SHA-256 over the state dict (sorted names, dtype, shape and raw bytes of every tensor)."""
    import torch

    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # dtype-agnostic raw bytes
    return h.hexdigest()
