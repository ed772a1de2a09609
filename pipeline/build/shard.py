"""One shard: render, score, filter and write its pairs, then its completion marker.

A shard is the unit of work and of resume: its marker is written after its Parquet files, so
a shard with a marker is complete and is never redone (datatrove's completion markers).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pipeline.config import RunConfig
from pipeline.filters import attribute_judge, judge
from pipeline.plan.bias import resolve_bias_plans
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
    from pipeline.run.schema import REJECTED_SCHEMA, SHARD_SCHEMA, encode_image, pair_row, rejected_row
    from pipeline.run.tables import write_table_atomic
    from pipeline.score.base import attribute_reader, combine_scores

    paths = RunPaths(Path(out))
    done = read_marker(paths, index)
    if done is not None:
        return done
    paths.remove_shard_leftovers(index)
    if renderer is None or scorers is None:
        renderer, scorers = load_models(cfg, out)
    plans = shard_plans(load_plan(paths), index, cfg.shards.shard_size)
    rhash = read_manifest(paths).run_hash
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    seeds = [p.seed for p in plans]
    # The neutral side first: a bias pair's aligned prompt depends on what it shows.
    violating = renderer.render([p.violating_prompt for p in plans], seeds, None)
    seconds["render"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    plans = resolve_bias_plans(plans, violating, attribute_reader(scorers))  # face classifier, else CLIP
    seconds["read_attributes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    aligned = renderer.render([p.aligned_prompt for p in plans], seeds, [p.aligned_negative_prompt for p in plans])
    seconds["render"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    columns = combine_scores(scorers, plans, aligned, violating)
    seconds["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sh = cfg.shards
    ext = "jpg" if sh.image_format == "jpeg" else "png"
    kept_rows, rejected_rows, dropped = [], [], Counter()
    for i, plan in enumerate(plans):
        # NaN is a judge's "not read" (no face, a toxicity pair's faces): stored as null.
        scores = {name: None if np.isnan(values[i]) else float(values[i]) for name, values in columns.items()}
        reason = judge(plan, scores, cfg.filters)
        keep_images = reason is None or sh.rejected_images
        a = encode_image(aligned[i], sh.image_format, sh.jpeg_quality) if keep_images else None
        v = encode_image(violating[i], sh.image_format, sh.jpeg_quality) if keep_images else None
        meta = {"model": cfg.render.model, "config_hash": rhash, "image_ext": ext,
                "attribute_judge": attribute_judge(plan, scores)}
        if reason is None:
            kept_rows.append(pair_row(plan, a, v, scores, **meta))
        else:
            dropped[reason] += 1
            rejected_rows.append(rejected_row(plan, a, v, scores, reason=reason, **meta))
    write_table_atomic(kept_rows, paths.shard(index), SHARD_SCHEMA)
    write_table_atomic(rejected_rows, paths.rejected_shard(index), REJECTED_SCHEMA)
    seconds["write"] = time.perf_counter() - t0

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
