"""One shard: render, score, filter and write its pairs, then its completion marker.

Rendering runs on this thread batch after batch (aligned and violating sides of many pairs in one
UNet call, `render_order`); reading, scoring, judging and encoding run on worker threads
(`pair_work`) while the next batch denoises, so the GPU does not wait for the CPU's work.

A shard is the unit of work and of resume: its marker is written after its Parquet files, so
a shard with a marker is complete and is never redone (datatrove's completion markers).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from pipeline.build.pair_work import PairWork, RenderedPair
from pipeline.build.render_order import ALIGNED, VIOLATING, ImageJob, RenderOrder
from pipeline.config import RunConfig
from pipeline.records import PairPlan
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import read_manifest
from pipeline.run.plan_io import read_shard_plans
from pipeline.run.reports import ShardReport, read_marker, write_marker
from pipeline.score.attributes import AttributeReaders, attribute_reader, resolve_bias_plans

if TYPE_CHECKING:
    from pipeline.render.base import Renderer


def process_shard(cfg: RunConfig, out: Path | str, index: int, renderer=None, scorers=None,
                  plans: Sequence[PairPlan] | None = None) -> ShardReport:
    """Shard `index` of a prepared run; a shard with a marker is returned from the marker
    (``resumed``) without any work. Models default to the configured ones (`build.models`);
    ``plans``, the shard's part of the plan, to its lines of ``plan.jsonl`` (a runner of many
    shards reads the plan once and passes each shard its part: `executor.local_runner`)."""
    from pipeline.render.speed import torch_settings  # imports torch: here, so importing this module does not

    with torch_settings(cfg.torch_threads):
        return _process_shard(cfg, out, index, renderer, scorers, plans)


def _process_shard(cfg: RunConfig, out: Path | str, index: int, renderer, scorers,
                   plans: Sequence[PairPlan] | None) -> ShardReport:
    from pipeline.build.models import load_models
    from pipeline.run.schema import REJECTED_SCHEMA, SHARD_SCHEMA
    from pipeline.run.tables import write_table_atomic

    paths = RunPaths(Path(out))
    done = read_marker(paths, index)
    if done is not None:
        return done
    paths.remove_shard_leftovers(index)
    if renderer is None or scorers is None:
        renderer, scorers = load_models(cfg, out)
    renderer.start_shard()  # the renderer serves shard after shard: no earlier shard's batch halving here
    prepared = read_manifest(paths)
    plans = list(plans) if plans is not None else read_shard_plans(paths, index, cfg.shards.shard_size,
                                                                   prepared.sample_pairs)
    seconds: dict[str, float] = {"render": 0.0, "read_attributes": 0.0, "score": 0.0, "write": 0.0}
    work = PairWork(cfg, scorers, prepared.run_hash, seconds)
    try:
        plans = _render(plans, renderer, scorers, work, seconds)
        kept_rows, rejected_rows, dropped = work.rows()
    finally:
        work.close()
    t0 = time.perf_counter()
    write_table_atomic(kept_rows, paths.shard(index), SHARD_SCHEMA)
    write_table_atomic(rejected_rows, paths.rejected_shard(index), REJECTED_SCHEMA)
    seconds["write"] += time.perf_counter() - t0

    kept_ids = {row["id"] for row in kept_rows}
    report = ShardReport(
        index=index,
        planned=len(plans),
        kept=len(kept_rows),
        dropped=dict(sorted(dropped.items())),
        kept_by_category=dict(Counter(p.category for p in plans if p.id in kept_ids)),
        planned_by_category=dict(Counter(p.category for p in plans)),
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    write_marker(paths, report)
    return report


class _Images:
    """A shard's images, by side and pair, as its batches render them."""

    def __init__(self, pairs: int) -> None:
        self.sides: dict[str, list[Image.Image | None]] = {ALIGNED: [None] * pairs, VIOLATING: [None] * pairs}

    def add(self, jobs: Sequence[ImageJob], rendered: Sequence[Image.Image]) -> list[int]:
        """Keep a batch's images; returns the pairs it completed (both sides now rendered), in plan order."""
        for job, image in zip(jobs, rendered, strict=True):
            self.sides[job.side][job.pair] = image
        return sorted({j.pair for j in jobs if self.sides[ALIGNED][j.pair] is not None
                       and self.sides[VIOLATING][j.pair] is not None})

    def pair(self, index: int, plan: PairPlan) -> RenderedPair:
        return RenderedPair(index, plan, self.sides[ALIGNED][index], self.sides[VIOLATING][index])


