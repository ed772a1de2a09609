"""Progress line for local runs: shards done, pairs/s and ETA."""

from __future__ import annotations

import sys
import time

_start: dict[str, float] = {}


def print_progress(report, prepared) -> None:
    t0 = _start.setdefault(prepared.root, time.perf_counter())
    done = report.index + 1
    elapsed = max(time.perf_counter() - t0, 1e-9)
    pairs = done * (prepared.num_pairs / max(prepared.num_shards, 1))
    rate = pairs / elapsed
    eta = (prepared.num_pairs - pairs) / rate if rate else 0.0
    state = "resumed" if report.resumed else f"kept {report.kept}/{report.planned}"
    print(f"[shard {done}/{prepared.num_shards}] {state}  {rate:.1f} pairs/s  eta {eta:.0f}s",
          file=sys.stderr, flush=True)
