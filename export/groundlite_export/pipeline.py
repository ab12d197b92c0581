"""The one export pipeline every family runs through.

A family supplies a small :class:`Recipe`: how to prepare its FP32 ONNX graphs, its INT8
calibration feeds, its quantisation options and its fidelity metric. Everything else is shared
and lives here:

1. choice validation against the data tables of :mod:`groundlite_export.formats`;
2. a staging directory renamed into place atomically (:func:`package_writer.staging_dir`) and
   a scratch directory for intermediates — the process's working directory never changes;
3. one progress reporter (:class:`groundlite_export._progress.Reporter`) that also times every
   stage (``manifest["build_seconds"]``);
4. artifacts per (backend, precision) from the FP32 graphs: copies, FP16, OpenVINO IR, INT8
   (:mod:`groundlite_export.quantize`), and ``bf16`` entries (the FP32 IR listed again, run by
   OpenVINO with ``INFERENCE_PRECISION_HINT=bf16``);
5. fidelity of every non-reference artifact, by the family's metric;
6. the manifest (:func:`package_writer.write_manifest`) with sdk version, created time and build
   seconds per stage, checked by opening the package before it is renamed into place.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np

from groundlite import schema
from groundlite.errors import ExportError

from ._progress import Reporter
from .formats import EXPORT_BACKENDS, check_backend_installed, parse_choices
from .package_writer import file_entry, staging_dir, write_manifest

__all__ = ["Build", "Recipe", "Feeds", "validate_combos", "run_export", "artifact_entry"]

Feeds = dict[str, np.ndarray]


def validate_combos(precisions: str | Sequence[str], backends: str | Sequence[str], *,
                    allowed_precisions: Iterable[str] = schema.PRECISIONS,
                    allowed_backends: Iterable[str] = EXPORT_BACKENDS) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Validate precision and backend names (comma string or sequence) against the tables.

    Every precision must be shippable by at least one chosen backend
    (``formats.EXPORT_BACKENDS[b].precisions``); a backend simply skips a precision it cannot
    ship (``bf16`` is OpenVINO-only). Raises :class:`ExportError` with a "did you mean" hint.
    """
    precisions_t = parse_choices("precision", precisions, allowed_precisions)
    backends_t = parse_choices("backend", backends, allowed_backends)
    for p in precisions_t:
        if not any(p in EXPORT_BACKENDS[b].precisions for b in backends_t):
            able = [b for b in EXPORT_BACKENDS if p in EXPORT_BACKENDS[b].precisions]
            raise ExportError(f"expected a backend that ships {p} artifacts ({able}) among the chosen backends, "
                              f"got {list(backends_t)}")
    return precisions_t, backends_t


def artifact_entry(root: Path, graph: str, backend: str, precision: str, path: Path) -> dict[str, Any]:
    """The manifest's artifact entry for ``path`` (an ``.xml`` IR lists its ``.bin`` as an extra file)."""
    entry = {"graph": graph, "backend": backend, "precision": precision, **file_entry(root, path).to_dict()}
    if path.suffix == ".xml":
        entry["extra_files"] = [file_entry(root, path.with_suffix(".bin")).to_dict()]
    return entry


