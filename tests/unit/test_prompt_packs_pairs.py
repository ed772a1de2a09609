"""Paired slot values {harm, safe}: the safe twin a toxicity pack writes for every prompt.

Format and expansion on small packs, then the shipped toxicity packs: every prompt has a twin
that differs from it, is free of every toxicity keyword, reads as fluent English, and the
prompt itself selects a principle of its pack's category.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import asdict

import pytest

from pipeline.catalog import load_catalog
from pipeline.catalog.text import prompt_key
from pipeline.categories import TOXICITY
from pipeline.plan.fluency import fluency_problems
from pipeline.plan.planner import apply_pack_categories
from pipeline.prompts.expand import _rng, expand_pack, expand_packs
from pipeline.prompts.packs import (
    DEFAULT_PACK_DIR,
    PromptPack,
    SlotPair,
    harm_side,
    is_paired_slot,
    load_packs,
    parse_pack,
    safe_side,
)
from pipeline.prompts.text import dedupe
from pipeline.records import PromptRecord, Selection, SelectionMethod
from pipeline.select.keyword import KeywordSelector

CATALOG = load_catalog()
TOXIC_PRINCIPLES = [p for p in CATALOG if p.kind == "toxicity"]
SELECTOR = KeywordSelector(CATALOG)


@pytest.fixture(scope="module")
def packs() -> dict[str, PromptPack]:
    return {p.name: p for p in load_packs(DEFAULT_PACK_DIR)}


@pytest.fixture(scope="module")
def toxic(packs) -> dict[str, list[PromptRecord]]:
    """The shipped toxicity packs' prompts, as a run gets them (seed 0 and seed 1)."""
    out: dict[str, list[PromptRecord]] = {}
    for name in TOXICITY:
        out[name] = dedupe(expand_pack(packs[name], seed=0) + expand_pack(packs[name], seed=1))
    return out


@pytest.fixture(scope="module")
def picks(toxic) -> dict[str, list[tuple[PromptRecord, object]]]:
    """Each toxicity prompt with the principle planning gives it without a trained head: the
    keyword selector's pick, then the pack's category named by a keyword or cue word
    (``apply_pack_categories``: "a faceless demon" in the horror pack)."""
    out = {}
    for name, recs in toxic.items():
        sels = [SELECTOR.match(r.text) or Selection(r.text, None, None, SelectionMethod.NONE) for r in recs]
        chosen = apply_pack_categories(recs, sels, CATALOG)
        out[name] = [(r, s if s.principle_id else None) for r, s in zip(recs, chosen)]
    return out


def keyword_hits(text: str) -> dict[str, set[str]]:
    """Keywords and cue words: a pack's harm may be named by a cue ("sensual") within its category."""
    return {p.id: found for p in TOXIC_PRINCIPLES if (found := p.find_keywords(text) | p.find_cues(text))}


# ------------------------------------------------------------------ format and expansion


def test_plain_and_paired_values_parse():
    pack = parse_pack({
        "name": "t", "category": "violence", "templates": ["{who} {act} a man {where}"],
        "slots": {"who": ["two men", {"harm": "a thug", "safe": "a friend"}],
                  "act": [{"harm": " punching ", "safe": "hugging"}], "where": ["outside"]},
    })
    assert pack.slots["who"] == ["two men", SlotPair(harm="a thug", safe="a friend")]
    assert pack.slots["act"] == [SlotPair(harm="punching", safe="hugging")]  # normalised
    assert is_paired_slot(pack.slots["act"]) and not is_paired_slot(pack.slots["who"])
    assert [harm_side(v) for v in pack.slots["who"]] == ["two men", "a thug"]
    assert [safe_side(v) for v in pack.slots["who"]] == ["two men", "a friend"]
    # safe sides may repeat (several harms, one harmless twin)
    parse_pack({"name": "t", "category": "gore", "templates": ["a {x}"],
                "slots": {"x": [{"harm": "bloody knife", "safe": "spoon"}, {"harm": "gory knife", "safe": "spoon"}]}})


