"""The runtime stays thin: importing groundlite loads no inference library, and load + predict
never import torch, transformers or nncf (checked in a fresh interpreter's ``sys.modules``)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_EXPORT = ("torch", "transformers", "nncf", "onnx", "onnxslim")
INFERENCE = ("onnxruntime", "openvino", "tensorrt")


def loaded_modules(code: str) -> set[str]:
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_groundlite_is_light():
    mods = loaded_modules("import groundlite")
    assert not mods & set(HEAVY_EXPORT + INFERENCE), mods & set(HEAVY_EXPORT + INFERENCE)
    assert "PIL" not in mods and "numpy" not in mods


def test_runtime_modules_import_no_inference_library():
    mods = loaded_modules(
        "import groundlite, groundlite.runtime, groundlite.grounder, groundlite.selection, groundlite.cli, "
        "groundlite.draw, groundlite.backends.onnxruntime, groundlite.backends.openvino, "
        "groundlite.backends.tensorrt\n"
        "groundlite.Detections, groundlite.load")
    assert not mods & set(HEAVY_EXPORT + INFERENCE), mods & set(HEAVY_EXPORT + INFERENCE)


def test_backend_probe_imports_only_its_library():
    mods = loaded_modules("from groundlite.backends import get_backend\nget_backend('onnxruntime').devices()")
    assert "onnxruntime" in mods and "openvino" not in mods
    assert not mods & set(HEAVY_EXPORT)


def test_load_and_predict_never_import_export_libraries(tiny_owlvit_package, tmp_path):
    code = (
        "import groundlite, numpy as np\n"
        f"g = groundlite.load({str(tiny_owlvit_package)!r}, cache=False)\n"
        "g.predict(np.zeros((32, 48, 3), np.uint8), ['a cat'])\n"
        "g2 = groundlite.load(" + repr(str(tiny_owlvit_package)) + ", backend='openvino', precision='int8')\n"
        "g2.predict(np.zeros((32, 48, 3), np.uint8), ['a cat'])"
    )
    mods = loaded_modules(f"import os\nos.environ['GROUNDLITE_CACHE_DIR'] = {str(tmp_path)!r}\n" + code)
    assert {"onnxruntime", "openvino"} <= mods
    assert not mods & set(HEAVY_EXPORT), mods & set(HEAVY_EXPORT)
