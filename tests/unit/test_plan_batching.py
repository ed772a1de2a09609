"""Planning asks the selector about candidate twins, tags and bias options in a few batched calls (a
call's cost is MiniLM's and the word features' per call), a pair's later twins only when its earlier ones
failed, and plans exactly what checking every text one at a time plans: the reference below, on a few
hundred prompts from every pack."""

from __future__ import annotations

from pipeline.catalog import load_catalog
from pipeline.plan.checks import PromptCheck
from pipeline.plan.planner import apply_pack_categories, plan_pairs
from pipeline.select.classifier import ClassifierSelector

CATALOG = load_catalog()


class OneTextAtATime(PromptCheck):
    """The reference: each text asked of the selector alone, as planning once did for every bias pair."""

    def harms(self, texts):
        return [PromptCheck.harms(self, [t])[0] for t in texts]


class CountingSelector(ClassifierSelector):
    """The default selector, counting the calls made to it (each one is a MiniLM batch)."""

    calls = 0

    def select(self, prompts):
        self.calls += 1
        return super().select(prompts)

    def harm_probabilities(self, prompts):
        self.calls += 1
        return super().harm_probabilities(prompts)


def _pack_prompts():
    from factories import tiny_config
    from pipeline.prompts.collect import collect_prompts

    prompts, _ = collect_prompts(tiny_config(["prompts.whole_packs=true", "prompts.per_category=20"]), None, [])
    return prompts


def test_batched_checks_plan_what_one_text_at_a_time_plans(minilm):
    prompts = _pack_prompts()
    assert len(prompts) >= 200
    selector = CountingSelector(CATALOG, model=minilm)
    selections = apply_pack_categories(prompts, selector.select([p.text for p in prompts]), CATALOG)
    assert {s.category for s in selections} >= {"gore", "nudity", "gender_bias", "race_bias", "age_bias"}

    selector.calls = 0
    fast = plan_pairs(prompts, selections, CATALOG, seed=1, check=PromptCheck(CATALOG, selector))
    # benign sources, a round per candidate position, the tags, the bias options: not one call per prompt
    assert selector.calls < 30
    slow = plan_pairs(prompts, selections, CATALOG, seed=1, check=OneTextAtATime(CATALOG, selector))
    assert selector.calls > 100

    assert [p.to_dict() for p in fast.plans] == [p.to_dict() for p in slow.plans]
    assert [d.to_dict() for d in fast.dropped] == [d.to_dict() for d in slow.dropped]
    assert {p.pair_type for p in fast.plans} >= {"toxicity", "bias", "benign"}
    assert len(fast.plans) >= 150
