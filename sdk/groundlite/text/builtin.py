"""Built-in text packages, without the export toolchain.

``groundlite.load("text")`` (or ``"text-ppocrv6"``, ``"text-ppocrv4"``) resolves here:

1. If the export toolchain has installed a full package for the model into the user cache
   (``groundlite_export.text.export_text(..., install=True)``: FP32 + INT8 artifacts with their
   fidelity measured on real screenshots), that package is opened (lazily SHA-256-verified like
   any package; an incomplete one is ignored, a tampered file is refused when it is loaded).
2. Otherwise the package is *assembled in memory* from the ONNX files inside the installed wheel
   (the weights as shipped, FP32): tensor names, the recogniser's input height and its character
   list are read from the ONNX files themselves (through ONNX Runtime, which the runtime always
   has), never assumed. Nothing is written but one small JSON cache entry (SHA-256s, tensor
   names, the charset) so later loads do not re-read or re-hash the weights.

The runtime never imports the export toolchain, onnx, torch or NNCF here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from .. import schema
from .._version import __version__
from ..cache import JsonCache, cache_dir
from ..errors import PackageError, PackageNotFoundError
from ..package import Package, open_package, package_from_manifest, sha256_file
from .config import TextConfig
from .models import BuiltinTextModel, builtin_text_model

__all__ = ["builtin_package", "installed_package_dir", "source_files", "RECIPE_VERSION"]

log = logging.getLogger("groundlite")

#: bump when what an installed package must contain changes (so old installs are ignored)
RECIPE_VERSION = 5


def source_files(model: BuiltinTextModel) -> dict[str, Path]:
    """Graph -> path of the ONNX file inside the installed wheel (located, never imported)."""
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise PackageNotFoundError(
            f"expected the {model.distribution} package (source of the {model.name} weights) to be installed, "
            f"but it is not; pip install {model.distribution}=={model.version}")
    root = Path(list(spec.submodule_search_locations)[0])
    paths = {schema.GRAPH_TEXT_DETECTOR: root / model.detector, schema.GRAPH_TEXT_RECOGNIZER: root / model.recognizer}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise PackageNotFoundError(f"expected the {model.name} ONNX files in {root}, missing {missing}")
    return paths


def _stat_key(model: BuiltinTextModel, paths: dict[str, Path]) -> str:
    parts = [model.name, __version__, str(RECIPE_VERSION)]
    for graph, p in paths.items():
        st = p.stat()
        parts.append(f"{graph}:{p}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def installed_package_dir(name: str) -> Path:
    """Where an exported full package of built-in model ``name`` is installed (may not exist).

    The key covers the model name, the SDK version, :data:`RECIPE_VERSION` and the sizes of the
    source weight files, so a different wheel or SDK version looks elsewhere.
    """
    model = builtin_text_model(name)
    paths = source_files(model)
    sizes = ":".join(str(p.stat().st_size) for p in paths.values())
    key = hashlib.sha256(f"{model.name}:{__version__}:{RECIPE_VERSION}:{sizes}".encode()).hexdigest()[:16]
    return cache_dir("packages", f"{model.name}-{key}")


def _describe_sources(model: BuiltinTextModel, paths: dict[str, Path]) -> dict[str, Any]:
    """SHA-256s, tensor names, recogniser height and charset of the source files (read once, cached)."""
    store = JsonCache("builtin-text")
    key = _stat_key(model, paths)
    cached = store.get(key)
    if cached is not None and all(k in cached for k in ("sha256", "io", "charset", "rec_height", "bytes")):
        return cached
    import onnxruntime as ort  # the runtime's own dependency; reads names and metadata

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # we only read names
    io: dict[str, dict[str, str]] = {}
    charset: list[str] = []
    rec_height = None
    for graph, p in paths.items():
        sess = ort.InferenceSession(str(p), sess_options=so, providers=["CPUExecutionProvider"])
        inputs, outputs = sess.get_inputs(), sess.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise PackageError(f"expected one input and one output in {p.name}, got {len(inputs)} and {len(outputs)}")
        io[graph] = {"input": inputs[0].name, "output": outputs[0].name}
        if graph == schema.GRAPH_TEXT_RECOGNIZER:
            meta = sess.get_modelmeta().custom_metadata_map
            if "character" not in meta:
                raise PackageError(f"expected the recogniser {p.name} to carry a 'character' metadata entry, got none")
            # PaddleOCR's CTC head: class 0 = blank, then the dictionary, then a space
            charset = meta["character"].split("\n") + [" "]
            classes = outputs[0].shape[-1]
            if isinstance(classes, int) and classes != len(charset) + 1:
                raise PackageError(f"expected {p.name} to have {len(charset) + 1} classes (its dictionary + blank), "
                                   f"got {classes}")
            h = inputs[0].shape[2] if len(inputs[0].shape) == 4 else None
            rec_height = int(h) if isinstance(h, int) else None
        del sess
    value = {"sha256": {g: sha256_file(p) for g, p in paths.items()},
             "bytes": {g: p.stat().st_size for g, p in paths.items()},
             "io": io, "charset": charset, "rec_height": rec_height}
    store.put(key, value)  # atomic; an unwritable cache only costs this work again next time
    return value


def _assembled_manifest(model: BuiltinTextModel, paths: dict[str, Path], root: Path) -> dict[str, Any]:
    src = _describe_sources(model, paths)
    overrides = dict(model.config)
    if src["rec_height"]:
        overrides["rec_height"] = src["rec_height"]
    cfg = TextConfig(**overrides)
    names = {"det_input": src["io"][schema.GRAPH_TEXT_DETECTOR]["input"],
             "det_output": src["io"][schema.GRAPH_TEXT_DETECTOR]["output"],
             "rec_input": src["io"][schema.GRAPH_TEXT_RECOGNIZER]["input"],
             "rec_output": src["io"][schema.GRAPH_TEXT_RECOGNIZER]["output"]}
    artifacts = []
    combos = [("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")]  # OpenVINO reads ONNX itself
    for backend, precision in combos:
        for graph, p in paths.items():
            artifacts.append({"graph": graph, "backend": backend, "precision": precision,
                              "file": p.relative_to(root).as_posix(), "bytes": src["bytes"][graph],
                              "sha256": src["sha256"][graph]})
    manifest: dict[str, Any] = {
        "schema_version": schema.SCHEMA_VERSION,
        "name": model.name,
        "family": "text",
        "source": {"kind": "wheel", "id": f"{model.distribution}=={model.version}",
                   "files": {g: p.relative_to(root).as_posix() for g, p in paths.items()},
                   "weights_sha256": hashlib.sha256("".join(src["sha256"].values()).encode()).hexdigest(),
                   "license": model.license},
        "assembled": "in memory by the runtime from the wheel's FP32 ONNX files (no export tools)",
        "text": {**cfg.to_dict(), **names, "charset": src["charset"], "num_classes": len(src["charset"]) + 1},
        "artifacts": artifacts,
        "fidelity": {},
        "sdk_version": __version__,
    }
    if model.scoring is not None:
        manifest["scoring"] = dict(model.scoring)
    return manifest


_told: set[str] = set()


def builtin_package(name: str) -> Package:
    """The package of built-in text model ``name``: the installed full package if there is a
    complete one, else the in-memory FP32 package over the wheel's files (see the module doc)."""
    model = builtin_text_model(name)
    installed = installed_package_dir(model.name)
    if (installed / schema.MANIFEST_NAME).is_file():
        try:
            return open_package(installed, verify="lazy")
        except PackageError as e:  # incomplete or damaged install: never used
            log.warning("groundlite: ignoring the installed %s package at %s (%s); using the wheel's FP32 weights",
                        model.name, installed, e)
    paths = source_files(model)
    root = paths[schema.GRAPH_TEXT_DETECTOR].parents[len(Path(model.detector).parts) - 1]
    package = package_from_manifest(root, _assembled_manifest(model, paths, root), verify="lazy")
    if model.name not in _told and not os.environ.get("GROUNDLITE_QUIET"):
        _told.add(model.name)
        notice = JsonCache("notices")
        key = f"fp32-only:{model.name}:{__version__}"
        if notice.get(key) is None:
            log.warning("groundlite: %s runs its FP32 weights as shipped; INT8 artifacts with fidelity measured on "
                        "real screenshots need the export tools (groundlite[export]) to build once", model.name)
            notice.put(key, {"said": True})
    return package
