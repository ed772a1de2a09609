"""The renderer and scorers of a build, loaded once per process (cached), never per pair or shard.

They serve shard after shard, so nothing they keep may reach a shard's bytes: `ClipScorer` keeps
no text features between calls, and `process_shard` calls the renderer's `start_shard` to undo an
earlier shard's out-of-memory halving."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pipeline.config import RunConfig, ScoreConfig
from pipeline.run.layout import RunPaths


@lru_cache(maxsize=2)
def _renderer(model: str, device: str, dtype: str, steps: int, guidance: float, width: int, height: int,
              batch_size: int | None, scheduler: str | None, compile_mode: str | None, variant: str | None):
    from pipeline.render.diffusers import DiffusersRenderer

    return DiffusersRenderer(model, device=device, dtype=dtype, steps=steps, guidance_scale=guidance,
                             width=width, height=height, batch_size=batch_size, scheduler=scheduler,
                             compile=compile_mode, variant=variant)


@lru_cache(maxsize=2)
def _scorers(score_json: str) -> tuple:
    """The scorers of a `ScoreConfig` (as JSON: a cache key), in build order (`score.registry`)."""
    from pipeline.score.registry import build_scorers

    return tuple(build_scorers(ScoreConfig.model_validate_json(score_json)).values())


def load_models(cfg: RunConfig, out: Path | str):
    """(renderer, scorers) of the config; built-in names resolve into the run's models folder."""
    from pipeline.render.tiny_models import resolve_model

    models_dir = RunPaths(Path(out)).models(cfg.models_cache)
    r = cfg.render
    renderer = _renderer(resolve_model(r.model, models_dir), r.device, r.dtype, r.steps, r.guidance_scale,
                         r.width, r.height, r.batch_size, r.scheduler, r.compile, r.variant)
    return renderer, load_scorers(cfg, out)


def load_scorers(cfg: RunConfig, out: Path | str) -> tuple:
    """The scorers of the config alone (bench/render.py renders with a pipeline built in memory)."""
    from pipeline.render.tiny_models import resolve_model

    s, paths = cfg.score, RunPaths(Path(out))
    clip_model = resolve_model(s.clip_model, paths.models(cfg.models_cache))
    # a VLM judge's answers are cached in the run folder, as the LLM stages' are
    vlm = s.vlm.model_copy(update={"cache_path": s.vlm.cache_path or paths.llm_cache})
    return _scorers(s.model_copy(update={"clip_model": clip_model, "vlm": vlm}).model_dump_json())
