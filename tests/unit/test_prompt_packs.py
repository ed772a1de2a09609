"""Template prompt packs: validation, deterministic expansion and the content rules. Expansion under
another PYTHONHASHSEED, in a second interpreter: tests/integration/test_prompt_packs_hash_seed.py."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.catalog.text import prompt_key
from pipeline.categories import ALL, BENIGN, BIAS, PACK_CATEGORIES, TOXICITY, kind_of
from pipeline.prompts.expand import expand_pack, expand_packs
from pipeline.prompts.packs import (
    DEFAULT_PACK_DIR,
    PackError,
    PromptPack,
    harm_side,
    load_pack,
    load_packs,
    parse_pack,
    safe_side,
)
from pipeline.prompts.text import dedupe, fix_articles
from pipeline.records import PromptRecord


@pytest.fixture(scope="module")
def packs() -> list[PromptPack]:
    return load_packs(DEFAULT_PACK_DIR)


@pytest.fixture(scope="module")
def expanded(packs) -> list[PromptRecord]:
    return expand_packs(packs)


def by_category(records: list[PromptRecord]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in records:
        out.setdefault(r.category_hint, []).append(r.text)
    return out


# ------------------------------------------------------------------ categories


def test_category_constants():
    assert TOXICITY == ("nudity", "violence", "gore", "horror", "hate", "self_harm", "illegal")
    assert BIAS == ("gender_bias", "race_bias", "age_bias")
    assert ALL == TOXICITY + BIAS
    assert BENIGN == "benign"
    assert kind_of("gore") == "toxicity" and kind_of("age_bias") == "bias" and kind_of("benign") == "benign"
    with pytest.raises(ValueError):
        kind_of("sexual")


# ------------------------------------------------------------------ the shipped packs


def test_one_pack_per_category(packs):
    assert sorted(p.category for p in packs) == sorted(PACK_CATEGORIES)
    for p in packs:
        assert p.name == p.category  # source "template:<category>"


def test_at_least_2000_distinct_prompts_over_all_categories(expanded):
    keys = [prompt_key(r.text) for r in expanded]
    assert len(expanded) >= 2000
    assert len(set(keys)) == len(keys)
    counts = Counter(r.category_hint for r in expanded)
    assert set(counts) == set(PACK_CATEGORIES)
    for cat in ALL:
        assert 200 <= counts[cat] <= 400, (cat, counts[cat])
    assert counts[BENIGN] >= 400


def test_records_carry_pack_provenance(packs):
    for pack in packs:
        recs = expand_pack(pack)
        assert {r.source for r in recs} == {f"template:{pack.name}"}
        assert {r.category_hint for r in recs} == {pack.category}
        assert all(r.origin is None for r in recs)
        assert all(r.text == " ".join(r.text.split()) and "{" not in r.text for r in recs)


def test_expansion_is_deterministic(packs, expanded):
    again = expand_packs(load_packs(DEFAULT_PACK_DIR))
    assert again == expanded
    other_seed = expand_packs(packs, seed=1)
    assert [r.text for r in other_seed] != [r.text for r in expanded]
    # a pack that is not capped gives the same SET for any seed, in another order
    small = parse_pack(
        {"name": "t", "category": "benign", "templates": ["a {a} {b}"], "slots": {"a": ["x", "y", "z"], "b": ["p", "q"]}}
    )
    a, b = expand_pack(small, seed=0), expand_pack(small, seed=5)
    assert sorted(r.text for r in a) == sorted(r.text for r in b)
    assert expand_pack(small, seed=0) == a


def test_whole_packs_go_past_max_prompts_and_start_with_the_capped_prompts(packs):
    gore = next(p for p in packs if p.category == "gore")
    capped, whole = expand_pack(gore), expand_pack(gore, whole=True)
    assert len(capped) == gore.max_prompts < len(whole)
    assert whole[:len(capped)] == capped  # growing a pack grows the list, never reorders it
    assert len({r.text.casefold() for r in whole}) == len(whole)
    five = expand_packs(packs, per_category=5, whole_packs=True, categories=["gore"])
    assert [r.text for r in five] == [r.text for r in whole[:5]]


def test_per_category_and_categories(packs, expanded):
    five = expand_packs(packs, per_category=5)
    assert Counter(r.category_hint for r in five) == {c: 5 for c in PACK_CATEGORIES}
    ten = expand_packs(packs, per_category=10)
    # a smaller sample is a prefix of a larger one, per category
    for cat in PACK_CATEGORIES:
        assert by_category(ten)[cat][:5] == by_category(five)[cat]
    only = expand_packs(packs, categories=["gore", "benign"])
    assert {r.category_hint for r in only} == {"gore", "benign"}
    assert len(only) == len([r for r in expanded if r.category_hint in ("gore", "benign")])
    assert expand_packs(packs, per_category=3, categories=["hate"]) == expand_packs(packs, per_category=3, categories=["hate"])
    with pytest.raises(ValueError, match="sexual"):
        expand_packs(packs, categories=["sexual"])
    with pytest.raises(ValueError):
        expand_packs(packs, per_category=-1)


def test_packs_of_one_category_are_mixed_before_capping():
    pairs = [{"harm": f"blood {i}", "safe": f"paint {i}"} for i in range(50)]
    a = parse_pack({"name": "a", "category": "gore", "templates": ["a {n}"], "slots": {"n": pairs}})
    b = parse_pack({"name": "b", "category": "gore", "templates": ["the {n}"], "slots": {"n": pairs}})
    recs = expand_packs([a, b], per_category=20)
    assert len(recs) == 20
    assert {r.source for r in recs} == {"template:a", "template:b"}


def test_dedupe_keeps_first_by_normalised_text():
    recs = [
        PromptRecord("A photo of a  Cat", "x"),
        PromptRecord("a photo of a cat", "y"),
        PromptRecord("a photo\tof a cat ", "z"),
        PromptRecord("a photo of a dog", "x"),
    ]
    assert dedupe(recs) == [recs[0], recs[3]]


def test_expand_pack_dedupes_and_caps():
    pack = parse_pack(
        {
            "name": "t",
            "category": "benign",
            "max_prompts": 3,
            "templates": ["a {thing} in {place}", "A {thing}  in {place}"],
            "slots": {"thing": ["Cat", "dog", "owl"], "place": ["snow", "rain"]},
        }
    )
    full = expand_pack(pack.model_copy(update={"max_prompts": None}))
    assert len(full) == 6  # the second template only repeats the first
    assert len(expand_pack(pack)) == 3
    assert [r.text for r in expand_pack(pack)] == [r.text for r in full[:3]]


def test_articles_are_fixed_after_filling_slots():
    pack = parse_pack(
        {"name": "t", "category": "benign", "templates": ["a {x} by a lake"], "slots": {"x": ["owl", "heron", "unicorn", "hour-long walk"]}}
    )
    assert sorted(r.text for r in expand_pack(pack)) == [
        "a heron by a lake",
        "a unicorn by a lake",
        "an hour-long walk by a lake",
        "an owl by a lake",
    ]
    assert fix_articles("An dog and a 8k photo") == "A dog and an 8k photo"
    # an acronym typed in lower case is read by its letters: its article is the user's
    assert fix_articles("inside an rv next to a tv and an mp3 player") == "inside an rv next to a tv and an mp3 player"


def test_no_article_mistakes_in_shipped_packs(expanded):
    bad = [t for t in (r.text for r in expanded) if fix_articles(t) != t]
    assert not bad
    vowel_after_a = [t for t in (r.text for r in expanded) if re.search(r"\ba (?!eu|one)[aeio]", t, re.IGNORECASE)]
    assert not vowel_after_a


# ------------------------------------------------------------------ content rules

TRIGGERS = {
    "nudity": r"nude|naked|topless|undress\w*|unclothed|erotic|nsfw",
    "violence": r"(?:fist|gun|knife|bar|street|gang)?fight\w*|punch\w*|gun\w*|stab\w*|shoot\w*|shot\w*|brawl\w*|beat\w*|kick\w*|assault\w*|"
    r"attack\w*|knife|machete|riot\w*|violen\w*|weapon\w*|rifle\w*|pistol\w*|revolver|strangl\w*|bayonet\w*|grenade\w*",
    "gore": r"blood\w*|gore|gory|mutilat\w*|entrails|severed|dismember\w*|guts|flesh|disembowel\w*|gash\w*",
    "horror": r"zombie\w*|corpse\w*|demon\w*|rott\w*|undead|ghoul\w*|ghost\w*|haunted|possessed|skelet\w*|"
    r"skull\w*|decay\w*|creepy|horror|macabre|tortur\w*|agony|grotesque|disfigur\w*|nightmar\w*|parasit\w*",
    "hate": r"hate\w*|hateful|racis\w*|nazi\w*|neo-nazi\w*|swastika\w*|supremac\w*|propaganda|bigot\w*|slur\w*|"
    r"xenophob\w*|antisemit\w*|extremis\w*|kkk",
    "self_harm": r"self-harm|self-inflicted|suicid\w*|overdos\w*|cutting|razor|noose",
    "illegal": r"drug\w*|cocaine|heroin|meth|robb\w*|shoplift\w*|counterfeit|smuggl\w*|stol(?:e|en)|steal\w*|"
    r"burglar\w*|theft|pickpocket\w*|contraband|brib\w*|illegal",
}
TRIGGER_RE = {c: re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for c, p in TRIGGERS.items()}

MINOR_WORDS = re.compile(
    r"\b(child\w*|kids?|teen\w*|boys?|girls?|school\w*|minors?|bab(y|ies)|infants?|toddlers?|young\w*|youth\w*|"
    r"little|juvenile|adolescen\w*|underage|daughters?|sons?|students?|loli\w*|preteen\w*|puberty)\b",
    re.IGNORECASE,
)

IDENTITY_WORDS = re.compile(
    r"\b(man|men|woman|women|male|female|boys?|girls?|guys?|lad(y|ies)|gentlem[ae]n|he|she|his|her|him|hers|"
    r"father|mother|sons?|daughters?|husband|wife|bride|groom|grand\w*|old|older|elderly|aged|young\w*|youth|"
    r"senior|teen\w*|child\w*|kids?|bab(y|ies)|retire\w*|millennial|boomer|middle-aged|"
    r"white|black|brown|asian|african|latin[oa]|hispanic|indian|european|caucasian|arab\w*|jewish|muslim|"
    r"chinese|japanese|mexican|american|native|indigenous|ethnic\w*|immigrants?|foreign\w*|tribal|"
    # gendered job titles
    r"(?:business|chair|fire|police|sales|camera|fisher|mail|repair|handy|crafts|spokes|door|fore|work|news|"
    r"garbage|delivery|post|middle|lines|weather|anchor)(?:wo)?m[ae]n|"
    r"waitress|actress|stewardess|hostess|seamstress|heiress|mistress|headmistress|housewife|maid|nun|monk)\b",
    re.IGNORECASE,
)
_IDENTITY_OK: set[str] = set()


def test_every_toxicity_prompt_names_its_category(expanded):
    cats = by_category(expanded)
    for cat in TOXICITY:
        missing = [t for t in cats[cat] if not TRIGGER_RE[cat].search(t)]
        assert not missing, (cat, missing[:5])


def pack_vocabulary(pack: PromptPack) -> list[str]:
    """Every text a pack can put into a prompt or a twin: templates, plain values, both sides of pairs."""
    values = [t for vs in pack.slots.values() for v in vs for t in dict.fromkeys((harm_side(v), safe_side(v)))]
    return pack.templates + values


def test_twins_have_no_toxicity_words(expanded):
    # the safe twin a pack writes names no toxicity category at all (LiVO's aligned side)
    twins = [(r.category_hint, r.aligned_text) for r in expanded if r.aligned_text is not None]
    assert {c for c, _ in twins} == set(TOXICITY)
    for tox, rx in TRIGGER_RE.items():
        hits = [t for _, t in twins if rx.search(t)]
        assert not hits, (tox, hits[:5])


def test_benign_and_bias_prompts_have_no_toxicity_words(expanded):
    cats = by_category(expanded)
    for cat in (*BIAS, BENIGN):
        for tox, rx in TRIGGER_RE.items():
            hits = [t for t in cats[cat] if rx.search(t)]
            assert not hits, (cat, tox, hits[:5])


def test_no_minors_in_toxicity_packs(packs, expanded):
    cats = by_category(expanded)
    for cat in TOXICITY:
        hits = [t for t in cats[cat] if MINOR_WORDS.search(t)]
        assert not hits, (cat, hits[:5])
    # check the whole pack vocabulary too, not just the sampled prompts
    for pack in packs:
        if pack.category in TOXICITY:
            vocab = " ".join(pack_vocabulary(pack))
            assert not MINOR_WORDS.search(vocab), (pack.name, MINOR_WORDS.search(vocab).group(0))


def test_bias_packs_state_no_identity(packs):
    for pack in packs:
        if pack.category not in BIAS:
            continue
        for text in pack_vocabulary(pack):
            hits = [m.group(0) for m in IDENTITY_WORDS.finditer(text) if m.group(0).lower() not in _IDENTITY_OK]
            assert not hits, (pack.name, text, hits)


def test_bias_packs_use_distinct_subjects(packs, expanded):
    by_name = {p.name: p for p in packs}
    subjects = {
        "gender_bias": set(by_name["gender_bias"].slots["job"]),
        "race_bias": set(by_name["race_bias"].slots["role"]),
        "age_bias": set(by_name["age_bias"].slots["activity"]),
    }
    heads = {name: {s.split()[0] for s in vals} for name, vals in subjects.items()}
    assert not (heads["gender_bias"] & heads["race_bias"])
    for name, vals in subjects.items():
        assert len(vals) >= 25, name
    texts = {c: set(v) for c, v in by_category(expanded).items()}
    assert not (texts["gender_bias"] & texts["race_bias"]) and not (texts["race_bias"] & texts["age_bias"])


def test_benign_prompts_have_no_people(expanded):
    people = re.compile(r"\b(person|people|someone|man|woman|men|women|child\w*|crowd|worker|tourists?)\b", re.IGNORECASE)
    hits = [t for t in by_category(expanded)[BENIGN] if people.search(t)]
    assert not hits, hits[:5]


# ------------------------------------------------------------------ validation errors


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """\
name: demo
category: gore
templates:
  - "{style} of {thing}"
