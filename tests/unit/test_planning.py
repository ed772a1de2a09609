from collections import Counter

import pytest

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
    assert rewrite_toxic("a battlefield scene", p, CATALOG) is None  # the rules change nothing: no twin
    assert rewrite_toxic("a bloody knight on a battlefield", p, CATALOG) == "a clean knight on a battlefield"


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


# ---------------------------------------------------------------- prompts people really type


def _plan_one(text: str, pid: str | None, check=None):
    sel = Selection(text, pid, CATALOG.get(pid).category if pid else None, "keyword" if pid else "none")
    return plan_pairs([PromptRecord(text, "file:test")], [sel], CATALOG, check=check)


def test_a_tag_list_twin_leaves_out_the_tags_that_carry_the_harm():
    from pipeline.plan.checks import PromptCheck
    from pipeline.plan.planner import segments, tag_twins, without

    parts = segments("portrait of a knight , gore, guts spilling out,by some artist")
    assert parts[0::2] == ["portrait of a knight", "gore", "guts spilling out", "by some artist"]
    assert without(parts, {1, 2}) == "portrait of a knight,by some artist"
    twins = tag_twins("portrait of a knight, gore, by some artist", "portrait of a knight, gore, by some artist",
                      PromptCheck(CATALOG))
    assert twins[0] == "portrait of a knight, by some artist"  # the tag that alone carries harm, first
    assert "portrait of a knight, gore" in twins  # then one tag at a time, from the last
    assert tag_twins("a knight covered in gore", "a knight covered in gore", PromptCheck(CATALOG)) == []
    plan = _plan_one("a knight standing in a field, intricate, gore, trending on artstation", "no_gore")
    [pair] = plan.plans
    assert pair.aligned_prompt == "a knight standing in a field, intricate, trending on artstation"


class _ScoredSelector:
    """A selector at the Selector boundary that scores harm by weighted words (the default selector's
    head does it by training; this one's numbers are set by hand so the order is known)."""

    name = "scored"

    def harm_probabilities(self, prompts):
        weights = {"menacing": 0.25, "photorealistic": 0.1}
        return [sum(w for word, w in weights.items() if word in p) for p in prompts]

    def select(self, prompts):
        return [Selection(p, "no_violence" if h >= 0.3 else None, "violence" if h >= 0.3 else None,
                          "classifier" if h >= 0.3 else "none") for p, h in zip(prompts, self.harm_probabilities(prompts))]


def test_a_tag_twin_drops_the_tag_that_leaves_the_least_harm_first():
    from pipeline.plan.checks import PromptCheck
    from pipeline.plan.planner import tag_twins

    # harm 0.35: leaving out "photorealistic" (0.25) or the glare (0.1) each passes a 0.3 check;
    # the twin is the one without the harm, not the first from the end
    prompt = "a man in an alley, menacing glare, photorealistic, 8k"
    scored = tag_twins(prompt, prompt, PromptCheck(CATALOG, _ScoredSelector()))
    assert scored[:2] == ["a man in an alley, photorealistic, 8k", "a man in an alley, menacing glare, 8k"]
    assert tag_twins(prompt, prompt, PromptCheck(CATALOG))[0] == "a man in an alley, menacing glare, photorealistic"
    [pair] = _plan_one(prompt, "no_violence", check=PromptCheck(CATALOG, _ScoredSelector())).plans
    assert pair.aligned_prompt == "a man in an alley, photorealistic, 8k"


class _TwoTagSelector(_ScoredSelector):
    """Harm in two tags, each below the check's 0.3 alone and above it together; a subject that is
    harmful by itself."""

    def harm_probabilities(self, prompts):
        weights = {"menacing glare": 0.2, "snarling face": 0.2, "alley": 0.15, "looming": 0.5}
        return [sum(w for word, w in weights.items() if word in p) for p in prompts]


def test_harm_in_two_tags_leaves_with_both_and_a_harmful_subject_keeps_its_tags():
    from pipeline.plan.checks import PromptCheck
    from pipeline.plan.planner import greedy_tag_twins, tag_twins

    check = PromptCheck(CATALOG, _TwoTagSelector())
    prompt = "a man in an alley, menacing glare, dim light, snarling face, photorealistic, 8k"
    # no single drop passes (each leaves 0.35); the greedy path drops the two harmful tags first (0.15)
    assert greedy_tag_twins({0: prompt}, {0: prompt}, check)[0][0] == "a man in an alley, dim light, photorealistic, 8k"
    [pair] = _plan_one(prompt, "no_violence", check=check).plans
    assert pair.aligned_prompt == "a man in an alley, dim light, photorealistic, 8k"
    # at most half of the tags go: four tags, two drops
    assert all(len(t.split(",")) >= 2 for t in greedy_tag_twins({0: "a man, menacing glare, snarling face, 8k"},
                                                                {0: "a man, menacing glare, snarling face, 8k"},
                                                                check).get(0, []))
    # the harm is the subject's: no tag's loss removes it
    subject = "a man looming over a tourist, menacing glare, dim light, snarling face, photorealistic"
    assert tag_twins(subject, subject, check) == [] and greedy_tag_twins({0: subject}, {0: subject}, check) == {}
    assert _plan_one(subject, "no_violence", check=check).plans == []


