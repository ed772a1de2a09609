"""The ``Selector`` protocol and the label of "no principle applies"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pipeline.records import Selection

NONE_LABEL = "none"  # the label of prompts no principle applies to (category None)


@runtime_checkable
class Selector(Protocol):
    """Picks the principle for each prompt (batched)."""

    name: str

    def select(self, prompts: Sequence[str]) -> list[Selection]: ...



def category_label(sel: Selection) -> str:
    """The category a selection assigns, "none" when no principle applies."""
    return sel.category if sel.category is not None else NONE_LABEL
