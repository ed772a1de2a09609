"""Implicit-harm pairs (planning.implicit_harm): planned open for imported prompts no text judgement flags,
resolved to the toxicity principle the judges see in the first image (or dropped), then rendered away
from it with its negative prompt and judged as any toxicity pair. The whole build from a prompt file:
tests/integration/test_implicit_harm_build.py."""

from __future__ import annotations

import numpy as np
import pytest

from factories import implicit_plan, make_plan, make_scores, noise_images
from fake_run import planned_run
from pipeline.build.render_order import ALIGNED, VIOLATING, RenderOrder
from pipeline.build.shard import process_shard
from pipeline.calibrate.sweep import read_judged_pairs
from pipeline.catalog import load_catalog
from pipeline.config import FilterConfig
from pipeline.filters import REASONS
from pipeline.filters.implicit import candidates, choose, resolve_implicit_plans, violating_scores, with_principle
from pipeline.filters.rules import IMPLICIT_NO_HARM
from pipeline.plan.checks import IMPLICIT_NOT_ENGLISH
from pipeline.plan.checks import REASONS as CHECK_REASONS
from pipeline.plan.implicit import IMPLICIT
from pipeline.plan.planner import plan_pairs
from pipeline.records import PromptRecord, Selection, SelectionMethod
from pipeline.run.schema import ALIGNED_METHODS, pair_row
from pipeline.run.tables import read_rejected, read_run

CATALOG = load_catalog()
TOXIC = [p for p in CATALOG if p.kind == "toxicity"]


def _selection(text: str, pid: str | None) -> Selection:
    if pid is None:
        return Selection(text, None, None, SelectionMethod.NONE)
    return Selection(text, pid, CATALOG.get(pid).category, SelectionMethod.KEYWORD)


def _plan(rows: list[tuple[str, str, str | None]], **options):
    recs = [PromptRecord(text, source) for text, source, _ in rows]
    return plan_pairs(recs, [_selection(text, pid) for text, _, pid in rows], CATALOG, benign_pairs=False, **options)


# ---------------------------------------------------------------- planning

ROWS = [
    ("a portrait photo of a nurse at work", "file:i2p.txt", "gender_equality"),  # a bias principle: no objection
    ("a misty forest at dawn", "i2p:i2p.csv", None),
    ("a bloody knight on a battlefield", "file:i2p.txt", "no_gore"),  # the text says the harm: a text twin's
    ("a misty lake at dusk", "template:benign_scenes", None),  # not imported
    ("ein nebliger Wald im Morgengrauen mit Bäumen", "file:i2p.txt", None),
]


def test_imported_prompts_no_text_judgement_flags_are_planned_open():
    plan = _plan(ROWS, implicit_harm=True)
    implicit = [p for p in plan.plans if p.pair_type == IMPLICIT]
    assert sorted(p.prompt for p in implicit) == sorted([ROWS[0][0], ROWS[1][0]])
    for p in implicit:
        # the user's prompt on both sides, one seed, the principle and the negative prompt left to the image
        assert (p.violating_prompt, p.aligned_prompt, p.aligned_negative_prompt) == (p.prompt, p.prompt, "")
        assert p.kind == "toxicity" and p.principle_id == "" and p.unresolved
    # a bias pair of the same prompt stays, and is another pair
    assert any(p.pair_type == "bias" and p.prompt == ROWS[0][0] for p in plan.plans)
    assert [(d.prompt, d.pair_type, d.reason) for d in plan.dropped if d.pair_type == IMPLICIT] == [
        (ROWS[4][0], IMPLICIT, IMPLICIT_NOT_ENGLISH)]
    assert IMPLICIT_NOT_ENGLISH in CHECK_REASONS


def test_the_mode_is_off_by_default_and_ids_do_not_move():
    off, on = _plan(ROWS), _plan(ROWS, implicit_harm=True)
    assert not any(p.pair_type == IMPLICIT for p in off.plans)
    assert {p.id for p in off.plans} < {p.id for p in on.plans}


def test_each_sample_of_an_implicit_pair_has_its_own_seed_and_id():
    plans = [p for p in _plan(ROWS[1:2], implicit_harm=True, samples=3).plans if p.pair_type == IMPLICIT]
    assert [p.sample for p in plans] == [0, 1, 2]
    assert len({p.seed for p in plans}) == 3 and len({p.id for p in plans}) == 3
    assert all(p.unresolved for p in plans)


# ---------------------------------------------------------------- resolution (scores in, plans out)


def _violating(concept: float, **more: float) -> dict:
    return {"violating_concept": concept, "violating_clip": 30.0, **more}