def test_a_benign_pair_differs_by_its_injection_alone():
    # the violating side is tidied when the injection is appended; the aligned side is tidied alike
    [pair] = _plan_one("a photo of an banana , , on a table", None).plans
    assert pair.aligned_prompt == "a photo of a banana, on a table"
    assert pair.violating_prompt.startswith(pair.aligned_prompt + ", ") and pair.prompt == "a photo of an banana , , on a table"


def test_benign_pairs_only_on_clean_english_sources():
    from pipeline.plan.checks import SOURCE_NOT_CLEAN, SOURCE_NOT_ENGLISH

    assert [p.pair_type for p in _plan_one("a lighthouse on a rocky coast at dusk", None).plans] == ["benign"]
    for text, reason in [("ein Leuchtturm an der felsigen Küste bei Dämmerung", SOURCE_NOT_ENGLISH),
                         ("маяк на скалистом берегу", SOURCE_NOT_ENGLISH),
                         ("😜🌹", SOURCE_NOT_ENGLISH),
                         # a keyword the selection was overruled on (a pack's benign hint) is still no clean source
                         ("a lighthouse at dusk, blood everywhere", SOURCE_NOT_CLEAN),
                         # no keyword, but a phrase the rewrite rules take for harm
                         ("a lighthouse made of cannabis buds at dusk", SOURCE_NOT_CLEAN)]:
        plan = _plan_one(text, None)
        assert plan.plans == [] and [d.reason for d in plan.dropped] == [reason], text


def test_english_is_read_from_inflected_words_the_model_lacks_not_from_foreign_ones():
    from pipeline.select.embed import english_vocabulary, is_english

    words = ("memes", "hedgehogs", "cupcakes", "lighthouses", "sunflowers")
    assert not any(w in english_vocabulary() for w in words)  # the model reads these as word pieces
    assert is_english("hedgehogs eating cupcakes among sunflowers") and is_english("two memes about lighthouses")
    assert not is_english("una pintura de una mujer con sombrero rojo junto al mar")
    assert not is_english("ein Gemälde einer Frau mit rotem Hut und einer Katze")


def test_a_twin_is_not_refused_for_slips_the_users_prompt_already_has():
    from pipeline.plan.checks import PromptCheck
    from pipeline.plan.fluency import edit_problems, fluency_problems

    prompt = "a naked man  on a beach , very very very detailed, 8 k"
    twin = "a clothed man  on a beach , very very very detailed, 8 k"
    assert fluency_problems(twin) and edit_problems(twin, prompt) == []
    assert edit_problems("a clothed man with a umbrella", "a naked man with an umbrella") == ["'a umbrella'"]
    assert PromptCheck(CATALOG).aligned_problems([(twin, prompt)]) == [None]


def test_an_image_maker_in_a_quality_tag_is_not_the_person_who_gets_the_attribute():
    from pipeline.plan.phrasing import state_attribute

    p = CATALOG.get("racial_equality")
    assert state_attribute("a woman reading, professional photographer, 8k", p, "black", CATALOG) \
        == "a Black woman reading, professional photographer, 8k"
    g = CATALOG.get("gender_equality")
    assert state_attribute("award-winning photographer, a doctor at work", g, "female", CATALOG) \
        == "award-winning photographer, a female doctor at work"


@pytest.mark.parametrize("pid,value,prompt,want", [
    # describing adjectives stay in front of the attribute, compounds behind it
    ("gender_equality", "female", "a tired truck driver at night", "a tired female truck driver at night"),
    ("racial_equality", "black", "an ultra detailed woman on a bench", "an ultra detailed Black woman on a bench"),
    ("racial_equality", "black", "a portrait of an anime girl, 8k", "a portrait of a Black anime girl, 8k"),
    # people named by their age still have an open gender or race
    ("gender_equality", "female", "children playing in the snow", "female children playing in the snow"),
    ("racial_equality", "black", "a toddler with a balloon", "a Black toddler with a balloon"),
    # the adjective's feminine form for a woman or girl; an adverb keeps its adjective
    ("racial_equality", "latino", "a girl reading under a tree", "a Latina girl reading under a tree"),
    ("racial_equality", "latino", "a doctor at work", "a Latino doctor at work"),
    ("racial_equality", "black", "a morbidly obese woman eating", "a morbidly obese Black woman eating"),
    ("gender_equality", "male", "a baby seal on the ice", None),
    # a word with a role's ending before a noun is an adjective, not a person
    ("racial_equality", "black", "the dystopian world around her", None),
    ("racial_equality", "black", "a musician playing guitar", "a Black musician playing guitar"),
])
def test_attribute_goes_where_a_reader_would_say_it(pid, value, prompt, want):
    from pipeline.plan.phrasing import state_attribute

    assert state_attribute(prompt, CATALOG.get(pid), value, CATALOG) == want


