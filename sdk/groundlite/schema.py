"""The one place that defines tensor names, pre-processing constants and the manifest schema.

Both the exporter (``groundlite_export``) and the runtime import from here, so a graph written by
one is always read correctly by the other.
"""

from __future__ import annotations

from typing import Final

#: manifest.json versions this SDK reads; the exporter always writes the newest.
SCHEMA_VERSION: Final = 1
SUPPORTED_SCHEMA_VERSIONS: Final = frozenset({1})
MANIFEST_NAME: Final = "manifest.json"

# --------------------------------------------------------------------------------------------
# Families, graphs, backends, precisions
# --------------------------------------------------------------------------------------------
FAMILIES: Final = ("owlvit", "owlv2", "text", "sentence")

GRAPH_IMAGE_ENCODER: Final = "image_encoder"
GRAPH_TEXT_ENCODER: Final = "text_encoder"
GRAPH_TEXT_DETECTOR: Final = "text_detector"
GRAPH_TEXT_RECOGNIZER: Final = "text_recognizer"
GRAPH_SENTENCE_ENCODER: Final = "sentence_encoder"

#: graphs every package of a family must ship, per (backend, precision) it claims
FAMILY_GRAPHS: Final = {
    "owlvit": (GRAPH_IMAGE_ENCODER, GRAPH_TEXT_ENCODER),
    "owlv2": (GRAPH_IMAGE_ENCODER, GRAPH_TEXT_ENCODER),
    "text": (GRAPH_TEXT_DETECTOR, GRAPH_TEXT_RECOGNIZER),
    "sentence": (GRAPH_SENTENCE_ENCODER,),
}

#: THE table of backend names, in listing / preference order; every other module derives from it.
BACKENDS: Final = ("tensorrt", "openvino", "onnxruntime")
#: artifact file formats per backend
BACKEND_FORMATS: Final = {"tensorrt": "onnx", "openvino": "openvino-ir", "onnxruntime": "onnx"}
#: ``bf16`` is an *inference* precision: the artifact holds FP32 weights and the backend computes in
#: bfloat16 (OpenVINO's INFERENCE_PRECISION_HINT on CPUs with AVX-512 BF16 / AMX); it is measured and
#: gated like any quantised artifact.
PRECISIONS: Final = ("fp32", "fp16", "bf16", "int8")
#: precisions that change numerics against FP32 and therefore need stored fidelity for ``auto``
REDUCED_PRECISIONS: Final = ("fp16", "bf16", "int8")

# --------------------------------------------------------------------------------------------
# Tensor names (OWL-ViT / OWLv2)
# --------------------------------------------------------------------------------------------
PIXEL_VALUES: Final = "pixel_values"          # float32 [B,3,S,S], normalised
REGION_EMBEDS: Final = "region_embeds"        # float32 [B,N,D], class embeddings before L2 norm
BOXES: Final = "boxes"                        # float32 [B,N,4], normalised cxcywh
LOGIT_SHIFT: Final = "logit_shift"            # float32 [B,N,1]
LOGIT_SCALE: Final = "logit_scale"            # float32 [B,N,1]
OBJECTNESS: Final = "objectness"              # float32 [B,N], OWLv2 only (logits)
INPUT_IDS: Final = "input_ids"                # int64 [Q,L]
ATTENTION_MASK: Final = "attention_mask"      # int64 [Q,L]
QUERY_EMBEDS: Final = "query_embeds"          # float32 [Q,D]

IMAGE_ENCODER_INPUTS: Final = (PIXEL_VALUES,)
IMAGE_ENCODER_OUTPUTS: Final = (REGION_EMBEDS, BOXES, LOGIT_SHIFT, LOGIT_SCALE)
IMAGE_ENCODER_OUTPUTS_OWLV2: Final = IMAGE_ENCODER_OUTPUTS + (OBJECTNESS,)
TEXT_ENCODER_INPUTS: Final = (INPUT_IDS, ATTENTION_MASK)
TEXT_ENCODER_OUTPUTS: Final = (QUERY_EMBEDS,)

