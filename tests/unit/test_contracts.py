"""The behaviour checks of tests/contracts.py can fail: each rejects a look-alike object that
`isinstance(x, SomeProtocol)` accepts, because it has the attribute names and nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from contracts import check_llm, check_renderer, check_scorer, check_selector
from PIL import Image

from factories import make_plan
from pipeline.catalog import load_catalog
from pipeline.llm.types import LLM, Answer
from pipeline.records import Selection, SelectionMethod
from pipeline.render.base import Renderer
from pipeline.score.base import Scorer
from pipeline.select.base import Selector

CATALOG = load_catalog()


class ShuffledSelector:
    name = "shuffled"

    def select(self, prompts):
        return [Selection(p, "no_gore", "gore", SelectionMethod.KEYWORD, 1.0) for p in reversed(prompts)]


class WrongCategorySelector:
    name = "wrong-category"

    def select(self, prompts):
        return [Selection(p, "no_gore", "violence", SelectionMethod.KEYWORD, 1.0) for p in prompts]


class ShortScorer:
    columns = ("aligned_x", "violating_x")

    def score(self, plans, aligned, violating):
        return {"aligned_x": np.zeros(len(plans)), "violating_x": np.zeros(max(len(plans) - 1, 0))}


class LenientScorer:
    columns = ("aligned_x", "violating_x")

    def score(self, plans, aligned, violating):  # never checks that the batch lines up
        return {c: np.zeros(len(plans)) for c in self.columns}


class NoisyRenderer(Renderer):
    model = "noise"

    def render(self, prompts, seeds, negative_prompts=None):
        rng = np.random.default_rng()  # ignores the seed
        return [Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in prompts]


class SilentLLM:
    model = "silent"
    max_concurrency = 1

    def complete_json(self, messages, schema, *, check=None, temperature=None):
        return Answer(value=schema(word="lake"), attempts=1)

    def usage(self):
        return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "failures": 0}  # counts nothing


@pytest.mark.parametrize("look_alike", [ShuffledSelector(), WrongCategorySelector()])
def test_check_selector_rejects_a_look_alike(look_alike):
    assert isinstance(look_alike, Selector)
    with pytest.raises(AssertionError):
        check_selector(look_alike, ["a bloody knight", "a quiet lake"], CATALOG)


@pytest.mark.parametrize("look_alike", [ShortScorer(), LenientScorer()])
def test_check_scorer_rejects_a_look_alike(look_alike):
    assert isinstance(look_alike, Scorer)
    image = Image.new("RGB", (8, 8))
    with pytest.raises(AssertionError):
        check_scorer(look_alike, [make_plan(), make_plan(id="pair-1")], [image, image], [image, image])


def test_check_renderer_rejects_a_look_alike():
    assert isinstance(NoisyRenderer(), Renderer)
    with pytest.raises(AssertionError):
        check_renderer(NoisyRenderer(), ["a lake", "a hill"], [0, 1], size=8)


def test_check_llm_rejects_a_look_alike():
    assert isinstance(SilentLLM(), LLM)
    with pytest.raises(AssertionError, match="not counted"):
        check_llm(SilentLLM(), [{"role": "user", "content": "one word"}])
