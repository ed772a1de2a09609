"""Training the selector head: multinomial logistic regression on the labelled prompts' word
features and MiniLM embeddings, its harm threshold calibrated on out-of-fold predictions of the
whole selector (keywords first; each fold's vocabulary from its own training rows), then
refitted on every row. Deterministic: the same files give the same head.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.catalog import Catalog
from pipeline.select.base import NONE_LABEL
from pipeline.select.classifier import final_label, keyword_selection
from pipeline.select.embed import DEFAULT_EMBEDDING, encode
from pipeline.select.features import TextFeatures, combined
from pipeline.select.head import SelectorHead, decide, linear_softmax
from pipeline.select.keyword import KeywordSelector
from pipeline.select.labelled import LabelledPrompt

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.20, 0.91, 0.05))


@dataclass(frozen=True)
class TrainReport:
    rows: int
    label_counts: dict[str, int]
    cv_acceptable: float  # out-of-fold share of rows whose selection is acceptable
    cv_false_alarm: float  # out-of-fold share of harmless rows given a toxicity principle
    toxic_threshold: float


def _fit(x, y: np.ndarray, n_classes: int, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    # Unweighted classes: the harmless classes are most of the data, as they are of real prompts.
    clf = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    clf.fit(x, y)
    w = np.zeros((x.shape[1], n_classes))
    b = np.full(n_classes, -1e9)  # a class with no row is never picked
    w[:, clf.classes_] = clf.coef_.T
    b[clf.classes_] = clf.intercept_
    return w, b


def _selector_labels(rows: Sequence[LabelledPrompt], probs: np.ndarray, classes: tuple[str, ...],
                     toxic: np.ndarray, threshold: float, keyword: KeywordSelector) -> list[str]:
    """What the whole selector (keywords, then the head) would answer, given head probabilities."""
    index = {c: i for i, c in enumerate(classes)}
    out: list[str | None] = [None] * len(rows)
    open_rows: list[int] = []
    for i, r in enumerate(rows):
        hit = keyword_selection(keyword, r.prompt)
        if hit is not None:
            out[i] = hit.principle_id or NONE_LABEL
        else:
            open_rows.append(i)
    blocked = [[index[pid] for pid in keyword.blocked(rows[i].prompt)] for i in open_rows]
    for i, (j, _) in zip(open_rows, decide(probs[open_rows], toxic, threshold, blocked)):
        out[i] = final_label(rows[i].prompt, classes[j], keyword.catalog)
    return [o or NONE_LABEL for o in out]


def score_labels(rows: Sequence[LabelledPrompt], labels: Sequence[str], catalog: Catalog) -> tuple[float, float]:
    """(acceptable share, share of harmless rows given a toxicity principle)."""
    ok = sum(lab in r.acceptable for r, lab in zip(rows, labels)) / len(rows)
    harmless = [lab for r, lab in zip(rows, labels) if not _is_toxic(r.label, catalog)]
    alarms = sum(_is_toxic(lab, catalog) for lab in harmless) / len(harmless) if harmless else 0.0
    return ok, alarms


def _is_toxic(label: str, catalog: Catalog) -> bool:
    return label != NONE_LABEL and catalog.get(label).kind == "toxicity"


def train_head(rows: Sequence[LabelledPrompt], catalog: Catalog, model: "SentenceTransformer", *,
               c: float = 16.0, min_df: int = 2, folds: int = 5, seed: int = 0, max_false_alarm: float = 0.08,
               embedding: str = DEFAULT_EMBEDDING, meta: dict | None = None) -> tuple[SelectorHead, TrainReport]:
    """Fit the head on ``rows``; the threshold is the most accurate one (out of fold) whose
    false-alarm rate on harmless rows stays within ``max_false_alarm`` (else the lowest-alarm one)."""
    from sklearn.model_selection import StratifiedKFold

    classes = (*(p.id for p in catalog), NONE_LABEL)
    index = {cl: i for i, cl in enumerate(classes)}
    toxic = np.array([_is_toxic(cl, catalog) for cl in classes])
    texts = [r.prompt for r in rows]
    emb = encode(model, texts).astype(np.float64)
    y = np.array([index[r.label] for r in rows])
    counts = Counter(r.label for r in rows)
    k = max(2, min(folds, min(counts.values())))
    oof = np.zeros((len(rows), len(classes)))
    for train_idx, test_idx in StratifiedKFold(k, shuffle=True, random_state=seed).split(emb, y):
        words = TextFeatures.fit([texts[i] for i in train_idx], min_df)
        w, b = _fit(combined(words.transform([texts[i] for i in train_idx]), emb[train_idx]), y[train_idx],
                    len(classes), c, seed)
        oof[test_idx] = linear_softmax(combined(words.transform([texts[i] for i in test_idx]), emb[test_idx]), w, b)
    keyword = KeywordSelector(catalog)
    scored = [(t, *score_labels(rows, _selector_labels(rows, oof, classes, toxic, t, keyword), catalog))
              for t in THRESHOLDS]
    within = [s for s in scored if s[2] <= max_false_alarm]
    # most accurate within the alarm budget; ties: the middle of the tied run
    best_acc = max(s[1] for s in within) if within else None
    tied = [s for s in within if s[1] == best_acc] if within else [min(scored, key=lambda s: (s[2], -s[1]))]
    threshold, acc, alarms = tied[len(tied) // 2]
    words = TextFeatures.fit(texts, min_df)
    w, b = _fit(combined(words.transform(texts), emb), y, len(classes), c, seed)
    report = TrainReport(len(rows), dict(sorted(counts.items())), round(acc, 4), round(alarms, 4), threshold)
    head = SelectorHead(classes, w, b, threshold, embedding, words, {
        **(meta or {}), "c": c, "min_df": min_df, "folds": k, "seed": seed, "rows": len(rows), "label_counts": report.label_counts,
        "cv_acceptable": report.cv_acceptable, "cv_false_alarm": report.cv_false_alarm,
        "max_false_alarm": max_false_alarm,
    })
    return head, report
