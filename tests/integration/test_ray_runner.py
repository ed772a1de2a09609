"""Shard tasks on Ray (`runner: ray`): a local Ray instance on CPU builds the same dataset as the
local runner; GPU reservations follow the devices; invalid combinations are refused."""

from __future__ import annotations

import time

import pytest

from factories import tiny_config
from flows import ray_runner
from pipeline.config import ConfigError
from run_checks import assert_clean, assert_same_dataset


def _cfg(*overrides: str):
    return tiny_config(["runner=ray", *overrides])


def test_gpu_tasks_reserve_whole_devices_in_fresh_processes():
    assert ray_runner.task_options(_cfg()) == {"num_cpus": 1.0}
    gpu = _cfg("render.device=cuda", "score.device=cuda", "ray.cpus_per_task=4")
    assert ray_runner.task_options(gpu) == {"num_cpus": 4.0, "num_gpus": 1, "max_calls": 1}
    assert ray_runner.task_options(_cfg("render.device=cuda", "ray.gpus_per_task=2"))["num_gpus"] == 2


def test_ray_init_arguments_follow_the_address():
    local = ray_runner.init_kwargs(_cfg("ray.num_cpus=2"), "http://127.0.0.1:4200/api")
    assert local == {"include_dashboard": False, "num_cpus": 2,
                     "runtime_env": {"env_vars": {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}}}
    assert ray_runner.init_kwargs(_cfg("ray.address=auto"), None) == {"address": "auto"}
    client = _cfg("ray.address=ray://head:10001")
    assert ray_runner.init_kwargs(client, None) == {}
    assert ray_runner.make_task_runner(client, None).address == "ray://head:10001"


@pytest.mark.parametrize("overrides, message", [
    (["render.device=cuda:1"], "use device 'cuda'"),
    (["render.device=cuda", "ray.gpus_per_task=0"], "gpus_per_task >= 1"),
    (["ray.address=auto", "ray.num_cpus=4"], "leave it null"),
])
def test_invalid_ray_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(*overrides)


@pytest.mark.slow
def test_ray_runner_builds_the_same_dataset_as_the_local_runner(tmp_path, small_build, reference_run):
    from flows.build_dataset import build_dataset_flow

    out = tmp_path / "run"
    t0 = time.perf_counter()
    stats = build_dataset_flow(out=str(out), overrides=small_build + ["runner=ray", "ray.num_cpus=2"])
    print(f"ray runner: {time.perf_counter() - t0:.1f} s")
    assert stats["complete"] and stats["shards"] == 6
    assert_clean(out)
    assert_same_dataset(out, reference_run)
