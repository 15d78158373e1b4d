#!/usr/bin/env python3
"""The codec's coverage-guided fuzz target (atheris); the property is in
``fuzz/codec_check.py``. Run it with ``./dev fuzz [SECONDS]``, or directly
with libFuzzer's flags: ``fuzz/codec.py CORPUS_DIR... -runs=N``.

Only touchline's own modules are instrumented: instrumenting everything
loaded (SQLAlchemy and the rest) took over a minute at every start, and the
coverage that guides the fuzzer is ours.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

# Run as a script (libFuzzer re-runs it by path to merge): the repository
# root is where ``fuzz.codec_check`` lives.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["touchline", "fuzz"]):
    from fuzz.codec_check import check


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
