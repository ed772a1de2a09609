"""Crash-safe, idempotent builds: a real `livo shards --local` killed with SIGKILL mid-run and
run again ends with the dataset of an uninterrupted run, without redoing completed shards.
What a run's identity covers: performance settings reuse work, anything else is refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT
from factories import tiny_config
from livo_cli import livo_shards_cmd
from pipeline import cli
from pipeline.build.executor import build_dataset
from pipeline.build.prepare import prepare_run, run_hash
from pipeline.errors import RunConflictError
from pipeline.run.layout import RunPaths
from procs import wait_for
from run_checks import assert_clean, assert_same_dataset

pytestmark = pytest.mark.slow


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, small_build, reference_run):
    """Kill a real build after its first completed shard, plant what a kill during a write leaves,
    then run the same command again. Yields the folder and what was complete before the re-run."""
    out = tmp_path_factory.mktemp("killed") / "run"
    paths = RunPaths(out)
    cmd = livo_shards_cmd(out, small_build, "--local")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_for(lambda: paths.marker(0).exists(), 300, proc, what="the first completion marker", interval=0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    num_shards = json.loads((out / "run.json").read_text())["num_shards"]
    markers, shards = _snapshot(paths.markers), _snapshot(paths.shards)
    assert 1 <= len(markers) < num_shards, "the kill must land mid-run"
    # A kill inside write_table_atomic / atomic_write_text leaves hidden temp files like these.
    pending = len(markers)
    for leftover in (paths.shards / f".shard-{pending:05d}.parquet.tmp-999-deadbeef",
                     paths.rejected / f".rejected-{pending:05d}.parquet.tmp-999-deadbeef",
                     paths.root / ".stats.json.tmp-999-deadbeef"):
        leftover.write_bytes(b"PAR1 half a file")

    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    seconds = time.perf_counter() - t0
    print(f"kill-and-resume: {seconds:.1f} s for kill + re-run")
    return out, markers, shards, result.stderr


def test_rerun_after_sigkill_equals_an_uninterrupted_run(resumed, reference_run):
    out, _, _, stderr = resumed
    assert "resuming" in stderr
    assert_clean(out)
    assert_same_dataset(out, reference_run)


def test_completed_shards_are_not_redone(resumed):
    out, markers, shards, _ = resumed
    paths = RunPaths(out)
    after_markers, after_shards = _snapshot(paths.markers), _snapshot(paths.shards)
    for name, before in markers.items():
        assert after_markers[name] == before, f"{name} was rewritten"
    for name, before in shards.items():
        index = int(name.split("-")[1].split(".")[0])
        if f"shard-{index:05d}.json" in markers:  # a shard written before its marker may be redone
            assert after_shards[name] == before, f"{name} was rewritten"


def test_performance_settings_reuse_completed_work(resumed, small_build):
    out, _, _, _ = resumed
    paths = RunPaths(out)
    before = _snapshot(paths.markers), _snapshot(paths.shards)
    faster = tiny_config(small_build + [
        "render.batch_size=3", "score.batch_size=5", "render.device=cpu", "torch_threads=2", "runner=ray",
        "ray.cpus_per_task=2", "retries.shard=0"])
    stats = build_dataset(faster, out)  # nothing left to render: no model is even loaded
    assert stats["complete"] and (_snapshot(paths.markers), _snapshot(paths.shards)) == before


@pytest.mark.parametrize("change", ["filters.min_clip_score=0", "render.model=/models/other-sd", "render.steps=3",
                                    "prompts.per_category=3", "planning.seed=1", "shards.shard_size=5"])
def test_data_settings_are_refused_in_the_same_folder(resumed, small_build, change):
    out, _, _, _ = resumed
    with pytest.raises(RunConflictError, match="different configuration"):
        prepare_run(tiny_config(small_build + [change]), out)


def test_cli_refusal_is_one_clear_line(resumed, small_build, capsys):
    out, _, _, _ = resumed
    args = ["shards", "--local", "--out", str(out)]
    for item in small_build + ["planning.seed=7"]:
        args += ["--set", item]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "different configuration" in err and "Traceback" not in err


def test_editing_a_principle_changes_the_run_identity(tmp_path, small_build):
    catalog = tmp_path / "principles"
    shutil.copytree(ROOT / "value_principles", catalog)
    cfg = tiny_config(small_build + [f"catalog_dir={catalog}"])
    before = run_hash(cfg)
    toxicity = catalog / "toxicity.yaml"
    toxicity.write_text(toxicity.read_text().replace("statement:", "statement: Please,", 1))
    assert run_hash(cfg) != before