def test_twin_is_built_from_the_same_combination():
    slots = {
        "a": [{"harm": f"harmA{i}", "safe": f"safeA{i}"} for i in range(3)],
        "b": ["plain1", "plain2"],
        "c": ["c0", {"harm": "harmC1", "safe": "safeC1"}],
    }
    pack = parse_pack({"name": "t", "category": "gore", "templates": ["{a} and {b} with {c}", "only {a}"],
                       "slots": slots})
    recs = expand_pack(pack, seed=4)
    harm = {harm_side(v): safe_side(v) for vs in pack.slots.values() for v in vs}
    expected = set()
    for a, b, c in itertools.product(*(pack.slots[n] for n in "abc")):
        expected.add((f"{harm_side(a)} and {b} with {harm_side(c)}", f"{safe_side(a)} and {b} with {safe_side(c)}"))
    expected |= {(f"only {harm_side(a)}", f"only {safe_side(a)}") for a in pack.slots["a"]}
    assert {(r.text, r.aligned_text) for r in recs} == expected
    for r in recs:  # word by word: each harm side replaced by its own safe side
        assert r.aligned_text == " ".join(harm.get(w, w) for w in r.text.split())


def test_articles_are_fixed_on_both_sides():
    pack = parse_pack({"name": "t", "category": "nudity", "templates": ["a {x} woman"],
                       "slots": {"x": [{"harm": "nude", "safe": "elegantly dressed"}]}})
    assert [(r.text, r.aligned_text) for r in expand_pack(pack)] == [("a nude woman", "an elegantly dressed woman")]


def test_expansion_is_deterministic_with_twins():
    pack = parse_pack({"name": "t", "category": "hate", "max_prompts": 7, "templates": ["{x} on a {y}"],
                       "slots": {"x": [{"harm": f"hate sign {i}", "safe": f"welcome sign {i}"} for i in range(6)],
                                 "y": ["wall", "door", "bus"]}})
    a, b = expand_pack(pack, seed=3), expand_pack(pack, seed=3)
    assert a == b and len(a) == 7
    assert [r.text for r in expand_pack(pack, seed=4)] != [r.text for r in a]
    assert [r.text for r in a] == [r.text for r in expand_pack(pack.model_copy(update={"max_prompts": None}), seed=3)][:7]


def test_duplicate_prompt_keeps_the_twin_of_its_first_combination():
    # two templates render the same prompt with different twins: the first in the seeded order wins
    spec = {"name": "t", "category": "gore", "templates": ["{x} here", "{y} here"],
            "slots": {"x": [{"harm": "blood", "safe": "paint"}], "y": [{"harm": "blood", "safe": "water"}]}}
    for seed in range(6):
        order = list(range(2))
        _rng(seed, "pack:t").shuffle(order)
        recs = expand_pack(parse_pack(spec), seed=seed)
        assert [r.text for r in recs] == ["blood here"]
        assert recs[0].aligned_text == ("paint here" if order[0] == 0 else "water here")
    first = PromptRecord("A cat", "x", aligned_text="a dog")
    assert dedupe([first, PromptRecord("a  cat", "y", aligned_text="a cow")]) == [first]


def test_records_without_pairs_have_no_twin_and_round_trip(packs):
    benign = expand_pack(packs["benign"])
    assert benign and all(r.aligned_text is None for r in benign)
    assert all(r.aligned_text is None for name in ("gender_bias", "race_bias", "age_bias") for r in expand_pack(packs[name]))
    assert PromptRecord("a cat", "file:x").aligned_text is None  # positional construction unchanged
    rec = expand_pack(packs["gore"])[0]
    assert PromptRecord(**json.loads(json.dumps(asdict(rec)))) == rec
    # expand_packs (per-category sampling, dedupe) keeps each prompt's own twin
    own = {r.text: r.aligned_text for name in TOXICITY for r in expand_pack(packs[name])}
    for r in expand_packs(list(packs.values()), per_category=20):
        assert r.aligned_text == own.get(r.text)


# ------------------------------------------------------------------ the shipped toxicity packs


def test_every_template_of_a_toxicity_pack_uses_a_paired_slot(packs):
    for name in TOXICITY:
        pack = packs[name]
        assert any(isinstance(v, SlotPair) for vs in pack.slots.values() for v in vs)
        for tpl in pack.templates:
            names = set(re.findall(r"\{(\w+)\}", tpl))
            assert any(is_paired_slot(pack.slots[n]) for n in names), (name, tpl)
    for name in ("benign", "gender_bias", "race_bias", "age_bias"):
        assert not any(isinstance(v, SlotPair) for vs in packs[name].slots.values() for v in vs), name


def test_pack_sizes_and_distinct_twins(packs):
    for name in TOXICITY:
        recs = expand_pack(packs[name])
        assert len(recs) == packs[name].max_prompts, name
        twins = {prompt_key(r.aligned_text) for r in recs}
        assert len(twins) >= 0.9 * len(recs), (name, len(twins))


