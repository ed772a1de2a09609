"""``plan.jsonl``: the run's pair plan, one `PairPlan` per line, written once (extended only when
planning.samples_per_pair grows), read by every shard; `ShardLayout`: which of its lines each shard
holds; ``plan_dropped.jsonl``: the pairs planning refused, with their reason and the twins tried."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.records import PairPlan
from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import RunPaths


@dataclass(frozen=True)
class ShardLayout:
    """Which lines of a plan of ``pairs`` lines each shard holds. The plan is ordered by sample, then id,
    and each sample's block of ``block`` lines (the pairs of sample 0; only the last block may be shorter,
    where max_pairs cut it) is cut into shards of ``size`` on its own: a shard never mixes samples, so
    when samples_per_pair grows every shard keeps its pairs and the new samples fill new shards. With one
    sample (``block`` None: the whole plan) shard ``i`` is lines ``i * size`` to ``(i + 1) * size``."""

    pairs: int
    size: int
    block: int | None = None

    @property
    def _block(self) -> int:
        return self.pairs if self.block is None else self.block

    @property
    def _per_block(self) -> int:
        return -(-self._block // self.size)

    @property
    def num_shards(self) -> int:
        if self.pairs == 0:
            return 0
        full, rest = divmod(self.pairs, self._block)
        return full * self._per_block + -(-rest // self.size)

    def bounds(self, index: int) -> tuple[int, int]:
        """(first line, end line) of shard ``index``; empty past the last shard."""
        if self.pairs == 0:
            return 0, 0
        k, j = divmod(index, self._per_block)
        start = min(k * self._block + j * self.size, self.pairs)
        return start, min(start + self.size, (k + 1) * self._block, self.pairs)

    def pairs_of(self, index: int) -> int:
        start, end = self.bounds(index)
        return end - start


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


def plan_ids(paths: RunPaths) -> list[str]:
    """The ids of the plan's pairs, in plan order."""
    return [json.loads(line)["id"] for line in _plan_lines(paths)]


def load_plan(paths: RunPaths) -> list[PairPlan]:
    """The run's whole plan. A runner of many shards in one process reads it once, where it starts,
    and hands each shard its part (`shard_plans`): re-parsing the whole plan per shard would cost
    O(pairs × shards) on large runs."""
    return [PairPlan.from_dict(json.loads(line)) for line in _plan_lines(paths)]


def read_shard_plans(paths: RunPaths, index: int, size: int, block: int | None = None) -> list[PairPlan]:
    """Shard ``index``'s part of the plan, as ``shard_plans(load_plan(paths), index, size, block)`` but
    parsing only its own lines: for a shard run on its own (one Prefect task, on any worker)."""
    lines = _plan_lines(paths)
    start, end = ShardLayout(len(lines), size, block).bounds(index)
    return [PairPlan.from_dict(json.loads(line)) for line in lines[start:end]]


def shard_plans(plans: Sequence[PairPlan], index: int, size: int, block: int | None = None) -> list[PairPlan]:
    """Shard ``index``'s part of the plan (`ShardLayout`; ``block``: run.json's ``sample_pairs``)."""
    start, end = ShardLayout(len(plans), size, block).bounds(index)
    return list(plans[start:end])
