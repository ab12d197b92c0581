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
    result = out[0] if isinstance(out, list) else out
    dets = result["detections"]
    assert dets, "expected at least one match for 'segmentation' on page.png"
    # hand-checked: every occurrence of the word on the page lies inside the image and its text matches
    best = max(dets, key=lambda d: d["score"])
    assert "segmentation" in best["text"].lower().replace(" ", "")
    x1, y1, x2, y2 = best["xyxy"]
    assert 0 <= x1 < x2 <= 1100 and 0 <= y1 < y2 <= 200
