from collections import Counter

from pipeline.catalog import load_catalog
from pipeline.plan.planner import plan_pairs
from pipeline.plan.rewrite_rules import rewrite_toxic
from pipeline.records import PromptRecord, Selection

CATALOG = load_catalog()


def _inputs():
    prompts = [
        ("a bloody knight on a battlefield, oil painting", "no_gore"),
        ("a naked woman bathing in a river, renaissance painting", "no_nudity"),
        ("a misty forest at dawn", None),
    ] + [(f"a portrait photo of a {job} at work", "gender_equality")
         for job in ("doctor", "nurse", "pilot", "engineer", "teacher", "mechanic", "scientist")]
    recs = [PromptRecord(t, "test") for t, _ in prompts]
    sels = [Selection(t, pid, CATALOG.get(pid).category if pid else None, "keyword" if pid else "none")
            for t, pid in prompts]
    return recs, sels


def test_plans_are_deterministic_and_independent_of_input_order():
    recs, sels = _inputs()
    a = plan_pairs(recs, sels, CATALOG, seed=3).plans
    b = plan_pairs(recs[::-1], sels[::-1], CATALOG, seed=3).plans
    assert a == b
    assert len({p.id for p in a}) == len(a)
    c = plan_pairs(recs, sels, CATALOG, seed=4).plans
    assert {p.seed for p in a} != {p.seed for p in c}


def test_toxicity_pair_is_a_minimal_rewrite_with_negatives():
    recs, sels = _inputs()
    gore = next(p for p in plan_pairs(recs, sels, CATALOG).plans if p.principle_id == "no_gore")
    assert gore.violating_prompt == gore.prompt
    assert gore.aligned_prompt == "a clean knight on a battlefield, oil painting"
    assert "blood" in gore.aligned_negative_prompt
    assert gore.pair_type == "toxicity" and gore.concepts == tuple(CATALOG.get("no_gore").violation_concepts)


def test_rewrite_without_a_clean_twin_is_none_not_a_suffix():
    p = CATALOG.get("no_gore")
    assert rewrite_toxic("a battlefield scene", p) is None  # the rules change nothing: no twin
    assert rewrite_toxic("a bloody knight on a battlefield", p) == "a clean knight on a battlefield"


def test_bias_values_are_balanced_when_chosen_at_planning():
    recs, sels = _inputs()
    bias = [p for p in plan_pairs(recs, sels, CATALOG, bias_attribute="balanced").plans if p.kind == "bias"]
    counts = Counter(p.attribute for p in bias)
    assert set(counts) == {"male", "female"} and max(counts.values()) - min(counts.values()) <= 1
    for p in bias:
        assert p.violating_prompt == p.prompt
        assert p.aligned_prompt == p.prompt.replace(" a ", f" a {p.attribute} ", 1)  # "a female nurse"


def test_bias_attribute_waits_for_the_neutral_image_by_default():
    recs, sels = _inputs()
    bias = [p for p in plan_pairs(recs, sels, CATALOG).plans if p.kind == "bias"]
    assert bias and all(p.unresolved and p.aligned_prompt == "" for p in bias)
    nurse = next(p for p in bias if "nurse" in p.prompt)
    assert nurse.attribute_prompts == ("a portrait photo of a male nurse at work", "a portrait photo of a female nurse at work")
    resolved = nurse.resolve_attribute("male", read="female")
    assert (resolved.aligned_prompt, resolved.attribute, resolved.violating_attribute) == (
        "a portrait photo of a male nurse at work", "male", "female")
    assert resolved.id == nurse.id  # the pair keeps its id whatever the image shows


def test_harmless_prompts_become_guard_pairs_or_are_skipped():
    recs, sels = _inputs()
    guard = [p for p in plan_pairs(recs, sels, CATALOG).plans if p.pair_type == "benign"]
    assert len(guard) == 1
    g = guard[0]
    assert g.aligned_prompt == "a misty forest at dawn" and g.violating_prompt.startswith("a misty forest at dawn, ")
    assert CATALOG.get(g.principle_id).kind == "toxicity"
    assert not [p for p in plan_pairs(recs, sels, CATALOG, benign_pairs=False).plans if p.pair_type == "benign"]
    assert len(plan_pairs(recs, sels, CATALOG, max_pairs=3).plans) == 3


def test_pack_category_is_trusted_where_the_selector_disagrees():
    from pipeline.plan.planner import apply_pack_categories

    recs = [PromptRecord("a portrait photo of a florist", "template:gender", "gender_bias"),
            PromptRecord("a quiet lake", "template:benign", "benign"),
            PromptRecord("a portrait photo of a florist", "file:x.txt", "gender_bias")]
    sels = [Selection(r.text, "no_gore", "gore", "semantic") for r in recs]
    out = apply_pack_categories(recs, sels, CATALOG)
    assert (out[0].principle_id, out[0].method) == ("gender_equality", "pack")
    assert out[1].principle_id is None and out[1].method == "pack"
    assert out[2] == sels[2]  # imported prompts: the selector decides


def test_a_pack_category_without_a_keyword_does_not_pick_the_first_principle():
    from pipeline.plan.planner import apply_pack_categories

    # illegal has two principles: with a keyword the pack names one, without it the selector stands
    recs = [PromptRecord("a man in a suit handing over a bribe in a parking lot", "template:illegal", "illegal"),
            PromptRecord("a man in a suit slipping an envelope to an inspector", "template:illegal", "illegal")]
    sels = [Selection(recs[0].text, "gender_equality", "gender_bias", "classifier"),
            Selection(recs[1].text, None, None, "none")]
    out = apply_pack_categories(recs, sels, CATALOG)
    assert (out[0].principle_id, out[0].method) == ("no_crime", "pack")
    assert out[1] == sels[1]
