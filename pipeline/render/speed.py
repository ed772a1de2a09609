"""What makes a loaded diffusers pipeline render fast without changing what it renders for a given
machine and batch size: SDPA attention, channels-last on CUDA, optional regional torch.compile, the
batch size from free GPU memory, and a VAE decode that slices (then tiles) only when memory asks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

log = logging.getLogger("pipeline.render")

# Batch size where nothing is measured (CPU, or no free-memory reading); the tiny profile's value.
DEFAULT_BATCH_SIZE = 16
# Above this a batch gains nothing on an H100 (the UNet is compute-bound from ~16 images on) and
# only delays the first scored pairs.
MAX_AUTO_BATCH_SIZE = 64
# Share of the free memory a batch may plan for: the VAE decode, the scorers on the same GPU and the
# allocator's fragmentation need the rest.
_FREE_MEMORY_SHARE = 0.6

COMPILE_MODES = ("blocks", "unet")


@contextmanager
def torch_settings(cpu_threads: int | None, allow_tf32: bool = False) -> Iterator[None]:
    """torch's CPU thread count (None: left as it is) and, on a CUDA machine, TF32 matmuls for a block,
    both restored after it: torch keeps them process-wide, and the caller's process goes on."""
    threads, tf32 = torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32
    if cpu_threads is not None:
        torch.set_num_threads(cpu_threads)
    if allow_tf32 and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        if cpu_threads is not None:
            torch.set_num_threads(threads)
        torch.backends.cuda.matmul.allow_tf32 = tf32


def speed_up(pipeline: Any, device: str) -> None:
    """SDPA in every attention layer, channels-last convolutions on CUDA."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for name in ("unet", "vae"):
        module = getattr(pipeline, name, None)
        if module is None:
            continue
        if hasattr(module, "set_attn_processor"):
            module.set_attn_processor(AttnProcessor2_0())  # PyTorch's fused SDPA kernels
        # cuDNN's NHWC kernels are the fast ones on tensor cores; on CPU NCHW is as fast and keeps
        # the images what they were before this option existed.
        if device.startswith("cuda"):
            module.to(memory_format=torch.channels_last)


def compile_unet(unet: Any, mode: str) -> None:
    """torch.compile the UNet in place: 'blocks' (its repeated transformer blocks: seconds, as the
    trainer does it) or 'unet' (everything: minutes). Static shapes: a shard's batches have one
    shape, the last one of a shard another, each compiled once."""
    if mode == "blocks":
        unet.compile_repeated_blocks(fullgraph=True, dynamic=False)
    elif mode == "unet":
        unet.compile(dynamic=False)
    else:
        raise ValueError(f"unknown compile mode {mode!r}: choose one of {', '.join(COMPILE_MODES)} or null")


def auto_batch_size(pipeline: Any, device: str, width: int | None, height: int | None) -> int:
    """Images per UNet call: on CUDA what the free memory holds, measured with one probe step of the
    UNet (a CFG batch of 2 images); elsewhere `DEFAULT_BATCH_SIZE`."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return DEFAULT_BATCH_SIZE
    per_image = _probe_bytes_per_image(pipeline, device, width, height)
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    size = max(1, min(MAX_AUTO_BATCH_SIZE, int(free * _FREE_MEMORY_SHARE / per_image)))
    log.info("render batch size %d from %.1f GiB free (%.0f MiB per image)", size, free / 2**30, per_image / 2**20)
    return size


@torch.inference_mode()
def _probe_bytes_per_image(pipeline: Any, device: str, width: int | None, height: int | None) -> float:
    unet = pipeline.unet
    factor = getattr(pipeline, "vae_scale_factor", 8)
    h = (height or unet.config.sample_size * factor) // factor
    w = (width or unet.config.sample_size * factor) // factor
    images = 2
    inputs = probe_inputs(unet, 2 * images, h, w, device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    unet(**inputs)
    torch.cuda.synchronize(device)
    return max(1.0, (torch.cuda.max_memory_allocated(device) - before) / images)


def probe_inputs(unet: Any, rows: int, h: int, w: int, device: str) -> dict[str, Any]:
    """Zero inputs of one UNet step for `rows` rows of h x w latents and 77 text tokens: an SDXL UNet
    (``addition_embed_type="text_time"``) also takes the pooled text embedding and the six
    size/crop numbers per row."""
    dtype = unet.dtype
    inputs: dict[str, Any] = {
        "sample": torch.zeros(rows, unet.config.in_channels, h, w, device=device, dtype=dtype),
        "timestep": torch.tensor(999, device=device),
        "encoder_hidden_states": torch.zeros(rows, 77, unet.config.cross_attention_dim, device=device, dtype=dtype),
    }
    if unet.config.addition_embed_type == "text_time":
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        inputs["added_cond_kwargs"] = {"text_embeds": torch.zeros(rows, pooled, device=device, dtype=dtype),
                                       "time_ids": torch.zeros(rows, 6, device=device, dtype=dtype)}
    return inputs


def decode_latents(pipeline: Any, latents: torch.Tensor, slice_size: int) -> tuple[list, int]:
    """PIL images of a batch of latents, decoded as the Stable Diffusion pipeline does it
    (`vae.decode(latents / scaling_factor)`, then `image_processor.postprocess`), in slices of
    `slice_size`; a CUDA out-of-memory error halves the slice, and at one image the VAE tiles.
    Returns the images and the slice size that fitted (the caller keeps it)."""
    vae = pipeline.vae
    images: list = []
    start = 0
    while start < latents.shape[0]:
        part = latents[start:start + slice_size]
        decoded = _try(_decode, vae, part)
        if decoded is None:
            if slice_size > 1:
                slice_size = max(1, slice_size // 2)
                log.warning("out of memory decoding: VAE slices of %d images", slice_size)
                continue
            # Tiles blend at their seams, so these bytes differ from a whole decode: only when nothing else fits.
            log.warning("out of memory decoding one image: tiled VAE decode")
            vae.enable_tiling()
            try:
                decoded = _decode(vae, part)
            finally:
                vae.disable_tiling()
        images.extend(pipeline.image_processor.postprocess(decoded, output_type="pil",
                                                           do_denormalize=[True] * decoded.shape[0]))
        start += part.shape[0]
    return images, slice_size


def _decode(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    return vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]


def _try(fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor | None:
    """fn(*args), or None after a CUDA out-of-memory error with the cache emptied (outside the except
    block the traceback's frames, and the tensors they hold, are gone)."""
    try:
        return fn(*args)
    except torch.OutOfMemoryError:
        pass
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return None
