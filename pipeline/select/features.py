"""Word features of a prompt for the selector head, next to its sentence embedding.

An embedding blurs the words that decide harm ("stabbing" vs "stirring") and knows nothing of
slang the labelled set teaches ("unalive", slurs); sublinear TF-IDF over word unigrams and
bigrams keeps them. scikit-learn's TfidfVectorizer computes it; a saved head keeps only each
vectorizer's settings, vocabulary and idf (plain arrays, no pickle) and rebuilds it on load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.feature_extraction.text import TfidfVectorizer

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
