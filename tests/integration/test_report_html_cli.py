"""`livo report` as a real subprocess: it writes the page and refuses a folder that is no run. The
page itself: tests/unit/test_report_html.py."""

from __future__ import annotations

import pytest

from fake_run import make_run
from livo_cli import run_livo


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("report") / "run", kept=12, rejected=4)


def test_cli_writes_the_report_and_refuses_a_folder_that_is_no_run(run, tmp_path):
    out = tmp_path / "r.html"
    done = run_livo("report", str(run), "--out", str(out), "--no-boxes", "--max-pairs", "3")
    assert done.returncode == 0, done.stderr
    assert out.read_text().count('<article class="pair"') == 6 and f"wrote {out}" in done.stdout
    bad = run_livo("report", str(tmp_path))
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("livo: ")
