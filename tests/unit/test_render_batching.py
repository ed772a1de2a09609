"""A shard renders the aligned and violating sides of many pairs in one UNet call and scores while
the next batch denoises. That what it writes with the real judges is what the sequential path wrote:
tests/integration/test_render_batching_real_judges.py."""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from factories import batch_plans, pixels
from fake_run import planned_run
from pipeline.build.render_order import ALIGNED, VIOLATING, RenderOrder
from pipeline.build.shard import process_shard
from pipeline.render.base import Renderer
from pipeline.render.diffusers import _load_pipeline


@pytest.mark.parametrize("kinds,batch", [("tbttbt", 4), ("bbbt", 3), ("tt", 16), ("bb", 1), ("", 4)])
def test_every_image_once_neutral_first_and_bias_aligned_after_its_reading(kinds, batch):
    plans = batch_plans(kinds)
    order = RenderOrder(plans, reads_attributes=True, batch_size=batch)
    jobs = [j for b in order.batches for j in b]
    assert Counter((j.pair, j.side) for j in jobs) == Counter((i, s) for i in range(len(plans)) for s in (ALIGNED, VIOLATING))
    assert all(1 <= len(b) <= batch for b in order.batches)
    bias = [i for i, p in enumerate(plans) if p.kind == "bias"]
    assert [j.pair for j in jobs[:len(bias)]] == bias and all(j.side == VIOLATING for j in jobs[:len(bias)])
    last = order.last_neutral_batch()
    for k in range(len(order.batches)):
        # An aligned bias side is rendered only in a batch after the one that finished the neutral images.
        assert not order.needs_reading(k) or k > last
    full = [len(b) for b in order.batches[:-1]]
    assert all(n == batch for n in full[: (len(jobs) - len(bias)) // batch])  # batches are full until the bias tail


def test_without_a_reader_every_pair_is_known_up_front():
    order = RenderOrder(batch_plans("tbt"), reads_attributes=False, batch_size=6)
    assert len(order.batches) == 1 and order.last_neutral_batch() is None



@pytest.mark.usefixtures("one_torch_thread")
def test_renderer_images_are_the_pipelines_own_and_empty_negative_equals_none(tiny_renderer, tiny_sd_path):
    # The renderer denoises to latents and decodes itself; the bytes are those of the plain pipeline call.
    plain = _load_pipeline(str(tiny_sd_path), torch.float32)
    plain.set_progress_bar_config(disable=True)
    prompts, seeds, negatives = ["a cat", "a bloody knight", "a tree"], [1, 2, 3], ["", "blood, gore", ""]
    expected = plain(prompt=prompts, negative_prompt=negatives, num_inference_steps=2, guidance_scale=7.5,
                     width=64, height=64, generator=[torch.Generator("cpu").manual_seed(s) for s in seeds]).images
    got = tiny_renderer.render(prompts, seeds, negatives)
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(got, expected, strict=True))
    assert np.array_equal(pixels(tiny_renderer.render(["a cat"], [1], [""])[0]), pixels(tiny_renderer.render(["a cat"], [1])[0]))



class _Renderer(Renderer):
    """Solid-colour images; its third batch waits until a scorer has been called (or 20 s)."""

    model, batch_size = "solid", 2

    def __init__(self) -> None:
        self.scored = threading.Event()
        self.third_batch_saw_scoring: bool | None = None
        self.calls = 0

    def render(self, prompts, seeds, negative_prompts=None):
        self.calls += 1
        if self.calls == 3:
            self.third_batch_saw_scoring = self.scored.wait(timeout=20)
        return [Image.new("RGB", (8, 8), (s % 256, 0, 0)) for s in seeds]


class _Scorer:
    """CLIP's columns, all zero; tells the renderer it was called."""

    columns = ("aligned_clip", "violating_clip", "aligned_concept", "violating_concept")

    def __init__(self, renderer: _Renderer) -> None:
        self.renderer = renderer

    def score(self, plans, aligned, violating):
        self.renderer.scored.set()
        return {c: np.zeros(len(plans)) for c in self.columns}


def test_scoring_runs_while_the_next_batches_render(tmp_path):
    renderer = _Renderer()
    plans = batch_plans("tttt")
    out, cfg = planned_run(tmp_path, plans, len(plans))
    process_shard(cfg, out, 0, renderer, (_Scorer(renderer),))
    # Batch 1 completes pair 0, which is scored while the next batches render; scoring after the
    # last batch would leave the third one waiting 20 s in vain.
    assert renderer.calls == 4 and renderer.third_batch_saw_scoring is True
