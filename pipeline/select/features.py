"""Word features of a prompt for the selector head, next to its sentence embedding.

An embedding blurs the words that decide harm ("stabbing" vs "stirring") and knows nothing of
slang the labelled set teaches ("unalive", slurs); sublinear TF-IDF over word unigrams and
bigrams keeps them. Tokenisation follows scikit-learn's TfidfVectorizer defaults (lower case,
words of two or more characters) but is implemented here so a saved head needs no pickle.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def ngrams(text: str) -> list[str]:
    words = _TOKEN.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@dataclass(frozen=True)
class TextFeatures:
    vocab: tuple[str, ...]
    idf: np.ndarray  # (len(vocab),)

    @classmethod
    def fit(cls, texts: Sequence[str], min_df: int = 2) -> "TextFeatures":
        df = Counter(g for t in texts for g in set(ngrams(t)))
        vocab = tuple(sorted(g for g, n in df.items() if n >= min_df))
        n = len(texts)
        idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in vocab])  # smoothed, as scikit-learn
        return cls(vocab, idf)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """(n, len(vocab)) rows of 1 + log(tf) times idf, each of unit length."""
        index = {g: i for i, g in enumerate(self.vocab)}
        data, cols, ptr = [], [], [0]
        for t in texts:
            counts = Counter(g for g in ngrams(t) if g in index)
            vals = np.array([(1.0 + math.log(c)) * self.idf[index[g]] for g, c in counts.items()])
            norm = float(np.linalg.norm(vals)) if len(vals) else 1.0
            data.extend(vals / (norm or 1.0))
            cols.extend(index[g] for g in counts)
            ptr.append(len(cols))
        return sparse.csr_matrix((np.asarray(data, dtype=np.float64), np.asarray(cols, dtype=np.int64), ptr),
                                 shape=(len(texts), len(self.vocab)))


def combined(words: sparse.csr_matrix, emb: np.ndarray) -> sparse.csr_matrix:
    """The head's input: word features, then the embedding."""
    return sparse.hstack([words, sparse.csr_matrix(emb.astype(np.float64))], format="csr")
