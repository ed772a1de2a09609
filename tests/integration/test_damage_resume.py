"""A run cannot silently hold damaged data: shard files that no longer match their markers are found
by `livo validate` (which names the repair) and redone by re-running the build, after which the
data equals an undamaged run; an interrupted build says how to resume; a failed flow run carries
its reason in its state message."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

from conftest import ROOT
from livo_cli import livo_shards_cmd, run_livo
from pipeline.run.layout import RunPaths
from pipeline.run.lock import run_lock
from procs import let_children_take_ctrl_c, wait_for
from run_checks import content

REPAIR_PREFIX = "livo: to repair, run the build again: livo shards "
REPAIR_SUFFIX = " (it redoes only missing or damaged shards)"


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_damaged_shards_are_named_by_validate_and_redone_by_the_repair(tmp_path, reference_run):
    run = tmp_path / "run"
    shutil.copytree(reference_run, run)
    paths = RunPaths(run)
    truncated = paths.shard(1)
    truncated.write_bytes(truncated.read_bytes()[:1000])  # a disk that filled up after the marker
    flipped = paths.rejected_shard(3)
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01  # a bit flip: same size, other sha256
    flipped.write_bytes(bytes(data))

    check = run_livo("validate", str(run))
    assert check.returncode == 1
    assert "shard 1 is damaged: shards/shard-00001.parquet has 1000 bytes, its marker says " in check.stderr
    assert "shard 3 is damaged: rejected/rejected-00003.parquet does not match the sha256 in its marker" in check.stderr
    repair = last_line(check.stderr)
    assert repair == f"{REPAIR_PREFIX}--config {run / 'config.yaml'} --out {run}{REPAIR_SUFFIX}"

    # the repair as printed (the default Prefect path)
    fixed = run_livo("shards", *repair.removeprefix(REPAIR_PREFIX).removesuffix(REPAIR_SUFFIX).split())
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert last_line(fixed.stdout) == f"wrote {run}"
    got, want = content(run), content(reference_run)
    assert [r["index"] for r in got["stats"].pop("repaired_shards")] == [1, 3]
    assert want["stats"].pop("repaired_shards") == []
    assert got == want
    assert run_livo("validate", str(run)).returncode == 0


def test_interrupted_build_says_how_to_resume(tmp_path, small_build):
    out = tmp_path / "run"
    let_children_take_ctrl_c()
    proc = subprocess.Popen(livo_shards_cmd(out, small_build, "--local"), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: RunPaths(out).manifest.exists(), 120, proc, what="the run to be prepared", interval=0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert last_line(stderr) == "livo: interrupted; run the same command again to resume (completed work is kept)"


def test_a_failed_flow_run_carries_its_reason(tmp_path, small_build):
    from flows.build_dataset import build_dataset_flow

    out = tmp_path / "run"
    with run_lock(RunPaths(out)):  # another build holds the folder: the flow's build is refused
        state = build_dataset_flow(out=str(out), overrides=small_build, return_state=True)
    assert state.is_failed()
    assert f"{out} is being built by another process (PID {os.getpid()})" in state.message
    assert json.loads(json.dumps(state.message))  # a plain string the UI and `--watch` show
