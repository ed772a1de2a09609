"""The `build-dataset` Prefect flow: prepare → one task per shard → finalize.

Tasks take the resolved config as a plain dict and the run folder, so any worker can run
any shard; models are loaded once per worker process (pipeline.build caches them).
Shard tasks run one after another in the flow's process (`runner: local`) or in parallel
on Ray (`runner: ray`, flows/ray_runner.py). A shard that fails after its retries is
recorded and the others go on; the flow run then fails with `ShardsFailedError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from pipeline import build
from pipeline.config import RunConfig, load_config

PROFILES_DIR = Path("configs")


def _retry_unless_fatal(task, task_run, state) -> bool:
    # A missing model or a conflicting run folder fails the same way on every attempt.
    return not isinstance(state.data, build.FATAL_ERRORS)


@task(name="prepare-run", cache_policy=NO_CACHE)
def prepare_task(cfg_data: dict, out: str) -> build.PreparedRun:
    return build.prepare_run(RunConfig.model_validate(cfg_data), out)


@task(name="process-shard", retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_unless_fatal,
      cache_policy=NO_CACHE)
def shard_task(cfg_data: dict, out: str, index: int) -> build.ShardReport:
    report = build.process_shard(RunConfig.model_validate(cfg_data), out, index)
    get_run_logger().info("shard %d: kept %d of %d, dropped %s (%.1f s)", index, report.kept, report.planned,
                          report.dropped or "none", sum(report.seconds.values()))
    return report


@task(name="finalize-run", cache_policy=NO_CACHE)
def finalize_task(cfg_data: dict, out: str, prepared: build.PreparedRun, reports: list, wall: float,
                  failures: list | None = None) -> dict:
    return build.finalize_run(RunConfig.model_validate(cfg_data), out, prepared, reports, wall, failures)


def resolve_config(config: str | None, profile: str, overrides: list[str] | None, per_category: int | None,
                   max_pairs: int | None) -> RunConfig:
    counts = []
    if per_category is not None:
        counts.append(f"prompts.per_category={per_category}")
    if max_pairs is not None:
        counts.append(f"planning.max_pairs={max_pairs}")
    path = config if config is not None else PROFILES_DIR / f"{profile}.yaml"
    return load_config(path, counts + list(overrides or []))


def _local_states(shard, cfg_data: dict, out: str, pending: list[int]) -> Iterator[tuple[int, State]]:
    # One after another in this process: the models stay loaded between shards.
    for index in pending:
        yield index, shard(cfg_data, out, index, return_state=True)


def _ray_states(shard, cfg: RunConfig, cfg_data: dict, out: str, pending: list[int]) -> Iterator[tuple[int, State]]:
    from prefect.client.orchestration import get_client
    from prefect.futures import as_completed

    from flows import ray_runner

    api_url = str(get_client(sync_client=True).api_url)
    with ray_runner.make_task_runner(cfg, api_url) as runner:
        with ray_runner.shard_resources(cfg):
            futures = {runner.submit(shard, {"cfg_data": cfg_data, "out": out, "index": i}): i for i in pending}
        for future in as_completed(list(futures)):
            future.wait()
            yield futures[future], future.state


@flow(name="build-dataset")
def build_dataset_flow(
    config: str | None = None,
    out: str = "runs/tiny",
    overrides: list[str] | None = None,
    profile: str = "tiny",
    per_category: int | None = None,
    max_pairs: int | None = None,
) -> dict:
    """Build a value-preference dataset run folder.

    config: a YAML file; when null, the profile configs/<profile>.yaml. overrides: `key.sub=value`
    items, as `livo shards --set`. per_category, max_pairs: shortcuts for prompts.per_category and
    planning.max_pairs (overrides win). Re-running into the same `out` resumes.
    """
    from flows.artifacts import RunBoard

    logger = get_run_logger()
    t0 = time.perf_counter()
    cfg = resolve_config(config, profile, overrides, per_category, max_pairs)
    if cfg.runner == "ray":
        # Ray workers may start in another directory, or on another node sharing these paths.
        out = str(Path(out).resolve())
        if cfg.models_cache is not None:
            cfg.models_cache = cfg.models_cache.resolve()
    cfg_data = cfg.model_dump(mode="json")
    prepared = prepare_task(cfg_data, out)
    markers = build.RunPaths(Path(out))
    pending = [i for i in range(prepared.num_shards) if not markers.marker(i).exists()]
    logger.info("run %s: %d pairs in %d shards, %d to do (runner %s)", prepared.run_hash, prepared.num_pairs,
                prepared.num_shards, len(pending), cfg.runner)
    board = RunBoard(prepared, out)
    reports: dict[int, build.ShardReport] = {}
    failures: list[dict] = []
    for index in sorted(set(range(prepared.num_shards)) - set(pending)):
        reports[index] = build.process_shard(cfg, out, index)  # complete: reads its marker
        board.record(index, reports[index], publish=False)
    board.publish_progress()

    shard = shard_task.with_options(retries=cfg.retries.shard, retry_delay_seconds=cfg.retries.delay_seconds)
    states = (_ray_states(shard, cfg, cfg_data, out, pending) if cfg.runner == "ray"
              else _local_states(shard, cfg_data, out, pending))
    # closing: a fatal error stops the Ray runner (and its queued tasks) now, not at garbage collection
    with closing(states):
        for index, state in states:
            if state.is_completed():
                reports[index] = state.result()
                board.record(index, reports[index])
            else:
                error = state.result(raise_on_failure=False)
                if isinstance(error, build.FATAL_ERRORS):
                    raise error
                if not isinstance(error, BaseException):
                    error = f"{state.name}: {state.message}"
                failure = build.failure_record(cfg, prepared, index, error, cfg.retries.shard + 1)
                failures.append(failure)
                board.record(index, failure=failure)
                logger.error("shard %d failed after its retries: %s", index, failure["error"])
            logger.info(board.status())

    stats = finalize_task(cfg_data, out, prepared, [reports[i] for i in sorted(reports)],
                          time.perf_counter() - t0, failures)
    board.publish_results(stats)
    build.raise_if_failed(stats, out)
    return stats
