"""touchline installed from its wheel, not from the source tree, migrates and runs.

The migrations ship inside the package (``touchline/store/migrations``): a
regular install (the Docker image, ``pip install touchline``) must find them.
The wheel goes into a fresh virtualenv; its dependencies are borrowed from the
test environment's site-packages through a ``.pth`` line, which adds the path
without running that directory's own ``.pth`` files, so the editable install's
import hook stays out and ``touchline`` can only come from the wheel. That
keeps the test offline and quick.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    # Run from the filesystem root: from the checkout, ``python -c`` would
    # import touchline from the current directory instead of the wheel.
    done = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installs_migrates_and_runs_the_demo(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests"
        ),
    )
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", wheels, source)  # fmt: skip
    (wheel,) = wheels.glob("touchline-*.whl")

    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)  # ensurepip: pip's bundled wheel, offline
    python = fresh / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"))
    purelib = Path(str(purelib).strip())
    (purelib / "borrowed-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    where = _run(python, "-c", "import touchline.store.migrate as m; print(m.MIGRATIONS)")
    assert Path(where.strip()).is_relative_to(purelib), where
    assert (Path(where.strip()) / "versions").is_dir()
    # The agent console's page ships as package data, as the migrations do.
    console = "from touchline.api.console import read_console; print(*sorted(read_console()))"
    assert _run(python, "-c", console).split() == ["console.css", "console.js", "index.html"]

    touchline = [fresh / "bin" / "touchline"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
    data = tmp_path / "data"
    upgraded = _run(*touchline, "--data-dir", data, "db", "upgrade", env=env)
    assert "up to date" in upgraded or "upgraded" in upgraded, upgraded
    demo = _run(*touchline, "--data-dir", data, "demo", "--customers", "10", env=env)
    assert "profile, as the agent's screen shows it" in demo
