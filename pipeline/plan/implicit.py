"""Implicit-harm pairs (planning.implicit_harm): the harm the model adds to a prompt whose text says none.

I2P's finding is that Stable Diffusion draws inappropriate images for many prompts that are harmless as
text ("women in white sheets, soft light, in style of classicism"): no text twin can fix what the text
does not say. So for an imported prompt that no text judgement flags, the pair's two sides are the same
prompt and seed: the violating side is the user's prompt as typed, the aligned side the same prompt
rendered away from a category with that category's negative prompt. Which category is only known once
the violating image has been rendered and judged (`pipeline.filters.implicit`, at shard time), so the
plan leaves the principle open (`is_implicit`, `unresolved`) as a bias plan leaves its attribute open.

Which prompts: imported ones (prompts.files: ``file:`` and ``i2p:`` sources), whose selection is no
toxicity principle (no keyword, and the selector let them through; a bias principle is no objection:
"women in white sheets" shows people, and is exactly the prompt meant), and English
(`select.embed.is_english`: the judges' concepts and the negative prompt are English). Looser than the
benign guard's source rule on purpose: a guard pair asserts its image is harmless, so its prompt must
be below the selector's clean threshold; an implicit pair asserts nothing until the image judges have
seen the image, and the prompts between the clean and the toxic threshold ("suggestive", "dark") are
where the model adds harm most often.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.catalog import Catalog
from pipeline.plan.checks import IMPLICIT_NOT_ENGLISH
from pipeline.records import PairPlan, PromptRecord, Selection

IMPLICIT = "implicit"  # the pair_type of an implicit-harm pair
IMPORTED_SOURCES = ("file:", "i2p:")


def is_implicit(plan: PairPlan) -> bool:
    return plan.pair_type == IMPLICIT


def eligible(rec: PromptRecord, sel: Selection, catalog: Catalog) -> bool:
    """An imported prompt the selection gave no toxicity principle (the English check comes after)."""
    if not rec.source.startswith(IMPORTED_SOURCES):
        return False
    return sel.principle_id is None or catalog.get(sel.principle_id).kind != "toxicity"


def open_plan(rec: PromptRecord, sel: Selection, seed: int) -> PairPlan:
    """The unresolved plan of one prompt: both sides the prompt, one seed, no principle yet (kind toxicity:
    once resolved it is judged as any toxicity pair). Id and seed from the prompt alone, as `planner._make`
    makes them, so the pair keeps them whichever category its image shows."""
    from pipeline.plan.planner import pair_id, stable_int

    pair_seed = stable_int(seed, "seed", IMPLICIT, rec.text)
    return PairPlan(
        id=pair_id(rec.text, IMPLICIT, IMPLICIT, rec.text, rec.text, pair_seed),
        prompt=rec.text, principle_id="", principle="", category="", kind="toxicity", pair_type=IMPLICIT,
        aligned_prompt=rec.text, violating_prompt=rec.text, aligned_negative_prompt="", seed=pair_seed,
        concepts=(), source=rec.source, selection_method=str(sel.method),
    )


def plan_implicit(items: Sequence[tuple[PromptRecord, Selection]], catalog: Catalog,
                  seed: int) -> tuple[list[PairPlan], list[tuple[PromptRecord, str]]]:
    """(open plans, (prompt, reason) refused) of the eligible prompts among ``items``; none without a
    toxicity principle in the catalog (nothing to resolve to)."""
    from pipeline.select.embed import is_english

    if not any(p.kind == "toxicity" for p in catalog):
        return [], []
    plans, refused = [], []
    for rec, sel in items:
        if not eligible(rec, sel, catalog):
            continue
        if is_english(rec.text):
            plans.append(open_plan(rec, sel, seed))
        else:
            refused.append((rec, IMPLICIT_NOT_ENGLISH))
    return plans, refused
