"""Progress of a local build: a tqdm bar over pairs with pairs/s and ETA.

Shards already complete when the run starts (a resume) count as done but not towards the
rate, so the ETA reflects the work still to do.
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO


class BuildProgress(Protocol):
    """What `pipeline.build.build_dataset` reports while it works."""

    def start(self, prepared, done_shards: int, done_pairs: int) -> None: ...

    def shard_done(self, index: int, report, failure: dict | None) -> None: ...

    def close(self) -> None: ...


class TqdmProgress:
    """One bar over all planned pairs, advanced as shards finish (kept + dropped + failed)."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file or sys.stderr
        self.bar = None
        self.prepared = None
        self.kept = self.failed = 0

    def start(self, prepared, done_shards: int, done_pairs: int) -> None:
        from tqdm import tqdm

        self.prepared = prepared
        self.bar = tqdm(total=prepared.num_pairs, initial=done_pairs, unit="pair", file=self.file,
                        desc=f"run {prepared.run_hash}", dynamic_ncols=True, smoothing=0.1)
        if done_shards:
            self.bar.write(f"resuming: {done_shards}/{prepared.num_shards} shards already complete",
                           file=self.file)

    def shard_done(self, index: int, report, failure: dict | None) -> None:
        if report is not None:
            self.kept += report.kept
        else:
            self.failed += 1
            self.bar.write(f"shard {index} failed after {failure['attempts']} attempt(s): {failure['error']}",
                           file=self.file)
        self.bar.set_postfix(kept=self.kept, failed_shards=self.failed, refresh=False)
        self.bar.update(report.planned if report is not None else failure["pairs"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
