"""The rehearsal's random models (bench/rehearse.py) have the released models' sizes: counted on the meta
device, so nothing is allocated; writing and running them is `make rehearse` (minutes, gigabytes)."""

from __future__ import annotations

import pytest
import torch

from pipeline.render.random_models import sd15_components, sdxl_components

# Parameters of the released checkpoints (their safetensors), per component.
RELEASED = {
    "sd15": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    "sdxl": {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840},
}


@pytest.mark.parametrize("model", sorted(RELEASED))
def test_random_models_have_the_released_sizes(model: str) -> None:
    with torch.device("meta"):
        parts = (sd15_components if model == "sd15" else sdxl_components)()
    assert {name: sum(p.numel() for p in m.parameters()) for name, m in parts.items()} == RELEASED[model]
    if model == "sdxl":
        unet = parts["unet"].config
        assert unet.cross_attention_dim == 768 + 1280 and unet.addition_embed_type == "text_time"
        assert parts["vae"].config.force_upcast and parts["vae"].config.scaling_factor == 0.13025
