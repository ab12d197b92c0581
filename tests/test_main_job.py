"""The README's main-job command, exactly as a user types it: default model, offline, real photo."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

EXE = shutil.which("groundlite")
PAGE = Path(list(importlib.util.find_spec("skimage").submodule_search_locations)[0]) / "data" / "page.png"


@pytest.mark.skipif(EXE is None, reason="the groundlite entry point is not installed")
def test_readme_main_job_finds_a_phrase_on_page_png():
    # conftest points GROUNDLITE_CACHE_DIR at the session cache, so the text package is built once
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([EXE, "detect", str(PAGE), "-p", "segmentation", "--json"],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "text"
    dets = out["results"][0]["detections"]
    timings = out["results"][0]["timings_ms"]
    assert set(timings) >= {"detect_ms", "recognize_ms", "match_ms"} and min(timings.values()) >= 0
    assert dets, "expected at least one match for 'segmentation' on page.png"
    best = max(dets, key=lambda d: d["score"])
    assert "segmentation" in best["text"].lower().replace(" ", "")
    # hand-checked on a 2x overlay: the word "segmentation" in the heading "Region-based segmentation"
    truth = (151, 14, 291, 35)
    assert _iou(best["xyxy"], truth) >= 0.6, best


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union
