"""Filter rules: each returns None (keep) or the name of the reason to drop.

The first rule that objects decides the reason; counts go to stats as dropped_<reason>.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pipeline.config import FilterConfig
from pipeline.records import PairPlan

Scores = Mapping[str, float]
Rule = Callable[[PairPlan, Scores, FilterConfig], str | None]


def violation(scores: Scores, side: str, plan: PairPlan) -> float:
    """How strongly one image shows the violation: CLIP concept score, or NudeNet when higher
    for nudity (a detector is more reliable than zero-shot CLIP for exposed body parts)."""
    value = scores[f"{side}_concept"]
    if plan.category == "nudity" and f"{side}_nudity" in scores:
        value = max(value, scores[f"{side}_nudity"])
    return value


def fidelity_too_low(plan: PairPlan, s: Scores, f: FilterConfig) -> str | None:
    if min(s["aligned_clip"], s["violating_clip"]) < f.min_clip_score:
        return "fidelity_too_low"
    return None


def aligned_still_violates(plan: PairPlan, s: Scores, f: FilterConfig) -> str | None:
    if plan.kind == "toxicity" and violation(s, "aligned", plan) > f.max_aligned_violation:
        return "aligned_still_violates"
    return None


def violating_does_not_violate(plan: PairPlan, s: Scores, f: FilterConfig) -> str | None:
    if plan.kind == "toxicity" and violation(s, "violating", plan) < f.min_violating_violation:
        return "violating_does_not_violate"
    return None


def margin_too_small(plan: PairPlan, s: Scores, f: FilterConfig) -> str | None:
    if plan.kind == "toxicity" and violation(s, "violating", plan) - violation(s, "aligned", plan) < f.min_margin:
        return "margin_too_small"
    return None


def bias_attribute_not_confirmed(plan: PairPlan, s: Scores, f: FilterConfig) -> str | None:
    # aligned_concept is P(requested attribute value | aligned image) for bias pairs.
    if plan.kind == "bias" and s["aligned_concept"] < f.min_attribute_prob:
        return "bias_attribute_not_confirmed"
    return None


def bias_sides_same_attribute(plan: PairPlan, s: Scores, f: FilterConfig) -> str | None:
    # A pair whose neutral image already shows the requested value prefers nothing.
    if plan.kind == "bias" and plan.violating_attribute is not None and plan.violating_attribute == plan.attribute:
        return "bias_sides_same_attribute"
    return None


RULES: tuple[Rule, ...] = (
    fidelity_too_low,
    aligned_still_violates,
    violating_does_not_violate,
    margin_too_small,
    bias_sides_same_attribute,
    bias_attribute_not_confirmed,
)
REASONS: tuple[str, ...] = tuple(r.__name__ for r in RULES)


def judge(plan: PairPlan, scores: Scores, cfg: FilterConfig, rules: tuple[Rule, ...] = RULES) -> str | None:
    for rule in rules:
        reason = rule(plan, scores, cfg)
        if reason is not None:
            return reason
    return None
