"""Progress line for local runs: shards done, pairs/s and ETA."""

from __future__ import annotations

import sys


def print_progress(report, prepared, elapsed: float) -> None:
    done = report.index + 1
    pairs = min(done * (prepared.num_pairs / max(prepared.num_shards, 1)), prepared.num_pairs)
    rate = pairs / max(elapsed, 1e-9)
    eta = (prepared.num_pairs - pairs) / rate if rate else 0.0
    state = "resumed" if report.resumed else f"kept {report.kept}/{report.planned}"
    print(f"[shard {done}/{prepared.num_shards}] {state}  {rate:.2f} pairs/s  eta {eta:.0f}s",
          file=sys.stderr, flush=True)
