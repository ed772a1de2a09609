"""bench/scale.py at toy size, run as `make bench-scale` runs it: a plan, two tiny builds of real planned
pairs, then resume, validate, report and both exports of the larger, each timed with its peak memory."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def test_toy_sizes_measure_every_step(tmp_path):
    done = subprocess.run([sys.executable, "bench/scale.py", "--sizes", "40,80", "--plan-per-category", "8",
                           "--set", "score.nudenet=false", "--work", str(tmp_path / "work")],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"marginal s/pair 40->80: -?\d+\.\d{4}", lines[-2])
    steps = {line[:34].strip(): line[34:].split() for line in lines[1:-2]}  # step, then pairs, seconds, [s/pair,] MiB
    assert list(steps) == ["plan (per_category 8)", "plan (40)", "build (40)", "plan (80)", "build (80)",
                           "resume start-up (80)", "validate (80)", "report (80)", "export pickapic (80)",
                           "export livo (80)"]
    assert int(steps["plan (per_category 8)"][0]) > 80  # pairs the large plan made
    assert all(float(row[1]) > 0 and float(row[-1]) > 0 for row in steps.values())  # seconds, peak RSS
    assert len(steps["build (80)"]) == 4 and float(steps["build (80)"][2]) > 0  # s/pair
    assert re.fullmatch(r"s/pair largest/smallest: \d+\.\d\d", lines[-1])
    assert (tmp_path / "work" / "export-livo").is_dir() and (tmp_path / "work" / "report.html").is_file()
