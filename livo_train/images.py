"""Shard images as the SD VAE reads them: decoded, resized and center-cropped, scaled to [-1, 1]."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image


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
