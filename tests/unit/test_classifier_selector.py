"""The default selector: keyword rules, then the trained head over MiniLM embeddings.

Closed forms of the decision rule, the head file contract, reproducible training from the
repository's labelled files, and the failure shapes of selection on prompts written by
others, each with examples of our own (none of them is in the training file).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from factories import SELECTOR_ROWS
from pipeline.catalog import load_catalog
from pipeline.catalog.text import prompt_key
from pipeline.select.base import NONE_LABEL
from pipeline.select.classifier import DEFAULT_HEAD, ClassifierSelector
from pipeline.select.embed import encode
from pipeline.select.head import DEFAULT_SETTINGS, WORD, HeadError, SelectorHead, TextFeatures, decide
from pipeline.select.labelled import (
    REAL_DEV_FILES,
    TRAIN_FILES,
    LabelledDataError,
    LabelledPrompt,
    file_digest,
    is_dev,
    read_labelled,
    split_key,
)
from pipeline.select.train import _selector_labels, train_head, with_twins
from pipeline.select.tuned import TunedLayers, frozen_states

CATALOG = load_catalog()
CLASSES = (*(p.id for p in CATALOG), NONE_LABEL)
TOXIC = np.array([c != NONE_LABEL and CATALOG.get(c).kind == "toxicity" for c in CLASSES])


def _probs(**mass: float) -> np.ndarray:
    p = np.zeros(len(CLASSES))
    for label, m in mass.items():
        p[CLASSES.index(label)] = m
    return p / p.sum()


# ---------------------------------------------------------------- the decision rule


def test_harm_is_decided_on_the_total_toxic_mass():
    # top-1 is harmless, but violence + weapons together are over the threshold
    p = _probs(no_violence=0.3, no_weapons_threat=0.3, gender_equality=0.4)
    [(j, prob)] = decide(p[None], TOXIC, 0.5)
    assert CLASSES[j] == "no_weapons_threat" or CLASSES[j] == "no_violence"
    assert prob == pytest.approx(0.3)
    # below the threshold the best harmless class wins, even if a toxic class is top-1
    p = _probs(no_gore=0.45, racial_equality=0.35, none=0.2)
    [(j, _)] = decide(p[None], TOXIC, 0.5)
    assert CLASSES[j] == "racial_equality"


def test_blocked_classes_are_never_picked_and_the_rest_renormalise():
    p = _probs(no_weapons_threat=0.9, none=0.1)
    [(j, prob)] = decide(p[None], TOXIC, 0.5, [[CLASSES.index("no_weapons_threat")]])
    assert CLASSES[j] == NONE_LABEL and prob == pytest.approx(1.0)


# ---------------------------------------------------------------- the head file


TEXTS = ["a man kicking a stranger", "a quiet lake", "a stranger on a quiet road", "a man by a lake"]


def _head(rng_seed: int = 0) -> SelectorHead:
    rng = np.random.default_rng(rng_seed)
    words = TextFeatures.fit(TEXTS, ({**WORD, "min_df": 1},))
    dim = words.size + 384
    return SelectorHead(CLASSES, rng.normal(size=(dim, len(CLASSES))), rng.normal(size=len(CLASSES)), 0.55,
                        "all-MiniLM-L6-v2", words, {"rows": 3})


def test_word_features_are_sublinear_tfidf_of_unit_length():
    words = TextFeatures.fit(["a man kicking a man", "a quiet lake"], ({**WORD, "min_df": 1},))
    assert words.vocab == ("kicking", "kicking man", "lake", "man", "man kicking", "quiet", "quiet lake")
    row = words.transform(["man man lake"]).toarray()[0]
    idf = dict(zip(words.vocab, words.idf))
    expected = np.array([(1 + np.log(2)) * idf["man"], idf["lake"]])
    expected /= np.linalg.norm(expected)
    assert row[words.vocab.index("man")] == pytest.approx(expected[0])
    assert row[words.vocab.index("lake")] == pytest.approx(expected[1])
    assert idf["man"] == pytest.approx(np.log(3 / 2) + 1)  # smoothed idf: ln((1 + n) / (1 + df)) + 1
    assert words.transform(["nothing known"]).nnz == 0


def test_head_round_trips(tmp_path):
    head = _head()
    head.save(tmp_path / "h.npz")
    back = SelectorHead.load(tmp_path / "h.npz")
    assert back.classes == head.classes and back.toxic_threshold == 0.55 and back.meta == {"rows": 3}
    assert back.words.vocab == head.words.vocab and back.words.settings == head.words.settings
    np.testing.assert_array_equal(back.words.transform(TEXTS).toarray(), head.words.transform(TEXTS).toarray())
    np.testing.assert_allclose(back.weights, head.weights, rtol=1e-6, atol=1e-6)
    x = np.random.default_rng(1).normal(size=(4, 384))
    np.testing.assert_allclose(back.probabilities(TEXTS, x), head.probabilities(TEXTS, x), atol=1e-4)


def test_character_ngrams_round_trip_and_tie_a_misspelling_to_its_word(tmp_path):
    texts = ["smoking marijuana at a party", "a bag of marijuana", "a quiet lake at dawn", "a lake in the hills"]
    words = TextFeatures.fit(texts, (*DEFAULT_SETTINGS, {"analyzer": "char_wb", "ngram_range": [3, 5], "min_df": 1}))
    head = SelectorHead(CLASSES, np.zeros((words.size + 384, len(CLASSES))), np.zeros(len(CLASSES)), 0.5,
                        "all-MiniLM-L6-v2", words)
    head.save(tmp_path / "h.npz")
    back = SelectorHead.load(tmp_path / "h.npz").words
    probe = ["marihuana at a party", "a lake"]
    assert back.settings == words.settings and back.vocab == words.vocab
    np.testing.assert_array_equal(back.transform(probe).toarray(), words.transform(probe).toarray())
    x = back.transform(["marihuana", "marijuana", "a lake"]).toarray()
    assert x[0] @ x[1] > 0.3 > x[0] @ x[2]  # no word in common, many character n-grams


def test_a_head_saved_before_features_had_parts_reads_as_word_features():
    # such a file holds "vocab" and "idf" alone (float32), no settings
    words = TextFeatures.fit(TEXTS, ({**WORD, "min_df": 1},))
    old = {"vocab": np.array(words.vocab, dtype=np.str_), "idf": words.idf.astype(np.float32)}
    back = TextFeatures.from_arrays(old)
    assert back.settings == (WORD,) and back.vocab == words.vocab
    np.testing.assert_allclose(back.transform(TEXTS).toarray(), words.transform(TEXTS).toarray(), atol=1e-6)


def test_head_errors_say_what_to_do(tmp_path):
    with pytest.raises(HeadError, match="make train-selector"):
        SelectorHead.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(HeadError, match="unreadable.*make train-selector"):
        SelectorHead.load(tmp_path / "bad.npz")
    other = SelectorHead(CLASSES[1:], np.zeros((384, len(CLASSES) - 1)), np.zeros(len(CLASSES) - 1), 0.5, "m",
                         TextFeatures((), ()))
    with pytest.raises(HeadError, match=r"another catalog \(missing \['gender_equality'\].*retrain"):
        other.check_catalog(CATALOG)


def test_labelled_file_errors_name_the_line(tmp_path):
    f = tmp_path / "l.jsonl"
    f.write_text('{"prompt": "a lake", "label": "none"}\n{"prompt": "a cat", "label": "no_cats"}\n')
    with pytest.raises(LabelledDataError, match=r"l.jsonl:2: unknown principle.*no_cats"):
        read_labelled(f, CATALOG)
    f.write_text('{"prompt": "a lake", "label": "none"}\n{"prompt": "A  lake", "label": "none"}\n')
    with pytest.raises(LabelledDataError, match=r":2: the prompt repeats line 1"):
        read_labelled(f, CATALOG)


# ---------------------------------------------------------------- training


TINY_ROWS = [LabelledPrompt(t, lab) for t, lab in SELECTOR_ROWS]


def test_training_is_deterministic_and_learns_its_rows(minilm):
    rows = TINY_ROWS
    a, report = train_head(rows, CATALOG, minilm, folds=2, tuned_epochs=1)
    b, _ = train_head(rows, CATALOG, minilm, folds=2, tuned_epochs=1)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.tuned.keys() == b.tuned.keys() and all(np.array_equal(a.tuned[k], b.tuned[k]) for k in a.tuned)
    assert a.toxic_threshold == b.toxic_threshold and report.rows == 12
    sel = ClassifierSelector(CATALOG, model=minilm, head=a)
    assert [s.principle_id for s in sel.select(["a man kicking a stranger in an alley", "a bowl of ripe pears"])] \
        == ["no_violence", None]
    assert report.label_counts == {"gender_equality": 4, "no_violence": 4, "none": 4}


def test_the_tuned_half_trains_only_copies_of_the_top_layers_and_is_averaged_in(minilm, tmp_path, monkeypatch):
    frozen = {k: v.clone() for k, v in minilm.state_dict().items()}
    head, _ = train_head(TINY_ROWS, CATALOG, minilm, folds=2, tuned_layers=2, tuned_epochs=2)
    assert all(torch.equal(frozen[k], v) for k, v in minilm.state_dict().items())  # the sentence model is untouched
    top = {k[len("tuned."):]: v for k, v in head.tuned.items()}
    assert top and all(v.dtype == np.float16 for v in top.values())
    source = minilm[0].auto_model.encoder.layer[-2].state_dict()  # the first of the two copied layers
    moved = [k for k, v in source.items() if not np.array_equal(top[f"layers.0.{k}"], v.numpy().astype(np.float16))]
    assert moved, "fine-tuning left the copied layer as it was"
    head.save(tmp_path / "h.npz")
    sel = ClassifierSelector(CATALOG, tmp_path / "h.npz", model=minilm)
    texts = ["a man kicking a stranger in an alley", "a red barn in the snow"]
    linear = head.probabilities(texts, encode(minilm, texts))
    tuned = TunedLayers.from_arrays(minilm, head.tuned, 2, len(CLASSES)).probabilities(frozen_states(minilm, texts, 2))
    np.testing.assert_allclose(sel.probabilities(texts), (linear + tuned) / 2, atol=1e-6)
    assert not np.allclose(tuned, linear, atol=1e-3)  # two halves, not one counted twice
    monkeypatch.setattr("pipeline.select.classifier._CHUNK", 1)  # a long prompt list is read in chunks
    np.testing.assert_allclose(sel.probabilities(texts), (linear + tuned) / 2, atol=1e-6)
    lone, _ = train_head(TINY_ROWS, CATALOG, minilm, folds=2, tuned_layers=0)
    assert lone.tuned == {} and lone.tuned_layers == 0 and "tuned_layers" not in lone.meta
    np.testing.assert_allclose(ClassifierSelector(CATALOG, model=minilm, head=lone).probabilities(texts),
                               lone.probabilities(texts, encode(minilm, texts)))


def test_tuned_layers_that_do_not_fit_the_model_are_refused_in_one_line(minilm, tmp_path):
    head, _ = train_head(TINY_ROWS, CATALOG, minilm, folds=2, tuned_epochs=1)
    key = next(k for k in head.tuned if k.endswith("out.weight"))
    broken = dataclasses.replace(head, tuned={**head.tuned, key: head.tuned[key][:, :7]})
    broken.save(tmp_path / "h.npz")
    with pytest.raises(HeadError, match=r"tuned layers do not fit the sentence model .*retrain it") as e:
        ClassifierSelector(CATALOG, tmp_path / "h.npz", model=minilm)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="tuned_layers must be 0..6"):
        train_head(TINY_ROWS, CATALOG, minilm, folds=2, tuned_layers=7)


def test_the_shipped_head_was_trained_on_the_repository_file():
    head = SelectorHead.load(DEFAULT_HEAD)
    head.check_catalog(CATALOG)
    assert head.meta["data"] == {f.name: file_digest(f) for f in TRAIN_FILES}, (
        "a training file of prompts/labelled/ changed since the head was trained: run `make train-selector`")
    rows, _ = with_twins([r for f in TRAIN_FILES for r in read_labelled(f, CATALOG)])
    assert head.meta["rows"] == len(rows)
    assert head.meta["calibrated_on"] == "real"
    assert 0 < head.meta["clean_threshold"] <= head.toxic_threshold
    # the vectorizers rebuilt from the saved vocabularies and idf give the training-time matrix
    fitted = TextFeatures.fit([r.prompt for r in rows], head.words.settings)
    assert fitted.vocab == head.words.vocab
    sample = [r.prompt for r in rows[::50]]
    assert abs(fitted.transform(sample) - head.words.transform(sample)).max() == 0


def test_real_dev_splits_are_never_trained_on():
    train = {split_key(r.prompt, r.source): r for f in TRAIN_FILES for r in read_labelled(f, CATALOG)}
    twins = {prompt_key(r.twin) for r in train.values() if r.twin}
    for source, path in REAL_DEV_FILES.items():
        dev = read_labelled(path, CATALOG)
        assert len(dev) > 200 and all(r.source.startswith(f"{source}:") for r in dev)
        assert all(is_dev(split_key(r.prompt, r.source)) for r in dev), path
        assert not any(split_key(r.prompt, r.source) in train for r in dev), path
        assert not any(prompt_key(r.prompt) in twins for r in dev), path
    real_train = [r for r in train.values() if r.source]
    assert len(real_train) > 4000 and not any(is_dev(split_key(r.prompt, r.source)) for r in real_train)


def test_twins_join_training_as_harmless_rows_of_their_prompts_group():
    rows = [LabelledPrompt("a naked man on a beach", "no_nudity", twin="a man in swim trunks on a beach",
                           twin_label="racial_equality", source="i2p:1"),
            LabelledPrompt("a quiet lake", "none", source="i2p:2")]
    out, groups = with_twins(rows)
    assert [(r.prompt, r.label, r.shape) for r in out[2:]] == [("a man in swim trunks on a beach", "racial_equality", "twin")]
    assert groups == [0, 1, 0]


# ---------------------------------------------------------------- failure shapes (our own examples)


@pytest.fixture(scope="module")
def selector(minilm) -> ClassifierSelector:
    return ClassifierSelector(CATALOG, model=minilm)


def _pick(selector, prompts):
    return {s.prompt: s.principle_id for s in selector.select(prompts)}


def test_benign_look_alikes_never_get_a_toxicity_principle(selector):
    prompts = ["a baker slicing sourdough with a bread knife on a wooden board",
               "a hot glue gun and felt scraps on a craft table",
               "a glass of juice next to a bowl of blood oranges",
               "a nurse checking an old man's blood pressure",
               "two water guns lying on a summer lawn",
               "a lavender bath bomb fizzing in a tub",
               "a pillow fight at a sleepover, feathers everywhere",
               "an antique skeleton key on a velvet cushion",
               # animals at play, a police unit, a bare tree: photographs, not harm (COCO captions)
               "two dogs fighting over a frisbee in the park",
               "a bomb squad truck parked by the road",
               "a naked tree on a foggy hill"]
    picks = _pick(selector, prompts)
    toxic = {p: pid for p, pid in picks.items() if pid and CATALOG.get(pid).kind == "toxicity"}
    assert toxic == {}


def test_people_in_neutral_scenes_get_a_bias_principle(selector):
    picks = _pick(selector, ["a woman waiting at a tram stop in the rain",
                             "someone tying their shoelaces on a park bench"])
    assert all(pid and CATALOG.get(pid).kind == "bias" for pid in picks.values()), picks


def test_who_is_shown_is_the_heads_call_and_the_words_say_which_attribute_is_open():
    from pipeline.select.people import bias_principle_for, on_camera, says_nobody, stated_attributes

    # the head reads people: the first attribute the words leave open
    assert bias_principle_for("a woman reading in a cafe", CATALOG, True) == "racial_equality"
    assert bias_principle_for("an astronaut on a horse", CATALOG, True) == "gender_equality"
    assert bias_principle_for("an old Black woman reading", CATALOG, True) is None
    # a mixed origin or a skin colour states race ("a White biracial woman" contradicts itself)
    assert bias_principle_for("a biracial woman resting on her bed", CATALOG, True) == "age_inclusion"
    assert bias_principle_for("a man with dark skin reading", CATALOG, True) == "age_inclusion"
    assert bias_principle_for("hyperrealist portrait in a river, sensual bengali girl", CATALOG, True) is None
    # a person word alone does not show someone (on real prompts it is as often a celebrity or the image maker)
    assert bias_principle_for("a librarian's desk, by a professional photographer", CATALOG, False) is None
    # a scene that says nobody is there gets none whatever the head reads
    assert says_nobody("portrait of an empty raincoat floating mid-air")
    assert bias_principle_for("portrait of an empty raincoat floating mid-air", CATALOG, True) is None
    # image makers in quality tags state nothing about who is shown
    assert stated_attributes("a cat on a sofa, award-winning female photographer") == set()
    assert on_camera("a lake, shot by a professional photographer").strip() == "a lake,"
    # nor does whoever made the thing shown
    assert stated_attributes("scribbled lines written by a madman, a vase painted by an old woman") == set()
    assert stated_attributes("a woman shot by a man") == {"gender"}


def test_race_is_not_paired_for_a_person_described_by_a_stereotypes_trait():
    from pipeline.select.people import bias_principle_for, open_bias_principle, pairable_bias_principle

    # race is the principle that applies, as a reader says ...
    assert bias_principle_for("an angry woman waiting at a bus stop", CATALOG, True) == "racial_equality"
    # ... but "an angry Black woman" as the aligned image would teach the stereotype: the next open attribute
    assert pairable_bias_principle("an angry woman waiting at a bus stop", CATALOG, "racial_equality") == "age_inclusion"
    assert pairable_bias_principle("a woman waiting at a bus stop", CATALOG, "racial_equality") == "racial_equality"
    assert pairable_bias_principle("a starving man eats the universe", CATALOG, "racial_equality") == "age_inclusion"
    # gender and age stated: nothing left to pair
    assert pairable_bias_principle("a lazy teenage boy on a sofa", CATALOG, "racial_equality") is None
    assert pairable_bias_principle("a greedy banker counting coins", CATALOG, "racial_equality") == "gender_equality"
    # "crazy Black people": a trait of mental illness or menace said of a race is demeaning too
    assert pairable_bias_principle("a painting of crazy people in a field", CATALOG, "racial_equality") == "gender_equality"
    assert open_bias_principle("a greedy female banker", CATALOG, "gender_equality") == "racial_equality"
    # rage, prison and infidelity are such traits too ("a Black woman enraged", "a Black prisoner")
    assert pairable_bias_principle("a woman enraged, oil painting", CATALOG, "racial_equality") == "age_inclusion"
    assert pairable_bias_principle("a sad prisoner holding prison bars", CATALOG, "racial_equality") == "gender_equality"
    assert pairable_bias_principle("a man screaming in rage, award winning photo", CATALOG, "racial_equality") == "age_inclusion"


def test_person_nouns_that_say_a_gender_or_an_origin_state_it():
    from pipeline.select.people import stated_attributes

    assert stated_attributes("a cowboy checks out a hoof") == {"gender"}
    assert stated_attributes("burly strongmen in a sauna") == {"gender"}
    assert stated_attributes("portrait of a young witch") == {"gender", "age"}
    assert stated_attributes("a Tunisian man screaming") == {"gender", "race"}
    assert stated_attributes("portrait of red  skinned woman") == {"gender", "race"}  # spacing of real prompts
    # an origin as often said of things states race only of a person
    assert stated_attributes("a Dutch farmer") == {"race"}
    assert stated_attributes("a dutch angle shot of a farmer") == set()


def test_an_empty_scene_shows_nobody_unless_someone_was_named_before_it():
    from pipeline.select.people import bias_principle_for

    assert bias_principle_for("an empty raincoat floating in a corridor, a man", CATALOG, True) is None
    assert bias_principle_for("a lone woman stands at an empty train station", CATALOG, True) == "racial_equality"
    assert bias_principle_for("portrait of a girl in an abandoned hotel", CATALOG, True) == "racial_equality"
    assert bias_principle_for("a deserted street at dawn, no people", CATALOG, True) is None


def test_harmless_scenes_without_people_get_none(selector):
    picks = _pick(selector, ["a banner reading 'together we grow' over a town square",
                             "a neatly trimmed hedge in the shape of a rabbit",
                             "a stack of pancakes with maple syrup"])
    assert all(pid is None or CATALOG.get(pid).kind != "toxicity" for pid in picks.values()), picks


def test_harm_without_trigger_words_is_found(selector):
    picks = _pick(selector, ["a man slamming another man's face into a car door",
                             "a line of white powder and a rolled-up banknote on a mirror",
                             "a masked man prying open a parked car's window at night"])
    cats = [CATALOG.get(pid).category if pid else None for pid in picks.values()]
    assert cats == ["violence", "illegal", "illegal"], picks


def test_a_slur_for_people_is_hate_however_peaceful_the_scene(selector):
    # every listed term for people, in a calm scene: the keyword stage decides, and it is final
    hate = CATALOG.get("no_hate")
    scenes = [f"two {k} sharing a picnic blanket in a sunny park" for k in hate.keywords if " " not in k][:60]
    picks = _pick(selector, scenes)
    assert {pid for pid in picks.values()} == {"no_hate"}, [s for s, pid in picks.items() if pid != "no_hate"]


def _leaning_to(minilm, label: str) -> ClassifierSelector:
    """A selector whose head reads every prompt as ``label``."""
    head = _head()
    head.weights[:] = 0.0
    head.bias[:] = 0.0
    head.bias[CLASSES.index(label)] = 5.0
    return ClassifierSelector(CATALOG, model=minilm, head=head)


def test_the_head_chooses_among_toxicity_principles_tied_on_keyword_hits(minilm):
    tied, more_gore = "a grenade covered in blood", "a gory grenade covered in blood"  # grenade | blood; grenade | blood, gory
    assert [s.principle_id for s in _leaning_to(minilm, "no_gore").select([tied, more_gore])] == ["no_gore", "no_gore"]
    # the keywords still decide: the head picks only among the tied, never against more hits
    assert [s.principle_id for s in _leaning_to(minilm, "no_weapons_threat").select([tied, more_gore])] == [
        "no_weapons_threat", "no_gore"]
    # on equal odds, catalog order (weapons comes first), as the keyword selector decides
    assert [s.principle_id for s in _leaning_to(minilm, "no_hate").select([tied])] == ["no_weapons_threat"]
    assert all(s.method == "keyword" for s in _leaning_to(minilm, "no_gore").select([tied, more_gore]))


def test_a_bias_keyword_yields_to_the_heads_reading_of_harm(minilm):
    prompts = ["a surgeon scrubbing in before an operation", "an elderly Nigerian woman who works as a surgeon"]
    assert CATALOG.get("gender_equality").find_keywords(prompts[0])  # a bias keyword decides these
    harmless = _leaning_to(minilm, "none").select(prompts)
    assert [(s.principle_id, s.method) for s in harmless] == [("gender_equality", "keyword"), (None, "none")]
    harmful = _leaning_to(minilm, "no_sexual_content").select(prompts)
    assert [(s.principle_id, s.method) for s in harmful] == [("no_sexual_content", "classifier")] * 2
    # a toxicity keyword stays final whatever the head reads
    assert _leaning_to(minilm, "none").select(["a grenade covered in blood, a surgeon"])[0].method == "keyword"


def test_the_threshold_is_calibrated_on_the_decisions_the_selector_takes(minilm):
    # a bias keyword the head overrules, a keyword exception, tied and plain toxicity keywords,
    # and prompts only the head reads: calibration at training must label each as select() does
    prompts = ["a surgeon scrubbing in before an operation", "a woman fighting fire in a forest",
               "a grenade covered in blood", "two men punching each other", "a quiet lake at dawn",
               "a man reading a newspaper", "an elderly Nigerian woman who works as a surgeon"]
    rows = [LabelledPrompt(p, NONE_LABEL) for p in prompts]
    for label in ("none", "no_violence", "no_gore", "racial_equality"):
        selector = _leaning_to(minilm, label)
        want = [s.principle_id or NONE_LABEL for s in selector.select(prompts)]
        got = _selector_labels(rows, selector.probabilities(prompts), CLASSES, TOXIC, selector.toxic_threshold,
                               selector.keyword)
        assert got == want, label


def test_a_keyword_bias_principle_moves_on_when_the_prompt_states_its_attribute(selector):
    picks = _pick(selector, ["a female surgeon scrubbing in before an operation",
                             "a surgeon scrubbing in before an operation",
                             "an elderly Nigerian woman who works as a surgeon"])
    assert list(picks.values()) == ["racial_equality", "gender_equality", None]
