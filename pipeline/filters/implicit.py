"""Which harm an implicit-harm pair's first image shows (planning.implicit_harm, `plan.implicit`).

The plan of an implicit pair leaves its principle open: both sides are the user's prompt, and which
category the aligned side must be rendered away from is only known once the violating image exists.
At shard time that image is judged as the violating side of a pair of every toxicity principle
(`candidates`: the principle's concepts for CLIP's zero-shot score, its category for NudeNet and
OpenNSFW, its policy for a VLM judge; `violating_scores`), with the same statistic the filter rules
use (`rules.violation`: the most alarmed judge). The pair takes the most alarmed principle among those
whose violation reaches its category's ``min_violating_violation``; its aligned side is then the same
prompt and seed with that principle's negative concepts as negative prompt, and after rendering it is
judged by `rules.RULES` as any toxicity pair (``aligned_still_violates``, ``margin_too_small``, ...).
When no principle's violation reaches its threshold the model drew no harm: the pair is dropped
(``implicit_no_harm_drawn``) before its aligned side is rendered, resolved to the principle the judges
came closest to, so its rejected row says which and keeps the violating image's scores.

`choose` is the decision alone (candidate plans and their scores in, a `Resolution` out);
`resolve_implicit_plans` runs the judges for it on a shard's first images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from pipeline.catalog import Principle
from pipeline.config import FilterConfig
from pipeline.filters.rules import IMPLICIT_NO_HARM, violation
from pipeline.plan.implicit import is_implicit
from pipeline.records import PairPlan, stored_score
from pipeline.run.score_columns import stored
from pipeline.score.base import PerImageScorer, combine_scores

Scores = Mapping[str, float | str | None]


@dataclass(frozen=True)
class Resolution:
    """An implicit plan resolved: ``plan`` with the chosen principle (the closest one when dropped),
    ``reason`` None (render its aligned side) or `IMPLICIT_NO_HARM`, and ``scores``, the violating
    image's scores for that principle (the aligned columns null: no aligned image exists yet)."""

    plan: PairPlan
    reason: str | None
    scores: dict[str, float | str | None]


def with_principle(plan: PairPlan, p: Principle) -> PairPlan:
    """The implicit ``plan`` as a pair of principle ``p``: its concepts judge the images, its negative concepts
    are the aligned side's negative prompt (as a toxicity pair's, `planner._make`); prompts, seed and id stay."""
    if p.kind != "toxicity":
        raise ValueError(f"an implicit pair resolves to a toxicity principle, not {p.id!r} ({p.kind})")
    return replace(plan, principle_id=p.id, principle=p.statement, category=p.category,
                   concepts=tuple(p.violation_concepts), safe_concepts=tuple(p.safe_concepts),
                   aligned_negative_prompt=", ".join(p.negative_concepts))


def candidates(plan: PairPlan, principles: Sequence[Principle]) -> list[PairPlan]:
    """The implicit ``plan`` resolved to each toxicity principle, in catalog order."""
    return [with_principle(plan, p) for p in principles if p.kind == "toxicity"]


def choose(cands: Sequence[PairPlan], scores: Sequence[Scores], filters: FilterConfig) -> Resolution:
    """The most alarmed candidate (`rules.violation` on its violating image) among those whose violation
    reaches their category's ``min_violating_violation``; none reaching it: the closest, dropped
    (`IMPLICIT_NO_HARM`). Ties (a judge that sees every category alike, Q16) go to the higher CLIP concept
    score, then catalog order."""
    if not cands or len(cands) != len(scores):
        raise ValueError(f"{len(cands)} candidate principles with {len(scores)} score rows")

    def rank(i: int) -> tuple[bool, float, float, int]:
        v = violation(cands[i], scores[i], "violating")
        passes = v >= filters.for_category(cands[i].category).min_violating_violation
        return passes, v, stored_score(scores[i], "violating_concept") or 0.0, -i

    best = max(range(len(cands)), key=rank)
    reason = None if rank(best)[0] else IMPLICIT_NO_HARM
    return Resolution(cands[best], reason, dict(scores[best]))


def violating_scores(cands: Sequence[Sequence[PairPlan]], images: Sequence[Image.Image],
                     scorers: Sequence) -> list[list[dict[str, float | str | None]]]:
    """Per image, the scores of each of its candidate plans, the image as their violating side (aligned
    columns null). A judge of the image alone (`PerImageScorer`: NudeNet, OpenNSFW, Q16) reads each image
    once; the others get one pair per candidate with the image on both sides (CLIP keeps its embedding)."""
    if len(cands) != len(images):
        raise ValueError(f"{len(cands)} candidate lists for {len(images)} images")
    flat = [c for cs in cands for c in cs]
    owner = np.array([i for i, cs in enumerate(cands) for _ in cs], dtype=np.int64)
    shown = [images[i] for i in owner]
    alone = [s for s in scorers if isinstance(s, PerImageScorer)]
    columns = dict(combine_scores([s for s in scorers if not isinstance(s, PerImageScorer)], flat, shown, shown))
    for scorer in alone:
        aligned_column, violating_column = scorer.columns
        values = np.asarray(scorer.per_image(list(images)))
        columns[violating_column] = values[owner] if len(owner) else values[:0]
        columns[aligned_column] = np.full(len(flat), np.nan)
    rows = [{name: (None if name.startswith("aligned_") else stored(name, values[k])) for name, values in columns.items()}
            for k in range(len(flat))]
    out, k = [], 0
    for cs in cands:
        out.append(rows[k:k + len(cs)])
        k += len(cs)
    return out


def resolve_implicit_plans(plans: Sequence[PairPlan], images: Sequence[Image.Image | None], scorers: Sequence,
                           principles: Sequence[Principle], filters: FilterConfig) -> list[Resolution | None]:
    """Per plan, its `Resolution` when it is an unresolved implicit plan (``images[i]`` its violating image),
    else None."""
    idx = [i for i, p in enumerate(plans) if is_implicit(p) and p.unresolved]
    out: list[Resolution | None] = [None] * len(plans)
    if not idx:
        return out
    cands = [candidates(plans[i], principles) for i in idx]
    if not cands[0]:
        raise ValueError("implicit-harm pairs need a toxicity principle in the catalog to resolve to")
    missing = [plans[i].id for i in idx if images[i] is None]
    if missing:
        raise ValueError(f"implicit plans {missing[:3]} have no violating image to judge")
    for i, cs, s in zip(idx, cands, violating_scores(cands, [images[i] for i in idx], scorers)):
        out[i] = choose(cs, s, filters)
    return out
