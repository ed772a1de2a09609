"""Calibration of the retrieval selector's defaults on a crisp labelled split: the labelled
prompts, category-level accuracy, and the grid search that set the semantic selector's
threshold and margin (pipeline/select/anchors.py).

The labelled file (prompts/labelled/selector_calibration.jsonl, a small crisp in-house split,
one category per prompt) has a calibration split (for the grid search) and a held-out test
split (reporting only: bench/selector_accuracy.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from pipeline.categories import ALL
from pipeline.records import Selection
from pipeline.select.base import NONE_LABEL, Selector, category_label
from pipeline.select.labelled import LABELLED_DIR
from pipeline.select.retrieval import RetrievalSelector
from pipeline.select.semantic import SemanticScores, SemanticSelector

SPLITS = ("calibration", "test")
DEFAULT_LABELLED_PATH = LABELLED_DIR / "selector_calibration.jsonl"
# Calibration accuracy at the shipped DEFAULT_THRESHOLD / DEFAULT_MARGIN (see anchors.py).
CALIBRATION_ACCURACY = 0.822  # 74/90 since keywords read off real prompts decide "lap dance" and "maggots" (this split labels them nudity, horror); defaults unchanged (best 0.833)

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.10 + 0.01 * i, 2) for i in range(51))  # 0.10 .. 0.60
DEFAULT_MARGINS: tuple[float, ...] = tuple(round(-0.25 + 0.01 * i, 2) for i in range(46))  # -0.25 .. 0.20


def load_labelled(path: str | Path = DEFAULT_LABELLED_PATH, split: str | None = None) -> list[tuple[str, str]]:
    """Read ``{"prompt", "category", "split"}`` rows; category is a category id or "none".

    ``split`` ("calibration" or "test") keeps only that split; None keeps all rows.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    path = Path(path)
    out: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                prompt, category, row_split = row["prompt"], row["category"], row["split"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: expected a JSON object with prompt, category, split ({e})") from None
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"{path}:{n}: empty prompt")
            if category not in ALL and category != NONE_LABEL:
                raise ValueError(f"{path}:{n}: unknown category {category!r}")
            if row_split not in SPLITS:
                raise ValueError(f"{path}:{n}: unknown split {row_split!r}")
            if split is None or row_split == split:
                out.append((prompt, category))
    return out


def accuracy(selections: Sequence[Selection], labelled: Sequence[tuple[str, str]]) -> float:
    """Share of prompts whose selected category equals the label (category level)."""
    if len(selections) != len(labelled):
        raise ValueError("one selection per labelled prompt expected")
    if not labelled:
        return 0.0
    return sum(category_label(s) == c for s, (_, c) in zip(selections, labelled)) / len(labelled)


def _macro_recall(selections: Sequence[Selection], labelled: Sequence[tuple[str, str]]) -> float:
    per: dict[str, list[bool]] = {}
    for s, (_, c) in zip(selections, labelled):
        per.setdefault(c, []).append(category_label(s) == c)
    return float(np.mean([np.mean(v) for v in per.values()])) if per else 0.0


# --------------------------------------------------------------------------- calibration


def calibrate(
    source: SemanticScores | SemanticSelector | RetrievalSelector | Callable[[float, float], Selector],
    labelled: Sequence[tuple[str, str]],
    thresholds: Iterable[float] = DEFAULT_THRESHOLDS,
    margins: Iterable[float] = DEFAULT_MARGINS,
) -> tuple[float, float, float]:
    """Grid-search (threshold, margin) for category-level accuracy on ``labelled``.

    ``source`` is precomputed ``SemanticScores`` (for exactly these prompts), a selector
    with a ``score`` method (encoded once, then every grid point is a cheap decision), or
    a factory ``(threshold, margin) -> Selector`` (selected afresh at each grid point).
    Ties in accuracy go to the higher macro recall (per-label recall averaged), then to
    the tied point nearest the middle of the tied region (least sensitive to the data).
    Returns (threshold, margin, accuracy). Use the calibration split, never the test split.
    """
    labelled = list(labelled)
    if not labelled:
        raise ValueError("calibrate needs labelled prompts")
    prompts = [p for p, _ in labelled]
    thresholds, margins = [float(t) for t in thresholds], [float(m) for m in margins]
    if not thresholds or not margins:
        raise ValueError("empty threshold or margin grid")

    if isinstance(source, SemanticScores):
        if list(source.prompts) != prompts:
            raise ValueError("the scores were computed for different prompts than the labelled ones")
        decide = source.decide
    elif hasattr(source, "score"):
        decide = source.score(prompts).decide
    elif callable(source):
        def decide(t: float, m: float) -> list[Selection]:
            return source(t, m).select(prompts)
    else:
        raise TypeError("source must be SemanticScores, a selector with .score(), or a factory")

    results = []
    for t in thresholds:
        for m in margins:
            sels = decide(t, m)
            results.append((accuracy(sels, labelled), _macro_recall(sels, labelled), t, m))
    best_acc = max(r[0] for r in results)
    best_rec = max(r[1] for r in results if r[0] == best_acc)
    tied = [(t, m) for a, r, t, m in results if a == best_acc and r == best_rec]
    ct, cm = float(np.mean([t for t, _ in tied])), float(np.mean([m for _, m in tied]))
    # normalise the two axes by their grid spans so neither dominates the distance
    st = (max(thresholds) - min(thresholds)) or 1.0
    sm = (max(margins) - min(margins)) or 1.0
    t, m = min(tied, key=lambda tm: (((tm[0] - ct) / st) ** 2 + ((tm[1] - cm) / sm) ** 2, tm))
    return t, m, best_acc
