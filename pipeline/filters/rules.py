"""Filter rules: each returns None (keep) or the name of the reason to drop.

The first rule that objects decides the reason; counts go to stats as dropped_<reason>. Most
rules compare one statistic of a pair with one threshold of `FilterConfig` (per category where
``filters.by_category`` says so); `livo calibrate` sweeps exactly these statistics.

What a rule measures on one image: several judges look at each image; a rule sees one number per
image:
* violation: the most alarmed judge (I2P counts an image inappropriate when Q16 *or* NudeNet
  flags it): CLIP's concept score, Q16, the VLM judge's P(violates) and ShieldGemma 2's P(yes) where
  configured, and for nudity NudeNet and OpenNSFW.
* attribute (a bias pair's requested value, and the judge that said so) is read beside the
  attribute readers: `score.attributes.attribute_evidence`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pipeline.config import FilterConfig, Thresholds
from pipeline.records import stored_score
from pipeline.score.attributes import attribute_evidence

Scores = Mapping[str, float | None]


class Pair(Protocol):
    """What a rule reads of a pair: a PairPlan, or a stored shard row (`calibrate`)."""

    kind: str
    category: str
    attribute: str | None
    violating_attribute: str | None


def violation(pair: Pair, s: Scores, side: str) -> float:
    """How strongly the ``side`` image ("aligned" / "violating") shows the violation."""
    judges = [f"{side}_concept", f"{side}_q16", f"{side}_vlm", f"{side}_shieldgemma"]
    if pair.category == "nudity":  # detectors of exposed bodies and sexual content
        judges += [f"{side}_nudity", f"{side}_nsfw"]
    values = [v for v in (stored_score(s, c) for c in judges) if v is not None]
    if not values:
        raise ValueError(f"no violation score for the {side} image (expected {side}_concept)")
    return max(values)


Statistic = Callable[[Pair, Scores], float | None]
Contrast = Callable[[Pair, Scores], tuple[float, float] | None]


@dataclass(frozen=True)
class ThresholdRule:
    """Drop a pair when its statistic is below (``drop_below``) or above the threshold ``field``.

    ``contrast`` gives, for calibration, the statistic on the image of the pair that should score
    low and on the one that should score high (the aligned and the violating image's violation;
    the requested attribute on the neutral and on the aligned image), or None when the rule has
    no such pair of images (then a target keep rate proposes the threshold)."""

    reason: str
    field: str
    drop_below: bool
    applies: Callable[[Pair], bool]
    statistic: Statistic
    contrast: Contrast | None = None
    contrast_sides: tuple[str, str] = ("aligned", "violating")  # the images of contrast's (low, high)

    def check(self, pair: Pair, s: Scores, t: Thresholds) -> str | None:
        if not self.applies(pair):
            return None
        value = self.statistic(pair, s)
        if value is None:  # its judge is off
            return None
        limit = getattr(t, self.field)
        return self.reason if (value < limit if self.drop_below else value > limit) else None


@dataclass(frozen=True)
class Rule:
    """A rule without a threshold."""

    reason: str
    objects: Callable[[Pair, Scores], bool]

    def check(self, pair: Pair, s: Scores, t: Thresholds) -> str | None:
        return self.reason if self.objects(pair, s) else None


def _toxicity(pair: Pair) -> bool:
    return pair.kind == "toxicity"


def _bias(pair: Pair) -> bool:
    return pair.kind == "bias"


def _sides(pair: Pair, s: Scores) -> tuple[float, float]:
    return violation(pair, s, "aligned"), violation(pair, s, "violating")


def _fidelity(pair: Pair, s: Scores) -> float | None:
    # The worse-rendered image decides; a side CLIP did not score (missing, null, NaN) says nothing.
    values = [v for v in (stored_score(s, "aligned_clip"), stored_score(s, "violating_clip")) if v is not None]
    return min(values) if values else None


def _nsfw_sides(pair: Pair, s: Scores) -> tuple[float, float] | None:
    # Only nudity pairs' violating images are meant to be NSFW.
    a, v = stored_score(s, "aligned_nsfw"), stored_score(s, "violating_nsfw")
    return (a, v) if pair.category == "nudity" and a is not None and v is not None else None


def _attribute_sides(pair: Pair, s: Scores) -> tuple[float, float]:
    # The neutral image was chosen not to show the requested value: it is the contrast.
    return attribute_evidence(pair, s, "violating")[0], attribute_evidence(pair, s, "aligned")[0]


RULES: tuple[ThresholdRule | Rule, ...] = (
    ThresholdRule("fidelity_too_low", "min_clip_score", True, lambda p: True, _fidelity),
    ThresholdRule("aligned_still_violates", "max_aligned_violation", False, _toxicity,
                  lambda p, s: violation(p, s, "aligned"), _sides),
    ThresholdRule("aligned_is_nsfw", "max_aligned_nsfw", False, lambda p: True,
                  lambda p, s: stored_score(s, "aligned_nsfw"), _nsfw_sides),
    ThresholdRule("violating_does_not_violate", "min_violating_violation", True, _toxicity,
                  lambda p, s: violation(p, s, "violating"), _sides),
    ThresholdRule("margin_too_small", "min_margin", True, _toxicity,
                  lambda p, s: violation(p, s, "violating") - violation(p, s, "aligned")),
    # A pair whose neutral image already shows the requested value prefers nothing.
    Rule("bias_sides_same_attribute",
         lambda p, s: _bias(p) and p.violating_attribute is not None and p.violating_attribute == p.attribute),
    ThresholdRule("bias_attribute_not_confirmed", "min_attribute_prob", True, _bias,
                  lambda p, s: attribute_evidence(p, s, "aligned")[0], _attribute_sides, ("neutral", "aligned")),
)
# An implicit-harm pair whose first image no judge found harm in (`filters.implicit`): dropped before its
# aligned side is rendered, so no rule above ever sees it.
IMPLICIT_NO_HARM = "implicit_no_harm_drawn"
REASONS: tuple[str, ...] = (*(r.reason for r in RULES), IMPLICIT_NO_HARM)
THRESHOLD_RULES: tuple[ThresholdRule, ...] = tuple(r for r in RULES if isinstance(r, ThresholdRule))


def judge(pair: Pair, scores: Scores, cfg: FilterConfig, rules: tuple = RULES) -> str | None:
    thresholds = cfg.for_category(pair.category)
    for rule in rules:
        reason = rule.check(pair, scores, thresholds)
        if reason is not None:
            return reason
    return None


def attribute_judge(pair: Pair, scores: Scores) -> str | None:
    """Which judge decided a bias pair's attribute confirmation ("face" or "clip"); None otherwise."""
    return attribute_evidence(pair, scores, "aligned")[1] if _bias(pair) else None
