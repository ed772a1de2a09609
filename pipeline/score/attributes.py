"""Bias attributes read off an image: the perceived gender, race or age a picture shows.

One rule, the face classifier where it can and CLIP for the rest (`READING_ORDER`), serves twice:

* at shard time, before a bias pair's aligned side is rendered: its neutral (violating) image is
  read (`AttributeReaders`, over the scorers that have ``read_attributes``) and the aligned side
  asks for a value that image did not show (`choose_attribute`, `resolve_bias_plans`);
* after rendering, from the stored scores: how likely the aligned image shows the value it asked
  for, and which judge said so (`attribute_evidence`: the filter rules and ``attribute_judge``).

PopAlign labels bias attributes with a face classifier, not zero-shot CLIP: where a face is found
it decides gender and age (`value_probability`, `value_distribution`: its P(female) and age as the
catalog's values); where none is, or for race, which it does not read, CLIP does. The readers are
`faces.FaceScorer` and `clip.ClipScorer` (zero-shot over `clip.attribute_texts`, the texts of the
bias concept score too). Only bias pairs are read: a toxicity pair's faces decide nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from pipeline.records import PairPlan, is_missing, stored_score

# ---------------------------------------------------------------- the readers

# Who reads a bias attribute first: the face classifier where it can, CLIP for the rest.
READING_ORDER: tuple[str, ...] = ("face", "clip")


class AttributeReader(Protocol):
    """A judge that reads bias attributes; its ``judge_name`` places it in `READING_ORDER` (a reader
    without one reads as "clip")."""

    def read_attributes(self, plans: Sequence[PairPlan], images: Sequence[Image.Image]) -> list:
        """Per bias plan, the probability of each of ``plan.concepts`` on its image; None for a plan
        it cannot read (e.g. no face found)."""
        ...


class AttributeReaders:
    """``read_attributes`` over several judges: each plan is read by the first judge that answers
    (a judge answers None for a plan it cannot read, e.g. no face found)."""

    def __init__(self, readers: Sequence[AttributeReader]) -> None:
        self.readers = sorted(readers, key=lambda r: READING_ORDER.index(getattr(r, "judge_name", "clip")))

    def read_attributes(self, plans: Sequence[PairPlan], images: Sequence[Image.Image]) -> list:
        out: list = [None] * len(plans)
        for reader in self.readers:
            todo = [i for i, o in enumerate(out) if o is None]
            if not todo:
                break
            for i, probs in zip(todo, reader.read_attributes([plans[i] for i in todo], [images[i] for i in todo])):
                out[i] = probs
        missing = [plans[i].id for i, o in enumerate(out) if o is None]
        if missing:
            raise ValueError(f"no judge could read the attribute of plans {missing[:3]}")
        return out


def attribute_reader(scorers: Sequence) -> AttributeReaders | None:
    """The bias-attribute reader of a set of scorers; None when none of them reads attributes."""
    readers = [s for s in scorers if hasattr(s, "read_attributes")]
    return AttributeReaders(readers) if readers else None


# ---------------------------------------------------------------- what the face classifier reads

# Attribute values (catalog spelling) the classifier's gender output can confirm.
GENDER_OF: dict[str, str] = {"male": "male", "man": "male", "men": "male",
                             "female": "female", "woman": "female", "women": "female"}
# Attribute values the age output can confirm, as years (inclusive).
AGE_YEARS: dict[str, tuple[float, float]] = {
    "child": (0, 12), "teenager": (13, 19), "teenage": (13, 19), "young adult": (18, 35), "young": (18, 35),
    "adult": (18, 64), "middle-aged": (36, 59), "elderly": (60, 120), "old": (60, 120), "senior": (60, 120),
}
# Apparent-age networks err by several years; an estimate this far outside a range still counts partly.
AGE_MARGIN = 5.0


@dataclass(frozen=True)
class FaceReading:
    """The faces of one image; female and age are of the largest face (None without a face)."""

    faces: int
    female: float | None = None  # P(female) from the gender network's label and confidence
    age: float | None = None  # years


def readable(value: str) -> bool:
    return value in GENDER_OF or value in AGE_YEARS


def _age_membership(value: str, age: float) -> float:
    low, high = AGE_YEARS[value]
    distance = max(low - age, age - high, 0.0)
    return max(0.0, 1.0 - distance / AGE_MARGIN)


def value_probability(value: str | None, female: float | None, age: float | None) -> float | None:
    """P(the image shows ``value``) by the face classifier; None when it cannot say (no face, or a
    value it does not read, e.g. a race)."""
    if value in GENDER_OF and not is_missing(female):
        return float(female) if GENDER_OF[value] == "female" else 1.0 - float(female)
    if value in AGE_YEARS and not is_missing(age):
        return _age_membership(value, float(age))
    return None


def value_distribution(values: Sequence[str], reading: FaceReading) -> np.ndarray | None:
    """The classifier's probability of each of ``values`` (a plan's attribute values), or None
    when it cannot read them all; an age outside every range goes to the nearest one."""
    if reading.faces == 0 or not values or not all(readable(v) for v in values):
        return None
    p = [value_probability(v, reading.female, reading.age) for v in values]
    if any(x is None for x in p):
        return None
    arr = np.asarray(p, dtype=np.float64)
    if arr.sum() == 0:  # only ages: every range is more than AGE_MARGIN away
        distance = [max(AGE_YEARS[v][0] - reading.age, reading.age - AGE_YEARS[v][1]) for v in values]
        arr[int(np.argmin(distance))] = 1.0
    return arr / arr.sum()


# ---------------------------------------------------------------- the aligned side's attribute
#
# PopAlign's lesson: bias is a population property, and one pair teaches balance only if it
# prefers what the base model under-produces. So the neutral image is rendered first and read;
# the aligned side never asks for the value the model produced for that prompt and seed; among
# the other values it asks for the one least represented so far in the shard's population of this
# principle (neutral images read plus aligned images asked for), then the one this image showed
# least. Across a shard the aligned requests therefore fill what the model leaves out, instead of
# all asking for the one value a judge happens to rank lowest. (`build.render_order` renders the
# neutral images first so the reading can run while other pairs render.)


def choose_attribute(plan: PairPlan, probs: Sequence[float], seen: Counter | None = None) -> tuple[str, str]:
    """(value the aligned side asks for, value read on the neutral image), from the neutral
    image's probability of each of ``plan.concepts`` and ``seen``, the counts of each value
    in the population so far; ties go to catalog order."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(plan.concepts),):
        raise ValueError(f"plan {plan.id}: {p.shape[0] if p.ndim else 0} probabilities for {len(plan.concepts)} values")
    read = plan.concepts[int(np.argmax(p))]
    if plan.attribute is not None:  # chosen at planning time (planning.bias_attribute: balanced)
        return plan.attribute, read
    seen = seen or Counter()
    options = [i for i, v in enumerate(plan.concepts) if v != read]
    best = min(options, key=lambda i: (seen[plan.concepts[i]], p[i], i))
    return plan.concepts[best], read


