"""`livo push`: --dry-run lists the upload; without a token or a reachable Hub it fails with one
`livo:` line and uploads nothing."""

from __future__ import annotations

import os

import pytest

from fake_run import make_run
from livo_cli import run_livo


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("push") / "run", kept=4)


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return {**env, "HF_HOME": str(tmp_path / "hf-home"), **extra}  # no stored token


def test_dry_run_lists_card_shards_and_config(run, tmp_path):
    done = run_livo("push", str(run), "me/livo-tiny", "--dry-run", env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    listed = [line.split()[-1] for line in done.stdout.splitlines()[:-1]]
    assert listed == ["README.md", "shards/shard-00000.parquet", "rejected/rejected-00000.parquet", "config.yaml",
                      "stats.json"]
    assert "nothing was uploaded (--dry-run)" in done.stdout


def test_report_must_exist_to_be_pushed(run, tmp_path):
    done = run_livo("push", str(run), "me/livo-tiny", "--dry-run", "--report", env=_env(tmp_path))
    assert done.returncode == 1 and "livo report" in done.stderr


def test_without_a_token_it_fails_in_one_line(run, tmp_path):
    done = run_livo("push", str(run), "me/livo-tiny", env=_env(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "livo: no Hugging Face token: run `hf auth login` or set HF_TOKEN; nothing was uploaded"]


def test_an_unreachable_hub_fails_in_one_line(run, tmp_path):
    env = _env(tmp_path, HF_TOKEN="hf_" + "x" * 34, HF_ENDPOINT="http://127.0.0.1:9")  # nothing listens on 9
    done = run_livo("push", str(run), "me/livo-tiny", env=env, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livo: could not push to the Hub") and "nothing was uploaded" in lines[0]