def test_a_bias_pair_needs_someone_to_describe():
    texts = ["an empty raincoat floating in a dark corridor, cinematic", "a nurse on a night shift, 35mm"]
    recs = [PromptRecord(t, "file:x") for t in texts]
    sels = [Selection(t, "racial_equality", "racial_bias", "classifier") for t in texts]
    plan = plan_pairs(recs, sels, CATALOG, benign_pairs=False)
    assert [p.violating_prompt for p in plan.plans] == [texts[1]]
    assert [(d.prompt, d.reason) for d in plan.dropped] == [(texts[0], "no_person_to_describe")]
    # with guard pairs on, the prompt that names nobody gets what a prompt without a principle gets
    plan = plan_pairs(recs, sels, CATALOG)
    assert sorted((p.pair_type, p.aligned_prompt == p.prompt) for p in plan.plans) == [("benign", True), ("bias", False)]
    guard = next(p for p in plan.plans if p.pair_type == "benign")
    assert guard.prompt == texts[0] and guard.kind == "toxicity" and guard.selection_method == "guard"
    assert plan.dropped == []


def test_race_beside_a_stereotypes_trait_is_paired_as_the_next_open_attribute():
    # selection says race applies; the aligned "an angry Black woman" would teach the stereotype
    texts = ["an angry woman waiting at a bus stop", "a lazy teenage boy on a sofa", "a woman waiting at a bus stop"]
    recs = [PromptRecord(t, "file:x") for t in texts]
    sels = [Selection(t, "racial_equality", "racial_bias", "classifier") for t in texts]
    plan = plan_pairs(recs, sels, CATALOG)
    got = {p.prompt: (p.pair_type, p.principle_id) for p in plan.plans}
    assert got[texts[0]] == ("bias", "age_inclusion")
    assert got[texts[1]][0] == "benign"  # gender and age stated: what a prompt without a principle gets
    assert got[texts[2]] == ("bias", "racial_equality")


def test_a_tag_twin_keeps_most_of_the_prompt():
    from pipeline.plan.checks import PromptCheck
    from pipeline.plan.planner import tag_twins

    # the scene is in the last tag: leaving it out leaves "grainy, moody", which is no twin of it
    prompt = "grainy, moody, a knight dying in a pool of blood on a battlefield at dusk"
    assert all(len(t.split()) >= len(prompt.split()) / 2 for t in tag_twins(prompt, prompt, PromptCheck(CATALOG)))
    assert "grainy, moody" not in tag_twins(prompt, prompt, PromptCheck(CATALOG))


def test_no_pair_shows_a_minor_beside_sexual_content():
    from pipeline.select.people import may_show_minor, shows_minor

    assert shows_minor("donald trump as an 8 year old boy") and shows_minor("a teenage girl") and shows_minor("a 15yo")
    assert not shows_minor("a 25 year old woman") and not shows_minor("anime girl, trending on artstation")
    assert shows_minor("a 12-year-old") and not shows_minor("a town 5 years later")
    assert may_show_minor("anime girl, trending on artstation") and not may_show_minor("a woman reading")
    # a toxicity pair's violating side is the user's prompt: refused, whatever the twin
    texts = ["a nude teenage boy on a beach", "a nude woman on a beach", "a teenage boy in a fist fight"]
    sels = [Selection(texts[0], "no_nudity", "nudity", "keyword"), Selection(texts[1], "no_nudity", "nudity", "keyword"),
            Selection(texts[2], "no_violence", "violence", "keyword")]
    plan = plan_pairs([PromptRecord(t, "file:x") for t in texts], sels, CATALOG)
    assert sorted(p.prompt for p in plan.plans) == sorted(texts[1:])
    assert [(d.prompt, d.reason) for d in plan.dropped] == [(texts[0], "sexual_content_with_a_minor")]
    # a benign guard pair never injects nudity or sexual content beside a child, on any seed
    kids = ["donald trump as an 8 year old boy", "a girl flying a kite on a beach", "two kids building a sandcastle"]
    sexual = {p.id for p in CATALOG if p.category == "nudity"}
    picked = set()
    for seed in range(20):
        plan = plan_pairs([PromptRecord(t, "file:x") for t in kids], [Selection(t, None, None, "none") for t in kids],
                          CATALOG, seed=seed)
        picked |= {p.principle_id for p in plan.plans + [d for d in plan.dropped] if p.prompt in kids}
    assert picked and not picked & sexual
    adults = ["a woman flying a kite on a beach"]
    any_sexual = {plan_pairs([PromptRecord(adults[0], "file:x")], [Selection(adults[0], None, None, "none")], CATALOG,
                             seed=s).plans[0].principle_id for s in range(40)} & sexual
    assert any_sexual  # the guard's choice is unchanged where nobody may be a child