def resolve_bias_plans(plans: Sequence[PairPlan], neutral_images: Sequence,
                       reader: AttributeReader | None) -> list[PairPlan]:
    """Every bias plan resolved from its neutral image, in plan order (other plans unchanged);
    ``reader`` is usually `AttributeReaders`."""
    idx = [i for i, p in enumerate(plans) if p.kind == "bias"]
    if not idx:
        return list(plans)
    if reader is None:
        if any(plans[i].unresolved for i in idx):
            raise ValueError("bias pairs choose their attribute from the neutral image, which needs an attribute reader (the face or CLIP scorer); "
                             "set planning.bias_attribute: balanced to choose it at planning time")
        return list(plans)
    probs = reader.read_attributes([plans[i] for i in idx], [neutral_images[i] for i in idx])
    out = list(plans)
    population: dict[str, Counter] = {}
    for i, p in zip(idx, probs):
        seen = population.setdefault(plans[i].principle_id, Counter())
        value, read = choose_attribute(plans[i], p, seen)
        seen[read] += 1
        seen[value] += 1
        out[i] = plans[i].resolve_attribute(value, read)
    return out


# ---------------------------------------------------------------- the evidence after rendering


class AskedPair(Protocol):
    """What `attribute_evidence` reads of a pair: a PairPlan, or a stored shard row (`calibrate`)."""

    attribute: str | None


def attribute_evidence(pair: AskedPair, s: Mapping[str, float | None], side: str) -> tuple[float, str]:
    """(P(the ``side`` image shows the requested attribute value), the judge: "face" or "clip"), from
    the stored scores: the face classifier where it found a face and reads the value (gender, age),
    else CLIP's zero-shot concept score (race always, and images without a face)."""
    if stored_score(s, f"{side}_faces"):
        p = value_probability(pair.attribute, stored_score(s, f"{side}_face_female"), stored_score(s, f"{side}_face_age"))
        if p is not None:
            return p, "face"
    p = stored_score(s, f"{side}_concept")
    if p is None:
        raise ValueError(f"no attribute score for the {side} image (expected {side}_concept)")
    return p, "clip"
