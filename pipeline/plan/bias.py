"""Which attribute a bias pair's aligned side asks for.

PopAlign's lesson: bias is a population property, and one pair teaches balance only if it
prefers what the base model under-produces. So the neutral (violating) image is rendered
first, its attribute read (CLIP zero-shot today), and the aligned side asks for the value the
model was least inclined to produce for that prompt and seed, never the one it produced.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.records import PairPlan


def choose_attribute(plan: PairPlan, probs: Sequence[float]) -> tuple[str, str]:
    """(value the aligned side asks for, value read on the neutral image) from the neutral
    image's probability of each of ``plan.concepts``; ties go to catalog order."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(plan.concepts),):
        raise ValueError(f"plan {plan.id}: {p.shape[0] if p.ndim else 0} probabilities for {len(plan.concepts)} values")
    read = plan.concepts[int(np.argmax(p))]
    if plan.attribute is not None:  # chosen at planning time (planning.bias_attribute: balanced)
        return plan.attribute, read
    return plan.concepts[int(np.argmin(p))], read


def resolve_bias_plans(plans: Sequence[PairPlan], neutral_images: Sequence, reader) -> list[PairPlan]:
    """Every bias plan resolved from its neutral image (other plans unchanged). ``reader`` has
    ``read_attributes(plans, images) -> [probabilities]`` (the CLIP scorer does)."""
    idx = [i for i, p in enumerate(plans) if p.kind == "bias"]
    if not idx:
        return list(plans)
    if reader is None:
        if any(plans[i].unresolved for i in idx):
            raise ValueError("bias pairs choose their attribute from the neutral image, which needs the CLIP scorer; "
                             "set planning.bias_attribute: balanced to choose it at planning time")
        return list(plans)
    probs = reader.read_attributes([plans[i] for i in idx], [neutral_images[i] for i in idx])
    out = list(plans)
    for i, p in zip(idx, probs):
        value, read = choose_attribute(plans[i], p)
        out[i] = plans[i].resolve_attribute(value, read)
    return out
