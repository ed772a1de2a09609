"""The order a shard's images are rendered in, cut into UNet batches.

One UNet call holds the aligned and the violating sides of many pairs. A bias pair's aligned
prompt is known only after its neutral (violating) image has been read (`score.attributes`), so the
neutral images come first, the toxicity and benign pairs (both sides known from the plan) next,
while the attribute reading runs on another thread, and the bias pairs' aligned sides last. An
implicit-harm pair (`plan.implicit`) is rendered the same way: its violating image first, its aligned
side (the principle's negative prompt) after the judges chose the principle; one they found no harm in
has no aligned side (`leave_out`).

The batches depend on the plans and the batch size alone, never on timing: the same shard on the
same machine with the same batch size renders the same batches, hence the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.plan.implicit import is_implicit
from pipeline.records import PairPlan

ALIGNED, VIOLATING = "aligned", "violating"


@dataclass(frozen=True)
class ImageJob:
    """One image of a shard: pair `pair` (index into the shard's plans), side `side`."""

    pair: int
    side: str

    def prompt(self, plans: Sequence[PairPlan]) -> tuple[str, str]:
        """(prompt, negative prompt) of this image; the violating side has none (""). The renderer draws
        "" exactly as no negative prompt: Stable Diffusion encodes None as "" anyway, while SDXL draws
        None differently (zeroed embeddings), so `DiffusersRenderer` gives an SDXL row with "" SDXL's
        `negative_prompt=None` (`_sdxl_embeddings`)."""
        plan = plans[self.pair]
        if self.side == ALIGNED:
            return plan.aligned_prompt, plan.aligned_negative_prompt
        return plan.violating_prompt, ""


class RenderOrder:
    """The batches of a shard. ``reads_attributes``: bias pairs choose their aligned attribute from
    their neutral image (a reader exists); otherwise every prompt is known up front. Every batch that
    `needs_reading` comes after `last_neutral_batch`, so a shard can start the reading after that
    batch and wait for it only at the first batch that needs it."""

    def __init__(self, plans: Sequence[PairPlan], reads_attributes: bool, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = batch_size
        self.waiting = [i for i, p in enumerate(plans)
                        if (reads_attributes and p.kind == "bias") or (is_implicit(p) and p.unresolved)]
        waiting = set(self.waiting)
        known = [ImageJob(i, VIOLATING) for i in self.waiting]
        for i in range(len(plans)):
            if i not in waiting:
                known += [ImageJob(i, VIOLATING), ImageJob(i, ALIGNED)]
        batches = [known[k:k + batch_size] for k in range(0, len(known), batch_size)]
        later = [ImageJob(i, ALIGNED) for i in self.waiting]
        # The last batch of known prompts is topped up with aligned bias sides when every neutral
        # image was rendered in an earlier batch (they can be read by then).
        if later and batches and len(batches[-1]) < batch_size and not self._has_neutral(batches[-1]):
            room = batch_size - len(batches[-1])
            batches[-1] = batches[-1] + later[:room]
            later = later[room:]
        batches += [later[k:k + batch_size] for k in range(0, len(later), batch_size)]
        self.batches: list[list[ImageJob]] = batches

    def _has_neutral(self, batch: Sequence[ImageJob]) -> bool:
        waiting = set(self.waiting)
        return any(j.side == VIOLATING and j.pair in waiting for j in batch)

    def leave_out(self, pairs: set[int], start: int) -> None:
        """Cut the batches from ``start`` again without the aligned sides of ``pairs`` (implicit-harm pairs
        dropped on their first image): still fixed by the plan, the batch size and what the judges read."""
        rest = [j for b in self.batches[start:] for j in b if not (j.side == ALIGNED and j.pair in pairs)]
        if len(rest) < sum(len(b) for b in self.batches[start:]):
            self.batches[start:] = [rest[k:k + self.batch_size] for k in range(0, len(rest), self.batch_size)]

    def last_neutral_batch(self) -> int | None:
        """Index of the batch that renders the last neutral image (then the reading can start)."""
        if not self.waiting:
            return None
        return max(k for k, b in enumerate(self.batches) if self._has_neutral(b))

    def needs_reading(self, k: int) -> bool:
        """Whether batch `k` renders an aligned bias side (its prompt needs the attributes read)."""
        waiting = set(self.waiting)
        return any(j.side == ALIGNED and j.pair in waiting for j in self.batches[k])
