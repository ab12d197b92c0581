"""Short CI versions of ``benchmarks/soak.py``: threads vs serial, bounded memory, SIGINT safety.

The full runs (8 threads x 2 minutes, 20 000 predictions, the text-cache rebuild after SIGINT)
are the benchmark program; its results are in ``benchmarks/results/soak.md``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

import pytest

import groundlite

_spec = importlib.util.spec_from_file_location("soak", Path(__file__).parents[1] / "benchmarks" / "soak.py")
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)


def _ours(left: list[str]) -> list[str]:
    """Leftovers in TMPDIR that groundlite made (its temp dirs are named groundlite-*, staging dirs
    *.partial). A third-party library of the export stack (not identified) sometimes leaves a
    51-byte ".ses" file there after an interrupt (a timestamp and a UUID): not ours, not a package."""
    return [p for p in left if p.split("/")[0].startswith("groundlite") or ".partial" in p]


@pytest.fixture(scope="module")
def owl(tiny_owlvit_package):
    return groundlite.load(tiny_owlvit_package, backend="onnxruntime", precision="fp32", cache=False,
                           progress=False)


@pytest.mark.slow
def test_eight_threads_match_serial(owl):
    r = soak.threads_vs_serial(owl, n_threads=8, seconds=8.0)
    assert not r["errors"], r["errors"]
    assert r["mismatches"] == 0, r
    assert min(r["per_thread"]) > 0, f"a thread never ran: {r['per_thread']}"


@pytest.mark.slow
def test_openvino_threads_match_serial(tiny_owlvit_package):
    g = groundlite.load(tiny_owlvit_package, backend="openvino", precision="int8", cache=False, progress=False)
    r = soak.threads_vs_serial(g, n_threads=4, seconds=4.0)
    assert not r["errors"] and r["mismatches"] == 0, r


@pytest.fixture(scope="session")
def text_package() -> str:
    """The built-in text model: assembled in memory from the installed wheel, no build step."""
    return "text"


@pytest.mark.slow
def test_text_model_threads_match_serial(text_package):
    """A real document page (scikit-image's page.png) so the results are not trivially empty."""
    skimage = pytest.importorskip("skimage")
    page = Path(skimage.__file__).parent / "data" / "page.png"
    g = groundlite.load(text_package, backend="onnxruntime", precision="fp32", cache=False, progress=False)
    work = [(page, ["segmentation"]), (page, ["the", "image"]), (page, ["region based"])]
    assert len(g.predict(page, ["segmentation"], threshold=0.5)) > 0
    r = soak.threads_vs_serial(g, n_threads=4, seconds=4.0, threshold=0.5, work=work)
    assert not r["errors"] and r["mismatches"] == 0, r
    assert min(r["per_thread"]) > 0, r


@pytest.mark.slow
def test_memory_stays_bounded_over_1000_predictions(owl):
    """Loose CI bound (allocator noise on a shared machine); the 20 000-run curve is in soak.md."""
    r = soak.rss_growth(owl, predictions=1200, every=300, warmup=300)
    assert r["growth_mb"] < 40, r["samples"]


@pytest.mark.slow
def test_sigint_during_export_leaves_nothing(tmp_path):
    r = soak.sigint_export(tmp_path, settle=0.5, timeout=400)
    assert r["sigint_sent"], f"the export finished before it could be interrupted: {r['output_tail']}"
    assert r["returncode"] in (130, -signal.SIGINT), r["output_tail"]
    assert not r["output_exists"], "a partial package was left at --out"
    assert r["out_parent"] == [], f"staging dirs left beside --out: {r['out_parent']}"
    assert _ours(r["tmp_left"]) == [], f"temp files left: {r['tmp_left']}"
    assert r["cwd_left"] == [], f"files left in the working dir: {r['cwd_left']}"
    assert "Traceback" not in r["output_tail"], r["output_tail"]


@pytest.mark.slow
def test_sigint_during_text_package_install_leaves_no_partial_package(tmp_path):
    """An interrupted install leaves nothing in the cache, so the next load cannot find a half-written package."""
    r = soak.sigint_text_cache(tmp_path, settle=1.0, timeout=600, rebuild=False)
    assert r["sigint_sent"], "the build finished before it could be interrupted"
    assert r["returncode"] != 0
    assert r["packages_left"] == [], f"left in the cache: {r['packages_left']}"
    assert r["cwd_left"] == [], r
    assert _ours(r["tmp_left"]) == [], r["tmp_left"]
