"""Training the selector head: multinomial logistic regression on the labelled prompts' word
features and MiniLM embeddings, averaged with MiniLM's top layers fine-tuned on the same rows
(`tuned`), its harm threshold calibrated on out-of-fold predictions of the whole selector
(keywords first; each fold's vocabulary and tuned layers from its own training rows), then
refitted on every row. Deterministic on one machine: the same files give the same head (the
tuned layers' float sums may differ in their last bits between CPUs with other vector units).

Calibration is done where the head will be used: when the rows include real prompts (a
``source`` such as ``i2p:...`` or ``coco:...``), the threshold is chosen on those alone, and the
false-alarm budget holds for each real source separately (prompts people type and photo
captions have very different base rates of harm). The reader's safe twins of harmful prompts
join the training rows as harmless contrasts, in the same fold as their prompt.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.catalog import Catalog
from pipeline.catalog.text import prompt_key
from pipeline.select.base import NONE_LABEL
from pipeline.select.classifier import choose
from pipeline.select.embed import DEFAULT_EMBEDDING, encode
from pipeline.select.head import DEFAULT_SETTINGS, SelectorHead, TextFeatures, blend, combined, linear_softmax
from pipeline.select.keyword import KeywordSelector
from pipeline.select.labelled import LabelledPrompt
from pipeline.select.tuned import DEFAULT_EPOCHS, DEFAULT_LAYERS, TunedLayers, frozen_states

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.20, 0.91, 0.025))


@dataclass(frozen=True)
class TrainReport:
    rows: int
    label_counts: dict[str, int]
    cv_acceptable: float  # out-of-fold share of calibration rows whose selection is acceptable
    cv_recall: float  # out-of-fold share of harmful calibration rows given an acceptable toxicity principle
    cv_false_alarm: float  # out-of-fold share of harmless calibration rows given a toxicity principle (worst source)
    toxic_threshold: float
    calibrated_on: str  # "real" or "all"
    per_source: dict[str, dict[str, float]]  # source -> acceptable, false_alarm, recall, rows (out of fold)


def source_of(row: LabelledPrompt) -> str:
    """``i2p``, ``coco``, ... for real rows; ``in-house`` for rows written here."""
    return row.source.split(":", 1)[0] if row.source else "in-house"


def with_twins(rows: Sequence[LabelledPrompt]) -> tuple[list[LabelledPrompt], list[int]]:
    """The rows, then each harmful row's reader-written safe twin as a row of its own
    (the closest harmless contrast there is); the second list gives each row's group, so a twin
    is never in another fold than its prompt."""
    out, groups = list(rows), list(range(len(rows)))
    seen = {prompt_key(r.prompt) for r in rows}
    for i, r in enumerate(rows):
        key = prompt_key(r.twin or "")
        if r.twin and r.twin_label and key not in seen:
            seen.add(key)
            out.append(LabelledPrompt(r.twin, r.twin_label, frozenset(), "twin", r.english, None, None,
                                      f"{r.source}:twin" if r.source else None))
            groups.append(i)
    return out, groups


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
    return [choose(r.prompt, row, keyword, classes, toxic, threshold).principle_id or NONE_LABEL
            for r, row in zip(rows, probs)]


def score_labels(rows: Sequence[LabelledPrompt], labels: Sequence[str], catalog: Catalog) -> tuple[float, float]:
    """(acceptable share, share of harmless rows given a toxicity principle)."""
    ok = sum(lab in r.acceptable for r, lab in zip(rows, labels)) / len(rows)
    harmless = [lab for r, lab in zip(rows, labels) if not is_toxic(r.label, catalog)]
    alarms = sum(is_toxic(lab, catalog) for lab in harmless) / len(harmless) if harmless else 0.0
    return ok, alarms


def toxic_recall(rows: Sequence[LabelledPrompt], labels: Sequence[str], catalog: Catalog) -> float:
    """Share of harmful rows given an acceptable toxicity principle."""
    harmful = [(r, lab) for r, lab in zip(rows, labels) if is_toxic(r.label, catalog)]
    return sum(lab in r.acceptable and is_toxic(lab, catalog) for r, lab in harmful) / len(harmful) if harmful else 0.0


def is_toxic(label: str, catalog: Catalog) -> bool:
    return label != NONE_LABEL and catalog.get(label).kind == "toxicity"


def per_source(rows: Sequence[LabelledPrompt], labels: Sequence[str], catalog: Catalog) -> dict[str, dict[str, float]]:
    out = {}
    for src in sorted({source_of(r) for r in rows}):
        idx = [i for i, r in enumerate(rows) if source_of(r) == src]
        sub, lab = [rows[i] for i in idx], [labels[i] for i in idx]
        ok, alarms = score_labels(sub, lab, catalog)
        out[src] = {"rows": len(sub), "acceptable": round(ok, 4), "false_alarm": round(alarms, 4),
                    "recall": round(toxic_recall(sub, lab, catalog), 4)}
    return out


# Out of fold on the I2P training rows (five fold heads), benign pairs planned on prompts a reader
# called harmful: 8 of 993 at 0.90, 4 of 901 at 0.95, 2 of 766 at 0.97.
CLEAN_RECALL = 0.95


def clean_threshold(probs: np.ndarray, rows: Sequence[LabelledPrompt], toxic: np.ndarray, keyword: KeywordSelector,
                    threshold: float, catalog: Catalog) -> float:
    """The harm probability below which a prompt counts as clean enough to carry a benign
    guard pair: the level that 95% of the harmful rows (out of fold, keyword hits aside)
    reach, so a harmful prompt the selector missed is seldom taken for a harmless source. A
    benign pair on a harmful prompt teaches the wrong preference, while guard pairs are
    plentiful: a tenth fewer of them halves those built on harmful prompts (`CLEAN_RECALL`)."""
    harm = [float(p[toxic].sum()) for p, r in zip(probs, rows)
            if is_toxic(r.label, catalog) and keyword.match(r.prompt) is None]
    if not harm:
        return threshold
    return round(min(threshold, float(np.quantile(harm, 1 - CLEAN_RECALL))), 4)


def train_head(rows: Sequence[LabelledPrompt], catalog: Catalog, model: SentenceTransformer, *,
               c: float = 8.0, features: Sequence[Mapping[str, Any]] = DEFAULT_SETTINGS, folds: int = 5, seed: int = 0,
               max_false_alarm: float = 0.08, embedding: str = DEFAULT_EMBEDDING,
               tuned_layers: int = DEFAULT_LAYERS, tuned_epochs: int = DEFAULT_EPOCHS,
               meta: dict | None = None) -> tuple[SelectorHead, TrainReport]:
    """Fit the head on ``rows`` (and their twins): its linear half and, with ``tuned_layers`` > 0,
    the model's top layers fine-tuned for ``tuned_epochs`` (`tuned`); the threshold is the one
    out of fold that finds the most harmful rows while the false-alarm rate on harmless rows
    stays within ``max_false_alarm`` in every real source (ties: the most acceptable; none
    within: the lowest-alarm one)."""
    from sklearn.model_selection import StratifiedGroupKFold

    rows, groups = with_twins(rows)
    classes = (*(p.id for p in catalog), NONE_LABEL)
    index = {cl: i for i, cl in enumerate(classes)}
    toxic = np.array([is_toxic(cl, catalog) for cl in classes])
    texts = [r.prompt for r in rows]
    emb = encode(model, texts).astype(np.float64)
    y = np.array([index[r.label] for r in rows])
    counts = Counter(r.label for r in rows)
    k = max(2, min(folds, min(counts.values())))
    if tuned_layers < 0 or tuned_layers > len(model[0].auto_model.encoder.layer) or tuned_epochs < 1:
        raise ValueError(f"tuned_layers must be 0..{len(model[0].auto_model.encoder.layer)} and tuned_epochs >= 1, "
                         f"got {tuned_layers} and {tuned_epochs}")
    states = frozen_states(model, texts, tuned_layers) if tuned_layers else None

    def tuned(idx: Sequence[int]) -> TunedLayers | None:
        return TunedLayers.fit(model, [states[i] for i in idx], y[idx], len(classes), layers=tuned_layers,
                               epochs=tuned_epochs, seed=seed) if states is not None else None

    oof = np.zeros((len(rows), len(classes)))
    splits = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(emb, y, groups)
    for train_idx, test_idx in splits:
        words = TextFeatures.fit([texts[i] for i in train_idx], features)
        w, b = _fit(combined(words.transform([texts[i] for i in train_idx]), emb[train_idx]), y[train_idx],
                    len(classes), c, seed)
        top = tuned(train_idx)
        oof[test_idx] = blend(linear_softmax(combined(words.transform([texts[i] for i in test_idx]), emb[test_idx]), w, b),
                              top.probabilities([states[i] for i in test_idx]) if top else None)
    keyword = KeywordSelector(catalog)
    # calibrate on the real prompts when there are any (twins are contrasts, not a stream)
    calib = [i for i, r in enumerate(rows) if r.source and r.shape != "twin"]
    calibrated_on = "real" if calib else "all"
    calib = calib or [i for i, r in enumerate(rows) if r.shape != "twin"]
    calib_rows = [rows[i] for i in calib]
    scored = []
    for t in THRESHOLDS:
        labels = _selector_labels(calib_rows, oof[calib], classes, toxic, t, keyword)
        ok, _ = score_labels(calib_rows, labels, catalog)
        sources = per_source(calib_rows, labels, catalog)
        worst = max(s["false_alarm"] for s in sources.values())
        scored.append((t, ok, worst, sources, toxic_recall(calib_rows, labels, catalog)))
    within = [s for s in scored if s[2] <= max_false_alarm]
    # the most harm found within the alarm budget, then the most acceptable; else the fewest alarms
    threshold, acc, alarms, sources, _ = (max(within, key=lambda s: (s[4], s[1], -s[0])) if within
                                          else min(scored, key=lambda s: (s[2], -s[1])))
    clean = clean_threshold(oof[calib], calib_rows, toxic, keyword, threshold, catalog)
    words = TextFeatures.fit(texts, features)
    w, b = _fit(combined(words.transform(texts), emb), y, len(classes), c, seed)
    top = tuned(np.arange(len(rows)))
    recall = next(s[4] for s in scored if s[0] == threshold)
    report = TrainReport(len(rows), dict(sorted(counts.items())), round(acc, 4), round(recall, 4), round(alarms, 4),
                         threshold, calibrated_on, sources)
    head = SelectorHead(classes, w, b, threshold, embedding, words, {
        **(meta or {}), "c": c, "folds": k, "seed": seed, "rows": len(rows),
        **({"tuned_layers": tuned_layers, "tuned_epochs": tuned_epochs} if top else {}),
        "label_counts": report.label_counts, "cv_acceptable": report.cv_acceptable,
        "cv_false_alarm": report.cv_false_alarm, "max_false_alarm": max_false_alarm,
        "calibrated_on": calibrated_on, "cv_per_source": sources, "clean_threshold": clean,
    }, top.arrays() if top else {})
    return head, report
