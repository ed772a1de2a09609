"""``plan.jsonl``: the run's pair plan, one `PairPlan` per line, written once, read by every shard;
``plan_dropped.jsonl``: the pairs planning refused, with their reason and the twins tried."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pipeline.records import PairPlan
from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import RunPaths

_plan_cache: dict[tuple[str, int, int], list[PairPlan]] = {}


def write_plan(paths: RunPaths, plans: Sequence[PairPlan]) -> None:
    atomic_write_text(paths.plan, "".join(json.dumps(p.to_dict()) + "\n" for p in plans))


def write_dropped(paths: RunPaths, dropped: Sequence) -> None:
    """``dropped``: objects with ``to_dict()`` (``pipeline.plan.planner.DroppedPair``)."""
    atomic_write_text(paths.plan_dropped, "".join(json.dumps(d.to_dict()) + "\n" for d in dropped))


def read_dropped(paths: RunPaths) -> list[dict]:
    if not paths.plan_dropped.exists():
        return []
    return [json.loads(line) for line in paths.plan_dropped.read_text().splitlines() if line]


def load_plan(paths: RunPaths) -> list[PairPlan]:
    """The run's plan, parsed once per process: every shard task reads it, and re-parsing the
    whole plan per shard would cost O(pairs × shards) on large runs."""
    st = paths.plan.stat()
    key = (str(paths.plan.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _plan_cache:
        rows = [json.loads(line) for line in paths.plan.read_text().splitlines() if line]
        _plan_cache.clear()
        _plan_cache[key] = [PairPlan.from_dict(r) for r in rows]
    return _plan_cache[key]


def shard_plans(plans: Sequence[PairPlan], index: int, size: int) -> list[PairPlan]:
    return list(plans[index * size:(index + 1) * size])
