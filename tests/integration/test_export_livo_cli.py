"""`livo export --format livo` as a real subprocess: it prints what it wrote. The layout itself, read
back the way LiVO's official reader reads it: tests/unit/test_export_livo.py."""

from __future__ import annotations

from fake_run import make_run
from livo_cli import run_livo


def test_cli_prints_what_it_wrote(tmp_path):
    run = make_run(tmp_path / "run", kept=3)
    done = run_livo("export", str(run), str(tmp_path / "livo"), "--format", "livo")
    assert done.returncode == 0, done.stderr
    assert "wrote 3 pairs in 3 scenes" in done.stdout
