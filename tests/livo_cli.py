"""The one way tests run the `livo` command line as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

LIVO = [sys.executable, "-m", "pipeline.cli"]


def livo_cmd(*args: str) -> list[str]:
    return [*LIVO, *args]


def livo_shards_cmd(out: Path, overrides: list[str], *extra: str, config: str = "configs/tiny.yaml") -> list[str]:
    cmd = livo_cmd("shards", "--config", config, "--out", str(out), *extra)
    for item in overrides:
        cmd += ["--set", item]
    return cmd


def run_livo(*args: str, env: dict | None = None, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    """`livo ARGS...` in ``cwd`` (the project root), output captured as text."""
    return subprocess.run(livo_cmd(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)  # callers check returncode, a non-zero one included
