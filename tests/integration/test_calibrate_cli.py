"""`livo calibrate` as a real subprocess: it prints the table and writes the files, and refuses a keep
rate out of (0, 1]. The calibration itself: tests/unit/test_calibrate.py."""

from __future__ import annotations

import json

from fake_run import make_pilot_run
from livo_cli import run_livo


def test_cli_prints_the_table_and_writes_the_files(tmp_path):
    make_pilot_run(tmp_path)
    proc = run_livo("calibrate", str(tmp_path), "--keep", "0.9")
    assert proc.returncode == 0, proc.stderr
    assert "aligned_still_violates" in proc.stdout and "valley (J=1.00)" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith(f"wrote {tmp_path / 'calibration' / 'filters.yaml'}")
    data = json.loads((tmp_path / "calibration" / "calibration.json").read_text())
    assert {r["reason"] for r in data["rules"]} >= {"fidelity_too_low", "bias_attribute_not_confirmed"}
    bad = run_livo("calibrate", str(tmp_path), "--keep", "1.5")
    assert bad.returncode == 2 and "--keep must be in (0, 1]" in bad.stderr