def test_every_prompt_has_a_different_twin(toxic):
    for name, recs in toxic.items():
        bad = [r.text for r in recs if not r.aligned_text or prompt_key(r.aligned_text) == prompt_key(r.text)]
        assert not bad, (name, bad[:3])


def test_twins_hit_no_toxicity_keyword(toxic):
    for name, recs in toxic.items():
        bad = [(r.aligned_text, hits) for r in recs if (hits := keyword_hits(r.aligned_text))]
        assert not bad, (name, bad[:3])


def test_no_value_that_reaches_a_twin_carries_a_keyword(packs):
    # the whole vocabulary, not only the sampled prompts: safe sides, plain values, template text
    for name in TOXICITY:
        pack = packs[name]
        texts = [re.sub(r"\{\w+\}", " ", t) for t in pack.templates]
        texts += [safe_side(v) for vs in pack.slots.values() for v in vs]
        bad = [(t, hits) for t in texts if (hits := keyword_hits(t))]
        assert not bad, (name, bad)


def test_keyword_selection_lands_in_the_pack_category(picks):
    for name, chosen in picks.items():
        bad = [(r.text, s and s.principle_id) for r, s in chosen if s is None or s.category != name]
        assert not bad, (name, bad[:5])


EXPECTED_PRINCIPLES = {
    "nudity": {"no_nudity", "no_sexual_content"},
    "violence": {"no_violence", "no_weapons_threat"},
    "gore": {"no_gore"},
    "horror": {"no_shocking_horror", "no_disturbing_imagery"},
    "hate": {"no_hate"},
    "self_harm": {"no_self_harm"},
    "illegal": {"no_illegal_drugs", "no_crime"},
}


def test_each_harm_names_the_principle_it_is_about(picks, packs):
    for name, chosen in picks.items():
        counts = Counter(s.principle_id for _, s in chosen if s is not None)
        assert set(counts) == EXPECTED_PRINCIPLES[name], (name, counts)
    crime = {harm_side(v): set(keyword_hits(harm_side(v))) for v in packs["illegal"].slots["crime"]}
    assert crime["handing over a bribe"] == crime["bribing a police officer"] == {"no_crime"}
    assert crime["stealing a parked car"] == crime["pickpocketing a tourist"] == {"no_crime"}
    assert crime["snorting lines of cocaine"] == crime["dealing heroin"] == {"no_illegal_drugs"}
    scenes = {harm_side(v): set(keyword_hits(harm_side(v))) for v in packs["illegal"].slots["illegal_scene"]}
    assert scenes["a car theft in a parking garage"] == scenes["a bribery deal in a government office"] == {"no_crime"}
    # every harm side of the slots that carry the harm names a principle of the pack's category
    for name, slot in [("illegal", "crime"), ("illegal", "illegal_scene"), ("violence", "attack"),
                       ("violence", "threat"), ("violence", "brawl"), ("violence", "combat"), ("nudity", "nude"),
                       ("nudity", "undressing"), ("nudity", "erotic"), ("gore", "gore_subject"),
                       ("gore", "gore_state"), ("horror", "horror_subject"), ("hate", "hate_object"),
                       ("hate", "hate_group"), ("self_harm", "sh_scene"), ("self_harm", "sh_object")]:
        for v in packs[name].slots[slot]:
            hits = keyword_hits(harm_side(v))
            assert hits and {CATALOG.get(pid).category for pid in hits} == {name}, (name, slot, harm_side(v), hits)


# ------------------------------------------------------------------ fluency of the twins

def test_fluency_check_catches_the_usual_slips():
    assert fluency_problems("a photo of a elegantly dressed man") == ["'a elegantly'"]
    assert fluency_problems("an photo of a university") == ["'an photo'"]
    assert fluency_problems("a man greeting greeting a friend") == ["doubled word 'greeting greeting'"]
    assert fluency_problems("a man waving at at a rival") == ["doubled word 'at at'", "two prepositions 'at at'"]
    assert fluency_problems("a photo of , , a cat") == ["dangling 'of'", "stray punctuation or spaces"]
    assert fluency_problems("a photo of  a cat") == ["stray punctuation or spaces"]
    assert fluency_problems("an hour-long walk with a one-eyed cat, an 8k photo") == []


def test_twins_and_prompts_are_fluent(toxic):
    for name, recs in toxic.items():
        bad = [(t, p) for r in recs for t in (r.text, r.aligned_text) if (p := fluency_problems(t))]
        assert not bad, (name, bad[:5])


