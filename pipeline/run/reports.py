"""Typed records of a build: what a finished shard reports (its completion marker) and what
stats.json keeps of a shard that kept failing.

A marker also records the size and sha256 of each file the shard wrote, so a shard whose
file was truncated, overwritten or bit-flipped after its marker was written is not taken for
complete: `check_marker` names the damage, and the build drops that marker (`drop_damaged_markers`,
an explicit step of its own: a query never deletes) and redoes the shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import RunPaths

log = logging.getLogger("pipeline.build")


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
    # run-relative path -> {"size", "sha256"} of the shard's files (markers older than this hold none)
    files: dict[str, dict] = field(default_factory=dict)
    repaired: str = ""  # set by the build for this run only: why the earlier copy of this shard was redone


@dataclass
class ShardFailure:
    """A shard that failed every attempt (stats.json ``failed_shards``)."""

    index: int
    pairs: int
    attempts: int
    error: str

    @classmethod
    def of(cls, index: int, pairs: int, error: BaseException | str, attempts: int) -> ShardFailure:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(index, pairs, attempts, text)

    def to_dict(self) -> dict:
        return asdict(self)


def file_digest(path: Path) -> dict:
    with open(path, "rb") as f:
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    return {"size": path.stat().st_size, "sha256": sha256}


def _shard_files(paths: RunPaths, index: int) -> list[Path]:
    return [paths.shard(index), paths.rejected_shard(index)]


def write_marker(paths: RunPaths, report: ShardReport) -> None:
    """Written after the shard's Parquet files: a shard with a marker is complete, and the marker
    holds what those files were."""
    report.files = {str(p.relative_to(paths.root)): file_digest(p) for p in _shard_files(paths, report.index)
                    if p.exists()}
    data = {k: v for k, v in asdict(report).items() if k not in ("resumed", "repaired")}
    atomic_write_text(paths.marker(report.index), json.dumps(data))


def marker_damage(paths: RunPaths, report: ShardReport) -> str | None:
    """What differs between a marker and the files on disk (the first difference), None when they match."""
    for rel, want in sorted(report.files.items()):
        path = paths.root / rel
        if not path.exists():
            return f"{rel} is missing"
        size = path.stat().st_size
        if size != want["size"]:
            return f"{rel} has {size} bytes, its marker says {want['size']}"
        if file_digest(path)["sha256"] != want["sha256"]:
            return f"{rel} does not match the sha256 in its marker"
    return None


def check_marker(paths: RunPaths, index: int) -> tuple[ShardReport | None, str | None]:
    """(report, None) for a complete shard, (None, damage) for a shard whose marker does not match its
    files (or cannot be read), (None, None) for a shard without a marker."""
    marker = paths.marker(index)
    if not marker.exists():
        return None, None
    try:
        report = ShardReport(**json.loads(marker.read_text()))
    except (ValueError, TypeError) as e:  # truncated or hand-edited marker
        return None, f"its marker {marker.relative_to(paths.root)} does not parse ({e})"
    damage = marker_damage(paths, report)
    if damage is not None:
        return None, damage
    report.resumed = True
    return report, None


def read_marker(paths: RunPaths, index: int) -> ShardReport | None:
    """The report of a completed shard (``resumed``); None when the shard is not complete, or when its
    files no longer match its marker (logged: the shard is then redone)."""
    report, damage = check_marker(paths, index)
    if damage is not None:
        log.warning("shard %d is damaged: %s; redoing it", index, damage)
    return report


def drop_damaged_markers(paths: RunPaths, damaged: Mapping[int, str]) -> None:
    """The repair of shards whose files no longer match their markers (``damaged``: index -> damage, as
    `check_marker` names it): their markers go, so that nothing takes the shard for complete any more
    (a reader, or this build stopped before it redid the shard) and the build redoes it."""
    for index, damage in sorted(damaged.items()):
        log.warning("shard %d is damaged (%s): redoing it", index, damage)
        paths.marker(index).unlink(missing_ok=True)