def test_the_most_alarmed_principle_above_its_threshold_is_chosen_with_its_negative_prompt():
    cands = candidates(implicit_plan(), TOXIC)
    gore = next(i for i, c in enumerate(cands) if c.principle_id == "no_gore")
    scores = [_violating(0.9 if i == gore else 0.2) for i in range(len(cands))]
    r = choose(cands, scores, FilterConfig(min_violating_violation=0.5))
    assert r.reason is None and r.plan.principle_id == "no_gore" and r.plan.category == "gore"
    assert r.plan.aligned_negative_prompt == ", ".join(CATALOG.get("no_gore").negative_concepts)
    assert (r.plan.aligned_prompt, r.plan.violating_prompt, r.plan.seed, r.plan.id) == (
        implicit_plan().prompt, implicit_plan().prompt, implicit_plan().seed, implicit_plan().id)
    assert not r.plan.unresolved and r.scores["violating_concept"] == 0.9


def test_no_principle_reaching_its_threshold_drops_the_pair_named_after_the_closest():
    cands = candidates(implicit_plan(), TOXIC)
    scores = [_violating(0.1 + 0.01 * i) for i in range(len(cands))]
    r = choose(cands, scores, FilterConfig(min_violating_violation=0.5))
    assert r.reason == IMPLICIT_NO_HARM and IMPLICIT_NO_HARM in REASONS
    assert r.plan.principle_id == cands[-1].principle_id  # the closest: the rejected row says which


def test_a_category_threshold_decides_before_the_alarm():
    cands = candidates(implicit_plan(), TOXIC)
    gore = next(i for i, c in enumerate(cands) if c.category == "gore")
    horror = next(i for i, c in enumerate(cands) if c.category == "horror")
    scores = [_violating(0.7 if i == gore else 0.6 if i == horror else 0.0) for i in range(len(cands))]
    cfg = FilterConfig(min_violating_violation=0.5, by_category={"gore": {"min_violating_violation": 0.8}})
    assert choose(cands, scores, cfg).plan.category == "horror"


def test_nudity_detectors_count_for_nudity_only_and_a_judge_of_every_category_ties_to_clip():
    cands = candidates(implicit_plan(), TOXIC)
    # NudeNet and Q16 see the image alike for every principle: NudeNet decides for nudity only
    scores = [_violating(0.2, violating_nudity=0.95, violating_q16=0.3) for _ in cands]
    assert choose(cands, scores, FilterConfig()).plan.category == "nudity"
    # Q16 alone alarmed: every principle ties on it, CLIP's concept score breaks the tie
    illegal = next(i for i, c in enumerate(cands) if c.category == "illegal")
    scores = [_violating(0.3 if i == illegal else 0.1, violating_q16=0.8) for i in range(len(cands))]
    r = choose(cands, scores, FilterConfig())
    assert r.reason is None and r.plan.category == "illegal"


def test_choose_refuses_mismatched_rows_and_a_bias_principle():
    with pytest.raises(ValueError, match="candidate"):
        choose(candidates(implicit_plan(), TOXIC), [], FilterConfig())
    with pytest.raises(ValueError, match="toxicity principle"):
        with_principle(implicit_plan(), CATALOG.get("gender_equality"))
    assert candidates(implicit_plan(), [CATALOG.get("gender_equality")]) == []


# ---------------------------------------------------------------- the judges on the first images


@pytest.fixture(scope="module")
def q16(clip_scorer, tmp_path_factory):
    """A real Q16 scorer on the tiny CLIP with random prompt embeddings of its dimension."""
    from pipeline.score.q16 import Q16Scorer

    dim = clip_scorer.model.text_projection.shape[1]
    path = tmp_path_factory.mktemp("q16") / "prompts.npy"
    np.save(path, np.random.default_rng(0).normal(size=(2, dim)).astype(np.float32))
    return Q16Scorer(path, clip_scorer)


def test_violating_scores_read_each_image_alone_once_and_each_principle_by_clip(clip_scorer, q16):
    images = noise_images(2, seed=3)
    cands = [candidates(implicit_plan(i), TOXIC) for i in range(2)]
    rows = violating_scores(cands, images, [clip_scorer, q16])
    assert [len(r) for r in rows] == [len(TOXIC)] * 2
    for image, per_principle in zip(images, rows):
        assert all(r["aligned_concept"] is None and r["aligned_q16"] is None for r in per_principle)
        q = {r["violating_q16"] for r in per_principle}
        assert len(q) == 1 and q.pop() == pytest.approx(float(q16.per_image([image])[0]), abs=1e-5)
        assert len({round(r["violating_concept"], 6) for r in per_principle}) > 1  # each principle's concepts
    plans = [implicit_plan(0), make_plan("toxicity"), implicit_plan(1)]
    resolved = resolve_implicit_plans(plans, [images[0], None, images[1]], [clip_scorer, q16], TOXIC,
                                      FilterConfig(min_violating_violation=0.0))
    assert resolved[1] is None and all(r is not None and r.reason is None for r in (resolved[0], resolved[2]))


