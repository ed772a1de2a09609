"""The deployment path as a user runs it: a real Prefect server on a free port, the deployments
served by `python -m flows.serve` (`make serve`) or registered from prefect.yaml for a process
worker (`make deploy`, `make worker`), triggered with `prefect deployment run ... --param`.
Everything started here is stopped here: serving process and worker before the server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from procs import BIN, api_get, api_post, free_port, spawn, tail, wait_for
from run_checks import assert_clean


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server with its own SQLite state; yields (api_url, env for its clients)."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_WORKER_QUERY_SECONDS": "1",
           "PREFECT_WORKER_PREFETCH_SECONDS": "1", "PREFECT_LOGGING_LEVEL": "INFO", "LIVO_ROOT": str(ROOT)}
    log = home / "server.log"
    with spawn([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)], log,
               env) as proc:
        wait_for(lambda: api_get(api, "/health")[0] == 200, 90, proc, log, "the server's health check")
        yield api, env


def _build_params(out, small_build) -> list[str]:
    overrides = [o for o in small_build if not o.startswith("prompts.per_category")]
    return ["--param", f"out={out}", "--param", f"overrides={json.dumps(overrides)}", "--param", "per_category=1"]


def _run_deployment(name: str, params: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "prefect"), "deployment", "run", name, *params, "--watch",
                           "--watch-interval", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
                          check=False)


def _flow_run_artifacts(api: str, out) -> dict[str, object]:
    found = api_post(api, "/artifacts/filter", {"limit": 50})
    runs = {a["flow_run_id"] for a in found if a["key"] == "build-dataset-summary" and str(out) in a["data"]}
    assert len(runs) == 1
    return {a["key"]: a["data"] for a in found if a["flow_run_id"] in runs}


@pytest.mark.slow
def test_served_deployment_builds_a_run(server, tmp_path, small_build):
    api, env = server
    log = tmp_path / "serve.log"
    out = tmp_path / "served"
    with spawn([str(BIN / "python"), "-m", "flows.serve"], log, env) as serve:
        for name in ("default", "tiny", "sd15"):
            wait_for(lambda name=name: api_get(api, f"/deployments/name/build-dataset/{name}")[0] == 200, 90,
                     serve, log, f"deployment build-dataset/{name}")
        result = _run_deployment("build-dataset/default", _build_params(out, small_build), env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:] + tail(log)
        artifacts = _flow_run_artifacts(api, out)
    assert_clean(out)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["complete"] and stats["shards"] == 3 and stats["planned"] == 11
    assert float(artifacts["build-dataset-progress"]) == 100.0
    assert [row["shard"] for row in json.loads(artifacts["build-dataset-shards"])] == [0, 1, 2]
    assert f"Kept **{stats['kept']}** of 11" in artifacts["build-dataset-summary"]


@pytest.mark.slow
def test_prefect_yaml_deployments_run_on_a_process_worker(server, tmp_path, small_build):
    api, env = server
    prefect = str(BIN / "prefect")
    for cmd in ([prefect, "work-pool", "create", "livo-process", "--type", "process", "--overwrite"],
                [prefect, "--no-prompt", "deploy", "--all"]):
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    status, deployment = api_get(api, "/deployments/name/build-dataset/tiny")
    assert status == 200 and deployment["work_pool_name"] == "livo-process"
    assert deployment["parameters"] == {"profile": "tiny", "out": "runs/tiny"}

    log = tmp_path / "worker.log"
    out = tmp_path / "worker"
    with spawn([prefect, "worker", "start", "--pool", "livo-process", "--type", "process"], log, env,
               cwd=tmp_path):  # elsewhere on purpose: prefect.yaml's pull step moves flow runs to the project
        result = _run_deployment("build-dataset/tiny", _build_params(out, small_build), env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:] + tail(log)
    assert_clean(out)
    assert json.loads((out / "stats.json").read_text())["planned"] == 11


def _dataset_profiles(configs: Path) -> list[str]:
    """The names of the YAML files in configs/ that are dataset-build profiles (configs/ also holds
    training configs, which do not validate as a RunConfig)."""
    from pipeline.config import ConfigError, load_config

    found = []
    for path in sorted(configs.glob("*.yaml")):
        try:
            load_config(path)
        except ConfigError:
            continue
        found.append(path.stem)
    return found


def test_prefect_yaml_declares_one_deployment_per_dataset_profile():
    from flows.serve import declared_deployments

    specs = {spec["name"]: spec for spec in declared_deployments()}
    profiles = _dataset_profiles(ROOT / "configs")
    assert "tiny" in profiles and "train_tiny" not in profiles
    assert sorted(specs) == sorted(["default", *profiles])
    assert "parameters" not in specs["default"]  # the flow's own defaults
    for name in profiles:
        assert specs[name]["parameters"] == {"profile": name, "out": f"runs/{name}"}


def test_served_deployments_are_the_ones_prefect_yaml_declares():
    from flows.serve import declared_deployments, deployments

    served = [(d.name, d.entrypoint, d.parameters, d.description, d.tags) for d in deployments()]
    assert served == [(s["name"], "flows.build_dataset.build_dataset_flow", s.get("parameters", {}), s["description"],
                       s["tags"]) for s in declared_deployments()]


def test_a_deployment_setting_serve_would_drop_is_refused(tmp_path):
    from flows.serve import declared_deployments
    from pipeline.errors import UserError

    spec = tmp_path / "prefect.yaml"
    spec.write_text("deployments:\n  - name: nightly\n    entrypoint: flows/build_dataset.py:build_dataset_flow\n"
                    "    schedules: [{cron: '0 3 * * *'}]\n")
    with pytest.raises(UserError, match="deployment 'nightly' sets schedules") as refused:
        declared_deployments(spec)
    assert isinstance(refused.value, ValueError)  # still one for code that catches ValueError


@pytest.mark.parametrize("deployments,expected", [
    ("  - name: nightly\n    entrypoint: flows/build_dataset.py:build_dataset_flow\n    schedule: daily\n",
     "deployment 'nightly' sets schedule, which flows/serve.py does not serve; add it there or leave it out"),
    ("  - nightly\n",
     ("deployment #1 is 'nightly', not a mapping; write it as `- name: ...` with an `entrypoint: file.py:flow` "
      "below")),
    ("  - name: nightly\n",
     "deployment #1 ('nightly') has no entrypoint; give every deployment a name and an `entrypoint: file.py:flow`"),
    ("  name: nightly\n", "`deployments:` must be a list of mappings (`- name: ...`), not dict; fix the file"),
])
def test_serve_refuses_a_bad_prefect_yaml_in_one_line(tmp_path, monkeypatch, capsys, deployments, expected):
    import flows.serve

    spec = tmp_path / "prefect.yaml"
    spec.write_text("deployments:\n" + deployments)
    monkeypatch.setattr(flows.serve, "PREFECT_YAML", spec)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached: the file is refused first
    assert flows.serve.main([]) == 2
    err = capsys.readouterr().err
    assert err == f"flows.serve: {spec}: {expected}\n"
