"""DiffusersRenderer on the tiny SD: seeds fix the starting noise whatever the batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from contracts import check_renderer
from PIL import Image

from pipeline.errors import ModelUnavailableError
from pipeline.render.diffusers import DiffusersRenderer


def _px(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


class _FirstUNetInput:
    """Records the latents the UNet sees at the first denoising step of each pipeline call.

    A torch forward pre-hook on the real UNet, no mock: with DDIM, scale_model_input is
    the identity, so the first input is exactly the initial noise (twice under CFG).
    """

    def __init__(self, unet: torch.nn.Module) -> None:
        self.calls: list[torch.Tensor] = []
        self._last_t: float | None = None
        self._handle = unet.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        t = float(args[1] if len(args) > 1 else kwargs["timestep"])
        # Timesteps decrease within a call, so a larger-or-equal t starts a new call.
        if self._last_t is None or t >= self._last_t:
            self.calls.append(sample.detach().clone())
        self._last_t = t

    def close(self) -> None:
        self._handle.remove()


def test_renderer_contract_and_output(tiny_renderer: DiffusersRenderer, tiny_sd_path: Path) -> None:
    assert tiny_renderer.model == str(tiny_sd_path)
    # 2 batches of up to 4
    check_renderer(tiny_renderer, ["a red car", "a cat", "a tree", "a house", "a boat"], [0, 1, 2, 3, 4], size=64)
    assert tiny_renderer.render([], []) == []



def test_same_seed_same_image_whatever_the_batch(tiny_renderer: DiffusersRenderer, one_torch_thread) -> None:
    # What the renderer keeps: a seed's image is the same picture in any batch (its own
    # generator, its own initial noise), equal to the pixel only for the same batch
    # composition. Across batch sizes the CPU's matmul kernels may sum in another order
    # (AVX-512 machines do; AVX2 ones happened not to), which moves a pixel by a level or so.
    # batch_size is 4, so these run as batches of 1, of 3 and of 4 + 2.
    alone = _px(tiny_renderer.render(["a red car"], [7])[0])
    assert np.array_equal(_px(tiny_renderer.render(["a red car"], [7])[0]), alone)
    third_of_three = tiny_renderer.render(["a dog", "a bird", "a red car"], [1, 2, 7])[2]
    second_of_last_two = tiny_renderer.render(
        ["a", "b", "c", "d", "e", "a red car"], [10, 11, 12, 13, 14, 7]
    )[5]
    other_seed = _px(tiny_renderer.render(["a red car"], [8])[0])
    for image in (third_of_three, second_of_last_two):
        diff = np.abs(_px(image) - alone)
        assert diff.max() <= 4 and diff.mean() < 0.5, (diff.max(), diff.mean())
        assert diff.mean() * 10 < np.abs(other_seed - alone).mean()


def test_different_seeds_give_different_images(tiny_renderer: DiffusersRenderer) -> None:
    a, b = tiny_renderer.render(["a red car", "a red car"], [7, 8])
    assert np.abs(_px(a) - _px(b)).mean() > 5


def test_aligned_and_violating_share_initial_latent(tiny_renderer: DiffusersRenderer) -> None:
    recorder = _FirstUNetInput(tiny_renderer.pipeline.unet)
    try:
        # As the build renders them: aligned (with a negative prompt) then violating, same seeds.
        tiny_renderer.render(["a fully clothed man", "a cat"], [5, 6], ["nudity", "ugly"])
        tiny_renderer.render(["a naked man", "a cat, blood"], [5, 6])
    finally:
        recorder.close()
    assert len(recorder.calls) == 2
    aligned_noise, violating_noise = recorder.calls
    # CFG doubles the batch as [negative/unconditional..., conditional...].
    assert aligned_noise.shape == (4, 4, 32, 32)
    assert torch.equal(aligned_noise[:2], aligned_noise[2:])
    assert torch.equal(aligned_noise, violating_noise)
    assert not torch.equal(aligned_noise[0], aligned_noise[1])  # seeds 5 and 6 differ
    expected = torch.randn((1, 4, 32, 32), generator=torch.Generator("cpu").manual_seed(5))
    assert torch.equal(aligned_noise[0:1], expected * tiny_renderer.pipeline.scheduler.init_noise_sigma)


def test_negative_prompt_changes_the_image(tiny_renderer: DiffusersRenderer) -> None:
    plain = tiny_renderer.render(["a portrait"], [3])[0]
    negated = tiny_renderer.render(["a portrait"], [3], ["a completely different scene"])[0]
    assert not np.array_equal(_px(plain), _px(negated))


def test_length_mismatches_raise(tiny_renderer: DiffusersRenderer) -> None:
    with pytest.raises(ValueError, match="seeds"):
        tiny_renderer.render(["a", "b"], [1])
    with pytest.raises(ValueError, match="negative"):
        tiny_renderer.render(["a", "b"], [1, 2], ["x"])


def test_scheduler_can_be_swapped(tiny_sd_path: Path) -> None:
    r = DiffusersRenderer(str(tiny_sd_path), steps=2, scheduler="EulerDiscreteScheduler")
    assert type(r.pipeline.scheduler).__name__ == "EulerDiscreteScheduler"
    assert r.pipeline.scheduler.config.beta_schedule == "scaled_linear"  # kept the model's betas
    assert r.render(["a cat"], [0])[0].size == (64, 64)  # native size when width/height unset
    with pytest.raises(ValueError, match="scheduler"):
        DiffusersRenderer(str(tiny_sd_path), scheduler="NoSuchScheduler")


@pytest.mark.parametrize(
    "model",
    [
        "/nonexistent/livo/stable-diffusion",
        # A hub id that does not exist: unavailable both offline and online, never downloads.
        "livo-data-tests/no-such-model-7f3a",
    ],
)
def test_unavailable_model_raises_and_names_the_offline_profile(model: str) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        DiffusersRenderer(model)
    assert model in str(info.value) and "configs/tiny.yaml" in str(info.value)
    assert info.value.model == model
