"""Ctrl-C ends `livo` with exit code 130 and still runs the process's atexit hooks: the ones a
temporary Prefect server, Ray and the logging module register to shut down cleanly. A hook that
hangs does not hold the exit: a second Ctrl-C leaves at once, with the same code and line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT
from pipeline.run.layout import RunPaths
from procs import let_children_take_ctrl_c, wait_for

INTERRUPTED_LINE = "livo: interrupted; run the same command again to resume (completed work is kept)"

# `livo` itself (pipeline.cli.main) with one atexit hook registered the way a library registers
# its own: it writes "atexit ran" to the file in argv[1], after sleeping argv[2] seconds.
DRIVER = """\
import atexit, sys, time
from pathlib import Path

def hook(flag=Path(sys.argv[1]), pause=float(sys.argv[2])):
    flag.write_text("started")
    time.sleep(pause)
    flag.write_text("atexit ran")

atexit.register(hook)
from pipeline.cli import main
sys.exit(main(sys.argv[3:]))
"""


@contextmanager
def interrupted_build(tmp_path: Path, small_build: list[str],
                      hook_seconds: float) -> Iterator[tuple[subprocess.Popen, Path]]:
    """`livo shards --local` under the driver, sent SIGINT once its first shard is rendering."""
    out = tmp_path / "run"
    flag = tmp_path / "atexit.txt"
    cmd = [sys.executable, "-c", DRIVER, str(flag), str(hook_seconds), "shards", "--config", "configs/tiny.yaml",
           "--out", str(out), "--local", *(a for item in small_build for a in ("--set", item))]
    let_children_take_ctrl_c()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: RunPaths(out).manifest.exists(), 120, proc, what="the run to be prepared", interval=0.05)
        time.sleep(1.0)  # into the first shard: torch's threads are busy rendering
        proc.send_signal(signal.SIGINT)
        yield proc, flag
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_exits_130_after_the_atexit_hooks(tmp_path, small_build):
    with interrupted_build(tmp_path, small_build, hook_seconds=0) as (proc, flag):
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == INTERRUPTED_LINE
    assert flag.exists() and flag.read_text() == "atexit ran", stderr[-3000:]


def test_a_second_ctrl_c_leaves_a_hanging_hook_with_130(tmp_path, small_build):
    with interrupted_build(tmp_path, small_build, hook_seconds=600) as (proc, flag):
        wait_for(lambda: flag.exists(), 60, proc, what="the atexit hook to start")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr[-3000:]
    assert time.monotonic() - t0 < 10
    assert stderr.strip().splitlines()[-1] == INTERRUPTED_LINE
    assert flag.read_text() == "started"  # cut short, as asked
