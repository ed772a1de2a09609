"""EpochOrder: the order pairs are drawn in, reproducible from (seed, epoch) and split across ranks."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch


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
