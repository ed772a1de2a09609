"""Render images from prompts with a diffusers pipeline, one reproducible seed per image."""

from __future__ import annotations

import gc
import inspect
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from pipeline.errors import UserError
from pipeline.render.base import TORCH_DTYPES, from_hub_or_dir, load_pretrained, quiet_progress_bars
from pipeline.render.speed import auto_batch_size, compile_unet, decode_latents, speed_up

log = logging.getLogger("pipeline.render")

_SDXL_EMBEDDINGS = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")


def _load_pipeline(model: str, dtype: torch.dtype, variant: str | None = None) -> Any:
    """Load a diffusers pipeline from a hub id or local dir, never substituting another model.
    ``variant``: which weight files to read (diffusers' ``variant``: "fp16" reads *.fp16.safetensors);
    a local folder without them is refused in one line (`check_variant_files`)."""
    from diffusers import DiffusionPipeline
    from diffusers.utils import is_accelerate_available

    options = _init_options(pipeline_class(model))
    if os.path.isdir(model):
        check_variant_files(model, variant, skip={name for name, value in options.items() if value is None})
    kwargs: dict[str, Any] = {
        "dtype": dtype,  # diffusers 0.42 deprecates torch_dtype in favour of dtype
        # Without accelerate diffusers would warn on every load and fall back anyway.
        "low_cpu_mem_usage": is_accelerate_available(),
        **({"variant": variant} if variant is not None else {}),
        **options,
    }
    return load_pretrained(DiffusionPipeline, model, **kwargs)


class ModelVariantError(UserError, ValueError):
    """A local model folder lacks the weight files of the configured ``render.variant`` (or holds only a
    variant's files while none is configured)."""


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".msgpack")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


