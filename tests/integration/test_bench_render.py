"""bench/render.py's table on the tiny profile: every method measured, ratios last. The script
runs as `make bench-render` runs it, in its own process (it sets torch's thread count)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def test_tiny_cpu_table_ends_with_the_ratio():
    done = subprocess.run([sys.executable, "bench/render.py", "--device", "cpu", "--model", "tiny", "--pairs", "3",
                           "--batch-size", "2", "--naive-images", "1", "--steps", "1", "--rounds", "1", "--threads",
                           "1"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line.split()[0] in ("naive", "bare", "ours")}
    assert set(rows) == {"naive", "bare", "ours"}
    assert all(float(r[1]) > 0 for r in rows.values())  # images/s
    assert re.fullmatch(r"UNet: \d+\.\d\d GFLOP per image and step .*", lines[1])
    assert re.fullmatch(r"ours/naive: \d+\.\d\d", lines[-2])
    assert re.fullmatch(r"ours/bare: \d+\.\d\d", lines[-1])
