"""LiVOPipeline: a base diffusers text-to-image pipeline plus a trained value encoder.

Per prompt a value is resolved: ``value="auto"`` asks the project's selector
(`pipeline.select`: keyword rules first, then MiniLM) and adds no value token when no
principle applies; a catalog principle id or a free text picks the value explicitly;
``None`` renders with the untouched base model. Conditioning follows the official LiVO
inference: the prompt's text states truncated to 76 tokens, unpadded, with the value
encoder's pooled output of ``"<value>, <prompt>"`` prepended (1 + n ≤ 77 tokens).

For bias principles the official code applies the value to only half of a prompt's images
(the other half is the base model), which is what balances the attribute distribution;
`bias_fraction` sets that share. When n·fraction is not whole, whether a prompt gets one more
image with the value is drawn from (seed, prompt), so the share holds over a prompt set even
with one image per prompt, and a prompt's split is the same in every call. Every image gets
its own CPU generator seeded with its seed, so an image rendered with and without the value
starts from the same noise.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from livo_train.model import load_value_encoder, prepend_value, tokenize, value_text
from livo_train.outputs import TRAINING_RECORD, read_training_record
from pipeline.errors import MissingFileError

NO_VALUE = ("none", "")


@dataclass(frozen=True)
class ResolvedValue:
    """The value for one prompt: text None means no value token (the base model)."""

    text: str | None
    principle_id: str | None = None
    kind: str | None = None  # "toxicity", "bias", or None for free text / no value
    method: str = "none"  # "auto:<selector method>", "principle", "text", "none"


@dataclass
class LiVOOutput:
    images: list[Image.Image]
    prompts: list[str]  # per image
    seeds: list[int]  # per image
    values: list[str | None]  # the value text applied to each image; None = base model
    resolved: list[ResolvedValue] = field(default_factory=list)  # per prompt


def extra_image_draw(seed: int, prompt: str) -> float:
    """A uniform draw in [0, 1) fixed by (seed, prompt).

    Per prompt, not per seed alone: every prompt of a set shares the seed, and one draw for all
    would give the odd image to every prompt or to none (with one image per prompt, no bias
    prompt would get the value). sha256, not hash(): the same in every process and run.
    """
    digest = hashlib.sha256(f"{int(seed)}\0{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class LiVOPipeline:
    def __init__(self, pipe: Any, value_encoder: Any, *, catalog: Any = None, selector: Any = None,
                 bias_fraction: float = 0.5, base_model: str | None = None):
        if not 0.0 <= bias_fraction <= 1.0:
            raise ValueError("bias_fraction must be within [0, 1]")
        self.pipe = pipe
        self.value_encoder = value_encoder.to(pipe.device, pipe.text_encoder.dtype)
        self.catalog = catalog
        self._selector = selector
        self.bias_fraction = bias_fraction
        self.base_model = base_model

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, *, base_model: str | None = None, device: str = "cpu",
                        dtype: str = "float32", scheduler: str | None = None, selector: Any = "default",
                        catalog_dir: str | Path | None = None, bias_fraction: float = 0.5) -> LiVOPipeline:
        """Load from a `livo train` output folder (base model read from its training.json), or
        from a bare value-encoder folder plus `base_model`."""
        from pipeline.catalog import DEFAULT_CATALOG_DIR, load_catalog
        from pipeline.render.diffusers import DiffusersRenderer
        from pipeline.select.factory import make_selector

        model_dir = Path(model_dir)
        if (model_dir / TRAINING_RECORD).exists():
            record = read_training_record(model_dir)
            base_model = base_model or record["base_model_path"]
            encoder_dir = model_dir / record["value_encoder"]
        elif (model_dir / "config.json").exists():
            if base_model is None:
                raise ValueError(f"{model_dir} is a bare value encoder: pass base_model")
            encoder_dir = model_dir
        else:
            raise MissingFileError(f"{model_dir} holds neither training.json nor a value encoder (config.json); give a `livo train` output folder or its value encoder")
        # The renderer's loader: same dtype handling, scheduler swap and "no silent fallback" errors.
        pipe = DiffusersRenderer(str(base_model), device=device, dtype=dtype, scheduler=scheduler).pipeline
        catalog = load_catalog(catalog_dir or DEFAULT_CATALOG_DIR)
        if isinstance(selector, str):
            if selector not in ("default", "keyword"):  # no LLM client at inference
                raise ValueError(f"selector must be 'default' or 'keyword', got {selector!r}")
            selector = make_selector(selector, catalog)
        return cls(pipe, load_value_encoder(encoder_dir), catalog=catalog, selector=selector,
                   bias_fraction=bias_fraction, base_model=str(base_model))

    # ------------------------------------------------------------ values

    def resolve(self, prompts: Sequence[str], value: str | None | Sequence[str | None] = "auto") -> list[ResolvedValue]:
        """One ResolvedValue per prompt; `value` may be one spec for all prompts or one per prompt."""
        specs = list(value) if isinstance(value, (list, tuple)) else [value] * len(prompts)
        if len(specs) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(specs)} values")
        out: list[ResolvedValue | None] = [None] * len(prompts)
        auto = [i for i, s in enumerate(specs) if s == "auto"]
        if auto:
            if self._selector is None:
                raise ValueError("value='auto' needs a selector (LiVOPipeline(selector=...))")
            for i, sel in zip(auto, self._selector.select([prompts[i] for i in auto])):
                if sel.principle_id is None:
                    out[i] = ResolvedValue(None, method=f"auto:{sel.method}")
                else:
                    p = self.catalog.get(sel.principle_id)
                    out[i] = ResolvedValue(p.statement, p.id, p.kind, f"auto:{sel.method}")
        for i, spec in enumerate(specs):
            if spec == "auto":
                continue
            if spec is None or spec.strip().lower() in NO_VALUE:
                out[i] = ResolvedValue(None)
            elif self.catalog is not None and spec in self.catalog:
                p = self.catalog.get(spec)
                out[i] = ResolvedValue(p.statement, p.id, p.kind, "principle")
            else:
                out[i] = ResolvedValue(spec.strip(), method="text")
        return out  # type: ignore[return-value]

    def value_mask(self, resolved: ResolvedValue, n: int, seed: int, prompt: str) -> list[bool]:
        """Which of a prompt's n images get the value token.

        Toxicity and free-text values: all. Bias: floor(n·f) images, plus one more with
        probability frac(n·f), the first ones, so with and without share seeds in order.
        """
        if resolved.text is None:
            return [False] * n
        if resolved.kind != "bias":
            return [True] * n
        exact = n * self.bias_fraction
        k = math.floor(exact)
        if extra_image_draw(seed, prompt) < exact - k:
            k += 1
        return [i < k for i in range(n)]

    # ------------------------------------------------------------ conditioning

    @torch.no_grad()
    def encode(self, prompt: str, value: str | None) -> torch.Tensor:
        """prompt_embeds (1, L, D): with a value, [value_vec ; states of the prompt's ≤ 76 tokens]."""
        pipe = self.pipe
        dev = pipe.device
        max_len = pipe.tokenizer.model_max_length
        if value is None:
            ids = tokenize(pipe.tokenizer, [prompt])
            return pipe.text_encoder(ids.to(dev))[0]
        ids = tokenize(pipe.tokenizer, [prompt], max_length=max_len - 1, pad=False)
        states = pipe.text_encoder(ids.to(dev))[0]
        value_ids = tokenize(pipe.tokenizer, [value_text(value, prompt)], pad=False)
        value_vec = self.value_encoder(value_ids.to(dev)).pooler_output
        return prepend_value(value_vec, states)

    def _render(self, prompt: str, value: str | None, seeds: list[int], **kwargs: Any) -> list[Image.Image]:
        if not seeds:
            return []
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        if value is None:
            # The untouched base model, called exactly as without LiVO.
            out = self.pipe(prompt=prompt, num_images_per_prompt=len(seeds), generator=generators,
                            output_type="pil", **kwargs)
        else:
            out = self.pipe(prompt_embeds=self.encode(prompt, value), num_images_per_prompt=len(seeds),
                            generator=generators, output_type="pil", **kwargs)
        return list(out.images)

    def __call__(self, prompts: str | Sequence[str], value: str | None | Sequence[str | None] = "auto", *,
                 num_images_per_prompt: int = 1, seed: int = 0, num_inference_steps: int = 25,
                 guidance_scale: float = 7.5, width: int | None = None, height: int | None = None) -> LiVOOutput:
        """Render `num_images_per_prompt` images per prompt; image i of every prompt has seed `seed + i`."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if num_images_per_prompt < 1:
            raise ValueError("num_images_per_prompt must be >= 1")
        resolved = self.resolve(prompts, value)
        kwargs = {"num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale, "width": width,
                  "height": height}
        out = LiVOOutput([], [], [], [], resolved)
        for prompt, rv in zip(prompts, resolved):
            seeds = [seed + i for i in range(num_images_per_prompt)]
            mask = self.value_mask(rv, num_images_per_prompt, seed, prompt)
            with_value = self._render(prompt, rv.text, [s for s, m in zip(seeds, mask) if m], **kwargs)
            without = self._render(prompt, None, [s for s, m in zip(seeds, mask) if not m], **kwargs)
            it_with, it_without = iter(with_value), iter(without)
            for s, m in zip(seeds, mask):
                out.images.append(next(it_with) if m else next(it_without))
                out.prompts.append(prompt)
                out.seeds.append(s)
                out.values.append(rv.text if m else None)
        return out
