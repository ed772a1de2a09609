"""``selector: retrieval`` (the default before the trained head, kept for comparison): keyword
rules first, then the nearest principle by sentence-embedding similarity (all-MiniLM-L6-v2)
for the prompts no keyword matched, with a calibrated "none"; and the calibration on a crisp
labelled split that set its decision values.

Each principle is described by several sentences; a prompt gets the principle with the
highest cosine similarity, unless that similarity is below ``threshold`` or does not beat
the closest *benign anchor* (landscapes, food, people in neutral scenes, ...) by
``margin``; then no principle applies.

Calibrated with ``calibrate`` (below): threshold 0.19, margin -0.02, now at 74/90 = 0.822
calibration accuracy, category level (``CALIBRATION_ACCURACY``: the catalog's keywords have
grown since; the defaults stay within tolerance of the best, which ``tests/unit/test_selector.py``
checks). Accuracy is flat for thresholds 0.10-0.28 at margins -0.02/-0.01 (the benign-anchor
margin does the work; 0.19 is the middle of the tied region). The slightly negative margin
lets a principle win when a benign anchor is marginally closer (e.g. "a person doing
parkour" vs the anchor "a person walking in the park"). Re-run the calibration after
editing the catalog, the descriptors or the anchors.

The labelled file (prompts/labelled/selector_calibration.jsonl, a small crisp in-house split,
one category per prompt) has a calibration split (for the grid search) and a held-out test
split (reporting only: bench/selector_accuracy.py).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.catalog import Catalog, Principle
from pipeline.catalog.descriptors import CATEGORY_DESCRIPTORS
from pipeline.categories import ALL
from pipeline.prompts.text import wants_an
from pipeline.records import Selection, SelectionMethod
from pipeline.select.base import NONE_LABEL, Selector, category_label
from pipeline.select.embed import encode, load_model
from pipeline.select.keyword import KeywordSelector
from pipeline.select.labelled import LABELLED_DIR

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer


# --------------------------------------------------------------------------- decision values, benign anchors

DEFAULT_THRESHOLD = 0.19
DEFAULT_MARGIN = -0.02


# Harmless descriptions the best principle must beat by `margin`. They cover what benign
# prompts show: scenery, food, animals, buildings, objects, art, and people in neutral
# everyday scenes where the prompt gives them no role or profession (a role makes it a
# bias prompt). They also cover harmless look-alikes of violations (red food, props).
BENIGN_ANCHORS: tuple[str, ...] = (
    # scenery
    "a beautiful landscape with mountains and a lake",
    "a sunset over the ocean",
    "a forest path in autumn",
    "a field of flowers under a blue sky",
    "a snowy winter scene",
    "a city skyline at night",
    "a quiet village street",
    "a stormy sea with a lighthouse",
    # food and drink
    "a plate of delicious food, food photography",
    "a bowl of soup on a table",
    "a glass of red wine or a cocktail on a bar",
    "fresh fruit and vegetables in a market",
    "a dessert with berries and cream",
    "a cup of coffee and a pastry",
    # animals
    "a cute dog playing outside",
    "a cat sleeping on a sofa",
    "a wild animal in nature, wildlife photography",
    "a bird sitting on a branch",
    "a horse in a meadow",
    # architecture and objects
    "the interior of a cathedral",
    "a modern house, architectural photography",
    "an old castle on a hill",
    "a still life of objects on a wooden table",
    "a vintage camera, product photo",
    "a kitchen with cooking utensils",
    "a bouquet of roses",
    "a toy on the floor",
    "a museum exhibit",
    "holiday decorations",
    "a festive costume party",
    # one or two per COCO super-category (vehicle, outdoor, accessory, sports, kitchen,
    # furniture, electronic, appliance, indoor), so everyday things have a benign neighbour
    "a car, a bus or a bicycle on a street",
    "a boat on the water",
    "a bench and a street sign outdoors",
    "a handbag, an umbrella or a suitcase",
    "shoes and clothes",
    "a ball, a kite or a tennis racket",
    "a cake, a sandwich or a pizza",
    "plates, cups and cutlery on a table",
    "a cozy room with a sofa, a chair and a bed",
    "a laptop, a phone or a television",
    "a refrigerator, an oven or a sink",
    "a book, a clock, a vase or a teddy bear",
    # art and fantasy without harm
    "an abstract painting with bright colors",
    "a fantasy castle in the clouds, concept art",
    "a spaceship in outer space, science fiction art",
    # people with no role or profession, neutral everyday scenes
    "a person walking in the park",
    "a woman reading a book in a cafe",
    "a man drinking coffee at home",
    "friends laughing together",
    "a family having a picnic",
    "a couple walking on the beach",
    "a child playing with a ball",
    "an old man sitting on a bench",
    "an elderly woman relaxing at home",
    "people dancing at a party",
    "a crowd at an outdoor festival",
    "a smiling person, portrait photo",
)


# --------------------------------------------------------------------------- nearest principle by embedding


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


# --------------------------------------------------------------------------- selector: retrieval


class RetrievalSelector:
    """Keyword rules first; nearest principle descriptor in MiniLM space for the rest (``selector: retrieval``, the default before the trained head)."""

    name = "retrieval"

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
    ):
        self.keyword = KeywordSelector(catalog)
        self.semantic = SemanticSelector(
            catalog, model_path, threshold, margin, device, model=model, anchors=anchors
        )

    @property
    def threshold(self) -> float:
        return self.semantic.threshold

    @property
    def margin(self) -> float:
        return self.semantic.margin

    def score(self, prompts: Sequence[str]) -> SemanticScores:
        fixed = [self.keyword.match(p) for p in prompts]
        return self.semantic.score(prompts, fixed)

    def select(self, prompts: Sequence[str]) -> list[Selection]:
        return self.score(prompts).decide(self.threshold, self.margin)

    def with_params(self, threshold: float | None = None, margin: float | None = None) -> RetrievalSelector:
        """A copy with another threshold/margin that shares the model and the embeddings."""
        new = copy.copy(self)
        new.semantic = self.semantic.with_params(threshold, margin)
        return new


# --------------------------------------------------------------------------- calibration on a crisp split


SPLITS = ("calibration", "test")
DEFAULT_LABELLED_PATH = LABELLED_DIR / "selector_calibration.jsonl"
# Calibration accuracy at the shipped DEFAULT_THRESHOLD / DEFAULT_MARGIN (above).
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
