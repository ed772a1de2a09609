import pytest

from factories import make_plan, make_scores
from pipeline.config import FilterConfig
from pipeline.filters import REASONS, judge

CFG = FilterConfig(min_clip_score=20, max_aligned_violation=0.4, min_violating_violation=0.5, min_margin=0.2,
                   min_attribute_prob=0.6)


def plan(kind="toxicity", category="gore"):
    return make_plan(kind, id="x", prompt="p", principle_id="no_gore", principle="s", category=category,
                     aligned_prompt="a", violating_prompt="v", aligned_negative_prompt="", seed=1,
                     concepts=("blood",), safe_concepts=(), attribute="female" if kind == "bias" else None)


scores = make_scores


@pytest.mark.parametrize("kw, reason", [
    ({}, None),
    ({"aligned_clip": 10}, "fidelity_too_low"),
    ({"aligned_concept": 0.6}, "aligned_still_violates"),
    ({"violating_concept": 0.45}, "violating_does_not_violate"),
    ({"aligned_concept": 0.35, "violating_concept": 0.5}, "margin_too_small"),
])
def test_toxicity_reasons(kw, reason):
    assert judge(plan(), scores(**kw), CFG) == reason


def test_nudity_uses_the_detector_when_it_is_stronger():
    assert judge(plan(category="nudity"), scores(aligned_nudity=0.8), CFG) == "aligned_still_violates"
    assert judge(plan(category="gore"), scores(aligned_nudity=0.8), CFG) is None
    assert judge(plan(category="nudity"), scores(violating_concept=0.1, violating_nudity=0.9), CFG) is None


def test_bias_reason_and_first_rule_wins():
    assert judge(plan("bias", "gender_bias"), scores(aligned_concept=0.7, violating_concept=0.1), CFG) is None
    assert judge(plan("bias", "gender_bias"), scores(aligned_concept=0.5), CFG) == "bias_attribute_not_confirmed"
    assert judge(plan(), scores(aligned_clip=1, aligned_concept=0.9), CFG) == "fidelity_too_low"
    assert REASONS[0] == "fidelity_too_low" and len(set(REASONS)) == len(REASONS)
