"""The trained part of ``selector: default``: a linear softmax head over a prompt's word
features and sentence embedding (``features.combined``), one class per catalog principle plus
"none", and the rule that turns its probabilities into a decision (shared by training-time
calibration and selection, so both decide alike).

Saved as one ``.npz``: weights, bias, the word features' settings, vocabularies and idf
(``TextFeatures.arrays``), and a JSON string of
metadata (classes, embedding model, toxic threshold, the training data's sha256,
cross-validated scores). No pickle.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.catalog import Catalog
from pipeline.run.atomic import atomic_write_bytes
from pipeline.select.base import NONE_LABEL
from pipeline.select.features import TextFeatures, combined

HEAD_FILE = "selector_head.npz"  # beside the catalog it was trained for


class HeadError(ValueError):
    """The head file is missing, unreadable, or was trained for another catalog."""


@dataclass(frozen=True)
class SelectorHead:
    classes: tuple[str, ...]  # principle ids in catalog order, then "none"
    weights: np.ndarray  # (words.size + embedding dim, classes)
    bias: np.ndarray  # (classes,)
    toxic_threshold: float  # P(any toxicity principle) at or above which the prompt is harmful
    embedding: str  # the sentence-embedding model the head reads
    words: TextFeatures
    meta: dict = field(default_factory=dict)

    def probabilities(self, texts: Sequence[str], emb: np.ndarray) -> np.ndarray:
        """(len(texts), classes) probabilities; ``emb`` are the texts' unit-length embeddings."""
        return linear_softmax(combined(self.words.transform(texts), emb), self.weights, self.bias)

    def check_catalog(self, catalog: Catalog, path: Path | str = "the head") -> None:
        expected = (*(p.id for p in catalog), NONE_LABEL)
        if tuple(self.classes) != expected:
            missing = sorted(set(expected) - set(self.classes))
            extra = sorted(set(self.classes) - set(expected))
            raise HeadError(f"{path} was trained for another catalog (missing {missing}, extra {extra}); "
                            f"retrain it: livo train-selector --catalog DIR (or make train-selector)")

    def save(self, path: Path | str) -> None:
        meta = {**self.meta, "classes": list(self.classes), "toxic_threshold": self.toxic_threshold,
                "embedding": self.embedding}
        buf = io.BytesIO()
        np.savez_compressed(buf, weights=self.weights.astype(np.float32), bias=self.bias.astype(np.float32),
                            **self.words.arrays(), meta=np.array(json.dumps(meta, sort_keys=True)))
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: Path | str) -> SelectorHead:
        path = Path(path)
        if not path.is_file():
            raise HeadError(f"{path}: no selector head; train one with `make train-selector` "
                            f"(or livo train-selector --out {path})")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                weights, bias = z["weights"].astype(np.float64), z["bias"].astype(np.float64)
                words = TextFeatures.from_arrays(z)
            classes = tuple(meta.pop("classes"))
            threshold = float(meta.pop("toxic_threshold"))
            embedding = str(meta.pop("embedding"))
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:  # truncated, not npz, keys missing
            raise HeadError(f"{path}: unreadable selector head ({type(e).__name__}: {e}); "
                            f"retrain it with `make train-selector`") from None
        if weights.shape != (weights.shape[0], len(classes)) or bias.shape != (len(classes),):
            raise HeadError(f"{path}: weights {weights.shape} / bias {bias.shape} do not fit {len(classes)} classes; "
                            f"retrain it with `make train-selector`")
        if weights.shape[0] <= words.size:
            raise HeadError(f"{path}: weights have {weights.shape[0]} rows for {words.size} word features "
                            f"and an embedding; retrain it with `make train-selector`")
        return cls(classes, weights, bias, threshold, embedding, words, meta)


def linear_softmax(x, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``x @ weights + bias`` (``x`` dense or sparse)."""
    logits = np.asarray(x @ weights) + bias
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def without_blocked(row: np.ndarray, blocked: Sequence[int]) -> np.ndarray:
    """One row of probabilities with the ``blocked`` classes removed and the rest renormalised."""
    p = row.astype(np.float64).copy()
    if len(blocked):
        p[list(blocked)] = 0.0
        p /= p.sum() or 1.0
    return p


def decide(probs: np.ndarray, toxic: np.ndarray, threshold: float,
           blocked: Sequence[Sequence[int]] = ()) -> list[tuple[int, float]]:
    """(class index, its probability) per row.

    Harm is decided on the total probability of the toxicity classes, not on the top class
    alone: a prompt split between "violence" and "weapons" is still harmful. Below the
    threshold the prompt gets the best harmless class (a bias principle or none). ``blocked``
    lists, per row, classes no decision may pick (keyword exceptions: "kitchen knife").
    """
    out: list[tuple[int, float]] = []
    for i, row in enumerate(probs):
        p = without_blocked(row, blocked[i] if i < len(blocked) else ())
        harmful = p[toxic].sum() >= threshold
        allowed = np.where(toxic if harmful else ~toxic, p, -1.0)
        j = int(np.argmax(allowed))
        out.append((j, float(p[j])))
    return out
