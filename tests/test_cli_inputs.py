"""The IMAGE arguments of ``groundlite detect`` / ``read`` (files, directories, globs) and ``--out``,
first as plain functions (:mod:`groundlite.cli_inputs`), then through the command in-process
(``main([...])``) with the built-in text model: per-file error lines, skipped lines, exit status,
``--jsonl`` streaming and ``--out`` files."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from groundlite.cli import main
from groundlite.cli_inputs import expand_inputs, plan_out
from groundlite.errors import InvalidArgumentError, InvalidImageError

SKIMAGE_DATA = Path(list(importlib.util.find_spec("skimage").submodule_search_locations)[0]) / "data"
PAGE = SKIMAGE_DATA / "page.png"
#: hand-drawn box of "Region-based segmentation" on page.png (tests/data/page_phrases.json)
SEGMENTATION_LINE = (7, 13, 292, 36)


def _png(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 200, np.uint8)).save(path, format="PNG")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """d/ with images at two depths (mixed-case suffixes), a text file, a symlink loop."""
    d = tmp_path / "d"
    _png(d / "b.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "A.JPG", format="JPEG")
    _png(d / "sub" / "c.png")
    (d / "notes.txt").write_text("not an image")
    (d / "sub" / "loop").symlink_to(d, target_is_directory=True)  # d/sub/loop -> d
    return d


def _rel(paths: list[str], root: Path) -> list[str]:
    return [(Path(p).relative_to(root) if Path(p).is_absolute() else Path(p)).as_posix() for p in paths]


# ------------------------------------------------------------------------------------------------
# expand_inputs: (arguments relative to tmp_path, images, skipped, error arguments)
EXPANSIONS = [
    (["d"], ["d/A.JPG", "d/b.png", "d/sub/c.png"], ["d/notes.txt"], []),
    (["d/b.png", "d/notes.txt"], ["d/b.png", "d/notes.txt"], [], []),  # explicit files: any suffix
    (["d/*.png"], ["d/b.png"], [], []),
    (["d/**/*.png"], ["d/b.png", "d/sub/c.png"], [], []),
    (["d/*"], ["d/A.JPG", "d/b.png", "d/sub/c.png"], ["d/notes.txt"], []),  # a matched directory is searched
    (["d/b.png", "d", "d/sub/loop/b.png"], ["d/b.png", "d/A.JPG", "d/sub/c.png"], ["d/notes.txt"], []),  # each once
    (["missing.png"], [], [], ["missing.png"]),
    (["d/*.gif"], [], [], ["d/*.gif"]),
    (["empty"], [], [], ["empty"]),
    (["only-text"], [], ["only-text/a.txt"], ["only-text"]),
    (["missing.png", "d/sub"], ["d/sub/c.png", "d/sub/loop/A.JPG", "d/sub/loop/b.png"],
     ["d/sub/loop/notes.txt"], ["missing.png"]),  # through the link once; d/sub/loop/sub is d/sub again
]


@pytest.mark.parametrize("args, images, skipped, errors", EXPANSIONS)
def test_expand_inputs(tree, tmp_path, monkeypatch, args, images, skipped, errors):
    (tmp_path / "empty").mkdir()
    (tmp_path / "only-text").mkdir()
    (tmp_path / "only-text" / "a.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    got = expand_inputs(args)
    assert _rel(got.images, tmp_path) == images
    assert _rel(got.skipped, tmp_path) == skipped
    assert [arg for arg, _ in got.errors] == errors
    for _, error in got.errors:
        assert isinstance(error, InvalidImageError) and str(error).startswith("expected ")


def test_expand_inputs_keeps_argument_order(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = expand_inputs(["d/sub/c.png", "missing.png", "d/b.png"])
    assert [(i.kind, i.path) for i in got.items] == [
        ("image", "d/sub/c.png"), ("error", "missing.png"), ("image", "d/b.png")]


# plan_out: (out relative to tmp_path, number of images, mkdir, expected names or an error fragment)
OUT_PLANS = [
    ("one.png", 1, False, ["one.png"]),
    ("one.JPG", 1, False, ["one.JPG"]),
    ("one.png", 2, False, "expected --out to be a directory for 2 images"),
    ("nodir/one.png", 1, False, "add --mkdir"),
    ("nodir/one.png", 1, True, ["nodir/one.png"]),
    ("outdir", 3, False, ["outdir/x.png", "outdir/x-2.png", "outdir/y.png"]),
    ("newdir", 1, False, "add --mkdir to create it"),
    ("newdir", 1, True, ["newdir/x.png"]),
    ("afile", 1, False, "to be a directory, got a file"),
]


@pytest.mark.parametrize("out, n, mkdir, expected", OUT_PLANS)
def test_plan_out(tmp_path, out, n, mkdir, expected):
    (tmp_path / "outdir").mkdir()
    (tmp_path / "afile").write_text("x")
    images = ["a/x.png", "b/x.jpg", "y.png"][:n]
    if isinstance(expected, str):
        with pytest.raises(InvalidArgumentError, match=expected):
            plan_out(tmp_path / out, images, mkdir=mkdir)
        return
    got = plan_out(tmp_path / out, images, mkdir=mkdir)
    assert _rel([str(p) for p in got], tmp_path) == expected
    assert not (tmp_path / "newdir").exists()  # created when the first file is written, not before


# ------------------------------------------------------------------------------------------------
# through the command, in-process, with the built-in text model
@pytest.fixture
def batch(tmp_path: Path) -> Path:
    """in/: the real page photo, a plain picture, a corrupt JPEG, a text file; nested."""
    d = tmp_path / "in"
    (d / "deep").mkdir(parents=True)
    shutil.copy(PAGE, d / "page.png")
    _png(d / "deep" / "plain.png", (64, 48))
    (d / "deep" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (d / "readme.md").write_text("# not an image")
    return d


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_detect_a_directory_reports_each_bad_file_and_continues(batch, capsys):
    rc = main(["detect", str(batch), str(batch / "missing.png"), "-p", "segmentation", "--jsonl"])
    out, err = capsys.readouterr()
    assert rc == 3  # InvalidImageError's exit code: the first failure's
    assert "Traceback" not in err
    assert f"skipped: {batch / 'readme.md'} (not an image type)" in err.splitlines()
    errors = _error_lines(err)
    assert len(errors) == 2
    assert any(e.startswith(f"error: {batch / 'deep' / 'broken.jpg'}: expected ") for e in errors)
    assert any(e.startswith(f"error: {batch / 'missing.png'}: expected ") for e in errors)
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 4  # three images found + the missing path, one object each
    by_image = {r["image"]: r for r in records}
    assert by_image[str(batch / "deep" / "plain.png")]["error"] is None
    assert by_image[str(batch / "deep" / "plain.png")]["detections"] == []
    assert by_image[str(batch / "deep" / "broken.jpg")]["error"].startswith("expected ")
    page = by_image[str(batch / "page.png")]
    assert page["error"] is None and page["timings_ms"]
    (best,) = [d for d in page["detections"] if d["score"] == max(x["score"] for x in page["detections"])]
    x1, y1, x2, y2 = SEGMENTATION_LINE
    bx1, by1, bx2, by2 = best["xyxy"]
    inter = max(0.0, min(x2, bx2) - max(x1, bx1)) * max(0.0, min(y2, by2) - max(y1, by1))
    assert inter >= 0.6 * (bx2 - bx1) * (by2 - by1)  # mostly inside the hand-drawn box of its line
    assert bx1 > (x1 + x2) / 2  # and in its right half, where "segmentation" is
    assert "segmentation" in best["text"].lower()


def test_detect_matches_the_library_and_exits_zero_when_all_succeed(batch, capsys):
    import groundlite

    images = [str(batch / "page.png"), str(batch / "deep" / "plain.png")]
    rc = main(["detect", *images, "-p", "segmentation", "-p", "coins", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert _error_lines(err) == []
    doc = json.loads(out)
    assert [r["image"] for r in doc["results"]] == images
    ref = groundlite.load("text").predict(images[0], ["segmentation", "coins"]).to_dict()["detections"]
    got = doc["results"][0]["detections"]
    assert [(d["phrase"], d["text"]) for d in got] == [(d["phrase"], d["text"]) for d in ref] and ref
    assert np.allclose([d["xyxy"] for d in got], [d["xyxy"] for d in ref], atol=1e-3)


def test_detect_table_shows_phrase_text_score_and_box(capsys):
    rc = main(["detect", str(PAGE), "-p", "segmentation"])
    out, _ = capsys.readouterr()
    assert rc == 0
    header = next(line for line in out.splitlines() if "phrase" in line)
    assert all(col in header for col in ("phrase", "text", "score", "x1", "y1", "x2", "y2"))
    assert "detection(s)" in out and "segmentation" in out


def test_read_prints_each_line_with_its_box(batch, capsys):
    rc = main(["read", str(batch / "page.png"), str(batch / "deep")])
    out, err = capsys.readouterr()
    assert rc == 3 and len(_error_lines(err)) == 1  # deep/broken.jpg
    assert f"{batch / 'page.png'}:" in out and "line(s)" in out
    header = next(line for line in out.splitlines() if "text" in line and "score" in line)
    assert all(col in header for col in ("x1", "y1", "x2", "y2"))
    assert "segmentation" in out.lower()


def test_read_jsonl_has_one_object_per_image(batch, capsys):
    rc = main(["read", str(batch / "page.png"), str(batch / "deep" / "plain.png"), "--jsonl"])
    out, _ = capsys.readouterr()
    assert rc == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["image"]).name for r in records] == ["page.png", "plain.png"]
    assert all(set(r) >= {"image", "lines", "timings_ms", "error"} for r in records)
    assert any("segmentation" in line["text"].lower() for line in records[0]["lines"])
    assert all(len(line["xyxy"]) == 4 for line in records[0]["lines"])


def test_out_image_file_is_written(tmp_path, capsys):
    out = tmp_path / "annotated.jpg"
    rc = main(["detect", str(PAGE), "-p", "segmentation", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    with Image.open(out) as im:
        size = im.size
        assert im.format == "JPEG"
    with Image.open(PAGE) as im:
        assert size == im.size
    assert [p.name for p in tmp_path.iterdir()] == ["annotated.jpg"]  # no temp file left behind


@pytest.mark.parametrize("extra, code, fragment", [
    (["{tmp}/other.png", "--out", "{tmp}/x.png"], 2, "expected --out to be a directory for 2 images"),
    (["--out", "{tmp}/new"], 2, "add --mkdir to create it"),
    (["--nms-iou", "0.5"], 2, "'text'"),
    (["--top-k", "3"], 2, "(OWL models only)"),
    (["-p", " "], 2, "expected phrase 0 to contain non-blank text"),
    (["--backend", "onnxrt"], 2, "did you mean 'onnxruntime'"),
    (["--model", "text-ppocrv9"], 4, "did you mean"),
])
def test_argument_errors_are_one_line_before_any_work(tmp_path, capsys, extra, code, fragment):
    _png(tmp_path / "other.png")
    args = ["detect", str(PAGE), *(a.format(tmp=tmp_path) for a in extra), "-p", "segmentation"]
    rc = main(args)
    out, err = capsys.readouterr()
    assert rc == code
    assert out == ""
    (line,) = _error_lines(err)
    assert fragment in line and "Traceback" not in err
    assert not (tmp_path / "new").exists() and not (tmp_path / "x.png").exists()


def test_out_directory_is_created_only_with_mkdir(batch, tmp_path, capsys):
    out = tmp_path / "new" / "annotated"
    rc = main(["detect", str(batch / "page.png"), str(batch / "deep" / "plain.png"), "-p", "segmentation",
               "--out", str(out), "--mkdir"])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["page.png", "plain.png"]
    drawn = np.asarray(Image.open(out / "page.png").convert("RGB"))
    original = np.asarray(Image.open(PAGE).convert("RGB"))
    assert drawn.shape == original.shape and (drawn != original).any()  # the match box was drawn


def test_help_marks_owl_only_options(capsys):
    with pytest.raises(SystemExit):
        from groundlite.cli import build_parser

        build_parser(["detect"]).parse_args(["detect", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps help text
    assert out.count("(OWL models only") == 2 and "--mkdir" in out and "--jsonl" in out


def test_main_restores_logging_and_warnings(capsys):
    import logging
    import warnings

    before = (logging.getLogger().handlers[:], logging.getLogger("groundlite").propagate,
              logging.getLogger("onnxruntime").level, warnings.showwarning)
    assert main(["detect", str(PAGE), "-p", "segmentation", "--json"]) == 0
    after = (logging.getLogger().handlers[:], logging.getLogger("groundlite").propagate,
             logging.getLogger("onnxruntime").level, warnings.showwarning)
    assert before == after
    assert os.environ.get("GROUNDLITE_CACHE_DIR")  # conftest's session cache, never the user's
