"""The `build-dataset` Prefect flow: an adapter over `pipeline.build.executor.run_build`.

Prepare and finalize run as Prefect tasks, each pending shard as one `process-shard` task
(Prefect's task retries, counts from the config's ``retries``), one after another in the
flow's process (`runner: local`) or in parallel on Ray (`runner: ray`, flows/ray_runner.py).
Tasks take the resolved config as a plain dict and the run folder, so any worker can run any
shard; models are loaded once per worker process (pipeline.build.models caches them). A shard
that fails after its retries is recorded and the others go on; the flow run then fails with
`ShardsFailedError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from pipeline.build import executor
from pipeline.build.finalize import finalize_run
from pipeline.build.prepare import prepare_run
from pipeline.build.shard import process_shard
from pipeline.config import RunConfig, load_config
from pipeline.run.manifest import PreparedRun
from pipeline.run.reports import ShardFailure, ShardReport

PROFILES_DIR = Path("configs")


def _retry_unless_fatal(task, task_run, state) -> bool:
    # A missing model or a conflicting run folder fails the same way on every attempt.
    return not isinstance(state.data, executor.FATAL_ERRORS)


@task(name="prepare-run", cache_policy=NO_CACHE)
def prepare_task(cfg_data: dict, out: str) -> PreparedRun:
    return prepare_run(RunConfig.model_validate(cfg_data), out)


# Retry counts are set per run from the config (`_shard_task`), never here.
@task(name="process-shard", retry_condition_fn=_retry_unless_fatal, cache_policy=NO_CACHE)
def shard_task(cfg_data: dict, out: str, index: int) -> ShardReport:
    return process_shard(RunConfig.model_validate(cfg_data), out, index)


@task(name="finalize-run", cache_policy=NO_CACHE)
def finalize_task(cfg_data: dict, out: str, prepared: PreparedRun, reports: list, wall: float,
                  failures: list | None = None) -> dict:
    return finalize_run(RunConfig.model_validate(cfg_data), out, prepared, reports, wall, failures)


def resolve_config(config: str | None, profile: str, overrides: list[str] | None, per_category: int | None,
                   max_pairs: int | None) -> RunConfig:
    counts = []
    if per_category is not None:
        counts.append(f"prompts.per_category={per_category}")
    if max_pairs is not None:
        counts.append(f"planning.max_pairs={max_pairs}")
    path = config if config is not None else PROFILES_DIR / f"{profile}.yaml"
    return load_config(path, counts + list(overrides or []))


def _local_states(shard, cfg_data: dict, out: str, pending: Sequence[int]) -> Iterator[tuple[int, State]]:
    # One after another in this process: the models stay loaded between shards.
    for index in pending:
        yield index, shard(cfg_data, out, index, return_state=True)


def _ray_states(shard, cfg: RunConfig, cfg_data: dict, out: str, pending: Sequence[int]
                ) -> Iterator[tuple[int, State]]:
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


def prefect_runner(cfg: RunConfig, cfg_data: dict, out: str) -> executor.ShardRunner:
    """A `ShardRunner` of Prefect task runs: states become reports or failures."""
    shard = shard_task.with_options(retries=cfg.retries.shard, retry_delay_seconds=cfg.retries.delay_seconds)

    def run(prepared: PreparedRun, pending: Sequence[int]) -> Iterator[executor.ShardOutcome]:
        states = (_ray_states(shard, cfg, cfg_data, out, pending) if cfg.runner == "ray"
                  else _local_states(shard, cfg_data, out, pending))
        try:
            for index, state in states:
                if state.is_completed():
                    yield index, state.result(), None
                    continue
                error = state.result(raise_on_failure=False)
                if isinstance(error, executor.FATAL_ERRORS):
                    raise error
                if not isinstance(error, BaseException):
                    error = f"{state.name}: {state.message}"
                pairs = prepared.shard_pairs(index, cfg.shards.shard_size)
                yield index, None, ShardFailure.of(index, pairs, error, cfg.retries.shard + 1)
        finally:
            states.close()
    return run


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

    cfg = resolve_config(config, profile, overrides, per_category, max_pairs)
    if cfg.runner == "ray":
        # Ray workers may start in another directory, or on another node sharing these paths.
        out = str(Path(out).resolve())
        if cfg.models_cache is not None:
            cfg.models_cache = cfg.models_cache.resolve()
    cfg_data = cfg.model_dump(mode="json")
    try:
        return executor.run_build(
            cfg, out, prefect_runner(cfg, cfg_data, out), progress=RunBoard(out, cfg.runner),
            prepare=lambda _cfg, o: prepare_task(cfg_data, o),
            finalize=lambda _cfg, o, prepared, reports, wall, failures: finalize_task(cfg_data, o, prepared,
                                                                                      reports, wall, failures))
    except Exception as e:
        # The reason as the run log's last line: `prefect deployment run --watch` streams it to the shell
        # that triggered the run; the flow run's state message names the same exception. (Not LIVO-marked:
        # `livo shards` prints the reason itself.)
        get_run_logger().error("livo: %s: %s", type(e).__name__, e)
        raise
