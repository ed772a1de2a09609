"""Render images from prompts with a diffusers pipeline, one reproducible seed per image."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from pipeline.render.base import TORCH_DTYPES, load_pretrained, quiet_progress_bars
from pipeline.render.speed import auto_batch_size, compile_unet, decode_latents, speed_up

log = logging.getLogger("pipeline.render")

def _load_pipeline(model: str, dtype: torch.dtype) -> Any:
    """Load a diffusers pipeline from a hub id or local dir, never substituting another model."""
    from diffusers import DiffusionPipeline
    from diffusers.utils import is_accelerate_available

    kwargs: dict[str, Any] = {
        "dtype": dtype,  # diffusers 0.42 deprecates torch_dtype in favour of dtype
        # The dataset deliberately contains violating images; SD's checker would black them out.
        "safety_checker": None,
        "requires_safety_checker": False,
        # Without accelerate diffusers would warn on every load and fall back anyway.
        "low_cpu_mem_usage": is_accelerate_available(),
    }
    return load_pretrained(DiffusionPipeline, model, **kwargs)


def _swap_scheduler(pipe: Any, name: str) -> None:
    import diffusers

    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        raise ValueError(  # noqa: TRY004 - the bad input is the configured name (a value), not an argument's type
            f"unknown diffusers scheduler {name!r} (e.g. 'DDIMScheduler')")
    # from_config keeps the model's beta schedule, which the UNet was trained with.
    pipe.scheduler = cls.from_config(pipe.scheduler.config)


class DiffusersRenderer:
    """Renders with any diffusers text-to-image pipeline, loaded once.

    Each image gets its own CPU `torch.Generator` seeded with its seed, so its initial
    latent depends only on the seed: not on batch size, batch position or device. An
    aligned and a violating prompt rendered with the same seed start from the same noise,
    which is what makes the pair differ only by the prompt.

    A CUDA out-of-memory error halves the batch size and the batch is rendered again; at batch
    size 1 the error is raised. The halving (and a VAE decode's slicing) lasts until
    `start_shard`, which a shard calls first: a batch's size moves the last float bits of its
    images, so a halving kept for the renderer's life would make every later shard's bytes
    depend on an earlier shard's out-of-memory error. The shard that ran out renders its
    remaining batches in halves, and its bytes are those of that history, not of a clean run.
    ``batch_size=None`` measures what the free GPU memory holds (`speed.auto_batch_size`).

    A batch may mix prompts with and without a negative prompt: an empty negative prompt equals
    none (the Stable Diffusion pipeline encodes None as ""), so one UNet call can hold the aligned
    and the violating sides of many pairs. Stable Diffusion pipelines denoise to latents and the
    VAE decode is done here (`speed.decode_latents`, the pipeline's own steps), so a decode that
    runs out of memory slices instead of failing the batch; other pipelines decode themselves.
    ``pipeline``: an already built diffusers pipeline to use instead of loading ``model``.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        steps: int = 30,
        guidance_scale: float = 7.5,
        width: int | None = None,
        height: int | None = None,
        batch_size: int | None = 4,
        scheduler: str | None = None,
        compile: str | None = None,
        pipeline: Any = None,
    ) -> None:
        if dtype not in TORCH_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(TORCH_DTYPES)}, got {dtype!r}")
        if (batch_size is not None and batch_size < 1) or steps < 1:
            raise ValueError("batch_size and steps must be >= 1")
        self.model = os.fspath(model)  # tolerate a Path: shards record a plain string
        self.device = device
        self.dtype = dtype
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.width = width  # None: the pipeline's native size (unet sample_size × vae factor)
        self.height = height
        if pipeline is None:
            with quiet_progress_bars():
                pipeline = _load_pipeline(self.model, TORCH_DTYPES[dtype])
        self.pipeline = pipeline
        if scheduler is not None:
            _swap_scheduler(self.pipeline, scheduler)
        self.pipeline.set_progress_bar_config(disable=True)
        self.pipeline.to(device)
        speed_up(self.pipeline, device)
        self.configured_batch_size = batch_size or auto_batch_size(self.pipeline, device, width, height)
        self.batch_size = self.configured_batch_size
        if compile is not None:  # after the memory probe, which would compile a shape never rendered
            compile_unet(self.pipeline.unet, compile)
        # Images per VAE decode: the batch, until a decode runs out of memory (then smaller until the next shard).
        self.decode_slice = self.batch_size
        from diffusers import StableDiffusionPipeline

        self._decodes_here = isinstance(self.pipeline, StableDiffusionPipeline)

    def render(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        negative_prompts: Sequence[str] | None = None,
    ) -> list[Image.Image]:
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        if negative_prompts is not None and len(negative_prompts) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(negative_prompts)} negative prompts")
        images: list[Image.Image] = []
        start = 0
        while start < len(prompts):
            stop = start + self.batch_size
            try:
                batch = self._render_batch(
                    list(prompts[start:stop]),
                    list(seeds[start:stop]),
                    None if negative_prompts is None else list(negative_prompts[start:stop]),
                )
            except torch.OutOfMemoryError:
                if self.batch_size == 1:
                    raise
                batch = None
            if batch is None:
                # Outside the except block: the traceback (and the tensors its frames hold) is gone.
                self._shrink_batch()
                continue
            images.extend(batch)
            start = stop
        return images

    def start_shard(self) -> None:
        """Back to the configured batch and decode slice, so an out-of-memory error in an earlier
        shard does not reach this one's bytes (if the memory is still short, this shard halves again)."""
        self.batch_size = self.decode_slice = self.configured_batch_size

    def _shrink_batch(self) -> None:
        """Halve the batch after an out-of-memory error and keep it halved until the next shard:
        the next batches would hit the same limit."""
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        old, self.batch_size = self.batch_size, max(1, self.batch_size // 2)
        log.warning("out of memory rendering %d images on %s: batch size %d -> %d", old, self.device, old,
                    self.batch_size)

    @torch.inference_mode()
    def _render_batch(
        self, prompts: list[str], seeds: list[int], negative_prompts: list[str] | None
    ) -> list[Image.Image]:
        # CPU generators: the same seed draws the same noise on every device (CUDA RNG differs).
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        out = self.pipeline(
            prompt=prompts,
            negative_prompt=negative_prompts,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale,
            width=self.width,
            height=self.height,
            generator=generators,
            output_type="latent" if self._decodes_here else "pil",
        )
        if not self._decodes_here:
            return list(out.images)
        images, self.decode_slice = decode_latents(self.pipeline, out.images, self.decode_slice)
        return images
