"""``plan.jsonl``: the run's pair plan, one `PairPlan` per line, written once, read by every shard;
``plan_dropped.jsonl``: the pairs planning refused, with their reason and the twins tried."""

from __future__ import annotations

import json
from collections.abc import Sequence

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


def _plan_lines(paths: RunPaths) -> list[str]:
    return [line for line in paths.plan.read_text().splitlines() if line]


def load_plan(paths: RunPaths) -> list[PairPlan]:
    """The run's whole plan. A runner of many shards in one process reads it once, where it starts,
    and hands each shard its part (`shard_plans`): re-parsing the whole plan per shard would cost
    O(pairs × shards) on large runs."""
    return [PairPlan.from_dict(json.loads(line)) for line in _plan_lines(paths)]


def read_shard_plans(paths: RunPaths, index: int, size: int) -> list[PairPlan]:
    """Shard ``index``'s part of the plan, as ``shard_plans(load_plan(paths), index, size)`` but
    parsing only its own lines: for a shard run on its own (one Prefect task, on any worker)."""
    return [PairPlan.from_dict(json.loads(line)) for line in _plan_lines(paths)[index * size:(index + 1) * size]]


def shard_plans(plans: Sequence[PairPlan], index: int, size: int) -> list[PairPlan]:
    return list(plans[index * size:(index + 1) * size])
