"""What the filter rules measure on one image: how strongly it shows a toxicity pair's violation,
and how likely it shows a bias pair's requested attribute, with the judge that said so.

Several judges look at each image; a rule sees one number per image:
* violation: the most alarmed judge (I2P counts an image inappropriate when Q16 *or* NudeNet
  flags it): CLIP's concept score, Q16 where configured, and for nudity NudeNet and OpenNSFW.
* attribute: the face classifier where it found a face and reads the value (gender, age),
  else CLIP zero-shot (race always, and images without a face).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pipeline.records import is_missing
from pipeline.score.faces import value_probability

Scores = Mapping[str, float | None]


class Pair(Protocol):
    """What a rule reads of a pair: a PairPlan, or a stored shard row (`calibrate`)."""

    kind: str
    category: str
    attribute: str | None
    violating_attribute: str | None


def score(s: Scores, column: str) -> float | None:
    """A stored score, None when it was not computed (missing, null or NaN)."""
    v = s.get(column)
    return None if is_missing(v) else float(v)


def violation(pair: Pair, s: Scores, side: str) -> float:
    """How strongly the ``side`` image ("aligned" / "violating") shows the violation."""
    judges = [f"{side}_concept", f"{side}_q16"]
    if pair.category == "nudity":  # detectors of exposed bodies and sexual content
        judges += [f"{side}_nudity", f"{side}_nsfw"]
    values = [v for v in (score(s, c) for c in judges) if v is not None]
    if not values:
        raise ValueError(f"no violation score for the {side} image (expected {side}_concept)")
    return max(values)


def attribute_evidence(pair: Pair, s: Scores, side: str) -> tuple[float, str]:
    """(P(the ``side`` image shows the requested attribute value), the judge: "face" or "clip")."""
    if score(s, f"{side}_faces"):
        p = value_probability(pair.attribute, score(s, f"{side}_face_female"), score(s, f"{side}_face_age"))
        if p is not None:
            return p, "face"
    p = score(s, f"{side}_concept")
    if p is None:
        raise ValueError(f"no attribute score for the {side} image (expected {side}_concept)")
    return p, "clip"
