"""Pair planning: from (prompt, selected principle) to the two prompts and the shared seed.

Deterministic from the config and the prompts: the same inputs give the same ids, prompts
and seeds on every machine, which is what resume and dataset equality rest on.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence

from pipeline.catalog import Catalog, Principle
from pipeline.categories import ALL, BENIGN
from pipeline.plan.rewrite_rules import rewrite_toxic, tidy
from pipeline.records import PairPlan, PromptRecord, Selection, SelectionMethod


def stable_int(*parts: object, bits: int = 31) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << bits)


def pair_id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]


def augment_identity(prompt: str, principle: Principle, value: str) -> str:
    return tidy(principle.augment_template.format(prompt=prompt, value=value))


def inject_violation(prompt: str, principle: Principle) -> str:
    return tidy(f"{prompt}, {principle.injection}")


def apply_pack_categories(prompts: Sequence[PromptRecord], selections: Sequence[Selection],
                          catalog: Catalog) -> list[Selection]:
    """Template prompts carry the category their pack was written for; where the selector
    disagrees, trust the pack (keeping the selector's pick when it lies in that category)."""
    out: list[Selection] = []
    for rec, sel in zip(prompts, selections):
        hint = rec.category_hint if rec.source.startswith("template:") else None
        if hint is None or hint == sel.category or (hint == BENIGN and sel.principle_id is None):
            out.append(sel)
        elif hint == BENIGN:
            out.append(Selection(rec.text, None, None, SelectionMethod.PACK))
        elif hint in ALL:
            candidates = catalog.by_category(hint)
            hit = next((p for p in candidates if p.find_keywords(rec.text)), candidates[0])
            out.append(Selection(rec.text, hit.id, hit.category, SelectionMethod.PACK))
        else:
            out.append(sel)
    return out


def _toxicity_principles(catalog: Catalog) -> list[Principle]:
    return [p for p in catalog if p.kind == "toxicity"]


def plan_pairs(
    prompts: Sequence[PromptRecord],
    selections: Sequence[Selection],
    catalog: Catalog,
    *,
    seed: int = 0,
    benign_pairs: bool = True,
    max_pairs: int | None = None,
    rewrites: Mapping[tuple[str, str], str] | None = None,
) -> list[PairPlan]:
    """One plan per prompt (prompts with no principle become benign guard pairs or are skipped).

    ``rewrites`` maps (prompt, principle id) to a safe twin written elsewhere (the LLM
    rewriter); toxicity prompts without an entry get the catalog's rewrite rules.
    """
    if len(prompts) != len(selections):
        raise ValueError(f"{len(prompts)} prompts but {len(selections)} selections")
    guard = _toxicity_principles(catalog)
    plans: list[PairPlan] = []
    bias_items: dict[str, list[tuple[PromptRecord, Selection]]] = defaultdict(list)

    for rec, sel in zip(prompts, selections):
        if sel.principle_id is None:
            if not benign_pairs or not guard:
                continue
            # Benign guard: the aligned image is the harmless prompt itself, so the value
            # encoder learns to leave harmless content alone.
            p = guard[stable_int(seed, "guard", rec.text) % len(guard)]
            plans.append(_make(rec, sel, p, "benign", rec.text, inject_violation(rec.text, p), seed))
            continue
        p = catalog.get(sel.principle_id)
        if p.kind == "toxicity":
            aligned = (rewrites or {}).get((rec.text, p.id)) or rewrite_toxic(rec.text, p)
            plans.append(_make(rec, sel, p, "toxicity", aligned, rec.text, seed))
        else:
            bias_items[p.id].append((rec, sel))

    # Balance each bias principle's attribute values: round-robin over a seeded order of its
    # prompts, so value counts differ by at most one and do not depend on input order.
    for pid, items in bias_items.items():
        p = catalog.get(pid)
        items.sort(key=lambda it: stable_int(seed, "balance", pid, it[0].text))
        offset = stable_int(seed, "offset", pid) % len(p.attribute_values)
        for i, (rec, sel) in enumerate(items):
            value = p.attribute_values[(i + offset) % len(p.attribute_values)]
            plans.append(_make(rec, sel, p, "bias", augment_identity(rec.text, p, value), rec.text, seed, value))

    plans.sort(key=lambda pl: pl.id)
    return plans[:max_pairs] if max_pairs else plans


def _make(
    rec: PromptRecord,
    sel: Selection,
    p: Principle,
    pair_type: str,
    aligned: str,
    violating: str,
    seed: int,
    attribute: str | None = None,
) -> PairPlan:
    pair_seed = stable_int(seed, "seed", p.id, rec.text)
    return PairPlan(
        id=pair_id(rec.text, p.id, pair_type, aligned, violating, pair_seed),
        prompt=rec.text,
        principle_id=p.id,
        principle=p.statement,
        category=p.category,
        kind=p.kind,
        pair_type=pair_type,
        aligned_prompt=aligned,
        violating_prompt=violating,
        aligned_negative_prompt=", ".join(p.negative_concepts),
        seed=pair_seed,
        concepts=tuple(p.attribute_values if p.kind == "bias" else p.violation_concepts),
        safe_concepts=tuple(p.safe_concepts),
        attribute=attribute,
        source=rec.source,
        selection_method=sel.method if sel.principle_id else SelectionMethod.GUARD,
    )