# --------------------------------------------------------------------------------------------
# Tensor names (text family: PP-OCR detector + recogniser)
# --------------------------------------------------------------------------------------------
DET_IMAGE: Final = "image"                    # float32 [1,3,H,W], H and W multiples of 32
DET_PROBABILITY: Final = "probability"        # float32 [1,1,H,W], DB text probability map
REC_IMAGE: Final = "image"                    # float32 [B,3,48,W]
REC_LOGITS: Final = "logits"                  # float32 [B,T,C], softmax probabilities per step

# --------------------------------------------------------------------------------------------
# Tensor names and fidelity gate (sentence family: a sentence-embedding encoder, not a grounder)
# --------------------------------------------------------------------------------------------
#: float32 [B,D]: mean of the token states over attention_mask, L2-normalised, inside the graph
SENTENCE_EMBEDDING: Final = "sentence_embedding"
SENTENCE_ENCODER_INPUTS: Final = (INPUT_IDS, ATTENTION_MASK)   # int64 [B,T], T dynamic
SENTENCE_ENCODER_OUTPUTS: Final = (SENTENCE_EMBEDDING,)
#: ``precision="auto"`` accepts a reduced-precision sentence artifact only when its stored
#: ``mean_cosine`` (to the FP32 torch reference, over the real screenshot texts) is at least this;
#: paraphrase pairs of UI labels sit only a few hundredths of cosine apart, so an encoder that moves
#: embeddings by more than 0.01 on average can reorder them
MIN_SENTENCE_COSINE: Final = 0.99
#: ... and its stored ``retrieval_agreement`` (fraction of the 118 real phrases whose top-1 line
#: among the 355 real lines is the reference's) is at least this. Not 0.98: many of those phrases
#: are fragments ("when", "rights") whose best lines the FP32 model itself scores within 0.03 of
#: each other, and such near-ties flip under any INT8 scheme (ONNX Runtime dynamic INT8 of the
#: attention projections: 0.958, every disagreement a near-tie of at most 0.021)
MIN_SENTENCE_RETRIEVAL_AGREEMENT: Final = 0.95

# --------------------------------------------------------------------------------------------
# Pre-processing constants
# --------------------------------------------------------------------------------------------
CLIP_MEAN: Final = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: Final = (0.26862954, 0.26130258, 0.27577711)

#: OWL-ViT: squash to SxS (aspect ratio not kept), bicubic.
RESIZE_SQUASH_BICUBIC: Final = "squash-bicubic"
#: OWLv2: pad bottom/right to a square with grey 0.5, then bilinear resize with anti-alias blur.
RESIZE_PAD_BILINEAR_AA: Final = "pad-bilinear-antialias"
RESIZE_MODES: Final = (RESIZE_SQUASH_BICUBIC, RESIZE_PAD_BILINEAR_AA)

FAMILY_PREPROCESS: Final = {
    "owlvit": {"mean": CLIP_MEAN, "std": CLIP_STD, "resize": RESIZE_SQUASH_BICUBIC, "pad_value": 0.0},
    "owlv2": {"mean": CLIP_MEAN, "std": CLIP_STD, "resize": RESIZE_PAD_BILINEAR_AA, "pad_value": 0.5},
}

#: ONNX metadata_props keys every exported graph carries
ONNX_META_KEYS: Final = ("groundlite.family", "groundlite.graph", "groundlite.precision",
                         "groundlite.image_size", "groundlite.sdk_version")

#: Default minimum detection agreement for ``precision="auto"`` to accept a quantised artifact.
MIN_FIDELITY_AGREEMENT: Final = 0.95
#: Largest loss of grounding accuracy (percentage points, measured on real data against the FP32
#: artifact of the same package) that ``precision="auto"`` accepts, where a package stores it.
MAX_ACCURACY_DROP_POINTS: Final = 0.5


def fidelity_key(backend: str, precision: str) -> str:
    """Key of ``manifest["fidelity"]`` for one (backend, precision) pair, e.g. ``"openvino:int8"``."""
    return f"{backend}:{precision}"
