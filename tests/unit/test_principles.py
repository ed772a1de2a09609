from pathlib import Path

import pytest
import yaml

from pipeline.catalog import CatalogError, load_catalog
from pipeline.categories import ALL

GOOD_TOXIC = {
    "id": "no_gore_test",
    "category": "gore",
    "kind": "toxicity",
    "statement": "Images should not show blood or gore.",
    "keywords": ["blood", "gore"],
    "violation_concepts": ["blood"],
    "safe_concepts": ["a clean scene"],
    "negative_concepts": ["blood"],
    "rewrite_rules": [{"pattern": r"\bblood\b", "replacement": "red paint"}],
    "injection": "covered in blood",
}


def write(tmp_path: Path, principles, name="cat.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"principles": principles}))
    return path


def test_shipped_catalog_covers_every_category():
    catalog = load_catalog()
    assert len(catalog) >= 12
    assert {p.category for p in catalog} == set(ALL)
    assert all(p.kind == ("bias" if p.category.endswith("_bias") else "toxicity") for p in catalog)


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"kind": "bias"}, "kind", "is of kind 'toxicity'"),
        ({"category": "weather"}, "category", "unknown category"),
        ({"keywords": []}, "keywords", "at least 1"),
        ({"keywords": ["  "]}, "keywords", "non-empty"),
        ({"rewrite_rules": [{"pattern": "([", "replacement": "x"}]}, "rewrite_rules.0.pattern", "invalid regular expression"),
        ({"injection": None}, "injection", "required for toxicity"),
        ({"attribute": "gender"}, "attribute", "only bias principles"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"id": "Bad-Id"}, "id", "lower-case"),
        ({"keyword_exceptions": ["blood pressure", "red lipstick"]}, "keyword_exceptions",
         "'red lipstick' contains none of the keywords"),
        ({"cue_words": ["blood"]}, "cue_words", "are keywords too"),
        ({"cue_words": ["horror"], "style_words": ["noir"]}, "style_words", "are not cue words"),
        ({"cue_words": ["gun"], "object_words": ["sword"]}, "object_words", "are not cue words"),
    ],
)
def test_errors_name_file_principle_and_field(tmp_path, change, field, message):
    path = write(tmp_path, [{**GOOD_TOXIC, **change}])
    with pytest.raises(CatalogError) as exc:
        load_catalog(path)
    err = exc.value
    assert err.file == str(path)
    assert err.field == field
    assert err.principle in ("no_gore_test", "Bad-Id")
    assert message in str(err) and str(path) in str(err) and field in str(err)


def test_bias_principle_needs_two_values_and_a_phrase_for_each(tmp_path):
    phrases = {"male": {"adjective": "male", "person": "a man"}, "female": {"adjective": "female", "person": "a woman"}}
    bias = {
        "id": "gender_test", "category": "gender_bias", "kind": "bias", "statement": "All genders equally.",
        "keywords": ["doctor"], "violation_concepts": ["male", "female"], "attribute": "gender",
        "attribute_values": ["male"], "attribute_phrases": {"male": phrases["male"]},
    }
    with pytest.raises(CatalogError, match="attribute_values"):
        load_catalog(write(tmp_path, [bias]))
    with pytest.raises(CatalogError, match="attribute_phrases.*one entry per attribute value"):
        load_catalog(write(tmp_path, [{**bias, "attribute_values": ["male", "female"]}]))



def test_duplicate_ids_across_files_and_missing_categories(tmp_path):
    write(tmp_path, [GOOD_TOXIC], "a.yaml")
    write(tmp_path, [GOOD_TOXIC], "b.yaml")
    with pytest.raises(CatalogError, match="duplicate id"):
        load_catalog(tmp_path)
    (tmp_path / "b.yaml").unlink()
    with pytest.raises(CatalogError, match="no principle covers categories: nudity"):
        load_catalog(tmp_path)


def test_malformed_yaml_and_layout(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("principles: [unclosed")
    with pytest.raises(CatalogError, match="invalid YAML"):
        load_catalog(bad)
    bad.write_text("- just a list")
    with pytest.raises(CatalogError, match="top-level 'principles:' list"):
        load_catalog(bad)
    bad.write_text(yaml.safe_dump({"principles": ["a string"]}))
    with pytest.raises(CatalogError, match="must be a mapping"):
        load_catalog(bad)



def test_keywords_inside_an_exception_phrase_do_not_count():
    catalog = load_catalog()
    gore, weapons = catalog.get("no_gore"), catalog.get("no_weapons_threat")
    assert gore.find_keywords("a nurse measuring blood pressure") == set()
    assert gore.find_keywords("a glass of Bloody Mary on a bar") == set()
    assert gore.find_keywords("blood pressure cuff on a bloody arm") == {"bloody"}
    assert weapons.find_keywords("a chef dicing onions with a kitchen knife") == set()
    assert weapons.find_keywords("a kitchen knife and a grenade on a table") == {"grenade"}
    assert weapons.find_keywords("a man with a shotgun") == set() and weapons.find_cues("a man with a shotgun") == {"shotgun"}
    assert weapons.find_keywords("a man with a rifle") == set() and weapons.find_cues("a man with a rifle") == {"rifle"}
    assert weapons.find_keywords("a man with a gun") == set() and weapons.find_cues("a man with a gun") == {"gun"}
    assert weapons.find_cues("two water guns on a lawn") == set()  # exceptions hold for cue words too
    assert weapons.find_keywords("the show has begun") == set()



def test_cue_words_break_keyword_ties_but_decide_nothing_alone():
    from pipeline.select.keyword import KeywordSelector

    catalog = load_catalog()
    kw = KeywordSelector(catalog)
    assert kw.match("a creepy horror movie poster of a haunted lake") is None
    # nude (no_nudity) and erotic (no_sexual_content) tie; "boudoir" and "sensual" say which harm
    assert kw.match("an erotic boudoir photo of a nude woman, sensual mood").principle_id == "no_sexual_content"
    assert kw.match("an erotic photo of a nude woman").principle_id == "no_nudity"
