"""``selector: retrieval``: keyword rules first, then MiniLM retrieval against principle descriptors for the prompts no keyword matched."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.catalog import Catalog
from pipeline.records import Selection
from pipeline.select.anchors import BENIGN_ANCHORS, DEFAULT_MARGIN, DEFAULT_THRESHOLD
from pipeline.select.keyword import KeywordSelector
from pipeline.select.semantic import SemanticScores, SemanticSelector

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer


class RetrievalSelector:
    """Keyword rules first; nearest principle descriptor in MiniLM space for the rest (``selector: retrieval``, the default before the trained head)."""

    name = "retrieval"

    def __init__(
        self,
        catalog: Catalog,
        model_path: str | Path | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        device: str = "cpu",
        *,
        model: SentenceTransformer | None = None,
        anchors: Sequence[str] = BENIGN_ANCHORS,
    ):
        self.keyword = KeywordSelector(catalog)
        self.semantic = SemanticSelector(
            catalog, model_path, threshold, margin, device, model=model, anchors=anchors
        )

    @property
    def threshold(self) -> float:
        return self.semantic.threshold

    @property
    def margin(self) -> float:
        return self.semantic.margin

    def score(self, prompts: Sequence[str]) -> SemanticScores:
        fixed = [self.keyword.match(p) for p in prompts]
        return self.semantic.score(prompts, fixed)

    def select(self, prompts: Sequence[str]) -> list[Selection]:
        return self.score(prompts).decide(self.threshold, self.margin)

    def with_params(self, threshold: float | None = None, margin: float | None = None) -> RetrievalSelector:
        """A copy with another threshold/margin that shares the model and the embeddings."""
        new = copy.copy(self)
        new.semantic = self.semantic.with_params(threshold, margin)
        return new
