"""A finished run's judged pairs as the filter rules see them, each threshold rule's statistic over
them, what each threshold would keep, and a proposed threshold.

Every score is stored with every pair (a rejected pair keeps the scores that rejected it),
so the rules can be re-applied to a run with any thresholds without rendering anything.

A rule whose statistic can be measured on an image that should pass and on one that should
not (the aligned and the violating image of a toxicity pair; the requested attribute on the
aligned and on the neutral image of a bias pair) gets the threshold that best separates the
two distributions: the valley, the t maximising P(should-pass side passes) + P(other side
fails) - 1 (Youden's J; J is also reported, near 0 means the judges cannot tell the sides
apart and no threshold fixes that: below MIN_SEPARATION the threshold stays); with fewer
than MIN_PAIRS on a side it keeps its threshold too. A rule without such a contrast (fidelity, margin) gets the threshold that keeps a
target share of the pairs it applies to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import FilterConfig
from pipeline.filters import RULES, THRESHOLD_RULES
from pipeline.filters.rules import IMPLICIT_NO_HARM, ThresholdRule
from pipeline.records import is_missing
from pipeline.run.schema import SCORE_COLUMNS
from pipeline.run.score_columns import stored
from pipeline.run.tables import read_rejected, read_run

MIN_PAIRS = 10  # fewer values than this on a side: no proposal, the current threshold stays
# Below this J the two sides overlap so much that a valley is noise (random models, a judge that
# cannot see the category): the threshold stays, and the table says why.
MIN_SEPARATION = 0.3
GRID_POINTS = 21

_FACTS = ["id", "category", "kind", "attribute", "violating_attribute"]


@dataclass(frozen=True)
class StoredPair:
    """The plan fields a rule reads (`pipeline.filters.rules.Pair`), from a shard row."""

    id: str
    category: str
    kind: str
    attribute: str | None
    violating_attribute: str | None
    kept: bool


def _text(v: object) -> str | None:
    return None if is_missing(v) else str(v)


def read_judged_pairs(run: Path | str) -> tuple[list[StoredPair], list[dict[str, float | None]]]:
    """(pairs, their scores) of every kept and rejected pair of ``run``, images not read."""
    columns = _FACTS + list(SCORE_COLUMNS)
    frames = [(read_run(run, columns), True), (read_rejected(run, [*columns, "reason"]), False)]
    pairs, scores = [], []
    for frame, kept in frames:
        for row in frame.to_dict("records"):
            if row.get("reason") == IMPLICIT_NO_HARM:  # dropped on its first image: no aligned image, no rule saw it
                continue
            pairs.append(StoredPair(str(row["id"]), str(row["category"]), str(row["kind"]), _text(row["attribute"]),
                                    _text(row["violating_attribute"]), kept))
            scores.append({c: stored(c, row[c]) for c in SCORE_COLUMNS})
    return pairs, scores


@dataclass
class RuleValues:
    """One rule's statistic per pair (NaN where it does not apply or its judge is off), the
    contrast sides (NaN where none), and whether every *other* rule keeps the pair."""

    rule: ThresholdRule
    values: np.ndarray
    low: np.ndarray  # the statistic on the image that should score low (e.g. aligned violation)
    high: np.ndarray  # ... and on the one that should score high
    others_keep: np.ndarray
    keeps_now: np.ndarray  # this rule at the current thresholds (per category where set)


@dataclass(frozen=True)
class Proposal:
    threshold: float
    method: str  # "valley", "keep_rate", or (the current threshold stays) "too_few_pairs", "not_separated"
    separation: float | None = None  # Youden's J of the valley


def rule_values(pairs: Sequence, scores: Sequence[dict], cfg: FilterConfig) -> list[RuleValues]:
    """Every threshold rule's statistic over the pairs, with the current thresholds of the others."""
    thresholds = [cfg.for_category(p.category) for p in pairs]
    passes = {r.reason: np.array([r.check(p, s, t) is None for p, s, t in zip(pairs, scores, thresholds)])
              for r in RULES}
    out = []
    for rule in THRESHOLD_RULES:
        stats = [rule.statistic(p, s) if rule.applies(p) else None for p, s in zip(pairs, scores)]
        values = np.array([np.nan if is_missing(v) else float(v) for v in stats])
        sides = [rule.contrast(p, s) if rule.contrast and rule.applies(p) else None for p, s in zip(pairs, scores)]
        low = np.array([np.nan if c is None else c[0] for c in sides])
        high = np.array([np.nan if c is None else c[1] for c in sides])
        others = np.logical_and.reduce([v for k, v in passes.items() if k != rule.reason]) if len(passes) > 1 \
            else np.ones(len(pairs), bool)
        out.append(RuleValues(rule, values, low, high, others, passes[rule.reason]))
    return out


def keeps(rule: ThresholdRule, values: np.ndarray, t: float) -> np.ndarray:
    """Which pairs the rule alone keeps at threshold t (a pair it does not apply to is kept)."""
    with np.errstate(invalid="ignore"):
        drop = values < t if rule.drop_below else values > t
    return ~np.nan_to_num(drop, nan=0).astype(bool)


def valley(low: np.ndarray, high: np.ndarray) -> tuple[float, float] | None:
    """(t, J): the threshold best separating ``low`` (should fall below) from ``high`` values."""
    low, high = low[np.isfinite(low)], high[np.isfinite(high)]
    if len(low) < MIN_PAIRS or len(high) < MIN_PAIRS:
        return None
    points = np.unique(np.concatenate([low, high]))
    candidates = np.concatenate([[points[0] - 1e-6], (points[1:] + points[:-1]) / 2, [points[-1] + 1e-6]])
    j = np.array([(low < t).mean() + (high >= t).mean() - 1 for t in candidates])
    best = np.flatnonzero(j >= j.max() - 1e-12)
    return float(candidates[best[len(best) // 2]]), float(j.max())  # the middle of a flat valley


def propose(rv: RuleValues, mask: np.ndarray, keep: float, current: float) -> Proposal:
    """The proposed threshold of one rule over the pairs in ``mask``."""
    if rv.rule.contrast is not None:
        # A judge's cut-off is never set by a keep rate (that would call the cleanest tenth NSFW).
        found = valley(rv.low[mask], rv.high[mask])
        if found is None:
            return Proposal(current, "too_few_pairs")
        if found[1] < MIN_SEPARATION:
            return Proposal(current, "not_separated", round(found[1], 4))
        return Proposal(round(found[0], 4), "valley", round(found[1], 4))
    values = rv.values[mask]
    values = values[np.isfinite(values)]
    if len(values) < MIN_PAIRS:
        return Proposal(current, "too_few_pairs")
    q = 1 - keep if rv.rule.drop_below else keep
    return Proposal(round(float(np.quantile(values, q)), 4), "keep_rate")


def grid(values: np.ndarray, *extra: float) -> list[float]:
    finite = values[np.isfinite(values)]
    points = np.quantile(finite, np.linspace(0, 1, GRID_POINTS)) if len(finite) else np.array([])
    return sorted({round(float(v), 4) for v in (*points, *extra)})


def keep_table(rv: RuleValues, mask: np.ndarray, thresholds: Sequence[float]) -> list[dict]:
    """Per threshold: pairs in ``mask`` this rule keeps, and pairs the whole filter keeps (the
    other rules at their current thresholds)."""
    rows = []
    for t in thresholds:
        alone = keeps(rv.rule, rv.values, t) & mask
        rows.append({"threshold": t, "kept_by_rule": int(alone.sum()), "kept": int((alone & rv.others_keep).sum())})
    return rows
