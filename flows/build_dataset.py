"""The `build-dataset` Prefect flow: prepare → one task per shard → finalize.

Tasks take the resolved config as a plain dict and the run folder, so any worker can run
any shard; models are loaded once per worker process (pipeline.build caches them).
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipeline import build
from pipeline.config import RunConfig, load_config


@task(name="prepare-run", cache_policy=NO_CACHE)
def prepare_task(cfg_data: dict, out: str) -> build.PreparedRun:
    return build.prepare_run(RunConfig.model_validate(cfg_data), out)


@task(name="process-shard", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def shard_task(cfg_data: dict, out: str, index: int) -> build.ShardReport:
    return build.process_shard(RunConfig.model_validate(cfg_data), out, index)


@task(name="finalize-run", cache_policy=NO_CACHE)
def finalize_task(cfg_data: dict, out: str, prepared: build.PreparedRun, reports: list, wall: float) -> dict:
    return build.finalize_run(RunConfig.model_validate(cfg_data), out, prepared, reports, wall)


@flow(name="build-dataset")
def build_dataset_flow(
    config: str | None = "configs/tiny.yaml",
    out: str = "runs/tiny",
    overrides: list[str] | None = None,
) -> dict:
    """Build a value-preference dataset run folder from a YAML profile plus overrides."""
    logger = get_run_logger()
    t0 = time.perf_counter()
    cfg_data = load_config(config, overrides or []).model_dump(mode="json")
    prepared = prepare_task(cfg_data, out)
    logger.info("run %s: %d pairs in %d shards", prepared.run_hash, prepared.num_pairs, prepared.num_shards)
    reports = []
    for index in range(prepared.num_shards):
        report = shard_task(cfg_data, out, index)
        reports.append(report)
        logger.info("shard %d/%d: kept %d of %d%s", index + 1, prepared.num_shards, report.kept,
                    report.planned, " (already done)" if report.resumed else "")
    stats = finalize_task(cfg_data, out, prepared, reports, time.perf_counter() - t0)
    drops = "\n".join(f"| {k} | {v} |" for k, v in stats.items() if k.startswith("dropped_"))
    create_markdown_artifact(
        key="build-dataset-summary",
        markdown=f"# {out}\n\nKept **{stats['kept']}** of {stats['planned']} pairs "
                 f"(run `{stats['run_hash']}`).\n\n| reason | dropped |\n|---|---|\n{drops}\n",
        description="dataset build summary",
    )
    return stats