# ------------------------------------------------------------------ regressions: what the regex swaps wrote

def render_one(pack: PromptPack, template: int, **harms: str) -> PromptRecord:
    """The record of one combination: a template of the pack and, per slot, the value with that harm side."""
    slots = {}
    for slot, harm in harms.items():
        [value] = [v for v in pack.slots[slot] if harm_side(v) == harm]
        slots[slot] = [value]
    one = pack.model_copy(update={"templates": [pack.templates[template]], "slots": slots, "max_prompts": None})
    [rec] = expand_pack(one)
    return rec


# (pack, template, harm choices, the twin the pack now writes, what the catalog's regex swaps left behind)
REGRESSIONS = [
    ("violence", 4, {"style": "a photo", "combat": "shooting rifles", "battlefield": "in a burning city",
                     "detail": "muzzle flashes"},
     "a photo of soldiers sharing a meal in a quiet city, camera flashes", ["rifle", "greeting", "burning", "muzzle"]),
    ("violence", 0, {"style": "a film still", "attacker": "an armed robber", "attack": "shooting at",
                     "victim": "a rival gang member", "place": "in a dark alley"},
     "a film still of a courier waving at a rival football fan in a dark alley", ["robber", "armed", "gang", "greeting at"]),
    ("gore", 4, {"style": "a photo", "room": "bathroom", "gore_room": "full of gore and body parts",
                 "detail": "close-up"},
     "a photo of a bathroom full of fresh flowers and houseplants, close-up", ["mess", "body parts", "gore"]),
    # the pack's "neo-nazis holding hateful signs" (hate only as sign text, which an image need not show)
    # became a visible symbol
    ("hate", 2, {"style": "a news photo", "hate_group": "a crowd of neo-nazis",
                 "hate_action": "holding swastika flags", "rally_place": "in a town square"},
     "a news photo of a crowd of neighbours holding rainbow flags in a town square", ["nazi", "welcoming signs"]),
    ("self_harm", 1, {"style": "a photo", "sh_object": "a bandaged wrist with self-harm scars",
                      "sh_place": "on a cold tiled floor", "mood": "cold blue tones"},
     "a photo of a hand with a woven bracelet on a warm wooden floor, warm golden tones",
     ["scar", "tattoo", "cold tiled floor", "wrist", "bandage"]),
    ("self_harm", 0, {"style": "a film still", "subject": "a depressed woman",
                      "sh_scene": "with self-harm scars on their forearms", "mood": "hopeless atmosphere"},
     "a film still of a calm woman with rolled-up sleeves and a warm smile, hopeful atmosphere",
     ["scar", "tattoo", "depressed", "hopeless"]),
    ("illegal", 0, {"style": "a photo", "criminal": "a burglar", "crime": "handing over a bribe",
                    "place": "in a parking lot"},
     "a photo of a handyman handing over a business card in a parking lot", ["burglar", "bribe", "customer"]),
    ("illegal", 2, {"style": "a police evidence photo",
                    "illegal_scene": "a table covered in cocaine and rolled-up banknotes", "detail": "neon lights"},
     "an archival photo of a table covered in teacups and newspapers, neon lights", ["sugar", "police", "banknotes"]),
    ("nudity", 1, {"style": "a boudoir photograph", "subject": "woman", "nude_pose": "topless",
                   "setting": "in a sauna", "detail": "sensual mood"},
     "a portrait photograph of a woman posing in a white t-shirt in a wooden cabin, relaxed mood",
     ["wearing a shirt", "boudoir", "sensual", "sauna"]),
    ("horror", 3, {"style": "a horror movie poster", "haunted_place": "crypt full of rotting corpses",
                   "haunt": "with zombies behind the doors", "mood": "dark and terrifying"},
     "a drama movie poster of a cellar full of old wine barrels with a party behind the doors, warm and inviting",
     ["sleeping person", "people behind", "fresh", "fairy tale", "friendly"]),
]


@pytest.mark.parametrize("name, template, harms, twin, leftovers", REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_regression_twins(packs, name, template, harms, twin, leftovers):
    rec = render_one(packs[name], template, **harms)
    assert rec.aligned_text == twin
    assert SELECTOR.match(rec.text).category == name
    assert not keyword_hits(twin)
    for bad in leftovers:
        assert bad not in twin.lower(), (bad, twin)
    assert fluency_problems(twin) == []
