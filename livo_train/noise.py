"""A step's random inputs: posterior samples, noise and timesteps for a batch of cached pairs.

They come from a generator that is a fixed function of (seed, rank, micro-step), so a resumed
run draws exactly what the uninterrupted one would, with no generator state to checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch


def step_generator(seed: int, rank: int, micro_step: int) -> torch.Generator:
    return torch.Generator().manual_seed(((seed * 1_000_003 + rank) * 1_000_000_007 + micro_step) % 2**63)


def noisy_pairs(batch: dict[str, torch.Tensor], noise_scheduler: Any, g: torch.Generator, device: torch.device,
                dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy latents in `dtype`, timesteps, target), each 2B long: the aligned images, then the violating ones."""
    mean = torch.cat([batch["aligned_mean"], batch["violating_mean"]]).float()
    std = torch.cat([batch["aligned_std"], batch["violating_std"]]).float()
    bsz = batch["value_ids"].shape[0]
    # A fresh draw from each image's VAE posterior, as the official script's latent_dist.sample().
    latents = mean + std * torch.randn(mean.shape, generator=g)
    noise = torch.randn((bsz, *mean.shape[1:]), generator=g)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (bsz,), generator=g)
    # One noise and one timestep per pair, shared by its two images.
    noise, timesteps = torch.cat([noise, noise]).to(device), torch.cat([timesteps, timesteps]).to(device)
    latents = latents.to(device)
    noisy = noise_scheduler.add_noise(latents, noise, timesteps).to(dtype)
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    return noisy, timesteps, target
