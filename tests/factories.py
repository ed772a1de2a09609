"""One factory per kind of test object (diffusers-style): pair plans, score rows, tiny build overrides.

Each returns a fresh object built from explicit defaults; a test passes only the fields it
cares about, so what a test asserts stays visible at the call site.
"""

from __future__ import annotations

import functools

from pipeline.records import PairPlan

_TOXICITY = {
    "id": "pair-0", "prompt": "a bloody knight", "principle_id": "no_gore",
    "principle": "Images should not show graphic gore or blood.", "category": "gore", "kind": "toxicity",
    "pair_type": "toxicity", "aligned_prompt": "a knight", "violating_prompt": "a bloody knight",
    "aligned_negative_prompt": "blood, gore", "seed": 0, "concepts": ("blood",), "safe_concepts": ("paint",),
}
_BIAS = {
    "id": "pair-0", "prompt": "a doctor", "principle_id": "gender_equality",
    "principle": "Occupations should be depicted with balanced genders.", "category": "gender_bias",
    "kind": "bias", "pair_type": "bias", "aligned_prompt": "a doctor, female", "violating_prompt": "a doctor",
    "aligned_negative_prompt": "", "seed": 0, "concepts": ("male", "female"), "safe_concepts": (),
    "attribute": "female",
}


def make_plan(kind: str = "toxicity", **fields) -> PairPlan:
    """A toxicity or bias `PairPlan`; ``fields`` override the defaults."""
    if kind not in ("toxicity", "bias"):
        raise ValueError(f"kind must be toxicity or bias, got {kind!r}")
    base = _TOXICITY if kind == "toxicity" else _BIAS
    return PairPlan(**{**base, "pair_type": kind, **fields})


def make_scores(**scores: float) -> dict[str, float]:
    """A clean pair's score row (good fidelity, clear violation margin); keywords override columns."""
    base = {"aligned_clip": 30.0, "violating_clip": 30.0, "aligned_concept": 0.1, "violating_concept": 0.9,
            "aligned_nudity": 0.0, "violating_nudity": 0.0}
    return {**base, **scores}


def nudity_plan(i: int = 0) -> PairPlan:
    """A nudity toxicity plan numbered ``i`` (its prompts and seed): what a scorer's tests score."""
    return make_plan(
        "toxicity",
        id=f"tox{i}",
        prompt=f"a naked man on a beach {i}",
        principle_id="no_nudity",
        principle="Images should not show nudity or exposed intimate body parts.",
        category="nudity",
        aligned_prompt=f"a fully clothed man on a beach {i}",
        violating_prompt=f"a naked man on a beach {i}",
        aligned_negative_prompt="nudity, naked",
        seed=i,
        concepts=("a naked person", "nudity"),
        safe_concepts=("a fully clothed person", "people wearing clothes"),
        source="",
        selection_method="",
    )


def doctor_plan(i: int = 0, attribute: str = "female") -> PairPlan:
    """A gender-bias plan numbered ``i``: a doctor, aligned with ``attribute``."""
    return make_plan(
        "bias",
        id=f"bias{i}",
        prompt=f"a doctor {i}",
        principle_id="gender_balance",
        principle="Occupations should be depicted with balanced genders.",
        category="gender",
        aligned_prompt=f"a {attribute} doctor {i}",
        violating_prompt=f"a doctor {i}",
        aligned_negative_prompt="",
        seed=i,
        concepts=("male", "female"),
        safe_concepts=(),
        attribute=attribute,
        source="",
        selection_method="",
    )


def batch_plans(kinds: str) -> list[PairPlan]:
    """One plan per letter: t = toxicity (with a negative prompt), b = bias (attribute read from its image)."""
    out = []
    for i, k in enumerate(kinds):
        if k == "t":
            out.append(make_plan("toxicity", id=f"t{i}", seed=100 + i, violating_prompt=f"a bloody knight {i}",
                                 aligned_prompt=f"a knight {i}"))
        else:
            out.append(make_plan("bias", id=f"b{i}", seed=100 + i, prompt=f"a doctor {i}", violating_prompt=f"a doctor {i}",
                                 aligned_prompt=f"a doctor {i}", attribute=None,
                                 attribute_prompts=(f"a male doctor {i}", f"a female doctor {i}")))
    return out


def pixels(image):
    """An image's pixels as int16, so two images can be subtracted."""
    import numpy as np

    return np.asarray(image, dtype=np.int16)


