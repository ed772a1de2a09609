"""The data a training run reads: shard pixels for the cache, the items and their order, a step's draws.

* Shard images as the SD VAE reads them (`load_image`, `to_pixels`): decoded, resized and
  center-cropped, scaled to [-1, 1]; `cache.prepare_cache` encodes them.
* PreferenceDataset: one training item per kept pair, read from a prepared PairCache. With
  `sampling="livo"` an aligned image's violating partner is drawn at random from the pair's
  group (LiVO), with `"fixed"` it is the pair's own violating image. Every random choice is
  derived from (seed, epoch, index), so an epoch's data is identical after a resume and
  independent of worker processes.
* EpochOrder: the order pairs are drawn in, reproducible from (seed, epoch) and split across ranks.
* A step's random inputs (`step_generator`, `noisy_pairs`): posterior samples, noise and timesteps
  for a batch of cached pairs. They come from a generator that is a fixed function of (seed, rank,
  micro-step), so a resumed run draws exactly what the uninterrupted one would, with no generator
  state to checkpoint.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

if TYPE_CHECKING:
    from livo_train.cache import PairCache  # only a type here: cache.py imports this module (its pixels)


# ---------------------------------------------------------------- images

def load_image(cell: dict, resolution: int | None) -> Image.Image:
    img = Image.open(io.BytesIO(cell["bytes"]))
    img = img.convert("RGB")
    if resolution is not None:
        # Resize the shorter side, then center crop (the official script crops at random; a
        # cache can only hold one crop, and the rendered images are already square).
        w, h = img.size
        scale = resolution / min(w, h)
        if scale != 1:
            img = img.resize((max(resolution, round(w * scale)), max(resolution, round(h * scale))),
                             Image.Resampling.BILINEAR)
        w, h = img.size
        left, top = (w - resolution) // 2, (h - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
    return img


def to_pixels(images: Sequence[Image.Image]) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1], as the SD VAE expects."""
    sizes = {im.size for im in images}
    if len(sizes) != 1:
        raise ValueError(f"images of different sizes {sorted(sizes)}: set data.resolution")
    arr = np.stack([np.asarray(im, dtype=np.float32) for im in images]) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------- items

_PARTNER, _FLIP = 0, 1  # independent random streams per item


def _item_rng(seed: int, epoch: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index, stream])


class PreferenceDataset(torch.utils.data.Dataset):
    """One item per kept pair: its aligned image and a violating partner, as cached latents.

    Item: aligned/violating posterior mean and std (C, h, w) in the same flip, the prompt's
    frozen text states (L, D) and the value encoder's token ids (L,).
    """

    def __init__(self, cache: PairCache, *, sampling: str = "livo", group_by: Sequence[str] = ("principle_id", "prompt"),
                 random_flip: bool = True, seed: int = 0, max_pairs: int | None = None):
        if sampling not in ("fixed", "livo"):
            raise ValueError(f"sampling must be 'fixed' or 'livo', got {sampling!r}")
        if random_flip and cache.num_flips < 2:
            raise ValueError("random_flip needs a cache prepared with flips")
        self.cache, self.sampling, self.random_flip, self.seed = cache, sampling, random_flip, seed
        self.epoch = 0
        self.size = len(cache) if max_pairs is None else min(max_pairs, len(cache))
        self.group_of: list[list[int]] = [[]] * self.size
        for group in cache.groups(group_by):
            group = [i for i in group if i < self.size]
            for i in group:
                self.group_of[i] = group

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def partner(self, index: int, epoch: int | None = None) -> int:
        """The row whose violating image is paired with row `index`'s aligned image in `epoch` (default: set_epoch's)."""
        if self.sampling == "fixed":
            return index
        epoch = self.epoch if epoch is None else epoch
        group = self.group_of[index]
        return group[int(_item_rng(self.seed, epoch, index, _PARTNER).integers(len(group)))]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """`dataset[index]` (in set_epoch's epoch) or `dataset[epoch, index]` (what EpochOrder.stream yields)."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        partner = self.partner(index, epoch)
        # One flip for both images: they were rendered from the same noise, so their layouts
        # correspond; flipping only one would break the minimal difference within a pair.
        flip = int(_item_rng(self.seed, epoch, index, _FLIP).integers(2)) if self.random_flip else 0
        c = self.cache
        return {
            "aligned_mean": c.get(index, "aligned_mean")[flip],
            "aligned_std": c.get(index, "aligned_std")[flip],
            "violating_mean": c.get(partner, "violating_mean")[flip],
            "violating_std": c.get(partner, "violating_std")[flip],
            "prompt_states": c.get(index, "prompt_states"),
            "value_ids": c.get(index, "value_ids").long(),
        }


# ---------------------------------------------------------------- order

class EpochOrder:
    """The order pairs are drawn in: a fresh permutation per epoch from (seed, epoch), split across ranks.

    Every rank gets ceil(N / world) indices per epoch (the permutation wraps around to even them
    out, as DistributedSampler does), so all ranks run the same number of steps and no pair is
    left out.
    """

    def __init__(self, n: int, *, seed: int = 0, rank: int = 0, world: int = 1):
        if n < 1:
            raise ValueError("empty dataset")
        self.n, self.seed, self.rank, self.world = n, seed, rank, world

    def per_rank(self) -> int:
        return math.ceil(self.n / self.world)

    def indices(self, epoch: int) -> list[int]:
        """This rank's indices of `epoch`, in order."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        total = self.per_rank() * self.world
        perm = (perm * math.ceil(total / self.n))[:total]
        return perm[self.rank:total:self.world]

    def stream(self, position: int = 0) -> Iterator[tuple[int, int]]:
        """(epoch, index) for ever, epoch after epoch, from `position` (= items this rank has drawn so far).

        Batches cut from the stream are all full (the last ones of an epoch run into the next), so every
        step has the same shape (no recompile, no odd-sized step) and each pair still comes once per epoch.
        """
        epoch, offset = divmod(position, self.per_rank())
        while True:
            for index in self.indices(epoch)[offset:]:
                yield epoch, index
            epoch, offset = epoch + 1, 0


# ---------------------------------------------------------------- a step's random draws

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