@dataclass
class Build:
    """State of one export: where it writes, what it chose, what it has produced so far."""

    root: Path                                  # the staging package directory
    scratch: Path                               # intermediates (deleted afterwards)
    precisions: tuple[str, ...]
    backends: tuple[str, ...]
    reporter: Reporter
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    files: dict[tuple[str, str], dict[str, Path]] = field(default_factory=dict)  # (backend, precision) -> graph -> file
    seconds: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    fidelity: dict[str, Any] = field(default_factory=dict)
    _current: tuple[str, float] | None = None

    def stage(self, name: str, total: int | None = None) -> Callable[[int, int], None]:
        """Start a named stage (closing the previous one's timer); returns ``advance(done, total)``."""
        self._close_stage()
        self._current = (name, time.perf_counter())
        return self.reporter.stage(name, total)

    def _close_stage(self) -> None:
        if self._current is not None:
            name, t0 = self._current
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 2)
            self._current = None

    def add(self, graph: str, backend: str, precision: str, path: Path) -> None:
        """Record one artifact file (inside :attr:`root`)."""
        self.files.setdefault((backend, precision), {})[graph] = path
        self.artifacts.append(artifact_entry(self.root, graph, backend, precision, path))

    def write_manifest(self, fields: Mapping[str, Any]) -> Path:
        """Write ``manifest.json``: the family's ``fields`` plus artifacts, calibration, fidelity, sdk
        version, created time and build seconds per stage."""
        from groundlite import __version__

        manifest = {"schema_version": schema.SCHEMA_VERSION, **fields, "artifacts": list(self.artifacts),
                    "calibration": self.calibration, "fidelity": dict(self.fidelity), "sdk_version": __version__,
                    "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "build_seconds": dict(self.seconds)}
        return write_manifest(self.root, manifest)


class Recipe(Protocol):
    """What a family contributes to the pipeline (everything else is shared)."""

    #: graphs of the family, in manifest order
    graphs: tuple[str, ...]
    #: whether each backend's quantised artifacts are measured against that backend's own FP32
    #: artifact (made, and dropped afterwards, even when fp32 was not asked for), not ONNX Runtime's
    backend_references: bool

    def prepare(self, build: Build) -> dict[str, Path]:
        """Write the FP32 ONNX graphs (schema tensor names, metadata) and return graph -> path.

        Paths inside ``build.root / "onnxruntime"`` become the ONNX Runtime FP32 artifacts as they
        are; paths elsewhere (``build.scratch``) are copied when an FP32 ONNX artifact is wanted.
        """
        ...

    def manifest_fields(self, build: Build) -> dict[str, Any]:
        """The family's manifest fields (``name``, ``family``, ``source``, ``files``, ...)."""
        ...

    def calibration_feeds(self, build: Build, fp32: Mapping[str, Path]) -> dict[str, list[Feeds]]:
        """Graph -> calibration feed dicts; may set ``build.calibration`` (the manifest block).
        The staging package already holds the FP32 artifacts and a manifest when this runs."""
        ...

    def onnx_int8_options(self, graph: str, fp32: Path, *, symmetric: bool) -> dict[str, Any]:
        """Keyword arguments for :func:`quantize.quantize_onnx_int8` (exclusions, op types, method)."""
        ...

    def openvino_int8_options(self, graph: str, fp32: Path) -> dict[str, Any]:
        """Keyword arguments for :func:`quantize.quantize_openvino_int8` (ignored patterns, model type)."""
        ...

    def finish_onnx(self, path: Path, graph: str, precision: str) -> None:
        """Hook after an ONNX artifact is written (e.g. stamp precision metadata); may do nothing."""
        ...

    def fidelity(self, build: Build, backend: str, precision: str) -> dict[str, Any] | None:
        """The fidelity block of one produced (backend, precision) against FP32, or ``None`` to skip."""
        ...


def _produce(build: Build, recipe: Recipe, fp32: Mapping[str, Path], calib: Mapping[str, list[Feeds]],
             combos: Sequence[tuple[str, str]]) -> None:
    """Make every (backend, precision) of ``combos`` not made yet, ONNX Runtime first."""
    from . import quantize

    root = build.root

    def onnx_files(backend: str, precision: str, symmetric: bool = False) -> None:
        directory = EXPORT_BACKENDS[backend].directory
        for g in recipe.graphs:
            src = fp32[g]
            dst = root / directory / f"{g}.{precision}.onnx"
            dst.parent.mkdir(parents=True, exist_ok=True)
            if precision == "fp32":
                if src.resolve() != dst.resolve():
                    shutil.copyfile(src, dst)
            elif precision == "fp16":
                build.stage(f"FP16 {g} ({backend})")
                quantize.convert_fp16_onnx(src, dst)
            else:
                advance = build.stage(f"INT8 calibration of {g} ({backend})", len(calib[g]))
                quantize.quantize_onnx_int8(src, dst, calib[g], progress=advance,
                                            **recipe.onnx_int8_options(g, src, symmetric=symmetric))
            recipe.finish_onnx(dst, g, precision)
            build.add(g, backend, precision, dst)

    def openvino_files(precision: str) -> None:
        directory = EXPORT_BACKENDS["openvino"].directory
        for g in recipe.graphs:
            if precision == "bf16":
                # bf16 is an inference precision: the FP32 IR, listed again, run with the bf16 hint
                xml = build.files.get(("openvino", "fp32"), {}).get(g) or root / directory / f"{g}.fp32.xml"
                if not xml.is_file():
                    build.stage(f"FP32 IR {g} (openvino)")
                    quantize.convert_openvino(fp32[g], xml)
            else:
                xml = root / directory / f"{g}.{precision}.xml"
                if precision == "int8":
                    build.stage(f"INT8 (NNCF) {g} (openvino)")
                    quantize.quantize_openvino_int8(fp32[g], xml, calib[g], **recipe.openvino_int8_options(g, fp32[g]))
                else:
                    build.stage(f"{precision.upper()} IR {g} (openvino)")
                    quantize.convert_openvino(fp32[g], xml, fp16=precision == "fp16")
            build.add(g, "openvino", precision, xml)

    order = list(EXPORT_BACKENDS)  # onnxruntime first, so tensorrt can share its FP32/FP16 files
    prec_order = {p: i for i, p in enumerate(("fp32", "fp16", "int8", "bf16"))}
    for backend, precision in sorted(combos, key=lambda c: (order.index(c[0]), prec_order.get(c[1], 9))):
        if (backend, precision) in build.files or precision not in EXPORT_BACKENDS[backend].precisions:
            continue
        if backend == "onnxruntime":
            onnx_files(backend, precision)
        elif backend == "tensorrt":
            shared = build.files.get(("onnxruntime", precision))
            if shared and precision != "int8":  # TensorRT INT8 needs zero-point-0 QDQ: its own files
                for g, p in shared.items():
                    build.add(g, backend, precision, p)
            else:
                onnx_files(backend, precision, symmetric=True)
        else:
            openvino_files(precision)


REFERENCE = ("onnxruntime", "fp32")


def run_export(recipe: Recipe, out: str | Path, *, precisions: tuple[str, ...], backends: tuple[str, ...],
               force: bool = False, progress: bool = True, fidelity: bool = True) -> Path:
    """Build ``recipe``'s package at ``out`` atomically and return ``out``.

    ``precisions``/``backends`` must already be validated (:func:`validate_combos`). The FP32
    ONNX graphs are always made (quantisation source and fidelity reference), and so is each
    chosen backend's FP32 artifact when ``recipe.backend_references``; those not asked for are
    left out of the finished package. Fidelity is measured for every produced
    (backend, precision) but ONNX Runtime FP32 (the reference) and TensorRT (built on the
    target); the recipe returns ``None`` where its metric does not apply.
    """
    out = Path(out).expanduser()
    for b in ("onnxruntime", *backends):  # ONNX Runtime is always needed for the FP32 reference
        check_backend_installed(b)
    wanted = [(b, p) for b in backends for p in precisions if p in EXPORT_BACKENDS[b].precisions]
    references = [REFERENCE]
    if recipe.backend_references:
        references += [(b, "fp32") for b in backends if b not in ("onnxruntime", "tensorrt")]
    with Reporter(progress) as rep, staging_dir(out, force=force) as root, \
            tempfile.TemporaryDirectory(prefix="groundlite-export-") as scratch:
        build = Build(root=root.resolve(), scratch=Path(scratch), precisions=precisions, backends=backends, reporter=rep)
        build.stage("preparing FP32 graphs")
        fp32 = recipe.prepare(build)
        _produce(build, recipe, fp32, {}, [REFERENCE])
        build.write_manifest(recipe.manifest_fields(build))  # the staging package opens from here on
        calib: dict[str, list[Feeds]] = {}
        if "int8" in precisions:
            build.stage("calibration data")
            calib = recipe.calibration_feeds(build, fp32)
        _produce(build, recipe, fp32, calib, references + wanted)
        build.write_manifest(recipe.manifest_fields(build))
        if fidelity:
            build.stage("fidelity")
            for b, p in list(build.files):
                if (b, p) == REFERENCE or b == "tensorrt" or (b, p) not in wanted:
                    continue
                block = recipe.fidelity(build, b, p)
                if block is not None:
                    build.fidelity[schema.fidelity_key(b, p)] = block
        build.stage("writing manifest")
        _drop_unwanted(build, wanted)
        build._close_stage()
        build.write_manifest(recipe.manifest_fields(build))
        from groundlite.package import open_package

        open_package(build.root)  # verify what we wrote before it is renamed into place
    return out


def _drop_unwanted(build: Build, wanted: Sequence[tuple[str, str]]) -> None:
    """Remove the artifacts made only as references (FP32 files when fp32 was not asked for)."""
    keep = [a for a in build.artifacts if (a["backend"], a["precision"]) in wanted]
    used = {f for a in keep for f in [a["file"], *(e["file"] for e in a.get("extra_files", []))]}
    for a in build.artifacts:
        for rel in [a["file"], *(e["file"] for e in a.get("extra_files", []))]:
            if rel not in used:
                (build.root / rel).unlink(missing_ok=True)
    for d in {(build.root / rel).parent for a in build.artifacts for rel in [a["file"]]}:
        if d != build.root and d.is_dir() and not any(d.iterdir()):
            d.rmdir()  # a backend folder that only held reference files
    build.artifacts = keep
    build.files = {k: v for k, v in build.files.items() if k in wanted}
