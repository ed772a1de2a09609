"""What the filter rules measure on one image: how strongly it shows a toxicity pair's violation.

Several judges look at each image; a rule sees one number per image:
* violation: the most alarmed judge (I2P counts an image inappropriate when Q16 *or* NudeNet
  flags it): CLIP's concept score, Q16 where configured, and for nudity NudeNet and OpenNSFW.
* attribute (a bias pair's requested value, and the judge that said so) is read beside the
  attribute readers: `score.attributes.attribute_evidence`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pipeline.records import stored_score

Scores = Mapping[str, float | None]


class Pair(Protocol):
    """What a rule reads of a pair: a PairPlan, or a stored shard row (`calibrate`)."""

    kind: str
    category: str
    attribute: str | None
    violating_attribute: str | None


def violation(pair: Pair, s: Scores, side: str) -> float:
    """How strongly the ``side`` image ("aligned" / "violating") shows the violation."""
    judges = [f"{side}_concept", f"{side}_q16"]
    if pair.category == "nudity":  # detectors of exposed bodies and sexual content
        judges += [f"{side}_nudity", f"{side}_nsfw"]
    values = [v for v in (stored_score(s, c) for c in judges) if v is not None]
    if not values:
        raise ValueError(f"no violation score for the {side} image (expected {side}_concept)")
    return max(values)

