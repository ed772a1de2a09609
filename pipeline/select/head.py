"""The trained part of ``selector: default``: what it reads (a prompt's word features next to
its sentence embedding, ``combined``), a linear softmax head over them, one class per catalog
principle plus "none", and the rule that turns its probabilities into a decision (shared by
training-time calibration and selection, so both decide alike).

An embedding blurs the words that decide harm ("stabbing" vs "stirring") and knows nothing of
slang the labelled set teaches ("unalive", slurs); sublinear TF-IDF over word unigrams and
bigrams keeps them. scikit-learn's TfidfVectorizer computes it; a saved head keeps only each
vectorizer's settings, vocabulary and idf (plain arrays, no pickle) and rebuilds it on load.

The head has a second half, the sentence model's top layers fine-tuned on the same rows
(`pipeline.select.tuned`); the selector averages the two halves' probabilities (`blend`).

Saved as one ``.npz``: weights, bias, the word features' settings, vocabularies and idf
(``TextFeatures.arrays``), the tuned layers' float16 tensors (``tuned.*``), and a JSON string of
metadata (classes, embedding model, toxic threshold, the training data's sha256,
cross-validated scores). No pickle.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from pipeline.catalog import Catalog
from pipeline.run.atomic import atomic_write_bytes
from pipeline.select.base import NONE_LABEL
from pipeline.select.tuned import PREFIX as TUNED_PREFIX

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.feature_extraction.text import TfidfVectorizer

HEAD_FILE = "selector_head.npz"  # beside the catalog it was trained for


# --------------------------------------------------------------------------- what the head reads

# One TfidfVectorizer per entry (JSON-able keyword arguments; sublinear tf always). Word
# unigrams and bigrams, the words of two or more characters scikit-learn tokenises by default;
# then character 3- to 5-grams within words, which tie real prompts' misspellings and word
# variants ("marihuana", "eroric", "stabbed") to the words the labelled rows teach. Chosen on
# the out-of-fold scores of train_head (the dev splits were not looked at).
WORD = {"analyzer": "word", "ngram_range": [1, 2], "min_df": 2}
CHAR = {"analyzer": "char_wb", "ngram_range": [3, 5], "min_df": 3}
DEFAULT_SETTINGS: tuple[dict[str, Any], ...] = (WORD, CHAR)


def _vectorizer(settings: Mapping[str, Any], vocab: Sequence[str] | None = None) -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    kwargs = {k: (tuple(v) if k == "ngram_range" else v) for k, v in settings.items()}
    if vocab is not None:  # min_df / max_features only shape a vocabulary being fitted
        kwargs.pop("min_df", None), kwargs.pop("max_features", None)
    return TfidfVectorizer(sublinear_tf=True, dtype=np.float64, **kwargs)


def _key(name: str, part: int) -> str:
    # the first part keeps the key names heads had before there were several parts
    return name if part == 0 else f"{name}_{part}"


@dataclass(frozen=True)
class TextFeatures:
    settings: tuple[dict[str, Any], ...]
    vectorizers: tuple[TfidfVectorizer, ...]  # fitted, one per settings entry

    @classmethod
    def fit(cls, texts: Sequence[str], settings: Sequence[Mapping[str, Any]] = DEFAULT_SETTINGS) -> TextFeatures:
        settings = tuple(dict(s) for s in settings)
        vecs = []
        for s in settings:
            v = _vectorizer(s)
            try:
                v.fit(texts)
            except ValueError:  # no term reaches min_df (a tiny training set): an empty part
                v = cls._rebuild(s, (), np.zeros(0))
            vecs.append(v)
        return cls(settings, tuple(vecs))

    @classmethod
    def _rebuild(cls, settings: Mapping[str, Any], vocab: Sequence[str], idf: np.ndarray) -> TfidfVectorizer:
        v = _vectorizer(settings, vocab)
        v.vocabulary_ = {g: i for i, g in enumerate(vocab)}
        v.idf_ = np.asarray(idf, dtype=np.float64)
        return v

    def part_vocab(self, part: int) -> tuple[str, ...]:
        v = self.vectorizers[part]
        return tuple(v.get_feature_names_out()) if v.vocabulary_ else ()

    @property
    def vocab(self) -> tuple[str, ...]:
        """Every part's terms, in column order (a term may recur: a word and a character n-gram)."""
        return tuple(g for i in range(len(self.vectorizers)) for g in self.part_vocab(i))

    @property
    def idf(self) -> np.ndarray:
        return np.concatenate([np.asarray(v.idf_, dtype=np.float64) for v in self.vectorizers] or [np.zeros(0)])

    @property
    def size(self) -> int:
        return sum(len(v.vocabulary_) for v in self.vectorizers)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """(n, size) rows: per part, 1 + log(tf) times idf, each part of unit length."""
        parts = [v.transform(texts) if v.vocabulary_ else sparse.csr_matrix((len(texts), 0)) for v in self.vectorizers]
        return sparse.hstack(parts, format="csr", dtype=np.float64) if parts else sparse.csr_matrix((len(texts), 0))

    def arrays(self) -> dict[str, np.ndarray]:
        """What a head file stores: the settings as JSON, each part's vocabulary and idf.

        idf stays float64 so the rebuilt vectorizer gives the very matrix the head was trained on."""
        out = {"features": np.array(json.dumps(list(self.settings), sort_keys=True))}
        for i in range(len(self.vectorizers)):
            out[_key("vocab", i)] = np.array(self.part_vocab(i), dtype=np.str_)
            out[_key("idf", i)] = np.asarray(self.vectorizers[i].idf_, dtype=np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> TextFeatures:
        # heads saved before the settings were stored had the word part alone
        settings = tuple(json.loads(str(arrays["features"]))) if "features" in arrays else (WORD,)
        vecs = []
        for i, s in enumerate(settings):
            vocab = tuple(str(g) for g in arrays[_key("vocab", i)])
            idf = arrays[_key("idf", i)].astype(np.float64)
            if len(vocab) != len(idf):
                raise ValueError(f"part {i}: {len(vocab)} terms but {len(idf)} idf values")
            vecs.append(cls._rebuild(s, vocab, idf))
        return cls(tuple(dict(s) for s in settings), tuple(vecs))


def combined(words: sparse.csr_matrix, emb: np.ndarray) -> sparse.csr_matrix:
    """The head's input: word features, then the embedding."""
    return sparse.hstack([words, sparse.csr_matrix(emb.astype(np.float64))], format="csr")


# --------------------------------------------------------------------------- the head


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
    tuned: Mapping[str, np.ndarray] = field(default_factory=dict)  # `tuned.TunedLayers.arrays`; empty: linear only

    @property
    def tuned_layers(self) -> int:
        """How many of the sentence model's top layers the tuned half retrains (0: no tuned half)."""
        return int(self.meta.get("tuned_layers", 0)) if self.tuned else 0

    def probabilities(self, texts: Sequence[str], emb: np.ndarray) -> np.ndarray:
        """(len(texts), classes) probabilities of the linear half; ``emb`` are the texts' unit-length
        embeddings (`blend` them with the tuned half's, where the head has one)."""
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
                            **self.words.arrays(), **self.tuned, meta=np.array(json.dumps(meta, sort_keys=True)))
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
                tuned = {k: z[k] for k in z.files if k.startswith(TUNED_PREFIX)}
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
        return cls(classes, weights, bias, threshold, embedding, words, meta, tuned)


def blend(linear: np.ndarray, tuned: np.ndarray | None) -> np.ndarray:
    """The head's probabilities: the mean of its two halves' (the linear half alone without a tuned one)."""
    return linear if tuned is None else (linear + tuned) / 2


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
