"""bench/render.py's table on the tiny profile: every method measured, ratios last."""

from __future__ import annotations

import re

from bench.render import main


def test_tiny_cpu_table_ends_with_the_ratio(capsys):
    assert main(["--device", "cpu", "--model", "tiny", "--pairs", "3", "--batch-size", "2", "--naive-images", "1",
                 "--steps", "1", "--rounds", "1", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line.split()[0] in ("naive", "bare", "ours")}
    assert set(rows) == {"naive", "bare", "ours"}
    assert all(float(r[1]) > 0 for r in rows.values())  # images/s
    assert re.fullmatch(r"UNet: \d+\.\d\d GFLOP per image and step .*", lines[1])
    assert re.fullmatch(r"ours/naive: \d+\.\d\d", lines[-2])
    assert re.fullmatch(r"ours/bare: \d+\.\d\d", lines[-1])
