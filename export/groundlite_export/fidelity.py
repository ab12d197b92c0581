"""How closely a quantised / FP16 / other-backend artifact reproduces the FP32 ONNX reference.

Measured at export on held-out real photos (never calibration images) and a fixed phrase list,
with real ONNX Runtime and OpenVINO sessions. Metrics per (backend, precision):

* ``region_cosine`` / ``query_cosine``: mean cosine between reference and candidate embeddings;
* ``logit_max_abs`` / ``logit_mean_abs``: |difference| of region-phrase logits;
* ``box_l1``: mean |difference| of normalised cxcywh boxes;
* ``detection_agreement``: the fraction of reference detections that the candidate reproduces.
  A "detection" is one of the top-:data:`TOP_K` regions per (image, phrase) by logit — a fixed
  top-k rather than a score threshold, because random-init models give near-uniform scores. It is
  reproduced when the candidate's top-k for the same phrase holds a box with IoU >= 0.5.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from groundlite import schema

__all__ = ["TOP_K", "IOU_THRESHOLD", "FIDELITY_PHRASES", "region_phrase_logits", "cxcywh_to_xyxy",
           "box_iou", "compare", "memoize", "onnxruntime_runner", "openvino_runner"]

log = logging.getLogger(__name__)

TOP_K = 10
IOU_THRESHOLD = 0.5
#: fixed phrases for the fidelity check (objects that appear in the hold-out photos and some that do not)
FIDELITY_PHRASES: tuple[str, ...] = (
    "a photo of a cat", "a cup of coffee", "a rocket", "a coin", "a flower", "a page of text",
    "a galaxy", "a person", "a dog", "a car",
)

Runner = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def _normalize(x: np.ndarray) -> np.ndarray:
    # same epsilon as transformers' OwlViTClassPredictionHead
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-6)


def region_phrase_logits(region_embeds: np.ndarray, query_embeds: np.ndarray,
                         logit_shift: np.ndarray, logit_scale: np.ndarray) -> np.ndarray:
    """OWL logits ``[B,N,Q]`` float32 from image-encoder outputs ``[B,N,D]``, ``[B,N,1]`` x2 and
    ``query_embeds [Q,D]``: ``(normalize(r) . normalize(q) + shift) * scale``."""
    sim = np.einsum("bnd,qd->bnq", _normalize(region_embeds.astype(np.float32)), _normalize(query_embeds.astype(np.float32)))
    return ((sim + logit_shift) * logit_scale).astype(np.float32)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``[...,4]`` (cx, cy, w, h) -> (x0, y0, x1, y1)."""
    cx, cy, w, h = np.moveaxis(boxes, -1, 0)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``[M,K]`` between xyxy boxes ``a [M,4]`` and ``b [K,4]``."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a2, b2 = a.reshape(-1, a.shape[-1]).astype(np.float64), b.reshape(-1, b.shape[-1]).astype(np.float64)
    num = np.sum(a2 * b2, axis=-1)
    den = np.linalg.norm(a2, axis=-1) * np.linalg.norm(b2, axis=-1) + 1e-12
    return float(np.mean(num / den))


def _agreement(ref_logits: np.ndarray, ref_boxes: np.ndarray, cand_logits: np.ndarray, cand_boxes: np.ndarray) -> tuple[int, int]:
    """(reproduced, total) reference top-k detections for one image ([N,Q] logits, [N,4] boxes)."""
    k = min(TOP_K, ref_logits.shape[0])
    ref_xyxy, cand_xyxy = cxcywh_to_xyxy(ref_boxes), cxcywh_to_xyxy(cand_boxes)
    hit = 0
    for q in range(ref_logits.shape[1]):
        r_idx = np.argsort(-ref_logits[:, q], kind="stable")[:k]
        c_idx = np.argsort(-cand_logits[:, q], kind="stable")[:k]
        iou = box_iou(ref_xyxy[r_idx], cand_xyxy[c_idx])
        hit += int(np.sum(iou.max(axis=1) >= IOU_THRESHOLD))
    return hit, k * ref_logits.shape[1]


