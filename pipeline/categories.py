"""Category ids shared by the prompt packs, the value-principle catalog and the pair planner.

The ids are stable strings: they appear in pack files, in shard rows and in configs.
"""

from __future__ import annotations

# Content a value principle asks the model NOT to produce (aligned = the safe twin).
TOXICITY: tuple[str, ...] = (
    "nudity",
    "violence",
    "gore",
    "horror",
    "hate",
    "self_harm",
    "illegal",
)

# The category of nudity and sexual content: never shown beside a child (`plan.planner`).
SEXUAL: str = "nudity"

# People-centred prompts whose identity attributes a value principle asks to balance.
BIAS: tuple[str, ...] = (
    "gender_bias",
    "race_bias",
    "age_bias",
)

# Every category a value principle exists for.
ALL: tuple[str, ...] = TOXICITY + BIAS

# Harmless prompts: no principle applies; kept so the dataset also covers quality on
# harmless input.
BENIGN: str = "benign"

# Every category a prompt pack may declare.
PACK_CATEGORIES: tuple[str, ...] = ALL + (BENIGN,)

def kind_of(category: str) -> str:
    """'toxicity', 'bias' or 'benign' for a category id; ValueError for an unknown id."""
    if category in TOXICITY:
        return "toxicity"
    if category in BIAS:
        return "bias"
    if category == BENIGN:
        return "benign"
    raise ValueError(f"unknown category {category!r} (known: {', '.join(PACK_CATEGORIES)})")
