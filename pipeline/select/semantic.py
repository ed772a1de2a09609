"""Nearest principle by sentence-embedding similarity (all-MiniLM-L6-v2), with a calibrated "none".

Each principle is described by several sentences; a prompt gets the principle with the
highest cosine similarity, unless that similarity is below ``threshold`` or does not beat
the closest *benign anchor* (landscapes, food, people in neutral scenes, ...) by
``margin``; then no principle applies.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.catalog import Catalog, Principle
from pipeline.catalog.descriptors import CATEGORY_DESCRIPTORS
from pipeline.prompts.text import wants_an
from pipeline.records import Selection, SelectionMethod
from pipeline.select.anchors import BENIGN_ANCHORS, DEFAULT_MARGIN, DEFAULT_THRESHOLD
from pipeline.select.embed import encode, load_model

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer


def principle_descriptors(p: Principle) -> list[str]:
    """The sentences that stand for a principle in embedding space."""
    out = [p.statement, ", ".join(p.keywords), *CATEGORY_DESCRIPTORS.get(p.category, ())]
    if p.kind == "toxicity":
        out += [f"a picture of {c}" for c in p.violation_concepts]
        out += [f"an image showing {k}" for k in p.keywords]
    else:
        # Bias principles are about who is shown in a role; their violation concepts are
        # attribute values ("male", "female"), which would match any person, so describe
        # the roles instead.
        out += [f"a picture of {'an' if wants_an(k) else 'a'} {k}" for k in p.keywords]
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class SemanticScores:
    """Everything a threshold/margin decision needs, so calibration never re-encodes.

    ``fixed[i]`` is a decision already taken (by the keyword rules) or None; rows of
    ``principle_sims``/``benign_sims`` belong to the prompts with ``fixed[i] is None``,
    in order.
    """

    prompts: tuple[str, ...]
    fixed: tuple[Selection | None, ...]
    principle_ids: tuple[str, ...]
    categories: tuple[str, ...]
    principle_sims: np.ndarray  # (n_open, n_principles): max cosine over each principle's descriptors
    benign_sims: np.ndarray  # (n_open,): max cosine over the benign anchors

    def decide(self, threshold: float, margin: float) -> list[Selection]:
        out: list[Selection] = []
        row = 0
        for prompt, fixed in zip(self.prompts, self.fixed):
            if fixed is not None:
                out.append(fixed)
                continue
            sims = self.principle_sims[row]
            j = int(np.argmax(sims))  # ties: first in catalog order
            best = float(sims[j])
            if best < threshold or best - float(self.benign_sims[row]) < margin:
                out.append(Selection(prompt, None, None, SelectionMethod.NONE, round(best, 6)))
            else:
                out.append(Selection(prompt, self.principle_ids[j], self.categories[j], SelectionMethod.SEMANTIC, round(best, 6)))
            row += 1
        return out


class SemanticSelector:
    """Nearest principle by MiniLM cosine similarity, with a calibrated "none" decision."""

    name = "semantic"

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
        batch_size: int = 64,
    ):
        self.catalog = catalog
        self.threshold = float(threshold)
        self.margin = float(margin)
        self.batch_size = batch_size
        self.model = model if model is not None else load_model(model_path, device)
        self.principle_ids = tuple(p.id for p in catalog)
        self.categories = tuple(p.category for p in catalog)
        texts: list[str] = []
        owner: list[int] = []
        for i, p in enumerate(catalog):
            for d in principle_descriptors(p):
                texts.append(d)
                owner.append(i)
        self._owner = np.asarray(owner)
        self.anchors = tuple(anchors)
        if not self.anchors:
            raise ValueError("at least one benign anchor is needed")
        emb = self._encode(texts + list(self.anchors))
        self._desc = emb[: len(texts)]
        self._anchor = emb[len(texts):]

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return encode(self.model, texts, self.batch_size)

    def score(self, prompts: Sequence[str], fixed: Sequence[Selection | None] | None = None) -> SemanticScores:
        """Encode the prompts not already decided in ``fixed`` (one batched call)."""
        prompts = tuple(prompts)
        fixed = tuple(fixed) if fixed is not None else (None,) * len(prompts)
        if len(fixed) != len(prompts):
            raise ValueError("fixed must have one entry per prompt")
        open_prompts = [p for p, f in zip(prompts, fixed) if f is None]
        n_p = len(self.principle_ids)
        if open_prompts:
            q = self._encode(open_prompts)
            desc_sims = q @ self._desc.T  # (n, n_desc)
            sims = np.full((len(open_prompts), n_p), -np.inf, dtype=np.float32)
            for j in range(n_p):
                sims[:, j] = desc_sims[:, self._owner == j].max(axis=1)
            benign = (q @ self._anchor.T).max(axis=1)
        else:
            sims = np.zeros((0, n_p), dtype=np.float32)
            benign = np.zeros((0,), dtype=np.float32)
        return SemanticScores(prompts, fixed, self.principle_ids, self.categories, sims, benign)

    def select(self, prompts: Sequence[str]) -> list[Selection]:
        return self.score(prompts).decide(self.threshold, self.margin)

    def with_params(self, threshold: float | None = None, margin: float | None = None) -> SemanticSelector:
        """A copy with another threshold/margin that shares the model and the embeddings."""
        new = copy.copy(self)
        new.threshold = self.threshold if threshold is None else float(threshold)
        new.margin = self.margin if margin is None else float(margin)
        return new
