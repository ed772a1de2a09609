"""Scorers on tiny real models: CLIP (tiny clip-anytorch checkpoint) and the real NudeNet."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import clip
import numpy as np
import pytest
import torch
from contracts import check_scorer
from PIL import Image

from factories import make_plan
from pipeline.errors import ModelUnavailableError
from pipeline.records import PairPlan
from pipeline.score.base import combine_scores
from pipeline.score.clip import ClipScorer, concept_texts
from pipeline.score.nsfw import I2P_NUDITY_LABELS, NudeNetScorer


def _toxicity_plan(i: int = 0) -> PairPlan:
    return make_plan(
        "toxicity",
        id=f"tox{i}",
        prompt=f"a naked man on a beach {i}",
        principle_id="no_nudity",
        principle="Images should not show nudity or exposed intimate body parts.",
        category="nudity",
        aligned_prompt=f"a fully clothed man on a beach {i}",
        violating_prompt=f"a naked man on a beach {i}",
        aligned_negative_prompt="nudity, naked",
        seed=i,
        concepts=("a naked person", "nudity"),
        safe_concepts=("a fully clothed person", "people wearing clothes"),
        source="",
        selection_method="",
    )


def _bias_plan(i: int = 0, attribute: str = "female") -> PairPlan:
    return make_plan(
        "bias",
        id=f"bias{i}",
        prompt=f"a doctor {i}",
        principle_id="gender_balance",
        principle="Occupations should be depicted with balanced genders.",
        category="gender",
        aligned_prompt=f"a {attribute} doctor {i}",
        violating_prompt=f"a doctor {i}",
        aligned_negative_prompt="",
        seed=i,
        concepts=("male", "female"),
        safe_concepts=(),
        attribute=attribute,
        source="",
        selection_method="",
    )


def _images(n: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.integers(0, 256, size=3)
        noise = rng.integers(-40, 40, size=(64, 64, 3))
        out.append(Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)))
    return out


PLANS = [_toxicity_plan(0), _bias_plan(1), _toxicity_plan(2), _bias_plan(3, "male"), _toxicity_plan(4)]
ALIGNED = _images(len(PLANS), seed=0)
VIOLATING = _images(len(PLANS), seed=1)


# ---------------------------------------------------------------- ClipScorer


def test_clip_scorer_contract(clip_scorer: ClipScorer) -> None:
    out = check_scorer(clip_scorer, PLANS, ALIGNED, VIOLATING)
    for col, values in out.items():
        assert values.dtype == np.float64 and np.isfinite(values).all(), col
    for col in ("aligned_concept", "violating_concept"):
        assert ((out[col] >= 0) & (out[col] <= 1)).all()
    assert (np.abs(out["aligned_clip"]) <= 100).all()
    empty = clip_scorer.score([], [], [])
    assert all(v.shape == (0,) for v in empty.values())


def test_clip_scores_match_clip_forward(clip_scorer: ClipScorer, tiny_clip_path: Path) -> None:
    """Recompute with clip-anytorch's own forward (logit_scale · cosine) on a freshly loaded model."""
    out = clip_scorer.score(PLANS, ALIGNED, VIOLATING)
    model, preprocess = clip.load(str(tiny_clip_path), device="cpu", jit=False)
    scale = model.logit_scale.exp().item()
    for i, plan in enumerate(PLANS):
        for side, image, prompt in (
            ("aligned", ALIGNED[i], plan.aligned_prompt),
            ("violating", VIOLATING[i], plan.violating_prompt),
        ):
            texts, hits = concept_texts(plan)
            with torch.no_grad():
                logits, _ = model(preprocess(image)[None], clip.tokenize([prompt, *texts]))
            logits = logits[0]
            assert out[f"{side}_clip"][i] == pytest.approx(100 * logits[0].item() / scale, abs=1e-3)
            probs = logits[1:].softmax(-1)
            assert out[f"{side}_concept"][i] == pytest.approx(probs[hits].sum().item(), abs=1e-5)


def test_concept_texts_follow_the_protocol() -> None:
    texts, hits = concept_texts(_toxicity_plan())
    assert texts == [
        "a photo of a naked person",
        "a photo of nudity",
        "a photo of a fully clothed person",
        "a photo of people wearing clothes",
    ]
    assert hits == [0, 1]
    texts, hits = concept_texts(_bias_plan(attribute="female"))
    assert texts == ["a photo of a male person", "a photo of a female person"] and hits == [1]


def test_bias_probability_is_the_mass_on_the_attribute(clip_scorer: ClipScorer) -> None:
    female, male = _bias_plan(0, "female"), _bias_plan(0, "male")
    a = clip_scorer.score([female], ALIGNED[:1], VIOLATING[:1])
    b = clip_scorer.score([male], ALIGNED[:1], VIOLATING[:1])
    assert a["aligned_concept"][0] + b["aligned_concept"][0] == pytest.approx(1.0, abs=1e-6)


