"""Type stubs for the C++ extension. Call these through groundlite.ops, which validates arguments."""

import numpy as np
import numpy.typing as npt

compiled_isa: str
dispatch: str

def nms(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou_threshold: float,
    use_score_threshold: bool, score_threshold: float, max_detections: int,
) -> npt.NDArray[np.int64]: ...
def batched_nms(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], labels: npt.NDArray[np.int64],
    iou_threshold: float, use_score_threshold: bool, score_threshold: float, max_detections: int,
) -> npt.NDArray[np.int64]: ...
def soft_nms(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou_threshold: float, sigma: float,
    method: str, score_threshold: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
def region_phrase_logits(
    region_embeds: npt.NDArray[np.float32], query_embeds: npt.NDArray[np.float32],
    logit_shift: npt.NDArray[np.float32] | None, logit_scale: npt.NDArray[np.float32] | None, normalize: bool,
) -> npt.NDArray[np.float32]: ...
def select_regions(
    logits: npt.NDArray[np.float32], threshold: float, top_k: int, apply_sigmoid: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
def cxcywh_to_xyxy(boxes: npt.NDArray[np.float32], width: float, height: float, clip: bool) -> npt.NDArray[np.float32]: ...
def affine_boxes(
    boxes: npt.NDArray[np.float32], sx: float, sy: float, ox: float, oy: float, clip: bool, clip_w: float, clip_h: float,
) -> npt.NDArray[np.float32]: ...
def affine_boxes_keep(
    boxes: npt.NDArray[np.float32], sx: float, sy: float, ox: float, oy: float, clip: bool, clip_w: float, clip_h: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def preprocess(
    image: npt.NDArray[np.uint8], size: int, mode: str, mean: npt.NDArray[np.float32], std: npt.NDArray[np.float32],
    pad_value: float,
) -> npt.NDArray[np.float32]: ...
def ctc_greedy_decode(
    probs: npt.NDArray[np.float32], blank: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def fuzzy_find(
    texts: list[str], phrases: list[str],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
FUZZY_FIND_ALL_MAX_PER_PAIR: int
def fuzzy_find_all(
    texts: list[str], phrases: list[str], max_distance: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def edit_similarity(a: list[str], b: list[str]) -> npt.NDArray[np.float32]: ...
