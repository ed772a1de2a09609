"""PreferenceDataset: one training item per kept pair, read from a prepared PairCache.

With `sampling="livo"` an aligned image's violating partner is drawn at random from the pair's
group (LiVO), with `"fixed"` it is the pair's own violating image. Every random choice is derived
from (seed, epoch, index), so an epoch's data is identical after a resume and independent of
worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from livo_train.cache import PairCache

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