def _weights_variant(name: str) -> str | None | bool:
    """The variant a weight file of a diffusers/transformers folder belongs to ("fp16" for
    ``model.fp16.safetensors``, ``x.fp16-00001-of-00002.safetensors`` or ``x.safetensors.index.fp16.json``),
    None for the full-precision files, False for a file that holds no weights (a config, a tokenizer)."""
    if name.endswith(".json"):
        if ".index." not in name:
            return False
        rest = name[name.index(".index.") + len(".index."):-len(".json")]
        return rest or None
    suffix = next((s for s in _WEIGHT_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        return False
    stem = _SHARD.sub("", name[:-len(suffix)])
    return stem.rsplit(".", 1)[1] if "." in stem else None


def check_variant_files(folder: str, variant: str | None, skip: set[str] | frozenset[str] = frozenset()) -> None:
    """Refuse, in one line, a local pipeline folder whose components lack the ``variant``'s weight files
    (diffusers would fail on the first with a bare "no such modeling files"), or, with no variant, one
    whose components hold only a variant's files. Every component model_index.json names is checked
    but those in ``skip`` (passed as None, not loaded: SD's safety checker); a folder written by
    ``save_pretrained(..., variant="fp16")`` has the files in each."""
    index = json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8"))
    parts = sorted(name for name, value in index.items() if not name.startswith("_") and name not in skip
                   and isinstance(value, list) and None not in value and (Path(folder) / name).is_dir())
    missing: list[str] = []
    only: set[str] = set()
    for part in parts:
        files = [f.name for f in (Path(folder) / part).iterdir() if f.is_file()]
        found = {v for v in map(_weights_variant, files) if v is not False}
        if found and variant not in found:
            missing.append(part)
            only |= found - {None}
    if not missing:
        return
    where = f"{folder}: {', '.join(missing)}"
    if variant is not None:
        raise ModelVariantError(
            f"model folder has no {variant} variant weights (*.{variant}.safetensors) in {where}; set "
            f"render.variant: null to load its full-precision files, or save the model with "
            f"save_pretrained(..., variant={variant!r})")
    raise ModelVariantError(
        f"model folder holds only {'/'.join(sorted(only))} variant weights in {where}; set render.variant: "
        f"{min(only)} to load them")


def pipeline_class(model: str) -> type | None:
    """The pipeline class a model's model_index.json names, which `DiffusionPipeline.from_pretrained`
    builds (StableDiffusionPipeline, StableDiffusionXLPipeline, ...); None for a class diffusers does
    not ship (a community pipeline). Read from the model, never guessed from its name."""
    import diffusers
    from diffusers import DiffusionPipeline

    config = from_hub_or_dir(DiffusionPipeline.load_config, model)
    cls = getattr(diffusers, str(config.get("_class_name", "")), None)
    return cls if isinstance(cls, type) else None


def _init_options(cls: type | None) -> dict[str, Any]:
    """Constructor options a dataset renderer needs, each given only to a pipeline that takes it (any
    other would log that it ignores them on every load)."""
    params = inspect.signature(cls.__init__).parameters if cls is not None else {}
    options: dict[str, Any] = {}
    if "safety_checker" in params:
        # The dataset deliberately contains violating images; SD's checker would black them out.
        options["safety_checker"] = None
    if "requires_safety_checker" in params:
        options["requires_safety_checker"] = False
    if "add_watermarker" in params:
        # SDXL stamps an invisible watermark whenever the optional invisible-watermark package happens
        # to be installed: the images' bytes would depend on the environment, not on the config.
        options["add_watermarker"] = False
    return options


class _EmptyFloat32ModulesWarning(logging.Filter):
    """Drops diffusers' "modules ... that should be kept in float32: []" warning, which names no module:
    SDXL's float16 VAE upcast (`force_upcast`) logs it twice per batch, for nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "should be kept in float32: []" not in record.getMessage()


_FLOAT32_FILTER = _EmptyFloat32ModulesWarning()


def _quiet_empty_float32_warning() -> None:
    logger = logging.getLogger("diffusers.models.modeling_utils")
    if _FLOAT32_FILTER not in logger.filters:
        logger.addFilter(_FLOAT32_FILTER)


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

    A batch may mix prompts with and without a negative prompt (an empty one is none), so one UNet
    call can hold the aligned and the violating sides of many pairs, and each image is what its
    pipeline draws for its own prompt and negative prompt. Stable Diffusion encodes None as "", so
    the batch's strings go to it as they are. SDXL draws `negative_prompt=None` differently from ""
    (zeroed embeddings when `force_zeros_for_empty_prompt`, as SDXL base ships), so its embeddings
    are made row by row with the pipeline's own `encode_prompt` (`_sdxl_embeddings`). Stable
    Diffusion pipelines denoise to latents and the VAE decode is done here (`speed.decode_latents`,
    the pipeline's own steps), so a decode that runs out of memory slices instead of failing the
    batch; other pipelines, SDXL among them, decode themselves (SDXL's float32 upcast of a float16
    VAE with `force_upcast` included). The pipeline class is the one the model's model_index.json
    names, not guessed from the model's name.
    ``variant``: the weight files to load (``render.variant``: "fp16" reads the *.fp16.safetensors files).
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
        variant: str | None = None,
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
                pipeline = _load_pipeline(self.model, TORCH_DTYPES[dtype], variant)
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
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

        self._decodes_here = isinstance(self.pipeline, StableDiffusionPipeline)
        self._embeds_rows = isinstance(self.pipeline, StableDiffusionXLPipeline)
        if self._embeds_rows:
            _quiet_empty_float32_warning()

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
        text: dict[str, Any] = (self._sdxl_embeddings(prompts, negative_prompts) if self._embeds_rows
                                else {"prompt": prompts, "negative_prompt": negative_prompts})
        out = self.pipeline(
            **text,
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

    def _sdxl_embeddings(self, prompts: list[str], negative_prompts: list[str] | None) -> dict[str, torch.Tensor]:
        """The SDXL pipeline's text inputs for a batch, each row as SDXL encodes it alone: the rows with
        a negative prompt through `encode_prompt(negative_prompt=[...])`, the rows without through
        `encode_prompt(negative_prompt=None)` (zeros, or "" where `force_zeros_for_empty_prompt` is
        off), then put back in batch order. Handing SDXL the batch's strings would encode "" for a
        row without one, and SDXL draws that differently from no negative prompt."""
        pipe = self.pipeline
        negatives = [n or None for n in negative_prompts] if negative_prompts else [None] * len(prompts)
        with_negative = [i for i, n in enumerate(negatives) if n is not None]
        without = [i for i, n in enumerate(negatives) if n is None]
        # The pipeline's own test for classifier-free guidance (`do_classifier_free_guidance`).
        cfg = self.guidance_scale > 1 and pipe.unet.config.time_cond_proj_dim is None
        parts = []
        for rows, negative in ((with_negative, [negatives[i] for i in with_negative]), (without, None)):
            if rows:
                parts.append(pipe.encode_prompt([prompts[i] for i in rows], device=pipe._execution_device,
                                                num_images_per_prompt=1, do_classifier_free_guidance=cfg,
                                                negative_prompt=negative))
        encoded = parts[0] if len(parts) == 1 else tuple(
            None if a is None else torch.cat([a, b]) for a, b in zip(*parts, strict=True))
        # Row i sits at position back[i] of with_negative + without.
        back = torch.argsort(torch.tensor(with_negative + without))
        return {name: tensor[back.to(tensor.device)] for name, tensor in zip(_SDXL_EMBEDDINGS, encoded, strict=True)
                if tensor is not None}