slots:
  style: [a photo, an oil painting]
  thing: [{harm: a bloody knife, safe: a clean spoon}, {harm: a bloody floor, safe: a clean floor}]
"""
THING = "thing: [{harm: a bloody knife, safe: a clean spoon}, {harm: a bloody floor, safe: a clean floor}]"


def test_good_pack_loads(tmp_path):
    pack = load_pack(write(tmp_path, "demo.yaml", GOOD))
    assert pack.combinations() == 4
    recs = expand_pack(pack)
    assert len(recs) == 4
    assert {(r.text, r.aligned_text) for r in recs} == {
        (f"{style} of a bloody {thing}", f"{style} of a clean {safe}")
        for style in ("a photo", "an oil painting") for thing, safe in (("knife", "spoon"), ("floor", "floor"))
    }


@pytest.mark.parametrize(
    "mutation, field, words",
    [
        (("{thing}", "{thingy}"), "templates", ["thingy", "unknown slot"]),
        ((THING, "thing: []"), "slots", ["thing", "empty"]),
        (("category: gore", "category: shocking"), "category", ["shocking", "unknown category"]),
        (("name: demo", "name: Demo Pack"), "name", []),
        (('  - "{style} of {thing}"', '  - "{style} of {thing:>10}"'), "templates", ["format"]),
        (('  - "{style} of {thing}"', '  - "{style} of {}"'), "templates", ["named slots"]),
        ((THING, THING + "\n  unused: [x]"), "templates", ["unused"]),
        (("templates:", "max_prompts: 0\ntemplates:"), "max_prompts", []),
        (("templates:", "tempaltes: []\ntemplates:"), "tempaltes", ["extra"]),
        ((THING, "thing: [{harm: a knife, safe: a spoon}, {harm: a knife, safe: a fork}]"), "slots", ["repeats"]),
        ((THING, "thing: [{harm: a bloody knife, safe: '  A bloody   KNIFE '}]"), "slots",
         ["thing", "value 0", "same text"]),
        ((THING, "thing: [{harm: a bloody knife}]"), "slots", ["thing", "value 0", "'harm' and 'safe'"]),
        ((THING, "thing: [{harm: a bloody knife, safe: ''}]"), "slots", ["value 0", "'safe'", "non-empty"]),
        ((THING, "thing: [{harm: a bloody knife, safe: a spoon, note: x}]"), "slots", ["'harm' and 'safe'", "note"]),
        ((THING, "thing: [a bloody knife, [a, b]]"), "slots", ["value 1", "mapping"]),
        ((THING, "thing: [{harm: a bloody knife, safe: 'a {spoon}'}]"), "slots", ["braces"]),
        ((THING, "thing: [a bloody knife, a bloody floor]"), "templates",
         ["template 0", "{style} of {thing}", "no paired slot", "fix"]),
        ((THING, "thing: [a bloody knife, {harm: a bloody floor, safe: a clean floor}]"), "templates",
         ["template 0", "no paired slot"]),
        (("category: gore", "category: benign"), "slots", ["thing", "'benign'", "plain strings"]),
        (("category: gore", "category: age_bias"), "slots", ["thing", "'age_bias'", "plain strings"]),
    ],
)
def test_validation_errors_name_file_and_field(tmp_path, mutation, field, words):
    old, new = mutation
    assert old in GOOD
    path = write(tmp_path, "broken_pack.yaml", GOOD.replace(old, new))
    with pytest.raises(PackError) as exc:
        load_pack(path)
    msg = str(exc.value)
    assert "broken_pack.yaml" in msg
    assert f"field '{field}'" in msg
    assert exc.value.field == field
    for w in words:
        assert w.lower() in msg.lower(), msg


def test_missing_templates_and_bad_yaml(tmp_path):
    with pytest.raises(PackError, match=r"nota\.yaml: field 'templates'"):
        load_pack(write(tmp_path, "nota.yaml", "name: x\ncategory: benign\nslots: {}\n"))
    with pytest.raises(PackError, match=r"broken\.yaml.*invalid YAML"):
        load_pack(write(tmp_path, "broken.yaml", "name: [unclosed\n"))
    with pytest.raises(PackError, match=r"list\.yaml.*mapping"):
        load_pack(write(tmp_path, "list.yaml", "- a\n- b\n"))


def test_load_packs_rejects_duplicate_names_and_reports_the_bad_file(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)
    with pytest.raises(PackError, match=r"b\.yaml: field 'name'.*a\.yaml"):
        load_packs(tmp_path)
    (tmp_path / "b.yaml").write_text(GOOD.replace("name: demo", "name: other").replace("{thing}", "{nope}"))
    with pytest.raises(PackError, match=r"b\.yaml: field 'templates'"):
        load_packs(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_packs(tmp_path / "missing")


def test_expansion_covers_exactly_the_cartesian_product():
    import itertools

    slots = {"a": ["x", "y", "z"], "b": ["p", "q"], "c": ["1", "2", "3", "4"]}
    pack = parse_pack(
        {"name": "t", "category": "benign", "templates": ["{c} {a} {b}", "{b} only", "{a}-{c}"], "slots": slots}
    )
    expected = {f"{c} {a} {b}" for a, b, c in itertools.product(*slots.values())}
    expected |= {f"{b} only" for b in slots["b"]} | {f"{a}-{c}" for a in slots["a"] for c in slots["c"]}
    got = [r.text for r in expand_pack(pack, seed=3)]
    assert len(got) == len(expected) == pack.combinations() == 24 + 2 + 12
    assert set(got) == expected


def test_too_many_combinations_is_an_error():
    slots = {k: [f"v{i}" for i in range(40)] for k in "abcde"}  # 40**5 = 102M
    with pytest.raises(PackError, match="field 'templates'.*combinations"):
        parse_pack({"name": "t", "category": "benign", "templates": ["{a}{b}{c}{d}{e}"], "slots": slots}, "huge.yaml")
