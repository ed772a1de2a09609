"""A scorer declares its columns and their meanings once (`pipeline.run.score_columns`) and is listed
once (`pipeline.score.registry`); the shard schema, the card's meanings, a build's models and
`livo eval`'s judge all derive from those two."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from factories import make_plan
from pipeline.build import models
from pipeline.config import ScoreConfig
from pipeline.run import card, score_columns
from pipeline.run.schema import SCORE_COLUMNS, SHARD_SCHEMA
from pipeline.score import registry
from pipeline.score.base import PerImageScorer, combine_scores


class BrightnessScorer(PerImageScorer):
    """A new scorer, declared once: mean brightness of each image."""

    outputs = score_columns.paired("brightness", "mean brightness of the image (0-255)")
    columns = score_columns.names(outputs)

    def per_image(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.array([np.asarray(im.convert("L"), dtype=np.float64).mean() for im in images])


def test_every_declared_column_has_a_meaning_a_type_and_a_place_in_the_schema():
    declared = [c for outputs in score_columns.SCORE_OUTPUTS for c in outputs]
    assert SCORE_COLUMNS == tuple(c.name for c in declared)
    assert len(set(SCORE_COLUMNS)) == len(SCORE_COLUMNS)
    schema_scores = [n for n in SHARD_SCHEMA.names if n.startswith(("aligned_", "violating_"))
                     and n not in ("aligned_prompt", "violating_prompt", "aligned_negative_prompt",
                                   "violating_attribute")]
    assert schema_scores == list(SCORE_COLUMNS)  # and nothing else is a score
    for c in declared:
        assert c.meaning and card._meaning(c.name) == c.meaning
        assert str(SHARD_SCHEMA.field(c.name).type) == {"float32": "float"}.get(c.dtype, c.dtype)


def test_the_scorer_classes_take_their_columns_from_the_declarations():
    from pipeline.score.clip import ClipScorer
    from pipeline.score.faces import FaceScorer
    from pipeline.score.nsfw import NudeNetScorer, OpenNsfwScorer
    from pipeline.score.q16 import Q16Scorer
    from pipeline.score.shieldgemma import ShieldGemmaScorer
    from pipeline.score.vlm import VLMJudge

    classes = (ClipScorer, NudeNetScorer, OpenNsfwScorer, FaceScorer, Q16Scorer, VLMJudge, ShieldGemmaScorer)
    assert {cls.outputs for cls in classes} == set(score_columns.SCORE_OUTPUTS)
    assert all(cls.columns == score_columns.names(cls.outputs) for cls in classes)
    assert [e.name for e in registry.SCORERS] == ["clip", "nudenet", "nsfw", "faces", "q16", "vlm", "shieldgemma"]


def test_the_switches_of_score_config_turn_scorers_on(monkeypatch):
    monkeypatch.setattr(registry, "SCORERS", tuple(
        registry.Registered(e.name, e.enabled, lambda s, built, name=e.name: name) for e in registry.SCORERS))
    assert list(registry.build_scorers(ScoreConfig())) == ["clip", "nudenet", "nsfw", "faces"]
    off = ScoreConfig(nudenet=False, nsfw=False, faces=False, q16_prompts="prompts.p")
    assert list(registry.build_scorers(off)) == ["clip", "q16"]


def test_a_registered_scorer_is_built_for_a_build_and_its_columns_merge(monkeypatch):
    monkeypatch.setattr(registry, "SCORERS", (registry.Registered("brightness", lambda s: True,
                                                                  lambda s, built: BrightnessScorer()),))
    models._scorers.cache_clear()
    try:
        (scorer,) = models._scorers(ScoreConfig().model_dump_json())
    finally:
        models._scorers.cache_clear()
    assert isinstance(scorer, BrightnessScorer)
    plans = [make_plan()]
    merged = combine_scores([scorer], plans, [Image.new("RGB", (4, 4), (255, 255, 255))],
                            [Image.new("RGB", (4, 4), (0, 0, 0))])
    assert merged == {"aligned_brightness": pytest.approx([255.0]), "violating_brightness": pytest.approx([0.0])}


def test_livo_evals_judge_builds_the_registered_scorers(monkeypatch):
    from livo_train.evaluate import ImageJudge

    seen: list[ScoreConfig] = []

    def fake(name):
        def build(s, built):
            seen.append(s)
            return f"{name} scorer"
        return build

    monkeypatch.setattr(registry, "SCORERS", tuple(
        registry.Registered(e.name, e.enabled, fake(e.name)) for e in registry.SCORERS))
    judge = ImageJudge("clip.pt", device="cuda", nsfw=False, q16_prompts="prompts.p")
    assert (judge.clip, judge.nudenet, judge.nsfw, judge.faces, judge.q16) == (
        "clip scorer", "nudenet scorer", None, "faces scorer", "q16 scorer")
    assert seen[0].clip_model == "clip.pt" and seen[0].device == "cuda"
