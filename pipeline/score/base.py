"""The ``Scorer`` protocol and the merge of several scorers' columns for one chunk of pairs.

Each scorer loads its model once in its constructor; `score` handles a whole chunk of
pairs so models see batches, never one pair at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from pipeline.records import PairPlan


@runtime_checkable
class Scorer(Protocol):
    """Scores pairs; returns one float array of len(plans) per declared column."""

    columns: tuple[str, ...]

    def score(
        self,
        plans: Sequence[PairPlan],
        aligned: Sequence[Image.Image],
        violating: Sequence[Image.Image],
    ) -> dict[str, np.ndarray]: ...


def check_lengths(
    plans: Sequence[PairPlan], aligned: Sequence[Image.Image], violating: Sequence[Image.Image]
) -> None:
    if not (len(plans) == len(aligned) == len(violating)):
        raise ValueError(
            f"{len(plans)} plans, {len(aligned)} aligned and {len(violating)} violating images"
        )


def combine_scores(
    scorers: Sequence[Scorer],
    plans: Sequence[PairPlan],
    aligned: Sequence[Image.Image],
    violating: Sequence[Image.Image],
) -> dict[str, np.ndarray]:
    """Run every scorer on the same pairs and merge their columns; a clash is a config error."""
    seen: dict[str, Scorer] = {}
    for scorer in scorers:
        for col in scorer.columns:
            if col in seen:
                raise ValueError(
                    f"column {col!r} declared by both {type(seen[col]).__name__} "
                    f"and {type(scorer).__name__}"
                )
            seen[col] = scorer
    merged: dict[str, np.ndarray] = {}
    for scorer in scorers:
        result = scorer.score(plans, aligned, violating)
        if set(result) != set(scorer.columns):
            raise ValueError(
                f"{type(scorer).__name__} returned {sorted(result)}, declared {list(scorer.columns)}"
            )
        for col, values in result.items():
            if len(values) != len(plans):
                raise ValueError(f"{col}: {len(values)} values for {len(plans)} plans")
        merged.update(result)
    return merged
