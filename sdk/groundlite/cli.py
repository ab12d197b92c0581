"""The ``groundlite`` command (also ``python -m groundlite``): detect, read, bench, info, and plugin
commands such as ``export``.

``detect`` and ``read`` take image files, directories and glob patterns (:mod:`groundlite.cli_inputs`);
each image that fails prints ``error: PATH: <sentence>`` and the rest continue. Any other error
prints one line, ``error: <sentence>``, to stderr and exits with the error's ``exit_code``; a
traceback appears only with ``--debug``. Third-party log lines are kept off the terminal unless
``--debug``; groundlite's own notices print once as ``note: ...``.

Plugin commands come from the ``groundlite.commands`` entry-point group (``export`` from
``groundlite_export.cli:register``); a plugin is imported only when the command line names it,
so ``import groundlite.cli`` and ``groundlite detect`` never import the export toolchain.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import __version__, schema
from .cli_inputs import Inputs, expand_inputs, plan_out
from .errors import GroundliteError, InvalidArgumentError

__all__ = ["main", "build_parser", "PLUGIN_GROUP", "THIRD_PARTY_LOGGERS"]

#: marks a detect option the user did not give, so the model's own default applies
UNSET = object()

#: entry-point group of plugin commands: name -> ``"module:register"``, ``register(subparsers)``
PLUGIN_GROUP = "groundlite.commands"

#: loggers of libraries the runtime loads; lowered to ERROR (and never printed) unless --debug
THIRD_PARTY_LOGGERS = ("onnxruntime", "openvino", "nncf", "rapidocr", "rapidocr_onnxruntime", "RapidOCR",
                       "tokenizers", "PIL", "urllib3")

#: detect options beyond ``threshold``: flag per ``predict`` keyword (a family takes those in its
#: ``FamilySpec.predict_options``)
FAMILY_OPTIONS = {"nms_iou": "--nms-iou", "top_k": "--top-k"}


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
                   help="show tracebacks and third-party logs")


def _add_load_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default="text",
                   help="package directory or built-in name (default: text)")
    p.add_argument("--backend", default="auto", help=f"auto | {' | '.join(schema.BACKENDS)}")
    p.add_argument("--device", default="auto", help="auto | cpu | gpu | gpu:N | npu")
    p.add_argument("--precision", default="auto", help=f"auto | {' | '.join(schema.PRECISIONS)}")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads per session")


def _add_output_args(p: argparse.ArgumentParser) -> None:
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON document at the end")
    fmt.add_argument("--jsonl", action="store_true", help="print one JSON object per image as each finishes")


IMAGES_HELP = "image files, directories (searched recursively) or glob patterns"


def _add_query_args(p: Any) -> None:
    """IMAGE..., -p QUERY (repeatable), the load options and --threshold: what detect and explain share."""
    p.add_argument("images", nargs="+", metavar="IMAGE", help=IMAGES_HELP)
    p.add_argument("-p", "--phrase", dest="phrases", action="append", required=True,
                   help="phrase or query, e.g. 'Submit', 'the value of Total', 'the button below Name' (repeatable)")
    _add_load_args(p)
    p.add_argument("--threshold", type=float, default=UNSET, help="score threshold (default: the model's)")


def _add_detect(sub: Any) -> None:
    p = sub.add_parser("detect", help="find phrases in images")
    _add_query_args(p)
    p.add_argument("--nms-iou", type=_none_or(float), default=UNSET,
                   help="NMS IoU, or 'none' to turn NMS off; default 0.3 (OWL models only)")
    p.add_argument("--top-k", type=_none_or(int), default=UNSET,
                   help="max boxes per image, or 'none' for all; default 100 (OWL models only)")
    _add_output_args(p)
    p.add_argument("--out", type=Path, default=None,
                   help="annotated image: FILE.png/.jpg/... for one image, else an existing DIR")
    p.add_argument("--mkdir", action="store_true", help="create the --out directory if it does not exist")
    p.add_argument("--literal", action="store_true",
                   help="search each phrase as it is (no fields, controls, relations or meanings)")
    p.add_argument("--explain", action="store_true", help="say in words how each result was found")
    _add_common(p)
    p.set_defaults(func=cmd_detect)


def _add_explain(sub: Any) -> None:
    p = sub.add_parser("explain", help="detect, and say in words how each result was found")
    _add_query_args(p)
    _add_output_args(p)
    _add_common(p)
    p.set_defaults(func=cmd_detect, explain=True, literal=False, out=None, mkdir=False, nms_iou=UNSET, top_k=UNSET)


def _add_read(sub: Any) -> None:
    p = sub.add_parser("read", help="read the text in images (text models)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help=IMAGES_HELP)
    _add_load_args(p)
    _add_output_args(p)
    _add_common(p)
    p.set_defaults(func=cmd_read)


def _add_bench(sub: Any) -> None:
    p = sub.add_parser("bench", help="time every backend/precision for a model")
    p.add_argument("model", help="package directory or built-in name")
    p.add_argument("--backend", default="all", help=f"all | {' | '.join(schema.BACKENDS)}")
    p.add_argument("--precision", default="all", help=f"all | {' | '.join(schema.PRECISIONS)}")
    p.add_argument("--device", default="all", help="all | cpu | gpu | npu")
    p.add_argument("--runs", type=int, default=10, help="timed runs per row (default 10)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--image", default=None, help="image to run on (default: a photo shipped with scikit-image)")
    p.add_argument("-p", "--phrase", dest="phrases", action="append", default=None)
    p.add_argument("--json", action="store_true", help="print JSON lines")
    _add_common(p)
    p.set_defaults(func=cmd_bench)


def _add_info(sub: Any) -> None:
    p = sub.add_parser("info", help="backends and devices here; a package's summary and fidelity")
    p.add_argument("model", nargs="?", default=None, help="package directory or built-in name")
    p.add_argument("--json", action="store_true")
    _add_common(p)
    p.set_defaults(func=cmd_info)


BUILTIN_COMMANDS: dict[str, Callable[[Any], None]] = {
    "detect": _add_detect, "explain": _add_explain, "read": _add_read, "bench": _add_bench, "info": _add_info}


# ------------------------------------------------------------------------------------------------
def _command_named(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names: its first word that is not an option (top-level options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _plugin_entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        found.setdefault(ep.name, ep)  # the first installation wins, as for console scripts
    return found


def _missing_plugin_message(ep: Any, error: ImportError) -> str:
    missing = (error.name or "").split(".")[0] or str(error)
    dist = getattr(ep, "dist", None)
    extras = (dist.metadata.get_all("Provides-Extra") or []) if dist is not None else []
    if dist is not None and ep.name in extras:  # the plugin's dependencies are an extra of its distribution
        how = f"install the extra with: pip install '{dist.name}[{ep.name}]'"
    else:
        how = f"install it with: pip install {missing}"
    return f"expected the package {missing!r} for 'groundlite {ep.name}', got none installed; {how}"


def _add_plugins(sub: Any, command: str | None) -> None:
    """Register the plugin command ``command`` names (imported now); every other plugin is only
    listed by name (for ``--help`` and argparse's "invalid choice" message; nothing imported).
    Built-in commands never look plugins up."""
    if command in BUILTIN_COMMANDS:
        return
    for name, ep in _plugin_entry_points().items():
        if name in BUILTIN_COMMANDS:
            continue  # a plugin cannot replace a built-in command
        if name != command:
            sub.add_parser(name, help=f"plugin command (from {ep.value.split(':')[0]})", add_help=False)
            continue
        try:
            register = ep.load()
        except ImportError as e:
            raise GroundliteError(_missing_plugin_message(ep, e)) from None
        register(sub)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser. A plugin command is imported and registered only when ``argv`` names it."""
    parser = argparse.ArgumentParser(prog="groundlite", description="On-device image grounding.")
    parser.add_argument("--version", action="version", version=f"groundlite {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and third-party logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in BUILTIN_COMMANDS.values():
        add(sub)
    _add_plugins(sub, _command_named(argv))
    return parser


def _bench_row_parser() -> argparse.ArgumentParser:
    """The internal one-row benchmark that ``bench`` runs in a fresh process (not listed in --help)."""
    p = argparse.ArgumentParser(prog="groundlite _bench-row")
    p.add_argument("model")
    p.add_argument("--backend", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--precision", required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--image", required=True)
    p.add_argument("--phrases", required=True, help="JSON list")
    _add_common(p)
    p.set_defaults(func=cmd_bench_row, command="_bench-row")
    return p


# ------------------------------------------------------------------------------------------------
def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # piped output has no terminal width; rich would squeeze tables into 80 columns
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    # markup off: image paths and recognised text may contain "[...]"
    return Console(stderr=stderr, highlight=False, markup=False, width=width)


@contextlib.contextmanager
def _progress(total: int, what: str) -> Iterator[Callable[[], None]]:
    """``advance()`` for a transient progress bar on stderr, shown only for >= 2 items on a terminal."""
    if total < 2 or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # stdout is redirected above the bar only when it is the terminal too: piped results (--jsonl >
    # file) must reach the pipe, not the bar's console on stderr
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=_console(stderr=True), transient=True, redirect_stdout=sys.stdout.isatty()) as bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


def _quiet_backend_libraries(debug: bool) -> None:
    """ONNX Runtime's own (C++) logger: errors only, warnings too with --debug."""
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - a runtime dependency; another backend may still load
        return
    ort.set_default_logger_severity(2 if debug else 3)  # 2: warnings; 0-1 would flood the terminal


def _load(args: argparse.Namespace) -> Any:
    from .runtime import load

    _quiet_backend_libraries(args.debug)
    # stdout is for results (--json is parsed by scripts); anything a load prints goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        return load(args.model, args.backend, args.device, args.precision, threads=args.threads)


def _family_spec(model: str) -> Any:
    """The model's :class:`~groundlite.families.FamilySpec`, from its manifest (no session is loaded)."""
    from .families import family_spec
    from .runtime import open_model

    with contextlib.redirect_stdout(sys.stderr):
        return family_spec(open_model(model).family)


class _Report:
    """Prints per-image results as they come (table rows, JSON lines or nothing until the end) and
    per-image errors as ``error: PATH: sentence`` lines; remembers the exit status."""

    def __init__(self, args: argparse.Namespace, inputs: Inputs, what: str) -> None:
        self.args, self.what = args, what
        self.results: list[dict[str, Any]] = []
        self.status = 0
        self.console = None if args.json or args.jsonl else _console()
        for item in inputs.items:  # in argument order
            if item.kind == "skipped":
                print(f"skipped: {item.path} (not an image type)", file=sys.stderr)
            elif item.kind == "error" and item.error is not None:
                self.error(item.path, item.error)

    def error(self, image: str, error: BaseException) -> None:
        code = error.exit_code if isinstance(error, GroundliteError) else 1
        sentence = str(error) if isinstance(error, GroundliteError) else f"unexpected {type(error).__name__}: {error}"
        print(f"error: {image}: {sentence}", file=sys.stderr, flush=True)
        self.status = self.status or code
        self.add({"image": image, self.what: [], "timings_ms": {}, "error": sentence})

    def add(self, record: dict[str, Any]) -> None:
        self.results.append(record)
        if self.args.jsonl:
            print(json.dumps(record, ensure_ascii=False), flush=True)

    def finish(self, grounder: Any) -> int:
        if self.args.json:
            info = getattr(grounder, "backend_info", None)
            print(json.dumps({"model": self.args.model,
                              "backend": info.backend if info else None,
                              "device": info.device if info else None,
                              "precision": info.precision if info else None,
                              "results": self.results}, ensure_ascii=False))
        return self.status


def _run_images(args: argparse.Namespace, inputs: Inputs, report: _Report, grounder: Any,
                work: Callable[[str], dict[str, Any]], show: Callable[[dict[str, Any]], None]) -> None:
    """``work(image)`` per image; a failing image is reported and the rest continue."""
    with _progress(len(inputs.images), "detecting" if report.what == "detections" else "reading") as advance:
        for image in inputs.images:
            try:
                t0 = time.perf_counter()
                record = work(image)
                record["timings_ms"] = {**grounder.last_timings, "total_ms": (time.perf_counter() - t0) * 1e3}
                record["error"] = None
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one image's failure is its own line; --debug shows the traceback
                if args.debug:
                    raise
                report.error(image, e)
            else:
                report.add(record)
                if report.console is not None:
                    show(record)
            advance()


def _header(console: Any, args: argparse.Namespace, grounder: Any) -> None:
    info = grounder.backend_info
    console.print(f"{args.model}: {info.backend}/{info.device}/{info.precision}"
                  f"{' (cached choice)' if info.from_cache else ''}", style="dim")


def cmd_detect(args: argparse.Namespace) -> int:
    from .phrases import validate_phrases
    from .selection import validate_request

    phrases = validate_phrases(args.phrases)
    validate_request(args.backend, args.device, args.precision, args.threads, schema.MIN_FIDELITY_AGREEMENT)
    options = {k: v for k, v in (("threshold", args.threshold), ("nms_iou", args.nms_iou), ("top_k", args.top_k))
               if v is not UNSET}
    if args.literal:
        options["interpret"] = False
    if "threshold" in options and not 0.0 <= options["threshold"] <= 1.0:  # once here, not once per image
        raise InvalidArgumentError(f"expected --threshold in [0, 1], got {options['threshold']}")
    inputs = expand_inputs(args.images)
    outs = dict(zip(inputs.images, plan_out(args.out, inputs.images, mkdir=args.mkdir))) if args.out else {}
    spec = _family_spec(args.model)
    refused = [FAMILY_OPTIONS[k] for k in options if k in FAMILY_OPTIONS and k not in spec.predict_options]
    if refused:
        raise InvalidArgumentError(f"expected only options a {spec.name!r} model takes, got {', '.join(refused)} "
                                   "(OWL models only)")
    report = _Report(args, inputs, "detections")
    if not inputs.images:
        return report.finish(None)
    grounder = _load(args)
    if report.console is not None:
        _header(report.console, args, grounder)

    def work(image: str) -> dict[str, Any]:
        det = grounder.predict(image, phrases, **options)
        record: dict[str, Any] = {"image": image, **det.to_dict()}
        if image in outs:
            from .draw import write_annotated

            record["out"] = str(write_annotated(image, det, outs[image]))
        return record

    def show(record: dict[str, Any]) -> None:
        from rich.table import Table

        dets = record["detections"]
        wrote = f" (annotated: {record['out']})" if "out" in record else ""
        report.console.print(f"{record['image']}: {len(dets)} detection(s){wrote}")  # a title would wrap
        if args.explain:
            from rich.markup import escape

            for d in dets:
                ev = d.get("evidence")
                words = ev["explanation"] if ev else f"{d.get('text') or d['phrase']!r}, found literally"
                report.console.print(f"  {escape(d['phrase'])}: {escape(words)} (score {d['score']:.2f})")
            for u in record.get("unresolved", []):
                why = f"; not found: {u['missing']}" if u.get("missing") else ""
                ign = f"; ignored: {', '.join(u['ignored'])}" if u.get("ignored") else ""
                report.console.print(f"  {escape(u['query'])}: nothing found (understood as "
                                     f"{escape(u['interpretation'])}{escape(why)}{escape(ign)})")
            return
        if not dets:
            return
        table = Table()
        for col in ("phrase", "text", "score", "x1", "y1", "x2", "y2"):
            table.add_column(col, justify="left" if col in ("phrase", "text") else "right")
        for d in dets:  # "text": what the text model matched; OWL models match no text
            table.add_row(d["phrase"], d.get("text", "-"), f"{d['score']:.3f}", *(f"{v:.1f}" for v in d["xyxy"]))
        report.console.print(table)

    _run_images(args, inputs, report, grounder, work, show)
    return report.finish(grounder)


def cmd_read(args: argparse.Namespace) -> int:
    from .selection import validate_request

    validate_request(args.backend, args.device, args.precision, args.threads, schema.MIN_FIDELITY_AGREEMENT)
    inputs = expand_inputs(args.images)
    spec = _family_spec(args.model)
    if not spec.can_read:
        raise InvalidArgumentError(f"expected a text model for 'read', got a {spec.name!r} package")
    report = _Report(args, inputs, "lines")
    if not inputs.images:
        return report.finish(None)
    grounder = _load(args)
    if report.console is not None:
        _header(report.console, args, grounder)

    def work(image: str) -> dict[str, Any]:
        return {"image": image, "lines": [line.to_dict() for line in grounder.read(image)]}

    def show(record: dict[str, Any]) -> None:
        from rich.table import Table

        report.console.print(f"{record['image']}: {len(record['lines'])} line(s)")
        if not record["lines"]:
            return
        table = Table()
        for col in ("text", "score", "x1", "y1", "x2", "y2"):
            table.add_column(col, justify="left" if col == "text" else "right")
        for line in record["lines"]:
            table.add_row(line["text"], f"{line['score']:.3f}", *(f"{v:.1f}" for v in line["xyxy"]))
        report.console.print(table)

    _run_images(args, inputs, report, grounder, work, show)
    return report.finish(grounder)


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

    _quiet_backend_libraries(args.debug)
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
    from .runtime import open_model

    if args.runs < 1:
        raise InvalidArgumentError(f"expected --runs >= 1, got {args.runs}")
    with contextlib.redirect_stdout(sys.stderr):
        package = open_model(args.model)
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
        # the model as given: a built-in name is not a directory (its files live in a wheel)
        cmd = [sys.executable, "-m", "groundlite", "_bench-row", str(args.model), "--backend", b, "--device", d,
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

        table = Table(title=f"{package.manifest.get('name', args.model)} on {Path(image).name} "
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
def _package_summary(model: str) -> dict[str, Any]:
    from .runtime import builtin_names, open_model

    with contextlib.redirect_stdout(sys.stderr):
        package = open_model(model, verify=True)  # every file's SHA-256, now
    m = package.manifest
    source = m.get("source", {}) if isinstance(m.get("source"), dict) else {}
    builtin = model in builtin_names() and not Path(model).is_dir()  # open_model prefers a directory
    files = {f.file: f.bytes for a in package.artifacts for f in a.files()}  # combos may share a file
    return {
        "path": str(package.root), "name": m.get("name"), "family": package.family,
        "builtin": model if builtin else None,
        "source": source.get("kind"), "source_id": source.get("id"),
        # a built-in model's wheel weights assembled in memory, or an exported (installed) package
        "assembled": m.get("assembled"),
        "image_size": m.get("image_size"), "num_regions": m.get("num_regions"), "embed_dim": m.get("embed_dim"),
        "max_text_length": m.get("max_text_length"),
        "combos": [f"{b}:{p}" for b, p in package.combos()],
        "bytes": sum(files.values()),
        "fidelity": m.get("fidelity", {}),
    }


def cmd_info(args: argparse.Namespace) -> int:
    from .backends import all_backends

    _quiet_backend_libraries(args.debug)
    backends = {name: {"available": b.is_available(), **b.describe()} for name, b in all_backends().items()}
    data: dict[str, Any] = {"groundlite": __version__, "python": sys.version.split()[0], "backends": backends}
    if args.model is not None:
        data["package"] = _package_summary(args.model)
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
        source = f"{pk['source']} {pk['source_id']}" if pk["source_id"] else str(pk["source"])
        console.print(f"package {pk['name']!r} ({pk['family']}, source {source}) at {pk['path']}")
        if pk["builtin"] is not None:
            how = (f"assembled in memory from the wheel's FP32 ONNX files" if pk["assembled"]
                   else "the installed full package (exported once with groundlite[export])")
            console.print(f"  built-in model {pk['builtin']!r}: {how}")
        if pk["image_size"] is not None:
            console.print(f"  image {pk['image_size']}px, {pk['num_regions']} regions, embed {pk['embed_dim']}, "
                          f"text length {pk['max_text_length']}")
        console.print(f"  {pk['bytes'] / 1e6:.1f} MB of artifacts: {', '.join(pk['combos'])}")
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


# ------------------------------------------------------------------------------------------------
class _NoteOnce(logging.Handler):
    """groundlite's own notices (logger ``groundlite``, WARNING and up): ``note: ...`` on stderr, once each."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.said: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().removeprefix("groundlite: ")
        if message not in self.said:
            self.said.add(message)
            print(f"note: {message}", file=sys.stderr)  # sys.stderr now: a progress bar may wrap it


class _Stderr(logging.Handler):
    """--debug: every log record, on whatever ``sys.stderr`` is at the time (a progress bar may wrap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def _is_ours(category: type, filename: str) -> bool:
    return category.__module__.startswith("groundlite") or Path(__file__).parent in Path(filename).parents


@contextlib.contextmanager
def _output_policy(debug: bool) -> Iterator[None]:
    """Logging and warnings for one command; everything is put back afterwards (``main`` can be
    called in-process, e.g. by tests)."""
    root, ours = logging.getLogger(), logging.getLogger("groundlite")
    third = [logging.getLogger(name) for name in THIRD_PARTY_LOGGERS]
    saved = [(lg, lg.level) for lg in (root, ours, *third)]
    saved_propagate = ours.propagate
    note = _NoteOnce()
    if debug:
        handler: logging.Handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.DEBUG)
        ours.setLevel(logging.DEBUG)
    else:
        for lg in third:
            lg.setLevel(logging.ERROR)
        # a handler on the root keeps logging's last-resort printer from showing third-party records
        handler = logging.NullHandler()
        ours.addHandler(note)
        ours.setLevel(logging.WARNING)
        ours.propagate = False
    root.addHandler(handler)

    def show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                     line: Any = None) -> None:
        if _is_ours(category, filename):
            print(f"warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = show_warning
            yield
    finally:
        root.removeHandler(handler)
        ours.removeHandler(note)
        ours.propagate = saved_propagate
        for lg, level in saved:
            lg.setLevel(level)


def _exit_status(e: SystemExit) -> int:
    return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``groundlite`` command and ``python -m groundlite``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    with _output_policy(debug):
        try:
            if argv[:1] == ["_bench-row"]:
                args = _bench_row_parser().parse_args(argv[1:])
            else:
                args = build_parser(argv).parse_args(argv)
            args.debug = debug
            return int(args.func(args) or 0)
        except SystemExit as e:  # argparse: --help, --version, usage errors
            return _exit_status(e)
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
