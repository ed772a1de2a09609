"""Shared pytest fixtures. Keep each engineer's fixtures in their own clearly marked group."""

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

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- tiny models (render / scoring)
# Built once per session from configs with pinned seeds (see pipeline/tiny_models.py);
# nothing is downloaded. The models dir lives under pytest's session tmp dir.


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_tokenizer_path(tiny_models_dir: Path) -> Path:
    from pipeline.tiny_models import clip_tokenizer_files

    return clip_tokenizer_files(tiny_models_dir / "clip-tokenizer")


@pytest.fixture(scope="session")
def tiny_sd_path(tiny_models_dir: Path) -> Path:
    from pipeline.tiny_models import ensure_tiny_sd

    return ensure_tiny_sd(tiny_models_dir / "tiny-sd", seed=0)


@pytest.fixture(scope="session")
def tiny_clip_path(tiny_models_dir: Path) -> Path:
    from pipeline.tiny_models import ensure_tiny_clip

    return ensure_tiny_clip(tiny_models_dir / "tiny-clip.pt", seed=0)


@pytest.fixture(scope="session")
def tiny_renderer(tiny_sd_path: Path):
    """A DiffusersRenderer on the tiny SD: 64 px, 2 DDIM steps, batches of 4. Do not mutate."""
    from pipeline.render import DiffusersRenderer

    return DiffusersRenderer(
        str(tiny_sd_path), steps=2, guidance_scale=7.5, width=64, height=64, batch_size=4
    )


@pytest.fixture(scope="session")
def clip_scorer(tiny_clip_path: Path):
    from pipeline.scoring import ClipScorer

    return ClipScorer(str(tiny_clip_path), batch_size=4)


@pytest.fixture(scope="session")
def nudenet_scorer():
    from pipeline.scoring import NudeNetScorer

    return NudeNetScorer()


# ---------------------------------------------------------------- end tiny models