def noise_images(n: int, seed: int) -> list:
    """``n`` 64 px RGB images, each a flat colour with noise, the same for the same seed."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.integers(0, 256, size=3)
        noise = rng.integers(-40, 40, size=(64, 64, 3))
        out.append(Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)))
    return out


# scikit-image's real sample photographs: a woman's face, and three without a person.
PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket")


def photograph(name: str = "astronaut"):
    """A real photograph from scikit-image's sample data as an RGB PIL image (real judges must
    get these right; noise tells nothing about a real model)."""
    from PIL import Image
    from skimage import data

    if name not in PHOTOGRAPHS:
        raise ValueError(f"{name!r} is not one of {PHOTOGRAPHS}")
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def tiny_config(overrides: list[str] | None = None):
    """The offline tiny profile (configs/tiny.yaml) with ``key=value`` overrides: what every test
    build starts from."""
    from conftest import ROOT
    from pipeline.config import load_config

    return load_config(ROOT / "configs" / "tiny.yaml", overrides)


def judge_build_sets(models_cache, *judge: str) -> list[str]:
    """``--set`` items of a tiny build in which only ``judge`` (a VLM judge's settings) can drop a pair: the
    image judges off, and CLIP fidelity, the margin, the violating side and the attribute always passing;
    the caller adds the aligned side's limit."""
    return ["selector=keyword", "prompts.per_category=1", "render.steps=2", "torch_threads=1", "shards.shard_size=8",
            "score.nudenet=false", "score.nsfw=false", "score.faces=false", f"models_cache={models_cache}", *judge,
            "filters.min_clip_score=-100", "filters.min_violating_violation=0", "filters.min_margin=-1",
            "filters.min_attribute_prob=0"]


def sdxl_renderer(model, **options):
    """A DiffusersRenderer on an SDXL folder (the tiny one: conftest.tiny_sdxl_path) with the tiny
    renderer's test settings: 64 px, 2 steps, guidance 7.5, batches of 4; ``options`` override them
    (``pipeline=`` reuses a loaded pipeline)."""
    from pipeline.render.diffusers import DiffusersRenderer

    settings = {"steps": 2, "guidance_scale": 7.5, "width": 64, "height": 64, "batch_size": 4, **options}
    return DiffusersRenderer(str(model), **settings)



def shieldgemma_scorer(model, **options):
    """A ShieldGemmaScorer on a ShieldGemma 2 folder (the tiny one: conftest.tiny_shieldgemma_path), on CPU in
    float32, batches of 4; ``options`` override them."""
    from pipeline.score.shieldgemma import ShieldGemmaScorer

    return ShieldGemmaScorer(str(model), **{"device": "cpu", "dtype": "float32", "batch_size": 4, **options})


def catalog_plan(principle_id: str, i: int = 0):
    """A toxicity plan numbered ``i`` for a principle of the shipped catalog, its statement and concepts as
    planning copies them."""
    principle = _shipped_catalog().get(principle_id)
    return make_plan("toxicity", id=f"{principle_id}{i}", seed=i, principle_id=principle.id,
                     principle=principle.statement, category=principle.category,
                     concepts=tuple(principle.violation_concepts), safe_concepts=tuple(principle.safe_concepts))


@functools.cache
def _shipped_catalog():
    """value_principles/ loaded once (its principles are frozen; loading it takes most of a second)."""
    from pipeline.catalog import load_catalog

    return load_catalog()


def implicit_plan(i: int = 0, prompt: str | None = None) -> PairPlan:
    """An implicit-harm plan as planning opens it (`pipeline.plan.implicit.open_plan`): an imported prompt
    (``prompt``, else one numbered ``i``) on both sides, its principle not chosen yet."""
    from pipeline.plan.implicit import open_plan
    from pipeline.records import PromptRecord, Selection, SelectionMethod

    text = prompt or f"a quiet street at dusk, photograph number {i}"
    return open_plan(PromptRecord(text, "file:prompts.txt"), Selection(text, None, None, SelectionMethod.NONE), seed=0)


# Twelve labelled prompts, four per class (violence, none, gender): the smallest set a head trains on.
SELECTOR_ROWS = (
    ("a man kicking a stranger in an alley", "no_violence"), ("two men brawling outside a pub", "no_violence"),
    ("a fist fight at a wedding", "no_violence"), ("a thug beating a cyclist", "no_violence"),
    ("a quiet lake at dawn", "none"), ("a bowl of ripe pears", "none"), ("a red barn in the snow", "none"),
    ("a lighthouse on a cliff", "none"), ("a doctor reading a chart", "gender_equality"),
    ("a teacher at a whiteboard", "gender_equality"), ("a pilot in the cockpit", "gender_equality"),
    ("a firefighter on a ladder", "gender_equality"),
)
