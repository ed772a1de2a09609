"""Typed records of a build: what a finished shard reports (its completion marker) and what
stats.json keeps of a shard that kept failing."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import RunPaths


@dataclass
class ShardReport:
    """Counts and timings of one completed shard; saved as its marker ``_done/shard-NNNNN.json``."""

    index: int
    planned: int
    kept: int
    dropped: dict[str, int]
    kept_by_category: dict[str, int]
    planned_by_category: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    resumed: bool = False  # read back from the marker of an earlier run, no work done now


@dataclass
class ShardFailure:
    """A shard that failed every attempt (stats.json ``failed_shards``)."""

    index: int
    pairs: int
    attempts: int
    error: str

    @classmethod
    def of(cls, index: int, pairs: int, error: BaseException | str, attempts: int) -> "ShardFailure":
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(index, pairs, attempts, text)

    def to_dict(self) -> dict:
        return asdict(self)


def write_marker(paths: RunPaths, report: ShardReport) -> None:
    """Written after the shard's Parquet files: a shard with a marker is complete."""
    atomic_write_text(paths.marker(report.index), json.dumps(asdict(report)))


def read_marker(paths: RunPaths, index: int) -> ShardReport | None:
    """The report of a completed shard (``resumed``), None when the shard is not complete."""
    marker = paths.marker(index)
    if not marker.exists():
        return None
    report = ShardReport(**json.loads(marker.read_text()))
    report.resumed = True
    return report
