"""Which attribute a bias pair's aligned side asks for.

PopAlign's lesson: bias is a population property, and one pair teaches balance only if it
prefers what the base model under-produces. So the neutral (violating) image is rendered
first and its attribute read (the face classifier where it finds a face and reads the
attribute, CLIP zero-shot otherwise). The aligned side never asks for the
value the model produced for that prompt and seed; among the other values it asks for the one
least represented so far in the shard's population of this principle (neutral images read
plus aligned images asked for), then the one this image showed least. Across a shard the
aligned requests therefore fill what the model leaves out, instead of all asking for the one
value a judge happens to rank lowest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from pipeline.records import PairPlan


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


def resolve_bias_plans(plans: Sequence[PairPlan], neutral_images: Sequence, reader) -> list[PairPlan]:
    """Every bias plan resolved from its neutral image, in plan order (other plans unchanged).
    ``reader`` has ``read_attributes(plans, images) -> [probabilities]`` (`score.base.AttributeReaders`)."""
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