class _Plans:
    """The shard's plans as its batches see them: as planned until the bias attributes are read, then
    resolved. `RenderOrder` renders every neutral image before the first batch that `needs_reading`,
    so the reading (`start_reading`, on the scoring thread) overlaps the batches between them, and
    `resolved` waits for it only where a prompt depends on it."""

    def __init__(self, plans: list[PairPlan]) -> None:
        self.current = plans
        self._reading: Future[list[PairPlan]] | None = None

    def start_reading(self, work: PairWork, neutral_images: Sequence[Image.Image | None],
                      reader: AttributeReaders | None) -> None:
        self._reading = work.read_attributes(self.current, neutral_images, reader)

    def resolved(self) -> list[PairPlan]:
        """The plans with the read attributes (as they are when no reading was started)."""
        if self._reading is not None:
            self.current, self._reading = self._reading.result(), None
        return self.current


def _render(plans: list[PairPlan], renderer: Renderer, scorers, work: PairWork,
            seconds: dict[str, float]) -> list[PairPlan]:
    """Render the shard batch by batch (`render_order`), handing each completed pair to `work` while
    the next batch denoises; returns the plans with their bias attributes resolved. Per batch: the
    plans its prompts need (`_Plans`), one UNet call (`_render_batch`), its images kept (`_Images`),
    after the last neutral batch the attribute reading started, and the pairs it completed handed over.

    Seconds are per stage and overlap: render is this thread's time in the renderer, score and
    read_attributes the scoring thread's, write the encoders' and the Parquet writes'."""
    reader = attribute_reader(scorers)  # face classifier, else CLIP
    if reader is None:
        plans = resolve_bias_plans(plans, [], None)  # refuses unresolved bias plans: nothing reads them
    order = RenderOrder(plans, reader is not None, getattr(renderer, "batch_size", None) or max(1, 2 * len(plans)))
    images, shard = _Images(len(plans)), _Plans(plans)
    k = 0
    while k < len(order.batches):
        batch_plans = shard.current
        if order.needs_reading(k):
            batch_plans = shard.resolved()
            order.leave_out(work.unrendered, k)  # implicit-harm pairs the judges found no harm in: no aligned side
            if k == len(order.batches):
                break
        jobs = order.batches[k]
        completed = images.add(jobs, _render_batch(renderer, jobs, batch_plans, seconds))
        if k == order.last_neutral_batch():
            shard.start_reading(work, images.sides[VIOLATING], reader)
        if completed:
            work.judge([images.pair(i, batch_plans[i]) for i in completed])
        work.raise_if_failed()
        k += 1
    return shard.resolved()


def _render_batch(renderer: Renderer, jobs: Sequence[ImageJob], plans: Sequence[PairPlan],
                  seconds: dict[str, float]) -> list[Image.Image]:
    """One UNet call; its time is added to seconds["render"]."""
    prompts, negatives = zip(*(job.prompt(plans) for job in jobs))
    t0 = time.perf_counter()
    # All negatives empty: None, as a batch without negative prompts always was.
    rendered = renderer.render(list(prompts), [plans[j.pair].seed for j in jobs],
                               list(negatives) if any(negatives) else None)
    seconds["render"] += time.perf_counter() - t0
    return rendered
