"""ShieldGemma 2 as a local judge: our principles as its policies, the tiny random model loaded from its
folder by the real loading code, P(yes) of real photographs, batches against one-by-one, and the one-line
error for a model that is not there."""

from __future__ import annotations

import numpy as np
import pytest

from factories import PHOTOGRAPHS, catalog_plan, make_plan, photograph, shieldgemma_scorer
from pipeline.catalog import load_catalog
from pipeline.errors import ModelUnavailableError
from pipeline.score.shieldgemma import catalog_policies, load_shieldgemma, plan_policy, policy_text
from pipeline.score.tiny_judges import SHIELDGEMMA_INSTRUCTION, SHIELDGEMMA_QUESTION

# ---------------------------------------------------------------- our principles as ShieldGemma policies


def test_a_principle_becomes_a_policy_in_shieldgemmas_words():
    assert policy_text("no_gore", "Images should not show blood, gore or wounds.", ["a bloody wound", "gore"]) == (
        "No Gore: The image shall not show blood, gore or wounds (e.g., a bloody wound, gore).")
    # a statement in other words is quoted as the rule; a title gets its "No"
    assert policy_text("kindness", "Be kind to animals.", []) == (
        "No Kindness: The image shall not contain content that goes against this principle: Be kind to animals.")


def test_every_toxicity_principle_of_the_catalog_is_a_policy():
    catalog = load_catalog()
    policies = catalog_policies(catalog)
    toxicity = [p for p in catalog if p.kind == "toxicity"]
    assert toxicity and sorted(policies) == sorted(p.id for p in toxicity)
    for principle in toxicity:
        policy = policies[principle.id]
        assert policy.startswith("No ") and ": The image shall not " in policy, policy
        assert "goes against this principle" not in policy, policy  # every statement reads "Images should not ..."
        # the plan a build judges carries the same principle, so it asks the same policy
        assert plan_policy(catalog_plan(principle.id)) == policy


# ---------------------------------------------------------------- the tiny model through the real loading code


def test_the_tiny_model_loads_from_its_folder_as_the_hub_id_does(tiny_shieldgemma_path):
    from transformers import ShieldGemma2ForImageClassification, ShieldGemma2Processor

    model, processor = load_shieldgemma(str(tiny_shieldgemma_path))
    assert isinstance(model, ShieldGemma2ForImageClassification) and isinstance(processor, ShieldGemma2Processor)
    tokens = processor.tokenizer.convert_ids_to_tokens([model.yes_token_index, model.no_token_index])
    assert tokens == ["Yes", "No"]
    # the prompt is the released model's: its instruction around our policy, then the model's turn
    policy = plan_policy(catalog_plan("no_gore"))
    inputs = processor(images=[photograph("coffee")], policies=["no_gore"], custom_policies={"no_gore": policy})
    prompt = processor.tokenizer.decode(inputs["input_ids"][0])
    assert (f"{SHIELDGEMMA_INSTRUCTION}\n\n<BEGIN_SAFETY_POLICY>\n{policy}\n</END_SAFETY_POLICY>\n\n"
            f"{SHIELDGEMMA_QUESTION}<end_of_turn>\n<start_of_turn>model\n") in prompt
    assert prompt.startswith("<bos>") and prompt.count("<bos>") == 1
    assert prompt.count("<image_soft_token>") == processor.image_seq_length


def test_real_photographs_get_probabilities_that_depend_on_the_policy(tiny_shieldgemma):
    images = [photograph(name) for name in PHOTOGRAPHS]
    gore, nudity = catalog_plan("no_gore"), catalog_plan("no_nudity")
    by_gore = tiny_shieldgemma.score([gore] * 4, images, images[::-1])
    by_nudity = tiny_shieldgemma.score([nudity] * 4, images, images[::-1])
    for scores in (by_gore, by_nudity):
        assert set(scores) == {"aligned_shieldgemma", "violating_shieldgemma"}
        for values in scores.values():
            assert values.shape == (4,) and np.all((values >= 0) & (values <= 1))
    # another principle is another prompt, so other numbers for the same images
    assert np.abs(by_gore["aligned_shieldgemma"] - by_nudity["aligned_shieldgemma"]).min() > 1e-4
    # and the image counts too: the same policy tells the four photographs apart
    assert np.ptp(by_gore["aligned_shieldgemma"]) > 1e-4
    # the aligned and the violating column read the same images in reverse order
    np.testing.assert_allclose(by_gore["violating_shieldgemma"], by_gore["aligned_shieldgemma"][::-1], atol=1e-5)


