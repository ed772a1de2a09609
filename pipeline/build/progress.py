"""What a build reports while it works: the ``BuildProgress`` protocol, the counts both reporters
share, and the local tqdm bar. (flows/artifacts.py is the Prefect reporter.)

Shards already complete when the run starts (a resume) count as done but not towards the
rate, so the ETA reflects the work still to do.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from pipeline.run.manifest import PreparedRun
from pipeline.run.reports import ShardFailure, ShardReport


class BuildProgress(Protocol):
    """Called by `pipeline.build.executor.run_build`, in this order."""

    def start(self, prepared: PreparedRun, done: list[ShardReport]) -> None:
        """The run is prepared; ``done`` are the shards already complete (resumed)."""

    def shard_done(self, index: int, report: ShardReport | None, failure: ShardFailure | None) -> None:
        """A pending shard finished: its report, or its failure after every attempt."""

    def close(self, stats: dict | None) -> None:
        """The build ended: the final stats, or None when it stopped on an error."""


class ProgressCounts:
    """Shards and pairs finished so far, and the rate of the work done in this process."""

    def __init__(self, prepared: PreparedRun) -> None:
        self.prepared = prepared
        self.shards = self.pairs = 0
        self.pairs_this_run = 0  # pairs of shards processed now, not resumed: the rate's numerator
        self.started = time.monotonic()

    def add(self, pairs: int, resumed: bool = False) -> None:
        self.shards += 1
        self.pairs += pairs
        if not resumed:
            self.pairs_this_run += pairs

    def percent(self) -> float:
        return round(100.0 * self.pairs / max(self.prepared.num_pairs, 1), 2)

    def status(self) -> str:
        """'3 of 6 shards finished (50% of pairs, 1.20 pairs/s, eta 20 s)'."""
        rate = self.pairs_this_run / max(time.monotonic() - self.started, 1e-9)
        eta = (self.prepared.num_pairs - self.pairs) / rate if rate else float("nan")
        return (f"{self.shards} of {self.prepared.num_shards} shards finished ({self.percent():.0f}% of pairs, "
                f"{rate:.2f} pairs/s, eta {eta:.0f} s)")


class TqdmProgress:
    """One bar over all planned pairs, advanced as shards finish (kept + dropped + failed)."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file or sys.stderr
        self.bar = None
        self.kept = self.failed = 0

    def start(self, prepared: PreparedRun, done: list[ShardReport]) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=prepared.num_pairs, initial=sum(r.planned for r in done), unit="pair",
                        file=self.file, desc=f"run {prepared.run_hash}", dynamic_ncols=True, smoothing=0.1)
        if done:
            self.bar.write(f"resuming: {len(done)}/{prepared.num_shards} shards already complete", file=self.file)

    def shard_done(self, index: int, report: ShardReport | None, failure: ShardFailure | None) -> None:
        if report is not None:
            self.kept += report.kept
        else:
            self.failed += 1
            self.bar.write(f"shard {index} failed after {failure.attempts} attempt(s): {failure.error}",
                           file=self.file)
        self.bar.set_postfix(kept=self.kept, failed_shards=self.failed, refresh=False)
        self.bar.update(report.planned if report is not None else failure.pairs)

    def close(self, stats: dict | None) -> None:
        if self.bar is not None:
            self.bar.close()
