import pytest

from factories import make_plan, make_scores
from pipeline.config import FilterConfig
from pipeline.filters import REASONS, attribute_judge, judge

CFG = FilterConfig(min_clip_score=20, max_aligned_nsfw=0.8, max_aligned_violation=0.4, min_violating_violation=0.5, min_margin=0.2,
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


def test_every_judge_of_an_image_counts_the_most_alarmed_decides():
    nude = plan(category="nudity")
    assert judge(nude, scores(aligned_nsfw=0.7), CFG) == "aligned_still_violates"  # OpenNSFW, nudity only
    assert judge(plan(), scores(aligned_nsfw=0.7), CFG) is None
    assert judge(nude, scores(violating_concept=0.1, violating_nsfw=0.95), CFG) is None
    assert judge(plan(), scores(aligned_q16=0.9), CFG) == "aligned_still_violates"  # Q16: every toxicity pair
    assert judge(plan(), scores(violating_concept=0.1, violating_q16=0.8), CFG) is None
    # A judge that is off (null score) says nothing.
    assert judge(plan(), scores(aligned_q16=None, aligned_nsfw=float("nan")), CFG) is None


def test_fidelity_without_its_clip_judge_says_nothing_like_the_other_rules():
    no_clip = scores()
    del no_clip["aligned_clip"], no_clip["violating_clip"]
    for off in (no_clip, scores(aligned_clip=None, violating_clip=None),
                scores(aligned_clip=float("nan"), violating_clip=float("nan"))):
        assert judge(plan(), off, CFG) is None
        assert judge(plan(), {**off, "aligned_concept": 0.6}, CFG) == "aligned_still_violates"  # the others still judge
    # the side that was scored still decides
    assert judge(plan(), scores(aligned_clip=None, violating_clip=10), CFG) == "fidelity_too_low"
    assert judge(plan(), scores(aligned_clip=10, violating_clip=float("nan")), CFG) == "fidelity_too_low"
    assert judge(plan(), scores(aligned_clip=float("nan"), violating_clip=30), CFG) is None


def test_an_nsfw_aligned_image_drops_any_pair():
    assert CFG.max_aligned_nsfw == 0.8
    assert judge(plan("bias", "gender_bias"), scores(aligned_concept=0.9, aligned_nsfw=0.85), CFG) == "aligned_is_nsfw"
    assert judge(plan("bias", "gender_bias"), scores(aligned_concept=0.9, aligned_nsfw=0.75), CFG) is None


def test_thresholds_per_category_override_the_global_ones():
    cfg = FilterConfig(**CFG.model_dump(exclude={"by_category"}), by_category={"gore": {"max_aligned_violation": 0.05}})
    assert judge(plan(), scores(aligned_concept=0.1), cfg) == "aligned_still_violates"
    assert judge(plan(category="violence"), scores(aligned_concept=0.1), cfg) is None
    assert cfg.for_category("gore").min_margin == CFG.min_margin


def test_the_face_classifier_confirms_gender_and_age_where_it_found_a_face():
    woman = plan("bias", "gender_bias")  # asks for "female"
    face = {"aligned_faces": 1, "aligned_face_female": 0.9, "aligned_face_age": 30}
    # CLIP doubts it, the face classifier sees a woman: the face decides.
    assert judge(woman, scores(aligned_concept=0.2, **face), CFG) is None
    assert attribute_judge(woman, scores(aligned_concept=0.2, **face)) == "face"
    man = dict(face, aligned_face_female=0.1)
    assert judge(woman, scores(aligned_concept=0.9, **man), CFG) == "bias_attribute_not_confirmed"
    # No face: CLIP decides.
    assert judge(woman, scores(aligned_concept=0.7, aligned_faces=0), CFG) is None
    assert attribute_judge(woman, scores(aligned_concept=0.7, aligned_faces=0)) == "clip"
    elderly = make_plan("bias", category="age_bias", concepts=("young adult", "middle-aged", "elderly"),
                        attribute="elderly")
    assert judge(elderly, scores(aligned_concept=0.0, **dict(face, aligned_face_age=72)), CFG) is None
    assert judge(elderly, scores(aligned_concept=0.9, **face), CFG) == "bias_attribute_not_confirmed"


def test_race_is_always_judged_by_clip():
    race = make_plan("bias", category="race_bias", concepts=("white", "black"), attribute="black")
    s = scores(aligned_concept=0.7, aligned_faces=1, aligned_face_female=0.9, aligned_face_age=30)
    assert judge(race, s, CFG) is None and attribute_judge(race, s) == "clip"
    assert attribute_judge(plan(), s) is None
