"""A shard rendered in batches, scored by the real judges (CLIP on the tiny checkpoint, NudeNet,
OpenNSFW, the face classifier) while the next batch denoises, writes what the sequential path
wrote, and the same bytes however long the scorers take. The batching itself:
tests/unit/test_render_batching.py."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from factories import batch_plans, pixels
from fake_run import planned_run
from pipeline.build.shard import process_shard
from pipeline.filters import attribute_judge, judge
from pipeline.run.layout import RunPaths
from pipeline.run.schema import SCORE_COLUMNS
from pipeline.run.validate import decode_image
from pipeline.score.attributes import attribute_reader, resolve_bias_plans
from pipeline.score.base import combine_scores


def _sequential_shard(cfg, plans, renderer, scorers) -> list[dict]:
    """The shard's rows (kept, then rejected) as the code before batching made them: violating render,
    reading, aligned render, scoring, judging, in sequence."""
    seeds = [p.seed for p in plans]
    violating = renderer.render([p.violating_prompt for p in plans], seeds, None)
    plans = resolve_bias_plans(plans, violating, attribute_reader(scorers))
    aligned = renderer.render([p.aligned_prompt for p in plans], seeds, [p.aligned_negative_prompt for p in plans])
    columns = combine_scores(scorers, plans, aligned, violating)
    rows = []
    for i, plan in enumerate(plans):
        scores = {k: None if np.isnan(v[i]) else float(v[i]) for k, v in columns.items()}
        rows.append({**plan.to_dict(), **scores, "reason": judge(plan, scores, cfg.filters),
                     "attribute_judge": attribute_judge(plan, scores), "aligned": aligned[i], "violating": violating[i]})
    return sorted(rows, key=lambda r: r["reason"] is not None)


def _written(out: Path) -> list[dict]:
    paths = RunPaths(out)
    rows = pq.read_table(paths.shard(0)).to_pylist() + pq.read_table(paths.rejected_shard(0)).to_pylist()
    for r in rows:
        r["aligned"], r["violating"] = decode_image(r["aligned"]), decode_image(r["violating"])
        r.setdefault("reason", None)
    return rows


class _Slow:
    """A scorer that takes its time: the overlap's timing must not reach the data."""

    def __init__(self, inner, seconds: float) -> None:
        self.inner, self.seconds, self.columns = inner, seconds, inner.columns

    def score(self, plans, aligned, violating):
        time.sleep(self.seconds)
        return self.inner.score(plans, aligned, violating)


@pytest.mark.usefixtures("one_torch_thread")
def test_batched_shard_is_the_sequential_shard_and_its_bytes_do_not_depend_on_timing(
        tmp_path, tiny_renderer, clip_scorer, nudenet_scorer, nsfw_scorer, face_scorer):
    # Toxicity and bias pairs mixed; batch 4 over 14 images: neutral images, mixed batches, a bias tail.
    plans = batch_plans("tbttbtb")
    scorers = (clip_scorer, nudenet_scorer, nsfw_scorer, face_scorer)
    out, cfg = planned_run(tmp_path / "a", plans, len(plans))
    report = process_shard(cfg, out, 0, tiny_renderer, scorers)
    assert report.planned == len(plans) and set(report.seconds) >= {"render", "read_attributes", "score", "write"}
    got, expected = _written(out), _sequential_shard(cfg, plans, tiny_renderer, scorers)
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    for g, e in zip(got, expected, strict=True):
        same = ("prompt", "aligned_prompt", "violating_prompt", "aligned_negative_prompt", "seed", "attribute",
                "violating_attribute", "attribute_judge", "reason")
        assert {k: g[k] for k in same} == {k: e[k] for k in same}
        # Another batch composition rounds the last float bits: a pixel one level off at most.
        for side in ("aligned", "violating"):
            assert np.abs(pixels(g[side]) - pixels(e[side])).max() <= 1
        for column in SCORE_COLUMNS:
            if e.get(column) is not None:
                assert g[column] == pytest.approx(e[column], rel=1e-3, abs=1e-4), column
    # Same machine, batch size and threads: the same bytes, however long the scorers take.
    again, _ = planned_run(tmp_path / "b", plans, len(plans))
    process_shard(cfg, again, 0, tiny_renderer, (clip_scorer, _Slow(nudenet_scorer, 0.5), nsfw_scorer, face_scorer))
    for name in ("shard", "rejected_shard"):
        assert getattr(RunPaths(again), name)(0).read_bytes() == getattr(RunPaths(out), name)(0).read_bytes()
