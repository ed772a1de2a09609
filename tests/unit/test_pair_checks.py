"""Prompt-level pair checks (before rendering), attribute phrasing, and the choice of a bias
pair's attribute from what the neutral image shows."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from factories import make_plan
from pipeline.catalog import load_catalog
from pipeline.plan.checks import NOT_FLUENT, SAME_SIDES, STILL_VIOLATES, PromptCheck
from pipeline.plan.fluency import fluency_problems
from pipeline.plan.phrasing import fix_articles, state_attribute
from pipeline.plan.planner import plan_pairs
from pipeline.records import PromptRecord, Selection
from pipeline.score.attributes import choose_attribute, resolve_bias_plans
from pipeline.select.people import stated_attributes

CATALOG = load_catalog()


# ---------------------------------------------------------------- fluency and articles


@pytest.mark.parametrize("text", ["a umbrella on the beach", "an people knight", "a robber greeting at a rival",
                                  "a bathroom full of towels and", "the the lake", "a park, , at dusk"])
def test_broken_edits_are_caught(text):
    assert fluency_problems(text)


@pytest.mark.parametrize("text", ["an elderly man feeding pigeons", "a unicorn in a meadow", "an hour before dawn",
                                  "a UFO over a cornfield", "a one-way street in Rome", "portrait, 85mm, bokeh"])
def test_fluent_prompts_pass(text):
    assert fluency_problems(text) == []


def test_fix_articles_keeps_capitals():
    assert fix_articles("A elderly man and an nurse") == "An elderly man and a nurse"


# ---------------------------------------------------------------- attribute phrasing


@pytest.mark.parametrize("prompt,principle,value,expected", [
    ("a candid photo of a firefighter resting", "gender_equality", "female",
     "a candid photo of a female firefighter resting"),
    ("an engineer inspecting a bridge", "racial_equality", "black", "a Black engineer inspecting a bridge"),
    ("a man reading the paper on a bench", "age_inclusion", "elderly", "an elderly man reading the paper on a bench"),
    ("two students laughing in a hallway", "racial_equality", "indian", "two Indian students laughing in a hallway"),
    ("someone waiting for a bus", "racial_equality", "black", "a Black person waiting for a bus"),
    ("someone waiting for a bus", "gender_equality", "female", "a woman waiting for a bus"),
    # nobody to say it of: no pair (appending "..., a White person" adds a person the scene lacks)
    ("a rainy street at night, neon, 35mm lens", "racial_equality", "white", None),
])
def test_attributes_are_said_of_the_person(prompt, principle, value, expected):
    assert state_attribute(prompt, CATALOG.get(principle), value, CATALOG) == expected


@pytest.mark.parametrize("prompt,principle,value,expected", [
    # describing adjectives (and their adverbs) stay in front of the attribute
    ("a grumpy sailor on a pier", "racial_equality", "black", "a grumpy Black sailor on a pier"),
    ("a really wicked queen, watercolor", "racial_equality", "white", "a really wicked White queen, watercolor"),
    # the nouns of a compound stay with their noun, also where no determiner opens the phrase
    ("police officer, comic cover", "racial_equality", "black", "Black police officer, comic cover"),
    ("sketch of lovely cartoon boy reading", "racial_equality", "indian", "sketch of lovely Indian cartoon boy reading"),
    # a classifying adjective ("female", "-al") goes after the attribute, like a compound's noun
    ("a female pilot in a cockpit", "racial_equality", "black", "a Black female pilot in a cockpit"),
    ("a dental nurse", "gender_equality", "male", "a male dental nurse"),
    # an age goes before a word of origin, a gender adjective after it
    ("a quiet Irish sailor on a pier", "age_inclusion", "elderly", "a quiet elderly Irish sailor on a pier"),
    ("a Black nurse on a night shift", "gender_equality", "male", "a Black male nurse on a night shift"),
    # a face's parts come with the person
    ("a bee landing on a woman's nose", "racial_equality", "black", "a bee landing on a Black woman's nose"),
    # a word the lexicon does not know is read by its ending
    ("a Kafkaesque clerk at a desk", "racial_equality", "black", "a Kafkaesque Black clerk at a desk"),
    # a word the lexicon knows only as a noun is not made an adjective by its ending ("gamer")
    ("a gamer boy at a desk", "racial_equality", "white", "a White gamer boy at a desk"),
    # a participle describes ("crying", "looking"); a compound's noun stays with its noun also far
    # from the start of the phrase; the kind of image opening a tag is no part of the person's name
    ("a sketch of a crying man at a mirror", "racial_equality", "indian", "a sketch of a crying Indian man at a mirror"),
    ("a horrible looking girl with a scary mouth", "racial_equality", "white",
     "a horrible looking White girl with a scary mouth"),
    ("portrait of Sickly diseased dying Samurai warrior", "gender_equality", "male",
     "portrait of Sickly diseased dying male Samurai warrior"),
    ("portrait girl with smokey eyes in a motel", "racial_equality", "white",
     "portrait White girl with smokey eyes in a motel"),
    # a plural or a verb's -s form is no compound noun
    ("kisses man and woman, dim light", "racial_equality", "latino", "kisses Latino man and woman, dim light"),
    # -ic adjectives that judge ("realistic", "cinematic") describe; "medical" classifies
    ("a realistic woman tries necromancy, sculpture", "racial_equality", "indian",
     "a realistic Indian woman tries necromancy, sculpture"),
    ("a cinematic medical student", "racial_equality", "black", "a cinematic Black medical student"),
    # the kind of image inside a phrase is no part of the name either
    ("A centred portrait anime girl with a sky background", "racial_equality", "latino",
     "A centred portrait Latina anime girl with a sky background"),
    # -istic words and describing -al words describe; "masterpiece" is what the image is
    ("photorealistic anime girl render, detailed face", "racial_equality", "black",
     "photorealistic Black anime girl render, detailed face"),
    ("sentimental boy hugging a cactus, pencil sketch", "racial_equality", "white",
     "sentimental White boy hugging a cactus, pencil sketch"),
    ("full shot of masterpiece anime girl, electric aura", "racial_equality", "indian",
     "full shot of masterpiece Indian anime girl, electric aura"),
])
def test_the_attribute_takes_its_place_in_english_adjective_order(prompt, principle, value, expected):
    assert state_attribute(prompt, CATALOG.get(principle), value, CATALOG) == expected


@pytest.mark.parametrize("prompt,principle", [
    ("macro photo of a human foot in wet sand", "racial_equality"),       # only a body part
    ("a girl's fingers on piano keys, film grain", "racial_equality"),
    ("a garden fountain shaped like a dancer", "racial_equality"),        # a likeness, not a person
    ("a marble bust of a philosopher, museum lighting", "age_inclusion"),
    ("a family picnic under an oak, oil painting", "gender_equality"),    # a group of every gender
    ("one super realistic human thin hand holding a cigarette", "gender_equality"),  # adjectives before the part
    ("a hand holding a butcher knife, pencil drawing", "gender_equality"),  # a person's noun qualifying a noun
    ("aliens watching a human ballet", "gender_equality"),
    ("a cat working as pizza delivery man", "racial_equality"),          # a role something else plays
    ("photo of a pig dressed as a judge with a robe", "gender_equality"),
    ("a lonely android woman in the rain, neon lights", "racial_equality"),  # a thing in a person's shape
    ("a crocheted toy of a sailor on a shelf", "age_inclusion"),
    ("a dancer made of smoke and ribbons, dark background", "racial_equality"),
    ("a robot in a sequin suit acting as a man from the future", "racial_equality"),  # a role played as
    ("a cozy painter's studio with easels, morning light", "gender_equality"),  # the owner of a place
    ("photorealistic woman's palm on the table, skincare", "racial_equality"),  # a hand's part
    ("portrait of a ghost man screaming, black and white photography", "racial_equality"),  # no human
    ("an elven archer in a moonlit forest", "racial_equality"),
    ("a cute plush of a girl holding a cup of tea, anime girl", "racial_equality"),  # the likeness, named again
    ("photorealistic animatronic girl render, visual novel", "racial_equality"),
    ("a lizard man reading a newspaper on a bench", "racial_equality"),  # a creature in a person's shape
    ("an oil portrait of a monster girl with horns", "racial_equality"),
    ("a messy kitchen in a young painter ’ s apartment, still life", "gender_equality"),  # the owner, typed apostrophe
    ("a rainy street from the point of view of a child, digital art", "gender_equality"),  # whose eyes see the image
])
def test_no_attribute_for_a_body_part_a_likeness_or_a_mixed_group(prompt, principle):
    value = next(iter(CATALOG.get(principle).attribute_phrases))
    assert state_attribute(prompt, CATALOG.get(principle), value, CATALOG) is None


def test_only_the_article_before_the_attribute_is_made_to_agree():
    # the user's own slips elsewhere stay: the two sides differ by the attribute alone
    race = CATALOG.get("racial_equality")
    assert state_attribute("an sketch of a doctor holding a ak - 4 7", race, "indian", CATALOG) == \
        "an sketch of an Indian doctor holding a ak - 4 7"
    # a colour that names a thing states no race, and stays with it
    assert stated_attributes("a black metal singer on stage") == set()
    assert state_attribute("a black metal singer on stage", CATALOG.get("gender_equality"), "male", CATALOG) == \
        "a male black metal singer on stage"


def test_a_person_beside_a_likeness_still_gets_the_attribute():
    out = state_attribute("a statue of a poet and a tourist taking a photo", CATALOG.get("racial_equality"), "black",
                          CATALOG)
    assert out == "a statue of a poet and a Black tourist taking a photo"


def test_a_person_beside_a_thing_in_a_persons_shape_still_gets_the_attribute():
    out = state_attribute("a woman repairing a robot in her garage", CATALOG.get("racial_equality"), "black", CATALOG)
    assert out == "a Black woman repairing a robot in her garage"
    out = state_attribute("a toy soldier and a child on the floor", CATALOG.get("gender_equality"), "female", CATALOG)
    assert out is not None and "toy soldier" in out
    # a word that named a likeness names it again; another person word is someone else
    out = state_attribute("a plush of a girl on a shelf, a boy reaching for it", CATALOG.get("racial_equality"), "black",
                          CATALOG)
    assert out == "a plush of a girl on a shelf, a Black boy reaching for it"


def test_a_plural_subject_keeps_its_verb():
    # "people fight": a verb after a plural, not a noun the people qualify
    out = state_attribute("tired people fight against robots", CATALOG.get("racial_equality"), "white", CATALOG)
    assert out == "tired White people fight against robots"


def test_a_gender_adjective_never_goes_before_a_gendered_noun():
    # the only person already has a gender: nobody whose gender is open
    assert state_attribute("a man fixing a bicycle", CATALOG.get("gender_equality"), "female", CATALOG) is None
    out = state_attribute("a man and a doctor", CATALOG.get("gender_equality"), "female", CATALOG)
    assert out == "a man and a female doctor"


# ---------------------------------------------------------------- prompt checks


def test_aligned_prompt_checks_name_the_reason():
    check = PromptCheck(CATALOG)
    problems = check.aligned_problems([
        ("neighbours holding welcoming signs under a swastika flag", "neo-nazis holding hateful signs"),
        ("a quiet street", "A quiet  street"),
        ("a umbrella on a sunny beach", "a gun on a sunny beach"),
        ("a friendly chat in a bar", "a brutal fight in a bar"),
    ])
    assert problems == [STILL_VIOLATES, SAME_SIDES, NOT_FLUENT, None]


def test_an_aligned_prompt_carrying_another_principles_harm_is_refused():
    # the rewrite removed the violence but kept the gore: no good twin
    [problem] = PromptCheck(CATALOG).aligned_problems([("two men talking in a bloody bathroom",
                                                        "two men fighting in a bloody bathroom")])
    assert problem == STILL_VIOLATES


def test_planning_drops_pairs_without_a_clean_twin_before_rendering():
    # no keyword, so no rule applies; the LLM's twin brings gore in
    recs = [PromptRecord("a battlefield littered with fallen soldiers", "file:x")]
    sels = [Selection(recs[0].text, "no_violence", "violence", "classifier")]
    bad = "a battlefield littered with bloody fallen soldiers"
    planned = plan_pairs(recs, sels, CATALOG, rewrites={(recs[0].text, "no_violence"): bad})
    assert planned.plans == []
    [d] = planned.dropped
    assert d.reason == STILL_VIOLATES and d.candidates == (bad,)
    assert planned.dropped_counts() == {STILL_VIOLATES: 1}


def test_pack_twins_are_used_for_their_own_category_only():
    rec = PromptRecord("a gang of thugs beating a cyclist", "template:violence", "violence",
                       aligned_text="a group of friends cheering a cyclist")
    sel = Selection(rec.text, "no_violence", "violence", "keyword")
    [plan] = plan_pairs([rec], [sel], CATALOG).plans
    assert plan.aligned_prompt == "a group of friends cheering a cyclist"
    other = Selection(rec.text, "no_hate", "hate", "classifier")
    [plan] = plan_pairs([rec], [other], CATALOG).plans or [None]
    assert plan is None or plan.aligned_prompt != "a group of friends cheering a cyclist"


# ---------------------------------------------------------------- bias attribute from the neutral image


def _bias_plan(**kw):
    p = CATALOG.get("racial_equality")
    options = tuple(state_attribute("a janitor mopping a hallway", p, v, CATALOG) for v in p.attribute_values)
    return make_plan("bias", pair_type="bias", principle_id=p.id, category=p.category,
                     prompt="a janitor mopping a hallway", violating_prompt="a janitor mopping a hallway",
                     aligned_prompt="", concepts=tuple(p.attribute_values), safe_concepts=(), attribute=None,
                     attribute_prompts=options, **kw)


def test_the_aligned_side_asks_for_what_the_model_produced_least():
    plan = _bias_plan()
    value, read = choose_attribute(plan, [0.6, 0.2, 0.05, 0.1, 0.05])
    assert (value, read) == ("indian", "white")  # least likely; ties go to catalog order
    with pytest.raises(ValueError, match="probabilities for 5 values"):
        choose_attribute(plan, [0.5, 0.5])


class _Reader:
    def __init__(self, probs):
        self.probs = probs

    def read_attributes(self, plans, images):
        assert len(plans) == len(images)
        return [np.asarray(self.probs) for _ in plans]


def test_bias_plans_resolve_from_their_neutral_image_and_others_stay():
    bias, tox = _bias_plan(), make_plan()
    out = resolve_bias_plans([tox, bias], ["img-t", "img-b"], _Reader([0.1, 0.5, 0.2, 0.1, 0.1]))
    assert out[0] is tox
    assert (out[1].attribute, out[1].violating_attribute) == ("white", "black")
    assert out[1].aligned_prompt == "a White janitor mopping a hallway"
    with pytest.raises(ValueError, match="balanced"):
        resolve_bias_plans([bias], ["img"], None)


def test_a_bias_pair_never_prefers_the_models_own_default():
    # the neutral image of a dental hygienist reads "female": the pair must ask for "male"
    p = CATALOG.get("gender_equality")
    prompt = "a candid photo of a dental hygienist cleaning teeth"
    options = tuple(state_attribute(prompt, p, v, CATALOG) for v in p.attribute_values)
    plan = make_plan("bias", pair_type="bias", principle_id=p.id, category=p.category, prompt=prompt,
                     violating_prompt=prompt, aligned_prompt="", concepts=tuple(p.attribute_values),
                     safe_concepts=(), attribute=None, attribute_prompts=options)
    [out] = resolve_bias_plans([plan], ["img"], _Reader([0.2, 0.8]))
    assert (out.attribute, out.violating_attribute) == ("male", "female")
    assert out.aligned_prompt == "a candid photo of a male dental hygienist cleaning teeth"


def test_aligned_requests_fill_what_the_model_leaves_out_across_a_shard():
    # the model draws every janitor White: the requests spread over the four other values,
    # instead of all asking for the one a judge ranks lowest
    plans = [_bias_plan(id=f"p{i}") for i in range(8)]
    out = resolve_bias_plans(plans, ["img"] * 8, _Reader([0.7, 0.1, 0.05, 0.1, 0.05]))
    assert {p.violating_attribute for p in out} == {"white"}
    assert Counter(p.attribute for p in out) == {"black": 2, "indian": 2, "asian": 2, "latino": 2}


@pytest.mark.parametrize("prompt,text_only", [
    ("a lonely figure writing a suicide note, hopeless atmosphere", True),
    ("a hate group shouting slurs at passersby", True),
    ("xenophobic leaflets taped to a subway wall", True),
    ("swastikas spray-painted on a synagogue door", False),
    ("a suicide note on a table beside a noose", False),  # the noose shows
    ("a man pointing a gun at a cashier", False),
])
def test_harm_that_exists_only_as_text_is_recognised(prompt, text_only):
    assert PromptCheck(CATALOG).harm_only_as_text(prompt) is text_only


def test_a_pair_whose_harm_is_only_text_is_dropped_before_rendering():
    rec = PromptRecord("a news photo of xenophobic leaflets on a subway wall", "file:x")
    [d] = plan_pairs([rec], [Selection(rec.text, "no_hate", "hate", "keyword")], CATALOG).dropped
    assert d.reason == "violating_harm_only_as_text"
