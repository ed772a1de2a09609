"""The one executor of a build: prepare → pending shards → attempts → reports or failures → finalize.

`run_build` is shared by every way of running a build; only how a pending shard is attempted
differs, and that is a `ShardRunner`:

* `local_runner` (``livo shards --local``, the tests): one shard after another in this
  process, the models loaded once, ``1 + retries.shard`` attempts each;
* the Prefect flow (flows/build_dataset.py): one Prefect task per shard, Prefect's task
  retries with the same counts, in the flow's process or on Ray.

A shard that still fails after its attempts is recorded and the others go on;
`ShardsFailedError` is raised once stats.json is written. A fatal error (a missing model, a
conflicting run folder) is not retried: it stops the run.

The whole build holds the run folder's lock (`pipeline.run.lock`): a second build into the same
folder is refused at once. A completed shard whose files no longer match its marker (truncated,
overwritten, bit-flipped) is redone like a pending one, logged and listed in stats.json
``repaired_shards``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Protocol

from pipeline.build.finalize import finalize_run, raise_if_failed
from pipeline.build.prepare import prepare_run
from pipeline.build.progress import BuildProgress
from pipeline.build.shard import process_shard
from pipeline.config import RunConfig
from pipeline.errors import ModelUnavailableError, RunConflictError
from pipeline.run.layout import RunPaths
from pipeline.run.lock import RunLockedError, run_lock
from pipeline.run.manifest import PreparedRun
from pipeline.run.plan_io import load_plan, shard_plans
from pipeline.run.reports import ShardFailure, ShardReport, check_marker, drop_damaged_markers

log = logging.getLogger("pipeline.build")

# Errors no retry can fix: the run stops instead of failing every shard the same way.
FATAL_ERRORS: tuple[type[BaseException], ...] = (ModelUnavailableError, RunConflictError, RunLockedError)

ShardOutcome = tuple[int, ShardReport | None, ShardFailure | None]


class ShardRunner(Protocol):
    def __call__(self, prepared: PreparedRun, pending: Sequence[int]) -> Iterator[ShardOutcome]:
        """Attempt each pending shard; yield (index, report, None) or (index, None, failure) as each ends."""


def attempt_shard(cfg: RunConfig, prepared: PreparedRun, index: int,
                  attempt: Callable[[], ShardReport]) -> tuple[ShardReport | None, ShardFailure | None]:
    """``attempt()`` up to ``1 + cfg.retries.shard`` times, ``retries.delay_seconds`` apart."""
    attempts = cfg.retries.shard + 1
    for n in range(1, attempts + 1):
        try:
            return attempt(), None
        except FATAL_ERRORS:
            raise
        except Exception as e:  # noqa: BLE001 - any other error may be transient: retry, then record
            log.warning("shard %d attempt %d/%d failed: %s: %s", index, n, attempts, type(e).__name__, e)
            if n == attempts:
                return None, ShardFailure.of(index, prepared.shard_pairs(index, cfg.shards.shard_size), e, attempts)
            time.sleep(cfg.retries.delay_seconds)
    raise AssertionError("unreachable")


def local_runner(cfg: RunConfig, out: Path | str, models: tuple | None = None) -> ShardRunner:
    """Pending shards one after another in this process; ``models``: (renderer, scorers) to use
    instead of the configured ones, which are otherwise loaded once, at the first pending shard.
    The plan is read once, when the runner starts, and each shard given its part."""
    def run(prepared: PreparedRun, pending: Sequence[int]) -> Iterator[ShardOutcome]:
        from pipeline.build.models import load_models

        renderer, scorers = models if models is not None else (None, None)
        plan = load_plan(RunPaths(Path(out))) if pending else []
        size = cfg.shards.shard_size
        for index in pending:
            if renderer is None:
                renderer, scorers = load_models(cfg, out)
            # the attempt binds this iteration's shard, plans and models (it runs before the loop moves on)
            part = shard_plans(plan, index, size, prepared.sample_pairs)
            report, failure = attempt_shard(cfg, prepared, index, partial(
                process_shard, cfg, out, index, renderer, scorers, part))
            yield index, report, failure
    return run


def run_build(cfg: RunConfig, out: Path | str, runner: ShardRunner, *, progress: BuildProgress | None = None,
              prepare: Callable[[RunConfig, Path | str], PreparedRun] = prepare_run,
              finalize: Callable[..., dict] = finalize_run) -> dict:
    """The whole build, holding the run folder's lock. ``prepare`` and ``finalize`` default to the
    library functions; the flow passes its Prefect tasks around them."""
    with run_lock(RunPaths(Path(out))):
        return _run_build(cfg, out, runner, progress, prepare, finalize)


def completed_shards(paths: RunPaths, num_shards: int) -> tuple[dict[int, ShardReport], dict[int, str]]:
    """Reports of the complete shards, and the damage of those whose files do not match their marker.
    Reads only: the build repairs what it found with `drop_damaged_markers`."""
    reports, damaged = {}, {}
    for index in range(num_shards):
        report, damage = check_marker(paths, index)
        if report is not None:
            reports[index] = report
        elif damage is not None:
            damaged[index] = damage
    return reports, damaged


def _run_build(cfg: RunConfig, out: Path | str, runner: ShardRunner, progress: BuildProgress | None,
               prepare: Callable[[RunConfig, Path | str], PreparedRun], finalize: Callable[..., dict]) -> dict:
    t0 = time.perf_counter()
    prepared = prepare(cfg, out)
    paths = RunPaths(Path(out))
    reports, damaged = completed_shards(paths, prepared.num_shards)
    drop_damaged_markers(paths, damaged)  # before any shard runs: a damaged shard is pending, like one never built
    pending = [i for i in range(prepared.num_shards) if i not in reports]
    log.info("run %s: %d pairs in %d shards, %d to do", prepared.run_hash, prepared.num_pairs,
             prepared.num_shards, len(pending))
    failures: list[ShardFailure] = []
    stats = None
    if progress:
        progress.start(prepared, [reports[i] for i in sorted(reports)])
    try:
        # closing: a fatal error stops the runner (e.g. Ray and its queued tasks) now, not at garbage collection
        with closing(runner(prepared, pending)) as outcomes:
            for index, report, failure in outcomes:
                if report is not None:
                    report.repaired = damaged.get(index, "")
                    reports[index] = report
                else:
                    failures.append(failure)
                if progress:
                    progress.shard_done(index, report, failure)
        stats = finalize(cfg, out, prepared, [reports[i] for i in sorted(reports)], time.perf_counter() - t0,
                         failures)
    finally:
        if progress:
            progress.close(stats)
    raise_if_failed(stats, out)
    return stats


def build_dataset(cfg: RunConfig, out: Path | str, progress: BuildProgress | None = None,
                  models: tuple | None = None) -> dict:
    """Run the whole build in this process (``livo shards --local`` and the tests)."""
    return run_build(cfg, out, local_runner(cfg, out, models), progress=progress)