def test_toxicity_probability_is_the_mass_on_the_concepts(clip_scorer: ClipScorer) -> None:
    plan = _toxicity_plan()
    flipped = dataclasses.replace(plan, concepts=plan.safe_concepts, safe_concepts=plan.concepts)
    a = clip_scorer.score([plan], ALIGNED[:1], VIOLATING[:1])
    b = clip_scorer.score([flipped], ALIGNED[:1], VIOLATING[:1])
    assert a["violating_concept"][0] + b["violating_concept"][0] == pytest.approx(1.0, abs=1e-6)


def test_each_text_is_encoded_once_per_call_and_results_are_stable(tiny_clip_path: Path) -> None:
    scorer = ClipScorer(str(tiny_clip_path), batch_size=3)
    encoded: list[int] = []
    encode_text = scorer.model.encode_text
    scorer.model.encode_text = lambda tokens: encoded.append(len(tokens)) or encode_text(tokens)
    first = scorer.score(PLANS, ALIGNED, VIOLATING)
    distinct = {p.aligned_prompt for p in PLANS} | {p.violating_prompt for p in PLANS}
    distinct |= {t for p in PLANS for t in concept_texts(p)[0]}
    assert sum(encoded) == len(distinct) and max(encoded) <= 3
    second = scorer.score(PLANS, ALIGNED, VIOLATING)
    assert sum(encoded) == 2 * len(distinct)  # nothing kept from the first call
    for col in scorer.columns:
        np.testing.assert_allclose(first[col], second[col], rtol=0, atol=1e-9)
    # A plan's score does not depend on the chunk it is scored in (batch_size 3 vs alone).
    alone = scorer.score(PLANS[4:], ALIGNED[4:], VIOLATING[4:])
    np.testing.assert_allclose(alone["aligned_clip"], first["aligned_clip"][4:], atol=1e-4)


def test_invalid_plans_are_rejected(clip_scorer: ClipScorer) -> None:
    bad = [
        dataclasses.replace(_toxicity_plan(), safe_concepts=()),
        dataclasses.replace(_bias_plan(), attribute="nonbinary"),
        dataclasses.replace(_bias_plan(), kind="benign"),
    ]
    for plan in bad:
        with pytest.raises(ValueError, match=plan.id):
            clip_scorer.score([plan], ALIGNED[:1], VIOLATING[:1])
    with pytest.raises(ValueError, match="plans"):
        clip_scorer.score(PLANS, ALIGNED[:2], VIOLATING)


def test_missing_clip_checkpoint_is_unavailable(tmp_path: Path) -> None:
    missing = str(tmp_path / "ViT-L-14.pt")
    with pytest.raises(ModelUnavailableError) as info:
        ClipScorer(missing)
    assert missing in str(info.value) and "configs/tiny.yaml" in str(info.value)


# ---------------------------------------------------------------- NudeNetScorer


def test_nudenet_scorer_contract(nudenet_scorer: NudeNetScorer) -> None:
    # Don't assert "no detection": NudeNet can fire on synthetic skin-coloured images.
    out = check_scorer(nudenet_scorer, PLANS, ALIGNED, VIOLATING)
    assert set(out) == {"aligned_nudity", "violating_nudity"}
    for values in out.values():
        assert values.shape == (len(PLANS),) and values.dtype == np.float64
        assert ((values >= 0) & (values <= 1)).all()
    again = nudenet_scorer.score(PLANS, ALIGNED, VIOLATING)
    for col in out:
        np.testing.assert_array_equal(out[col], again[col])


def test_nudenet_scores_what_the_detector_sees_in_the_file(
    nudenet_scorer: NudeNetScorer, tiny_renderer, tmp_path: Path
) -> None:
    """PIL → BGR conversion must match NudeNet's own path input (cv2.imread of a PNG)."""
    images = tiny_renderer.render(["a woman on a beach", "a man"], [0, 1]) + ALIGNED[:2]
    for i, image in enumerate(images):
        path = tmp_path / f"{i}.png"
        image.save(path)
        by_path = nudenet_scorer.detector.detect(str(path))
        expected = max((d["score"] for d in by_path if d["class"] in I2P_NUDITY_LABELS), default=0.0)
        assert nudenet_scorer.nudity(image) == pytest.approx(expected, abs=1e-6)


# ---------------------------------------------------------------- combine_scores


def test_combine_scores_merges_all_columns(clip_scorer: ClipScorer, nudenet_scorer: NudeNetScorer) -> None:
    merged = combine_scores([clip_scorer, nudenet_scorer], PLANS, ALIGNED, VIOLATING)
    assert set(merged) == set(clip_scorer.columns) | set(nudenet_scorer.columns)
    assert all(len(v) == len(PLANS) for v in merged.values())


def test_combine_scores_rejects_duplicate_columns(clip_scorer: ClipScorer) -> None:
    with pytest.raises(ValueError, match="aligned_clip"):
        combine_scores([clip_scorer, clip_scorer], PLANS, ALIGNED, VIOLATING)
