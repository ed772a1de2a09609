"""The ``Scorer`` protocol and the merge of several scorers' columns for one chunk of pairs.

Each scorer loads its model once in its constructor; `score` handles a whole chunk of
pairs so models see batches, never one pair at a time.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from pipeline.records import PairPlan


@runtime_checkable
class Scorer(Protocol):
    """Scores pairs; returns one array of len(plans) per declared column: floats (NaN = not read), or for
    a text column (`score_columns.TEXT_COLUMNS`, a judge's words) an object array of str or None."""

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


class PerImageScorer:
    """A scorer that judges every image alone, the aligned and the violating side alike: its two
    columns are ``(aligned_<x>, violating_<x>)`` and it implements `per_image`."""

    columns: tuple[str, ...]

    def per_image(self, images: Sequence[Image.Image]) -> np.ndarray:
        raise NotImplementedError

    def score(
        self,
        plans: Sequence[PairPlan],
        aligned: Sequence[Image.Image],
        violating: Sequence[Image.Image],
    ) -> dict[str, np.ndarray]:
        check_lengths(plans, aligned, violating)
        aligned_column, violating_column = self.columns
        return {aligned_column: self.per_image(aligned), violating_column: self.per_image(violating)}


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


class ImageMemo:
    """Per-image results kept while the image is alive: a shard reads its neutral images before
    the aligned side is rendered, then scores them, and no model should see the same image twice.

    Keyed by object identity (PIL images compare by content and are unhashable); a weak
    reference proves the key still names the same object, so a recycled id never hits.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._items: dict[int, tuple[weakref.ref, Any]] = {}

    def get(self, image: Image.Image) -> Any | None:
        item = self._items.get(id(image))
        if item is None or item[0]() is not image:
            return None
        return item[1]

    def put(self, image: Image.Image, value: Any) -> None:
        if len(self._items) >= self.capacity:
            self._items = {k: v for k, v in self._items.items() if v[0]() is not None}
            if len(self._items) >= self.capacity:
                self._items.clear()
        self._items[id(image)] = (weakref.ref(image), value)


def rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB (grayscale, RGBA and palette images are what users and renderers hand over)."""
    return image if image.mode == "RGB" else image.convert("RGB")

