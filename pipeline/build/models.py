"""The renderer and scorers of a build, loaded once per process (cached), never per pair or shard.

They serve shard after shard, so nothing they keep may reach a shard's bytes: `ClipScorer` keeps
no text features between calls, and `process_shard` calls the renderer's `start_shard` to undo an
earlier shard's out-of-memory halving."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.run.layout import RunPaths


@lru_cache(maxsize=2)
def _renderer(model: str, device: str, dtype: str, steps: int, guidance: float, width: int, height: int,
              batch_size: int | None, scheduler: str | None, compile_mode: str | None):
    from pipeline.render.diffusers import DiffusersRenderer

    return DiffusersRenderer(model, device=device, dtype=dtype, steps=steps, guidance_scale=guidance,
                             width=width, height=height, batch_size=batch_size, scheduler=scheduler,
                             compile=compile_mode)


@lru_cache(maxsize=2)
def _scorers(clip_model: str, nudenet: bool, nsfw: bool, faces: bool, q16_prompts: str | None, device: str,
             batch_size: int) -> tuple:
    from pipeline.score.clip import ClipScorer

    clip = ClipScorer(clip_model, device=device, batch_size=batch_size)
    scorers: list = [clip]
    if nudenet:
        from pipeline.score.nudenet import NudeNetScorer

        scorers.append(NudeNetScorer())
    if nsfw:
        from pipeline.score.opennsfw import OpenNsfwScorer

        scorers.append(OpenNsfwScorer(device=device, batch_size=batch_size))
    if faces:
        from pipeline.score.faces import FaceScorer

        scorers.append(FaceScorer())
    if q16_prompts is not None:
        from pipeline.score.q16 import Q16Scorer

        scorers.append(Q16Scorer(q16_prompts, clip))  # reuses the CLIP scorer's model and image embeddings
    return tuple(scorers)


def load_models(cfg: RunConfig, out: Path | str):
    """(renderer, scorers) of the config; built-in names resolve into the run's models folder."""
    from pipeline.render.tiny_models import resolve_model

    models_dir = RunPaths(Path(out)).models(cfg.models_cache)
    r = cfg.render
    renderer = _renderer(resolve_model(r.model, models_dir), r.device, r.dtype, r.steps, r.guidance_scale,
                         r.width, r.height, r.batch_size, r.scheduler, r.compile)
    return renderer, load_scorers(cfg, out)


def load_scorers(cfg: RunConfig, out: Path | str) -> tuple:
    """The scorers of the config alone (bench/render.py renders with a pipeline built in memory)."""
    from pipeline.render.tiny_models import resolve_model

    s = cfg.score
    q16 = str(s.q16_prompts) if s.q16_prompts is not None else None
    return _scorers(resolve_model(s.clip_model, RunPaths(Path(out)).models(cfg.models_cache)), s.nudenet, s.nsfw,
                    s.faces, q16, s.device, s.batch_size)