def compare(
    reference: Mapping[str, Runner],
    candidate: Mapping[str, Runner],
    pixel_values: Sequence[np.ndarray],
    text_feeds: Mapping[str, np.ndarray],
    phrases: Sequence[str],
) -> dict[str, Any]:
    """Fidelity block for ``candidate`` against ``reference``.

    ``reference``/``candidate`` map graph name (``schema.GRAPH_*``) to a runner taking named
    feeds and returning named outputs. ``pixel_values`` are ``[1,3,S,S]`` float32 held-out images,
    ``text_feeds`` the tokenised ``phrases`` (``input_ids``/``attention_mask`` ``[Q,L]`` int64).
    """
    img, txt = schema.GRAPH_IMAGE_ENCODER, schema.GRAPH_TEXT_ENCODER
    q_ref = reference[txt](text_feeds)[schema.QUERY_EMBEDS]
    q_cand = candidate[txt](text_feeds)[schema.QUERY_EMBEDS]
    region_cos, box_l1, max_abs, sum_abs, n_logits, hits, total = [], [], 0.0, 0.0, 0, 0, 0
    obj_max, has_objectness = 0.0, False
    for pv in pixel_values:
        feeds = {schema.PIXEL_VALUES: pv}
        r, c = reference[img](feeds), candidate[img](feeds)
        region_cos.append(_cosine(r[schema.REGION_EMBEDS], c[schema.REGION_EMBEDS]))
        box_l1.append(float(np.mean(np.abs(r[schema.BOXES] - c[schema.BOXES]))))
        lr = region_phrase_logits(r[schema.REGION_EMBEDS], q_ref, r[schema.LOGIT_SHIFT], r[schema.LOGIT_SCALE])
        lc = region_phrase_logits(c[schema.REGION_EMBEDS], q_cand, c[schema.LOGIT_SHIFT], c[schema.LOGIT_SCALE])
        diff = np.abs(lr - lc)
        max_abs = max(max_abs, float(diff.max()))
        sum_abs += float(diff.sum())
        n_logits += diff.size
        if schema.OBJECTNESS in r:
            has_objectness = True
            obj_max = max(obj_max, float(np.abs(r[schema.OBJECTNESS] - c[schema.OBJECTNESS]).max()))
        for b in range(lr.shape[0]):
            h, t = _agreement(lr[b], r[schema.BOXES][b], lc[b], c[schema.BOXES][b])
            hits, total = hits + h, total + t
    out: dict[str, Any] = {
        "region_cosine": round(float(np.mean(region_cos)), 6),
        "query_cosine": round(_cosine(q_ref, q_cand), 6),
        "logit_max_abs": round(max_abs, 6),
        "logit_mean_abs": round(sum_abs / max(n_logits, 1), 6),
        "box_l1": round(float(np.mean(box_l1)), 6),
        "detection_agreement": round(hits / max(total, 1), 6),
        "detection_rule": f"top-{TOP_K} regions per image and phrase, IoU >= {IOU_THRESHOLD}, same phrase",
        "n_images": len(pixel_values),
        "phrases": list(phrases),
    }
    if has_objectness:
        out["objectness_max_abs"] = round(obj_max, 6)
    return out


def memoize(runner: Runner) -> Runner:
    """Cache a runner's outputs by the bytes of its feeds: the FP32 reference is compared against
    several candidates on the same images and need not run again for each."""
    import hashlib

    cache: dict[str, dict[str, np.ndarray]] = {}

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        h = hashlib.sha1()
        for name in sorted(feeds):
            arr = np.ascontiguousarray(feeds[name])
            h.update(f"{name}|{arr.dtype}|{arr.shape}|".encode())
            h.update(arr.tobytes())
        key = h.hexdigest()
        if key not in cache:
            cache[key] = runner(feeds)
        return cache[key]

    return run


def onnxruntime_runner(path: Path, threads: int | None = None) -> Runner:
    """A CPU ONNX Runtime session as a runner (named feeds -> named outputs)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(names, dict(feeds))))

    return run


#: OpenVINO CPU runs f32 graphs in bf16 by default on CPUs with native bf16; fidelity pins f32 so
#: it measures the artifact, not the plug-in's precision choice.
OPENVINO_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def openvino_runner(xml: Path, device: str = "CPU", config: Mapping[str, str] | None = None) -> Runner:
    """A compiled OpenVINO model as a runner (named feeds -> named outputs); ``config`` defaults to
    :data:`OPENVINO_CONFIG` (``{"INFERENCE_PRECISION_HINT": "bf16"}`` measures a bf16 artifact)."""
    import openvino as ov

    compiled = ov.Core().compile_model(str(xml), device, dict(OPENVINO_CONFIG if config is None else config))
    outputs = [(o.get_any_name(), o) for o in compiled.outputs]

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = compiled(dict(feeds))
        return {name: np.asarray(result[port]) for name, port in outputs}

    return run
