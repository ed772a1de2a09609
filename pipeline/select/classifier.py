"""``selector: default``: keyword rules first, then a trained head (a softmax over word features
and MiniLM embeddings, averaged with MiniLM's fine-tuned top layers) for every prompt no keyword
decided.

The keyword stage binds the head: a keyword hit is final, and a keyword exception ("kitchen
knife", "pillow fight") bars its whole category from the head, because an embedding reads
the knife, not the kitchen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.catalog import Catalog
from pipeline.catalog.principles import DEFAULT_CATALOG_DIR
from pipeline.records import Selection, SelectionMethod
from pipeline.select.base import NONE_LABEL
from pipeline.select.embed import encode, load_model
from pipeline.select.head import HEAD_FILE, HeadError, SelectorHead, blend, decide, without_blocked
from pipeline.select.keyword import KeywordSelector
from pipeline.select.people import bias_principle_for
from pipeline.select.tuned import TunedLayers, frozen_states

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

DEFAULT_HEAD = DEFAULT_CATALOG_DIR / HEAD_FILE
_CHUNK = 1024  # prompts whose tuned-layer inputs are held at once


def final_label(prompt: str, head_label: str, catalog: Catalog) -> str:
    """The head's label, with a harmless prompt's bias principle set by who it shows and which
    attribute it leaves open (``people``): the head is good at "shows people", the word lists
    at "states a gender"."""
    if head_label != NONE_LABEL and catalog.get(head_label).kind == "toxicity":
        return head_label
    head_says_people = head_label != NONE_LABEL
    return bias_principle_for(prompt, catalog, head_says_people) or NONE_LABEL


def head_among(tied: Sequence[str], row: np.ndarray, classes: Sequence[str]) -> str:
    """The keyword-tied toxicity principle the head finds most probable (the first on equal odds)."""
    index = {c: i for i, c in enumerate(classes)}
    return max(tied, key=lambda pid: row[index[pid]])


def toxic_keyword_hit(keyword: KeywordSelector, prompt: str) -> bool:
    return any(keyword.catalog.get(pid).kind == "toxicity" for pid in keyword.hits(prompt))


def reads_head(keyword: KeywordSelector, prompt: str) -> bool:
    """Whether the head's probabilities take part in `choose` for this prompt: toxicity keywords
    tied on hits, or no toxicity keyword at all (a bias keyword included)."""
    return not toxic_keyword_hit(keyword, prompt) or bool(keyword.toxicity_ties(prompt))


def choose(prompt: str, row: np.ndarray | None, keyword: KeywordSelector, classes: Sequence[str],
           toxic: np.ndarray, threshold: float) -> Selection:
    """One prompt's selection from its keyword hits and the head's probabilities ``row``
    (needed where `reads_head`). The selector and the threshold's calibration at training both
    decide here, so the threshold is calibrated on the decisions the selector takes."""
    catalog = keyword.catalog
    hit = keyword.match(prompt)
    if hit is not None and (tied := keyword.toxicity_ties(prompt)):
        p = catalog.get(head_among(tied, row, classes))
        return Selection(prompt, p.id, p.category, SelectionMethod.KEYWORD, hit.score)
    if hit is not None and hit.principle_id is not None and catalog.get(hit.principle_id).kind == "toxicity":
        return hit
    index = {c: i for i, c in enumerate(classes)}
    (j, prob), = decide(row[None, :], toxic, threshold, [[index[pid] for pid in keyword.blocked(prompt)]])
    if hit is not None and not toxic[j]:
        # a bias keyword says who is shown, not that the prompt is harmless: the head still
        # reads its harm ("sexy ... nurse ..., lingerie"), and toxicity beats bias as among keywords
        return hit
    label = classes[j] if toxic[j] else final_label(prompt, classes[j], catalog)
    if label == NONE_LABEL:
        return Selection(prompt, None, None, SelectionMethod.NONE, round(prob, 6))
    p = catalog.get(label)
    return Selection(prompt, p.id, p.category, SelectionMethod.CLASSIFIER, round(prob, 6))


class ClassifierSelector:
    """Keyword rules, then the trained head (``selector: default``)."""

    name = "default"

    def __init__(
        self,
        catalog: Catalog,
        head_path: str | Path | None = None,
        model_path: str | Path | None = None,
        device: str = "cpu",
        *,
        model: SentenceTransformer | None = None,
        head: SelectorHead | None = None,
        toxic_threshold: float | None = None,
        batch_size: int = 64,
    ):
        path = Path(head_path) if head_path is not None else DEFAULT_HEAD
        self.head = head if head is not None else SelectorHead.load(path)
        self.head.check_catalog(catalog, path)
        self.catalog = catalog
        self.keyword = KeywordSelector(catalog)
        self.model = model if model is not None else load_model(model_path, device)
        self.tuned = None
        if self.head.tuned_layers:
            try:
                self.tuned = TunedLayers.from_arrays(self.model, self.head.tuned, self.head.tuned_layers,
                                                     len(self.head.classes))
            except (RuntimeError, ValueError) as e:  # torch reports shape and key mismatches as RuntimeError
                raise HeadError(f"{path}: its tuned layers do not fit the sentence model {model_path or self.head.embedding} "
                                f"({str(e).splitlines()[0]}); use the model it was trained with, or retrain it "
                                f"with livo train-selector --model ...") from None
        self.toxic_threshold = self.head.toxic_threshold if toxic_threshold is None else float(toxic_threshold)
        # below this harm probability a prompt may carry a benign guard pair (calibrated at training)
        self.clean_threshold = min(self.toxic_threshold, float(self.head.meta.get("clean_threshold", self.toxic_threshold)))
        self.batch_size = batch_size
        self._index = {c: i for i, c in enumerate(self.head.classes)}
        self._toxic = np.array([c != NONE_LABEL and catalog.get(c).kind == "toxicity" for c in self.head.classes])

    def probabilities(self, prompts: Sequence[str]) -> np.ndarray:
        """The head's class probabilities (columns: ``head.classes``), keywords not applied."""
        linear = self.head.probabilities(prompts, encode(self.model, prompts, self.batch_size))
        if self.tuned is None:
            return linear
        # in chunks: the frozen states of a LiVO-size plan's prompts would hold about a gigabyte at once
        tuned = [self.tuned.probabilities(frozen_states(self.model, prompts[i:i + _CHUNK], self.tuned.layers,
                                                        self.batch_size))
                 for i in range(0, len(prompts), _CHUNK)]
        return blend(linear, np.concatenate(tuned) if tuned else np.zeros_like(linear))

    def harm_probabilities(self, prompts: Sequence[str]) -> np.ndarray:
        """P(some toxicity principle applies) per prompt as this selector sees it: 1 for a
        toxicity keyword, else the head's toxicity mass without the classes a keyword
        exception bars."""
        out = np.ones(len(prompts))
        open_idx = [i for i, p in enumerate(prompts) if not toxic_keyword_hit(self.keyword, p)]
        if open_idx:
            probs = self.probabilities([prompts[i] for i in open_idx])
            for row, i in zip(probs, open_idx):
                barred = [self._index[pid] for pid in self.keyword.blocked(prompts[i])]
                out[i] = float(without_blocked(row, barred)[self._toxic].sum())
        return out

    def select(self, prompts: Sequence[str]) -> list[Selection]:
        read = [i for i, p in enumerate(prompts) if reads_head(self.keyword, p)]
        rows = dict(zip(read, self.probabilities([prompts[i] for i in read]) if read else ()))
        return [choose(p, rows.get(i), self.keyword, self.head.classes, self._toxic, self.toxic_threshold)
                for i, p in enumerate(prompts)]
