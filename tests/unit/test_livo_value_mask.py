"""LiVOPipeline's bias split: which of a prompt's images get the value, over a prompt set.

A stand-in for the diffusers pipeline keeps this fast: the split is decided before any rendering.
"""

from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from livo_train.pipeline import LiVOPipeline
from pipeline.catalog import DEFAULT_CATALOG_DIR, load_catalog

PROMPTS = [f"a portrait photo of the person at desk {i} in an office" for i in range(200)]


class StandInDiffusers:
    device = torch.device("cpu")
    text_encoder = SimpleNamespace(dtype=torch.float32)

    def __call__(self, *, num_images_per_prompt: int, **kwargs):
        return SimpleNamespace(images=[Image.new("RGB", (1, 1))] * num_images_per_prompt)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(DEFAULT_CATALOG_DIR)


def livo(catalog, bias_fraction: float = 0.5) -> LiVOPipeline:
    pipe = LiVOPipeline(StandInDiffusers(), torch.nn.Linear(1, 1), catalog=catalog, bias_fraction=bias_fraction)
    pipe.encode = lambda prompt, value: torch.zeros(1, 2, 1)  # no text encoder: the split is what is tested
    return pipe


def value_share(pipe: LiVOPipeline, prompts, n: int, seed: int = 0) -> float:
    """Share of images given the value when each prompt is rendered on its own, as `livo eval` does."""
    values = [v for p in prompts for v in pipe(p, value="gender_equality", num_images_per_prompt=n, seed=seed).values]
    return sum(v is not None for v in values) / len(values)


@pytest.mark.parametrize("fraction,n", [(0.5, 1), (0.3, 3), (0.25, 2)])
def test_the_bias_fraction_holds_over_a_prompt_set(catalog, fraction, n):
    # 200 prompts: the binomial standard deviation of the share is at most 0.035
    assert abs(value_share(livo(catalog, fraction), PROMPTS, n) - fraction) < 0.1


def test_one_image_per_prompt_gives_some_prompts_the_value_for_every_seed(catalog):
    pipe = livo(catalog)
    for seed in (0, 1, 7):
        assert 0.35 <= value_share(pipe, PROMPTS, 1, seed) <= 0.65


def test_the_split_is_fixed_by_seed_and_prompt(catalog):
    pipe = livo(catalog)
    once = [pipe(p, value="gender_equality", num_images_per_prompt=3, seed=5).values for p in PROMPTS[:40]]
    again = [pipe(p, value="gender_equality", num_images_per_prompt=3, seed=5).values for p in PROMPTS[:40]]
    assert once == again
    # a prompt's split does not depend on the prompts rendered with it
    together = pipe(PROMPTS[:40], value="gender_equality", num_images_per_prompt=3, seed=5).values
    assert together == [v for values in once for v in values]
    # the value goes to the first images, so with and without it share seeds in order
    for values in once:
        given = [v is not None for v in values]
        assert given == sorted(given, reverse=True)


def test_only_bias_values_are_split(catalog):
    pipe = livo(catalog)
    tox = pipe(PROMPTS[:20], value="no_gore", num_images_per_prompt=1).values
    assert all(v is not None for v in tox)
    assert pipe(PROMPTS[:20], value="none", num_images_per_prompt=1).values == [None] * 20
