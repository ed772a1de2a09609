"""Shard tasks on a Ray cluster through prefect-ray's `RayTaskRunner` (config `runner: ray`).

Each shard task reserves `ray.cpus_per_task` CPUs and, when it renders or scores on CUDA, whole
GPUs: Ray then shows the task only its own GPU(s) (CUDA_VISIBLE_DEVICES), so `cuda` inside a
task is the reserved device and no two tasks share one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.config import RunConfig


def gpus_per_task(cfg: RunConfig) -> int:
    if cfg.ray.gpus_per_task is not None:
        return cfg.ray.gpus_per_task
    return 1 if "cuda" in {cfg.render.device, cfg.score.device} else 0


def task_options(cfg: RunConfig) -> dict[str, Any]:
    """`ray.remote` options of one shard task."""
    options: dict[str, Any] = {"num_cpus": cfg.ray.cpus_per_task}
    gpus = gpus_per_task(cfg)
    if gpus:
        # max_calls=1: a fresh worker process per GPU task. A reused process would keep its CUDA
        # context (and the models cached in it) on the GPU of its first task while Ray hands it
        # another one: two tasks on one device. It costs a model load per shard.
        options.update(num_gpus=gpus, max_calls=1)
    return options


def init_kwargs(cfg: RunConfig, api_url: str | None) -> dict[str, Any]:
    """`ray.init` arguments: a local instance, the cluster this machine joined, or Ray Client."""
    kwargs: dict[str, Any] = {}
    address = cfg.ray.address
    if address is None:
        kwargs["include_dashboard"] = False  # seconds of start-up for a UI nobody opens on a one-off instance
        if cfg.ray.num_cpus is not None:
            kwargs["num_cpus"] = cfg.ray.num_cpus
    elif address == "auto":
        # Given to ray.init itself: RayTaskRunner would treat "auto" as "start a new local instance".
        kwargs["address"] = "auto"
    if api_url:
        # Shard tasks report to the flow's Prefect API. Without it every Ray worker would start its
        # own temporary Prefect server (seconds each, and task runs missing from this flow run).
        kwargs["runtime_env"] = {"env_vars": {"PREFECT_API_URL": api_url}}
    return kwargs


def make_task_runner(cfg: RunConfig, api_url: str | None):
    from prefect_ray import RayTaskRunner

    address = cfg.ray.address if cfg.ray.address not in (None, "auto") else None
    return RayTaskRunner(address=address, init_kwargs=init_kwargs(cfg, api_url))


@contextmanager
def shard_resources(cfg: RunConfig) -> Iterator[None]:
    """Tasks submitted inside this block get `task_options(cfg)`."""
    from prefect_ray.context import remote_options

    with remote_options(**task_options(cfg)):
        yield
