"""The ``groundlite`` command: detect, read, export, bench, info.

Errors print one line, ``error: ...``, to stderr and exit with the error's ``exit_code``; a traceback
appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import GroundliteError, InvalidArgumentError

__all__ = ["main", "build_parser"]

#: marks a detect option the user did not give, so the model's own default applies
UNSET = object()

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def _none_or(kind: type) -> Any:
    def parse(text: str) -> Any:
        if text.lower() in ("none", "off"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__} or 'none', got {text!r}") from None
    parse.__name__ = kind.__name__
    return parse


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks and debug logs")


def _add_load_args(p: argparse.ArgumentParser, model_default: str | None = "text") -> None:
    if model_default is not None:
        p.add_argument("--model", "-m", default=model_default,
                       help=f"package directory or built-in name (default: {model_default})")
    p.add_argument("--backend", default="auto", help="auto | onnxruntime | openvino | tensorrt")
    p.add_argument("--device", default="auto", help="auto | cpu | gpu | gpu:N | npu")
    p.add_argument("--precision", default="auto", help="auto | fp32 | fp16 | int8")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads per session")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser; ``groundlite export`` is registered only when ``argv`` asks for it,
    because the export toolchain imports torch."""
    parser = argparse.ArgumentParser(prog="groundlite", description="On-device image grounding.")
    parser.add_argument("--version", action="version", version=f"groundlite {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("detect", help="find phrases in images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-p", "--phrase", dest="phrases", action="append", required=True, help="phrase (repeatable)")
    _add_load_args(p)
    p.add_argument("--threshold", type=float, default=UNSET, help="score threshold (default: the model's)")
    p.add_argument("--nms-iou", type=_none_or(float), default=UNSET,
                   help="NMS IoU, or 'none' to turn NMS off (default: the model's; OWL: 0.3)")
    p.add_argument("--top-k", type=_none_or(int), default=UNSET,
                   help="max boxes per image, or 'none' for all (default: the model's; OWL: 100)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", type=Path, default=None, help="write annotated image(s) to FILE or DIR")
    _add_common(p)

    p = sub.add_parser("read", help="read the text in images (text model)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    _add_load_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_common(p)

    if next((a for a in argv if not a.startswith("-")), None) == "export":
        try:
            from groundlite.export import cli as export_cli
        except ImportError as e:
            raise GroundliteError(
                f"expected the export toolchain (pip install 'groundlite[export]'), got ImportError: {e}"
            ) from None
        export_cli.register(sub)
    else:
        sub.add_parser("export", help="export a model package (needs groundlite[export])", add_help=False)

    p = sub.add_parser("bench", help="time every backend/precision for a model")
    p.add_argument("model", help="package directory or built-in name")
    p.add_argument("--backend", default="all", help="all | onnxruntime | openvino | tensorrt")
    p.add_argument("--precision", default="all", help="all | fp32 | fp16 | int8")
    p.add_argument("--device", default="all", help="all | cpu | gpu | npu")
    p.add_argument("--runs", type=int, default=10, help="timed runs per row (default 10)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--image", default=None, help="image to run on (default: a photo shipped with scikit-image)")
    p.add_argument("-p", "--phrase", dest="phrases", action="append", default=None)
    p.add_argument("--json", action="store_true", help="print JSON lines")
    _add_common(p)

    p = sub.add_parser("info", help="backends and devices here; a package's summary and fidelity")
    p.add_argument("model", nargs="?", default=None)
    p.add_argument("--json", action="store_true")
    _add_common(p)

    return parser


def _bench_row_parser() -> argparse.ArgumentParser:
    """The internal one-row benchmark that ``bench`` runs in a fresh process (not listed in --help)."""
    p = argparse.ArgumentParser(prog="groundlite _bench-row")
    p.set_defaults(command="_bench-row")
    p.add_argument("model")
    p.add_argument("--backend", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--precision", required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--image", required=True)
    p.add_argument("--phrases", required=True, help="JSON list")
    _add_common(p)
    return p


# ------------------------------------------------------------------------------------------------
def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # piped output has no terminal width; rich would squeeze tables into 80 columns
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, highlight=False, width=width)


def _progress(items: Sequence[Any], what: str) -> Any:
    """Iterate ``items`` with a transient progress bar on stderr when there are several and a terminal."""
    if len(items) < 2 or not sys.stderr.isatty():
        return items
    from rich.progress import track

    return track(items, description=what, console=_console(stderr=True), transient=True)


def _load(args: argparse.Namespace, model: str) -> Any:
    import contextlib

    from .runtime import load

    # stdout is for results (--json is parsed by scripts); a first-time build's progress goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        return load(model, args.backend, args.device, args.precision, threads=args.threads)


def _out_paths(out: Path, images: Sequence[str]) -> list[Path]:
    if len(images) == 1 and out.suffix.lower() in IMAGE_SUFFIXES:
        out.parent.mkdir(parents=True, exist_ok=True)
        return [out]
    if out.suffix.lower() in IMAGE_SUFFIXES:
        raise InvalidArgumentError(f"expected --out to be a directory for {len(images)} images, got file name {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    names, paths = set(), []
    for i, img in enumerate(images):
        stem = Path(img).stem or f"image{i}"
        name = f"{stem}.png" if stem not in names else f"{stem}-{i}.png"
        names.add(stem)
        paths.append(out / name)
    return paths


def cmd_detect(args: argparse.Namespace) -> int:
    import inspect

    given = {"threshold": args.threshold, "nms_iou": args.nms_iou, "top_k": args.top_k}
    kwargs = {k: v for k, v in given.items() if v is not UNSET}
    grounder = _load(args, args.model)
    accepted = inspect.signature(grounder.predict).parameters
    unsupported = [f"--{k.replace('_', '-')}" for k in kwargs if k not in accepted]
    if unsupported:
        raise InvalidArgumentError(
            f"expected only options the {grounder.family!r} model supports, got {', '.join(unsupported)}")
    outs = _out_paths(args.out, args.images) if args.out is not None else None
    results = []
    for i, image in enumerate(_progress(args.images, "detecting")):
        det = grounder.predict(image, args.phrases, **kwargs)
        results.append({"image": image, **det.to_dict(), "timings_ms": getattr(grounder, "last_timings", {})})
        if outs is not None:
            from .draw import annotate

            annotate(image, det).save(outs[i])
    info = grounder.backend_info
    if args.json:
        print(json.dumps({"model": args.model, "backend": info.backend, "device": info.device,
                          "precision": info.precision, "results": results}, ensure_ascii=False))
        return 0
    from rich.table import Table

    console = _console()
    console.print(f"[dim]{args.model}: {info.backend}/{info.device}/{info.precision}"
                  f"{' (cached choice)' if info.from_cache else ''}[/dim]")
    for r in results:
        table = Table(title=f"{Path(r['image']).name}: {len(r['detections'])} detection(s)", title_justify="left")
        for col in ("phrase", "score", "x1", "y1", "x2", "y2"):
            table.add_column(col, justify="left" if col == "phrase" else "right")
        for d in r["detections"]:
            label = d["phrase"] + (f" = {d['text']!r}" if "text" in d else "")
            table.add_row(label, f"{d['score']:.3f}", *(f"{v:.1f}" for v in d["xyxy"]))
        console.print(table)
    if outs is not None:
        console.print(f"wrote {', '.join(str(p) for p in outs)}")
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    grounder = _load(args, args.model)
    if not hasattr(grounder, "read"):
        raise InvalidArgumentError(f"expected a text model for 'read', got a {grounder.family!r} package")
    results = [{"image": image, "lines": [line.to_dict() for line in grounder.read(image)]}
               for image in _progress(args.images, "reading")]
    if args.json:
        print(json.dumps({"model": args.model, "results": results}, ensure_ascii=False))
        return 0
    for r in results:
        print(f"# {r['image']}")
        for line in r["lines"]:
            print(line.get("text", ""))
    return 0


# ------------------------------------------------------------------------------------------------
def _default_bench_image() -> str:
    import importlib.util

    spec = importlib.util.find_spec("skimage")  # locate, do not import: skimage is slow to import
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / "astronaut.png"
        if path.is_file():
            return str(path)
    raise InvalidArgumentError("expected --image (no scikit-image sample photo found), got none")


def cmd_bench_row(args: argparse.Namespace) -> int:
    """One row, run in its own process so that load time and peak RSS are not shared with others."""
    import resource
    import statistics

    import numpy as np

    from .images import load_image
    from .runtime import load

    phrases = json.loads(args.phrases)
    image = load_image(args.image)
    t0 = time.perf_counter()
    g = load(args.model, args.backend, args.device, args.precision, threads=args.threads, cache=False)
    load_wall = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    g.predict(image, phrases)
    first = (time.perf_counter() - t0) * 1e3
    runs = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        g.predict(image, phrases)
        runs.append((time.perf_counter() - t0) * 1e3)
    p50 = statistics.median(runs)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "backend": args.backend, "device": g.backend_info.device, "precision": args.precision,
        "load_ms": round(load_wall, 1), "first_ms": round(first, 1), "p50_ms": round(p50, 2),
        "p90_ms": round(float(np.percentile(runs, 90)), 2), "fps": round(1000.0 / p50, 2),
        "peak_rss_mb": round(rss_kb / 1024, 1), "runs": args.runs, "threads": args.threads,
        "image_hw": list(image.shape[:2]), "phrases": phrases,
    }))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .backends import all_backends
    from .package import open_package
    from .runtime import resolve_model

    if args.runs < 1:
        raise InvalidArgumentError(f"expected --runs >= 1, got {args.runs}")
    path = resolve_model(args.model)
    package = open_package(path)
    image = args.image or _default_bench_image()
    phrases = args.phrases or (["text"] if package.family == "text" else ["a person", "a rocket"])
    rows_wanted = []
    for b, p in package.combos():
        if args.backend != "all" and b != args.backend or args.precision != "all" and p != args.precision:
            continue
        impl = all_backends().get(b)
        devices = impl.devices() if impl is not None and impl.is_available() else []
        for d in devices:
            if args.device == "all" or d.split(":")[0] == args.device:
                rows_wanted.append((b, d, p))
    if not rows_wanted:
        raise InvalidArgumentError(
            f"expected at least one backend/device/precision to bench, got none (package offers {package.combos()})")
    rows, errors = [], []
    for b, d, p in rows_wanted:
        cmd = [sys.executable, "-m", "groundlite.cli", "_bench-row", str(path), "--backend", b, "--device", d,
               "--precision", p, "--runs", str(args.runs), "--image", str(image), "--phrases", json.dumps(phrases)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            errors.append(f"{b}/{d}/{p}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json:
        from rich.table import Table

        table = Table(title=f"{package.manifest.get('name', path.name)} on {Path(image).name} "
                            f"({args.runs} runs; each row in a fresh process: load = groundlite.load wall time "
                            f"incl. library imports, first = first predict, peak RSS = ru_maxrss)")
        for col in ("backend", "device", "precision", "load ms", "first ms", "p50 ms", "p90 ms", "FPS", "peak RSS MB"):
            table.add_column(col, justify="right" if "ms" in col or col in ("FPS", "peak RSS MB") else "left")
        for r in rows:
            table.add_row(r["backend"], r["device"], r["precision"], f"{r['load_ms']:.0f}", f"{r['first_ms']:.1f}",
                          f"{r['p50_ms']:.1f}", f"{r['p90_ms']:.1f}", f"{r['fps']:.1f}", f"{r['peak_rss_mb']:.0f}")
        _console().print(table)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 0 if rows else 5


# ------------------------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    from .backends import all_backends

    backends = {name: {"available": b.is_available(), **b.describe()} for name, b in all_backends().items()}
    data: dict[str, Any] = {"groundlite": __version__, "python": sys.version.split()[0], "backends": backends}
    if args.model is not None:
        from .package import open_package
        from .runtime import resolve_model

        package = open_package(resolve_model(args.model))
        m = package.manifest
        data["package"] = {
            "path": str(package.root), "name": m.get("name"), "family": package.family,
            "source": m.get("source", {}).get("kind"), "image_size": m.get("image_size"),
            "num_regions": m.get("num_regions"), "embed_dim": m.get("embed_dim"),
            "max_text_length": m.get("max_text_length"),
            "combos": [f"{b}:{p}" for b, p in package.combos()],
            "bytes": sum(f.bytes for a in package.artifacts for f in a.files()),
            "fidelity": m.get("fidelity", {}),
        }
    if args.json:
        print(json.dumps(data, default=str))
        return 0
    from rich.table import Table

    console = _console()
    console.print(f"groundlite {__version__}, Python {data['python']}")
    t = Table(title="backends on this machine", title_justify="left")
    for col in ("backend", "available", "version", "devices", "providers / device names"):
        t.add_column(col)
    for name, b in backends.items():
        extra = b.get("providers") or [f"{k}: {v}" for k, v in (b.get("device_names") or {}).items()]
        t.add_row(name, "yes" if b["available"] else "no", str(b.get("version") or "-"),
                  ", ".join(b.get("devices") or []) or "-", ", ".join(extra) or "-")
    console.print(t)
    if "package" in data:
        pk = data["package"]
        console.print(f"package {pk['name']!r} ({pk['family']}, source {pk['source']}) at {pk['path']}")
        console.print(f"  image {pk['image_size']}px, {pk['num_regions']} regions, embed {pk['embed_dim']}, "
                      f"text length {pk['max_text_length']}, {pk['bytes'] / 1e6:.1f} MB of artifacts")
        console.print(f"  artifacts: {', '.join(pk['combos'])}")
        if pk["fidelity"]:
            ft = Table(title="fidelity vs fp32", title_justify="left")
            keys = {"region_cosine": "region cos", "query_cosine": "query cos", "logit_max_abs": "max |dlogit|",
                    "box_l1": "box L1", "detection_agreement": "agreement"}
            ft.add_column("artifact")
            for header in keys.values():
                ft.add_column(header, justify="right")
            for name, f in pk["fidelity"].items():
                ft.add_row(name, *(f"{f[k]:.4g}" if isinstance(f.get(k), (int, float)) else "-" for k in keys))
            console.print(ft)
    return 0


COMMANDS = {"detect": cmd_detect, "read": cmd_read, "bench": cmd_bench, "info": cmd_info, "_bench-row": cmd_bench_row}


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``groundlite`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s: %(message)s" if debug else "warning: %(message)s")
    if not debug:
        warnings.showwarning = _show_warning
    try:
        if argv[:1] == ["_bench-row"]:
            args = _bench_row_parser().parse_args(argv[1:])
        else:
            args = build_parser(argv).parse_args(argv)
        if args.command == "export":
            func = getattr(args, "func", None)
            if func is None:  # the placeholder parser: build_parser registers the real one only for export
                raise GroundliteError("expected an export sub-command, got none; see groundlite export --help")
            return int(func(args) or 0)
        return COMMANDS[args.command](args)
    except GroundliteError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error; silence the flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # an unexpected failure still gets one line unless --debug
        if debug:
            raise
        print(f"error: unexpected {type(e).__name__}: {e} (rerun with --debug for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
