"""What a finished run holds, counted from its files: kept pairs per category, principle and pair
type, and the drop reasons per pair type (rejected at scoring, refused at planning).

stats.json folds pair types into their principle's category; the card, the report and `livo browse`
need them apart, so they count from the shards themselves (metadata columns only, no images).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from pipeline.run.layout import RunPaths, parquet_files
from pipeline.run.plan_io import read_dropped

# The dimensions a run is counted by, in the order the card and the report show them.
DIMENSIONS: tuple[str, ...] = ("category", "principle_id", "pair_type")


@dataclass
class RunCounts:
    kept: dict[str, Counter] = field(default_factory=lambda: {d: Counter() for d in DIMENSIONS})
    # (category, pair type) -> kept pairs: a category's benign guard pairs apart from its toxicity pairs
    kept_by_type: Counter = field(default_factory=Counter)
    # reason -> pair type -> pairs; "scoring" reasons come from rejected/, "planning" from plan_dropped.jsonl
    rejected: dict[str, Counter] = field(default_factory=dict)
    refused: dict[str, Counter] = field(default_factory=dict)

    @property
    def kept_total(self) -> int:
        return sum(self.kept["pair_type"].values())

    def reasons(self) -> list[tuple[str, str, Counter]]:
        """(stage, reason, per pair type) for every reason with at least one pair, most frequent first."""
        rows = [("planning", r, c) for r, c in self.refused.items()]
        rows += [("scoring", r, c) for r, c in self.rejected.items()]
        return sorted(rows, key=lambda row: (-sum(row[2].values()), row[1]))


def _columns(files: list, names: list[str]) -> list[dict]:
    rows: list[dict] = []
    for f in files:
        rows += pq.read_table(f, columns=names).to_pylist()
    return rows


def count_run(paths: RunPaths) -> RunCounts:
    counts = RunCounts()
    for row in _columns(parquet_files(paths.shards), list(DIMENSIONS)):
        for d in DIMENSIONS:
            counts.kept[d][row[d]] += 1
        counts.kept_by_type[row["category"], row["pair_type"]] += 1
    for row in _columns(parquet_files(paths.rejected), ["pair_type", "reason"]):
        counts.rejected.setdefault(row["reason"], Counter())[row["pair_type"]] += 1
    for row in read_dropped(paths):
        counts.refused.setdefault(row["reason"], Counter())[row["pair_type"]] += 1
    return counts