# ---------------------------------------------------------------- render order


def test_aligned_sides_wait_for_the_judges_and_dropped_pairs_are_left_out():
    plans = [implicit_plan(i) for i in range(3)] + [make_plan("toxicity", id="t3")]
    order = RenderOrder(plans, reads_attributes=False, batch_size=2)
    assert order.waiting == [0, 1, 2]
    jobs = [j for b in order.batches for j in b]
    assert [(j.pair, j.side) for j in jobs[:3]] == [(0, VIOLATING), (1, VIOLATING), (2, VIOLATING)]
    first = next(k for k in range(len(order.batches)) if order.needs_reading(k))
    assert first > order.last_neutral_batch()
    order.leave_out({0, 2}, first)
    rest = [(j.pair, j.side) for b in order.batches[first:] for j in b]
    assert (0, ALIGNED) not in rest and (2, ALIGNED) not in rest and (1, ALIGNED) in rest
    assert all(1 <= len(b) <= 2 for b in order.batches)


# ---------------------------------------------------------------- a shard on the tiny models


class _Recording:
    """The tiny renderer, remembering every (prompt, negative prompt) it rendered."""

    def __init__(self, renderer) -> None:
        self.renderer, self.model, self.batch_size = renderer, renderer.model, renderer.batch_size
        self.rendered: list[tuple[str, str]] = []

    def start_shard(self) -> None:
        self.renderer.start_shard()

    def render(self, prompts, seeds, negative_prompts=None):
        self.rendered += list(zip(prompts, negative_prompts or [""] * len(prompts)))
        return self.renderer.render(prompts, seeds, negative_prompts)


PROMPTS = ["a quiet street at dusk", "a woman resting on a bed, soft light", "a crowded market at noon",
           "an old man in a dark cellar", "a red car parked by a river", "a child playing in a garden"]


@pytest.fixture(scope="module")
def first_images(tiny_renderer):
    """The violating images of the shard's implicit pairs (rendered in the shard's own batches of 4)."""
    plans = [implicit_plan(i, p) for i, p in enumerate(PROMPTS)]
    return plans, tiny_renderer.render([p.prompt for p in plans], [p.seed for p in plans])


def _threshold(plans, images, clip_scorer) -> tuple[float, set[str]]:
    """A min_violating_violation between the judges' best violations, and the pairs below it."""
    best = {r.plan.id: float(max(r.scores["violating_concept"], 0.0))
            for r in resolve_implicit_plans(plans, images, [clip_scorer], TOXIC, FilterConfig(min_violating_violation=0))}
    values = sorted(best.values())
    gaps = [(values[k + 1] - values[k], k) for k in range(1, len(values) - 2)]
    gap, k = max(gaps)
    assert gap > 1e-3, values  # a threshold the float rounding of another batch cannot cross
    t = (values[k] + values[k + 1]) / 2
    return t, {pid for pid, v in best.items() if v < t}


def test_a_shard_keeps_the_pairs_whose_image_shows_harm_and_drops_the_rest_unrendered(
        tmp_path, tiny_renderer, clip_scorer, first_images):
    plans, images = first_images
    t, below = _threshold(plans, images, clip_scorer)
    out, cfg = planned_run(tmp_path, plans, len(plans))
    cfg.filters = FilterConfig(min_clip_score=-100, max_aligned_violation=1.0, max_aligned_nsfw=1.0,
                               min_violating_violation=t, min_margin=-1.0)
    renderer = _Recording(tiny_renderer)
    report = process_shard(cfg, out, 0, renderer, (clip_scorer,))

    kept, rejected = read_run(out), read_rejected(out)
    assert set(rejected["id"]) == below and set(rejected["reason"]) == {IMPLICIT_NO_HARM}
    assert report.dropped == {IMPLICIT_NO_HARM: len(below)} and report.kept == len(plans) - len(below) > 0
    assert rejected["aligned"].isna().all() and rejected["violating"].notna().all()  # rejected images kept
    assert rejected["aligned_concept"].isna().all() and rejected["violating_concept"].notna().all()
    assert set(kept["alignment_method"]) == {"negative_prompt"} and set(kept["pair_type"]) == {IMPLICIT}
    for row in kept.to_dict("records"):
        principle = CATALOG.get(row["principle_id"])
        assert principle.kind == "toxicity" and row["category"] == principle.category
        assert row["aligned_prompt"] == row["violating_prompt"] == row["prompt"]
        assert row["aligned_negative_prompt"] == ", ".join(principle.negative_concepts)
    # every first image once, an aligned side only for the pairs kept, with its negative prompt
    aligned = [(p, n) for p, n in renderer.rendered if n]
    assert len(renderer.rendered) == len(plans) + len(kept) and len(aligned) == len(kept)
    assert sorted(aligned) == sorted(zip(kept["prompt"], kept["aligned_negative_prompt"]))
    assert report.planned_by_category and "" not in report.planned_by_category
    # calibration reads the judged pairs only: a pair dropped on its first image had no aligned image to judge
    pairs, _ = read_judged_pairs(out)
    assert {p.id for p in pairs} == set(kept["id"])


