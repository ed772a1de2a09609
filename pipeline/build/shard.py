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
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

from pipeline.build.pair_work import PairWork
from pipeline.build.render_order import ALIGNED, VIOLATING, RenderOrder
from pipeline.config import RunConfig
from pipeline.plan.bias import resolve_bias_plans
from pipeline.records import PairPlan
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import read_manifest
from pipeline.run.plan_io import load_plan, shard_plans
from pipeline.run.reports import ShardReport, read_marker, write_marker


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's CPU thread count for one shard, restored after it (callers may be long-lived processes)."""
    if n is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def process_shard(cfg: RunConfig, out: Path | str, index: int, renderer=None, scorers=None) -> ShardReport:
    """Shard `index` of a prepared run; a shard with a marker is returned from the marker
    (``resumed``) without any work. Models default to the configured ones (`build.models`)."""
    with torch_threads(cfg.torch_threads):
        return _process_shard(cfg, out, index, renderer, scorers)


def _process_shard(cfg: RunConfig, out: Path | str, index: int, renderer, scorers) -> ShardReport:
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
    if hasattr(renderer, "start_shard"):
        renderer.start_shard()  # the renderer serves shard after shard: no earlier shard's batch halving here
    plans = shard_plans(load_plan(paths), index, cfg.shards.shard_size)
    seconds: dict[str, float] = {"render": 0.0, "read_attributes": 0.0, "score": 0.0, "write": 0.0}
    work = PairWork(cfg, scorers, read_manifest(paths).run_hash, seconds)
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


def _render(plans: list[PairPlan], renderer, scorers, work: PairWork, seconds: dict[str, float]) -> list[PairPlan]:
    """Render the shard batch by batch (`render_order`), handing each completed pair to `work` while
    the next batch denoises; returns the plans with their bias attributes resolved.

    Seconds are per stage and overlap: render is this thread's time in the renderer, score and
    read_attributes the scoring thread's, write the encoders' and the Parquet writes'."""
    from pipeline.score.base import attribute_reader

    reader = attribute_reader(scorers)  # face classifier, else CLIP
    if reader is None:
        plans = resolve_bias_plans(plans, [], None)  # refuses unresolved bias plans: nothing reads them
    order = RenderOrder(plans, reader is not None, getattr(renderer, "batch_size", None) or max(1, 2 * len(plans)))
    images: dict[str, list] = {ALIGNED: [None] * len(plans), VIOLATING: [None] * len(plans)}
    resolved: Future | None = None
    for k, batch in enumerate(order.batches):
        if resolved is not None and order.needs_reading(k):
            plans, resolved = resolved.result(), None
        prompts, negatives = zip(*(job.prompt(plans) for job in batch))
        t0 = time.perf_counter()
        # All negatives empty: None, as a batch without negative prompts always was.
        rendered = renderer.render(list(prompts), [plans[j.pair].seed for j in batch],
                                   list(negatives) if any(negatives) else None)
        seconds["render"] += time.perf_counter() - t0
        for job, image in zip(batch, rendered, strict=True):
            images[job.side][job.pair] = image
        if k == order.last_neutral_batch():
            resolved = work.call("read_attributes", resolve_bias_plans, plans, list(images[VIOLATING]), reader)
        complete = sorted({j.pair for j in batch if images[ALIGNED][j.pair] is not None
                           and images[VIOLATING][j.pair] is not None})
        if complete:
            work.judge(complete, [plans[i] for i in complete], [images[ALIGNED][i] for i in complete],
                       [images[VIOLATING][i] for i in complete])
        work.raise_if_failed()
    return plans if resolved is None else resolved.result()