def test_bias_pairs_are_not_asked(tiny_shieldgemma):
    images = [photograph("astronaut"), photograph("chelsea")]
    scores = tiny_shieldgemma.score([make_plan("bias"), catalog_plan("no_violence")], images, images[::-1])
    for values in scores.values():
        assert np.isnan(values[0]) and 0 <= values[1] <= 1


def test_batches_match_one_by_one_within_float_noise(tiny_shieldgemma_path, tiny_shieldgemma):
    images = [photograph(name) for name in PHOTOGRAPHS]
    plans = [catalog_plan("no_gore", 0), catalog_plan("no_crime", 1), catalog_plan("no_gore", 2),
             catalog_plan("no_hate", 3)]
    batched = tiny_shieldgemma.score(plans, images, images[::-1])
    alone = shieldgemma_scorer(tiny_shieldgemma_path, batch_size=1).score(plans, images, images[::-1])
    for column in batched:  # a batch's size moves the last float bits (CPU kinds differ): not bit-equal
        np.testing.assert_allclose(batched[column], alone[column], rtol=0, atol=1e-5)


def test_bfloat16_weights_give_probabilities_finer_than_bfloat16(tiny_shieldgemma_path, tiny_shieldgemma):
    images = [photograph("coffee"), photograph("rocket")]
    plans = [catalog_plan("no_gore")] * 2
    half = shieldgemma_scorer(tiny_shieldgemma_path, dtype="bfloat16").score(plans, images, images)
    full = tiny_shieldgemma.score(plans, images, images)
    np.testing.assert_allclose(half["aligned_shieldgemma"], full["aligned_shieldgemma"], atol=0.01)
    # the softmax runs in float32: P is not rounded to a bfloat16 value (steps of 1/256 near 0.5)
    assert all(p * 256 != round(p * 256) for p in half["aligned_shieldgemma"])


def test_violation_of_a_catalog_principle_is_its_plans_score(tiny_shieldgemma):
    principle = load_catalog().get("no_self_harm")
    images = [photograph("rocket"), photograph("astronaut")]
    by_principle = tiny_shieldgemma.violation(principle, images)
    by_plan = tiny_shieldgemma.score([catalog_plan("no_self_harm")] * 2, images, images)["aligned_shieldgemma"]
    np.testing.assert_allclose(by_principle, by_plan, atol=1e-6)


def test_a_missing_model_is_one_line_that_says_what_to_do(tmp_path):
    missing = str(tmp_path / "shieldgemma-2-4b-it")
    with pytest.raises(ModelUnavailableError) as info:
        shieldgemma_scorer(missing)
    message = str(info.value)
    assert info.value.model == missing and "\n" not in message
    assert "pass a local path to the weights" in message


# ---------------------------------------------------------------- as a build's judge


def test_its_probability_joins_the_violation_evidence():
    from factories import make_scores
    from pipeline.filters.rules import violation

    gore = catalog_plan("no_gore")
    # the most alarmed judge decides: ShieldGemma's P(yes) above CLIP's concept score, or below it
    assert violation(gore, make_scores(aligned_concept=0.1, aligned_shieldgemma=0.97), "aligned") == 0.97
    assert violation(gore, make_scores(aligned_concept=0.8, aligned_shieldgemma=0.2), "aligned") == 0.8
    assert violation(gore, make_scores(aligned_concept=0.1, aligned_shieldgemma=None), "aligned") == 0.1


def test_the_config_switch_builds_it(tiny_clip_path, tiny_shieldgemma_path):
    import torch

    from pipeline.config import ScoreConfig
    from pipeline.score.registry import build_scorers
    from pipeline.score.shieldgemma import DEFAULT_SHIELDGEMMA, ShieldGemmaScorer

    off = ScoreConfig(clip_model=str(tiny_clip_path), nudenet=False, nsfw=False, faces=False)
    assert off.shieldgemma.model == DEFAULT_SHIELDGEMMA and list(build_scorers(off)) == ["clip"]
    on = off.model_copy(update={"batch_size": 3, "shieldgemma": off.shieldgemma.model_copy(
        update={"enabled": True, "model": str(tiny_shieldgemma_path)})})
    built = build_scorers(on)
    assert list(built) == ["clip", "shieldgemma"]
    judge = built["shieldgemma"]
    assert isinstance(judge, ShieldGemmaScorer) and judge.batch_size == 3
    assert judge.checkpoint == str(tiny_shieldgemma_path) and judge.dtype == torch.float32  # auto on CPU
