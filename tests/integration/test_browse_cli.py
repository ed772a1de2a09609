"""`livo browse` as a real subprocess: a summary of the sampled, filtered pairs. `load_pairs` itself:
tests/unit/test_browse.py."""

from __future__ import annotations

import pytest

from fake_run import make_run
from livo_cli import run_livo


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("browse") / "run", kept=11, rejected=2, shard_size=4)


def test_cli_prints_a_summary(run):
    done = run_livo("browse", str(run), "-n", "6", "--where", "pair_type=bias")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [f"{run}: 3 pairs", "  by pair_type: bias 3"]
