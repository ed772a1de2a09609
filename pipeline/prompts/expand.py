"""Expanding template packs into prompts.

Expansion is deterministic: each template's cartesian product over its slots (slot
names and values sorted), deduplicated by normalised text, then shuffled with a seeded
RNG (seeded by the seed and the pack name, never by Python's hash), then capped at
max_prompts. The same files and seed always give the same list, on any machine.

Each combination gives the prompt (harm sides of paired slot values) and, in packs with
pairs, its safe twin (`aligned_text`: the safe sides of the same values); a deduplicated
prompt keeps the twin of its first combination.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections import Counter
from collections.abc import Sequence

from pipeline.catalog.text import prompt_key
from pipeline.categories import PACK_CATEGORIES
from pipeline.prompts.packs import PromptPack, SlotPair, combination_space, harm_side, safe_side
from pipeline.prompts.text import dedupe, fix_articles, normalize_prompt
from pipeline.records import PromptRecord

_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
def _render(template: str, values: dict[str, str]) -> str:
    text = normalize_prompt(template.format(**values))
    return fix_articles(_SPACE_BEFORE_PUNCT.sub(r"\1", text))


def _rng(seed: int, label: str) -> random.Random:
    # A str seed is hashed with SHA-512 by random.seed: stable across runs and machines
    # (unlike hash(), which PYTHONHASHSEED randomises).
    return random.Random(f"{seed}:{label}")


def expand_pack(pack: PromptPack, seed: int = 0, whole: bool = False, first: int | None = None) -> list[PromptRecord]:
    """All distinct prompts of a pack, in a seeded shuffled order, capped at max_prompts
    (``whole``: not capped; the capped list is the start of the whole one); ``first``: only
    the first so many of that list.

    The combinations are numbered in sorted cartesian-product order (templates in file
    order; slot names and values sorted; last slot varying fastest), that numbering is
    shuffled with a seeded RNG, and prompts are rendered in the shuffled order, keeping
    the first of each normalised text, until max_prompts are found. Only what is kept
    (plus duplicates met on the way) is rendered, so large products stay cheap.
    """
    space, total = combination_space(pack)
    starts = list(itertools.accumulate(size for *_, size in space))
    order = list(range(total))
    _rng(seed, f"pack:{pack.name}").shuffle(order)
    limit = pack.max_prompts if pack.max_prompts is not None and not whole else total
    limit = min(limit, first) if first is not None else limit

    records: list[PromptRecord] = []
    seen: set[str] = set()
    source = f"template:{pack.name}"
    for index in order:
        if len(records) >= limit:
            break
        t = bisect.bisect_right(starts, index)
        tpl, names, pools, size = space[t]
        rest = index - (starts[t] - size)
        values = {}
        for name, pool in zip(reversed(names), reversed(pools)):
            rest, k = divmod(rest, len(pool))
            values[name] = pool[k]
        text = _render(tpl, {n: harm_side(v) for n, v in values.items()})
        key = prompt_key(text)
        if text and key not in seen:
            seen.add(key)
            paired = any(isinstance(v, SlotPair) for v in values.values())
            twin = _render(tpl, {n: safe_side(v) for n, v in values.items()}) if paired else None
            records.append(PromptRecord(text=text, source=source, category_hint=pack.category, aligned_text=twin))
    return records


def expand_packs(
    packs: Sequence[PromptPack],
    seed: int = 0,
    per_category: int | None = None,
    categories: Sequence[str] | None = None,
    whole_packs: bool = False,
) -> list[PromptRecord]:
    """Expand packs, grouped by category in PACK_CATEGORIES order, deduplicated; ``whole_packs``
    past each pack's max_prompts.

    categories restricts to those ids (ValueError for an unknown id). per_category caps
    each category at a deterministic sample: the category's prompts in a seeded shuffle,
    first N taken, so a smaller cap is always a prefix of a larger one for the same seed.
    """
    if per_category is not None and per_category < 0:
        raise ValueError(f"per_category must be >= 0, got {per_category}")
    if categories is not None:
        unknown = [c for c in categories if c not in PACK_CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; expected some of {', '.join(PACK_CATEGORIES)}")
        wanted = set(categories)
    else:
        wanted = set(PACK_CATEGORIES)

    by_cat: dict[str, list[PromptRecord]] = {}
    packs_in = Counter(p.category for p in packs)
    for pack in sorted(packs, key=lambda p: p.name):
        if pack.category in wanted:
            # a category's only pack need not render past the cap (400k prompts when whole);
            # several packs are mixed over their whole lists, so a cap stays a prefix
            first = per_category if packs_in[pack.category] == 1 else None
            by_cat.setdefault(pack.category, []).extend(expand_pack(pack, seed, whole=whole_packs, first=first))

    out: list[PromptRecord] = []
    for cat in PACK_CATEGORIES:
        recs = dedupe(by_cat.get(cat, []))
        if per_category is not None:
            if len({r.source for r in recs}) > 1:
                # several packs in one category: mix them before taking the first N
                _rng(seed, f"category:{cat}").shuffle(recs)
            recs = recs[:per_category]
        out.extend(recs)
    return dedupe(out)
