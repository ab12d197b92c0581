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


# ------------------------------------------------------------------------------------------------
# Runtime -> exporter never: the import boundary, in fresh interpreters
# ------------------------------------------------------------------------------------------------
FORBIDDEN = ("groundlite_export",) + HEAVY_EXPORT


def _page() -> str:
    import importlib.util
    from pathlib import Path

    import pytest

    spec = importlib.util.find_spec("skimage")
    if spec is None:
        pytest.skip("scikit-image (source of the real page photo) is not installed")
    return str(Path(list(spec.submodule_search_locations)[0]) / "data" / "page.png")


def test_builtin_text_load_and_predict_never_import_the_exporter():
    # twice: the first run fills the source description cache, the second uses it (the cached path)
    code = (f"import groundlite\ng = groundlite.load('text')\nd = g.predict({_page()!r}, ['segmentation'])\n"
            "assert len(d) >= 1, d")
    for _ in range(2):
        mods = loaded_modules(code)
        assert "onnxruntime" in mods
        assert not mods & set(FORBIDDEN), mods & set(FORBIDDEN)


def test_owl_package_load_and_predict_never_import_the_exporter(tiny_owlv2_package):
    code = (f"import groundlite, numpy as np\ng = groundlite.load({str(tiny_owlv2_package)!r})\n"
            "g.predict(np.zeros((40, 64, 3), np.uint8), ['a cat'])")
    mods = loaded_modules(code)
    assert not mods & set(FORBIDDEN), mods & set(FORBIDDEN)


def test_cli_detect_never_imports_the_exporter():
    code = (f"import groundlite.cli as cli\nrc = cli.main(['detect', {_page()!r}, '-p', 'segmentation', '--json'])\n"
            "assert rc == 0, rc")
    mods = loaded_modules(code)
    assert not mods & set(FORBIDDEN), mods & set(FORBIDDEN)


def test_runtime_source_never_names_the_exporter():
    """A static check beside the dynamic ones: no module under sdk/groundlite imports groundlite_export."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "sdk" / "groundlite"
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(root)}: {n}" for n in names
                          if n.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders


def test_sentence_encoder_module_imports_no_inference_or_export_library():
    # the full load + encode of a real package is checked in tests/test_sentence_encoder.py
    mods = loaded_modules("import groundlite.language.encoder as e\ne.available('minilm')")
    assert not mods & set(FORBIDDEN + INFERENCE), mods & set(FORBIDDEN + INFERENCE)