def test_resolved_implicit_pairs_are_judged_by_the_rules(tmp_path, tiny_renderer, clip_scorer, first_images):
    plans, _ = first_images
    out, cfg = planned_run(tmp_path, plans, len(plans))
    # every first image counts as harm; no aligned image can be clean enough
    cfg.filters = FilterConfig(min_clip_score=-100, max_aligned_violation=-1.0, min_violating_violation=0.0)
    report = process_shard(cfg, out, 0, tiny_renderer, (clip_scorer,))
    assert report.kept == 0 and report.dropped == {"aligned_still_violates": len(plans)}
    rejected = read_rejected(out)
    assert rejected["aligned"].notna().all() and set(rejected["alignment_method"]) == {"negative_prompt"}


def test_alignment_method_says_how_each_pair_type_made_its_aligned_side():
    rows = {t: pair_row(make_plan("toxicity", pair_type=t), b"a", b"v", make_scores(), model="m", config_hash="h",
                        image_ext="png")["alignment_method"] for t in ("toxicity", "benign", "implicit")}
    rows["bias"] = pair_row(make_plan("bias"), b"a", b"v", {}, model="m", config_hash="h", image_ext="png")["alignment_method"]
    assert rows == ALIGNED_METHODS == {"toxicity": "text_twin", "bias": "attribute", "benign": "benign_injection",
                                       "implicit": "negative_prompt"}


def test_validate_accepts_one_prompt_on_both_sides_only_with_a_negative_prompt(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.run.schema import SHARD_SCHEMA
    from pipeline.run.validate import validate_run

    resolved = with_principle(implicit_plan(), CATALOG.get("no_gore"))
    row = pair_row(resolved, b"a", b"v", make_scores(), model="m", config_hash="h", image_ext="png")
    bare = {**row, "id": "no-negative", "aligned_negative_prompt": ""}
    (tmp_path / "shards").mkdir()
    pq.write_table(pa.Table.from_pylist([row, bare], schema=SHARD_SCHEMA), tmp_path / "shards" / "shard-00000.parquet")
    same = [p for p in validate_run(tmp_path, decode_images=False) if "aligned_prompt == violating_prompt" in p]
    assert len(same) == 1 and "'no-negative'" in same[0]


def test_the_mode_is_part_of_the_run_identity_and_needs_prompt_files():
    from conftest import ROOT
    from factories import tiny_config
    from pipeline.config import PERFORMANCE_ONLY, RESUMABLE, ConfigError, config_hash

    files = f"prompts.files=[{ROOT / 'tests' / 'data' / 'implicit_prompts.txt'}]"
    assert tiny_config().planning.implicit_harm is False
    assert config_hash(tiny_config([files, "planning.implicit_harm=true"])) != config_hash(tiny_config([files]))
    with pytest.raises(ConfigError, match="planning.implicit_harm pairs imported prompts only"):
        tiny_config(["planning.implicit_harm=true"])
    assert not any("implicit_harm" in f for f in PERFORMANCE_ONLY + RESUMABLE)


def test_audit_counts_implicit_pairs_apart_from_the_prompt_questions():
    from pipeline.plan.audit import audit_plan, format_report
    from pipeline.plan.checks import PromptCheck

    plan = _plan(ROWS, implicit_harm=True)
    report = audit_plan(plan.plans, [d.to_dict() for d in plan.dropped], CATALOG, PromptCheck(CATALOG))
    assert report.implicit == 2 and IMPLICIT not in report.planned
    assert report.refused[IMPLICIT_NOT_ENGLISH] == 1
    assert "implicit-harm pairs: 2" in format_report(report)
