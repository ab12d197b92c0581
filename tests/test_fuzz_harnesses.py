"""Run each atheris harness in ``tests/fuzz/`` for a bounded number of inputs and expect a clean exit.

A harness exits non-zero (and writes ``crash-*``) when an input raises anything other than the
SDK's typed errors. The long runs (200 000+ inputs each) are done by hand; their totals are in
SECURITY.md. ``test_harness_catches_a_planted_bug`` proves the set-up would notice a crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent / "fuzz"
HARNESSES = sorted(p.name for p in FUZZ.glob("fuzz_*.py"))
# inputs per CI run (instrumenting the imported modules costs ~10-20 s of CPU before the first one)
RUNS = {"fuzz_images.py": 2000, "fuzz_manifest.py": 1000}

pytest.importorskip("atheris")


def _run(script: Path, tmp_path: Path, runs: int, extra: list[str] | None = None) -> subprocess.CompletedProcess:
    corpus, tmp = tmp_path / "corpus", tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    cmd = [sys.executable, str(script), f"-runs={runs}", "-max_total_time=120", "-seed=1",
           f"-artifact_prefix={tmp_path}/", *(extra or []), str(corpus)]
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)


def test_every_harness_is_listed():
    assert HARNESSES == sorted(RUNS)


@pytest.mark.slow
@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_clean(name, tmp_path):
    p = _run(FUZZ / name, tmp_path, runs=RUNS[name])
    tail = (p.stdout + p.stderr)[-3000:]
    assert p.returncode == 0, tail
    assert f"Done {RUNS[name]} runs" in tail, tail
    assert not list(tmp_path.glob("crash-*")), tail
    assert len(list((tmp_path / "corpus").iterdir())) >= 3, "the seed corpus was not written"


@pytest.mark.slow
def test_harness_catches_a_planted_bug(tmp_path):
    """A harness that raises an untyped error on inputs starting with b"P" must fail and save it."""
    script = tmp_path / "fuzz_planted.py"
    script.write_text(textwrap.dedent("""
        import sys
        from pathlib import Path
        import atheris

        def test_one_input(data):
            if data[:1] == b"P":
                raise KeyError("planted")

        if __name__ == "__main__":
            corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
            Path(corpus[0]).mkdir(parents=True, exist_ok=True)
            (Path(corpus[0]) / "seed").write_bytes(b"Q")
            atheris.Setup(sys.argv, test_one_input)
            atheris.Fuzz()
    """))
    p = _run(script, tmp_path, runs=100_000)
    assert p.returncode != 0
    assert "KeyError" in p.stdout + p.stderr
    assert list(tmp_path.glob("crash-*"))
