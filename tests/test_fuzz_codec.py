"""The codec fuzz target in CI: its corpus replays clean, and a short,
bounded coverage-guided run (a fixed number of inputs, a fixed seed) finds
nothing. ``./dev fuzz`` runs the open-ended hunt."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.codec_check import check

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus" / "codec"
BOUNDED_RUNS = 50_000


def test_every_corpus_input_replays_clean() -> None:
    inputs = sorted(CORPUS.iterdir())
    assert len(inputs) >= 15, "the corpus went missing"
    for path in inputs:
        check(path.read_bytes())


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris has wheels for x86_64 Linux only (pyproject's marker)",
)
def test_a_bounded_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    found = tmp_path / "found"
    found.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            "fuzz/codec.py",
            str(found),  # new inputs go here, not into the repository
            str(CORPUS),
            f"-runs={BOUNDED_RUNS}",
            "-seed=8",
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert f"Done {BOUNDED_RUNS} runs" in run.stderr
