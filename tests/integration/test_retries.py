"""Retries: CUDA out-of-memory halves the render batch; a transient shard failure is retried; a
shard that keeps failing is recorded while the others complete, and the run reports it.

Faults enter at real boundaries: a renderer subclass whose batch call raises what a full GPU
raises, a renderer (the Renderer protocol) that fails once, and a run folder where a shard's
file cannot be written because a directory occupies its name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from factories import tiny_config
from pipeline import cli
from pipeline.build.executor import build_dataset
from pipeline.errors import ShardsFailedError
from pipeline.render.diffusers import DiffusersRenderer
from pipeline.run.layout import RunPaths
from pipeline.run.plan_io import load_plan, shard_plans

pytestmark = pytest.mark.slow

PROMPTS = ["a red car", "a cat", "a tree", "a house", "a boat"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    pass

SEEDS = [0, 1, 2, 3, 4]


class OOMAbove(DiffusersRenderer):
    """The tiny renderer on a 'GPU' that holds at most `fits` images per batch."""

    @classmethod
    def sharing(cls, renderer: DiffusersRenderer, fits: int) -> OOMAbove:
        # Shares the loaded pipeline (seconds to load) but not the settings: batch_size changes here only.
        new = cls.__new__(cls)
        new.__dict__.update(renderer.__dict__)
        new.fits, new.batches = fits, []
        return new

    def _render_batch(self, prompts, seeds, negative_prompts):
        self.batches.append(len(prompts))
        if len(prompts) > self.fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super()._render_batch(prompts, seeds, negative_prompts)


def _px(images) -> list[np.ndarray]:
    return [np.asarray(im) for im in images]


def test_out_of_memory_halves_the_batch_and_goes_on(tiny_renderer):
    r = OOMAbove.sharing(tiny_renderer, fits=2)
    images = r.render(PROMPTS, SEEDS)
    assert r.batches == [4, 2, 2, 1] and r.batch_size == 2  # stays halved for the next batches
    assert tiny_renderer.batch_size == 4
    # Same images as rendering in batches of two from the start (the session renderer, batch 4).
    expected = [im for lo, hi in ((0, 2), (2, 4), (4, 5)) for im in tiny_renderer.render(PROMPTS[lo:hi], SEEDS[lo:hi])]
    assert all((a == b).all() for a, b in zip(_px(images), _px(expected), strict=True))


def test_out_of_memory_at_batch_one_is_raised(tiny_renderer):
    r = OOMAbove.sharing(tiny_renderer, fits=0)
    with pytest.raises(torch.OutOfMemoryError):
        r.render(PROMPTS[:2], SEEDS[:2])
    assert r.batches == [2, 2, 1]


class FailsOnce:
    """A Renderer that fails its first call (a dropped connection, a flaky device), then renders."""

    def __init__(self, inner) -> None:
        self.inner, self.model, self.calls = inner, inner.model, 0

    def render(self, prompts, seeds, negative_prompts=None):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CUDA error: unspecified launch failure")
        return self.inner.render(prompts, seeds, negative_prompts)

    def start_shard(self) -> None:
        self.inner.start_shard()


def _small(small_build, *more):
    return tiny_config(small_build + ["prompts.per_category=1", "retries.delay_seconds=0", *more])


def test_transient_failure_is_retried(tmp_path, small_build, tiny_renderer, clip_scorer, nudenet_scorer):
    renderer = FailsOnce(tiny_renderer)
    cfg = _small(small_build)
    stats = build_dataset(cfg, tmp_path / "run", models=(renderer, (clip_scorer, nudenet_scorer)))
    assert stats["complete"] and stats["failed_shards"] == []
    assert stats["planned"] == 11 and stats["shards"] == 3
    # A renderer without a batch size gets a shard's known images in one call, and its bias pairs'
    # aligned sides (known once their neutral images are read) in a second; + the failed first call.
    plans = load_plan(RunPaths(tmp_path / "run"))
    per_shard = [shard_plans(plans, i, cfg.shards.shard_size) for i in range(3)]
    assert renderer.calls == 1 + sum(1 + any(p.kind == "bias" for p in shard) for shard in per_shard)


def _block_shard(out: Path, index: int) -> Path:
    """A directory where shard `index`'s Parquet file must go: every write of it fails (os.replace)."""
    blocker = RunPaths(out).shards / f"shard-{index:05d}.parquet"
    (blocker / "occupied").mkdir(parents=True)
    return blocker


def test_shard_that_keeps_failing_is_recorded_and_reported(tmp_path, small_build, capsys):
    out = tmp_path / "run"
    blocker = _block_shard(out, 1)
    args = ["shards", "--local", "--out", str(out)]
    for item in small_build + ["prompts.per_category=1", "retries.delay_seconds=0", "retries.shard=1"]:
        args += ["--set", item]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "shard 1 (4 pairs) failed after 2 attempt(s): IsADirectoryError" in err
    assert "Re-run the same command" in err

    stats = json.loads((out / "stats.json").read_text())
    assert stats["complete"] is False
    assert [(f["index"], f["pairs"], f["attempts"]) for f in stats["failed_shards"]] == [(1, 4, 2)]
    assert "IsADirectoryError" in stats["failed_shards"][0]["error"]
    paths = RunPaths(out)
    assert [paths.marker(i).exists() for i in range(3)] == [True, False, True]
    assert "Incomplete" in (out / "README.md").read_text()
    assert stats["planned"] == 7 and stats["kept"] + stats["dropped"] == 7  # the two completed shards

    # Fixed: the same command redoes only shard 1.
    done = {i: paths.marker(i).stat().st_mtime_ns for i in (0, 2)}
    blocker.joinpath("occupied").rmdir()
    blocker.rmdir()
    assert cli.main(args) == 0
    assert {i: paths.marker(i).stat().st_mtime_ns for i in (0, 2)} == done
    stats = json.loads((out / "stats.json").read_text())
    assert stats["complete"] and stats["failed_shards"] == [] and stats["planned"] == 11
    assert "Incomplete" not in (out / "README.md").read_text()


def test_flow_retries_a_failing_shard_then_records_it(tmp_path, small_build):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.artifacts import PROGRESS_KEY, SHARDS_KEY
    from flows.build_dataset import build_dataset_flow

    out = tmp_path / "run"
    _block_shard(out, 1)
    overrides = [o for o in small_build if not o.startswith("prompts.per_category")]
    state = build_dataset_flow(out=str(out), overrides=overrides + ["retries.delay_seconds=0"], per_category=1,
                               return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, ShardsFailedError) and [f.index for f in error.failed] == [1]
    stats = json.loads((out / "stats.json").read_text())
    assert [f["index"] for f in stats["failed_shards"]] == [1] and stats["kept"] + stats["dropped"] == 7

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        shard_runs = sorted((r for r in runs if r.name.startswith("process-shard")), key=lambda r: r.run_count)
        # Prefect retried the failing shard twice (retries.shard=2), the others ran once
        assert [r.run_count for r in shard_runs] == [1, 1, 3]
        assert [r.state.type.value for r in shard_runs] == ["COMPLETED", "COMPLETED", "FAILED"]
        artifacts = {a.key: a for a in client.read_artifacts(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[flow_run_id])))}
    assert float(artifacts[PROGRESS_KEY].data) == 100.0
    table = json.loads(artifacts[SHARDS_KEY].data)
    assert [(row["shard"], row["status"]) for row in table] == [(0, "done"), (1, "failed"), (2, "done")]
    assert "IsADirectoryError" in table[1]["error"]
    assert sum(row["kept"] for row in table) == stats["kept"]
