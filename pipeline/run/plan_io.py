"""``plan.jsonl``: the run's pair plan, one `PairPlan` per line, written once, read by every shard;
``plan_dropped.jsonl``: the pairs planning refused, with their reason and the twins tried."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from pipeline.records import PairPlan
from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import RunPaths


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
    """The run's plan, parsed once per process while the file is unchanged: every shard task reads
    it, and re-parsing the whole plan per shard would cost O(pairs × shards) on large runs."""
    st = paths.plan.stat()
    return parsed_plan(str(paths.plan.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=1)  # the last plan read: one run per process at a time
def parsed_plan(path: str, mtime_ns: int, size: int) -> list[PairPlan]:
    """The plan file at ``path``, cached by (path, mtime, size): a rewritten plan is read again.
    ``parsed_plan.cache_clear()`` empties the cache."""
    return [PairPlan.from_dict(json.loads(line)) for line in Path(path).read_text().splitlines() if line]


def shard_plans(plans: Sequence[PairPlan], index: int, size: int) -> list[PairPlan]:
    return list(plans[index * size:(index + 1) * size])
