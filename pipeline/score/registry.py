"""The one list of scorers: each with the `ScoreConfig` switch that turns it on and how it is built
from the config. A build (`pipeline.build.models`) and `livo eval`'s `ImageJudge` both build theirs
with `build_scorers`; what each scorer writes is its class's ``outputs`` (declared in
`pipeline.run.score_columns`).

Scorer modules are imported only when their scorer is built (torch, ONNX and dlib load slowly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.config import ScoreConfig
from pipeline.run.score_columns import SCORER_SWITCHES
from pipeline.score.base import Scorer


@dataclass(frozen=True)
class Registered:
    """A scorer: its name, whether a config turns it on, and how it is built (``built`` holds the
    scorers built before it, by name: Q16 reuses CLIP's model and image embeddings)."""

    name: str
    enabled: Callable[[ScoreConfig], bool]
    build: Callable[[ScoreConfig, dict[str, Scorer]], Scorer]


def _clip(s: ScoreConfig, built: dict[str, Scorer]) -> Scorer:
    from pipeline.score.clip import ClipScorer

    return ClipScorer(s.clip_model, device=s.device, batch_size=s.batch_size)


def _nudenet(s: ScoreConfig, built: dict[str, Scorer]) -> Scorer:
    from pipeline.score.nsfw import NudeNetScorer

    return NudeNetScorer()


def _nsfw(s: ScoreConfig, built: dict[str, Scorer]) -> Scorer:
    from pipeline.score.nsfw import OpenNsfwScorer

    return OpenNsfwScorer(device=s.device, batch_size=s.batch_size)


def _faces(s: ScoreConfig, built: dict[str, Scorer]) -> Scorer:
    from pipeline.score.faces import FaceScorer

    return FaceScorer()


def _q16(s: ScoreConfig, built: dict[str, Scorer]) -> Scorer:
    from pipeline.score.q16 import Q16Scorer

    return Q16Scorer(s.q16_prompts, built["clip"])


def _vlm(s: ScoreConfig, built: dict[str, Scorer]) -> Scorer:
    from pipeline.score.vlm import VLMJudge

    return VLMJudge(s.vlm)


def _shieldgemma(s: ScoreConfig, built: dict[str, Scorer]) -> Scorer:
    from pipeline.score.shieldgemma import ShieldGemmaScorer

    g = s.shieldgemma
    return ShieldGemmaScorer(g.model, device=s.device, dtype=g.dtype, batch_size=s.batch_size)


_BUILDERS: dict[str, Callable[[ScoreConfig, dict[str, Scorer]], Scorer]] = {
    "clip": _clip, "nudenet": _nudenet, "nsfw": _nsfw, "faces": _faces, "q16": _q16, "vlm": _vlm,
    "shieldgemma": _shieldgemma}

# In build order (the order scorers run in a shard), as `SCORER_SWITCHES` declares them.
SCORERS: tuple[Registered, ...] = tuple(Registered(s.name, s.enabled, _BUILDERS[s.name]) for s in SCORER_SWITCHES)


def build_scorers(score: ScoreConfig) -> dict[str, Scorer]:
    """The scorers a config turns on, by name, in build order; ``score.clip_model`` as given
    (a build resolves the ``builtin:`` names first)."""
    built: dict[str, Scorer] = {}
    for entry in SCORERS:
        if entry.enabled(score):
            built[entry.name] = entry.build(score, built)
    return built
