"""The ``Renderer`` protocol and what every renderer shares: dtype names, quiet model loading, and
loading a diffusers/transformers model from a hub id or a local dir (also the trainer's loader)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import torch
from PIL import Image

from pipeline.errors import ModelUnavailableError

TORCH_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a config name (float32/fp32, float16/fp16, bfloat16/bf16)."""
    try:
        return TORCH_DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; use one of {', '.join(TORCH_DTYPES)}") from None


@runtime_checkable
class Renderer(Protocol):
    """Turns prompts into images; `model` is recorded in the shards as provenance. A renderer that
    keeps no state between shards may subclass this for the no-op `start_shard`."""

    model: str

    def render(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        negative_prompts: Sequence[str] | None = None,
    ) -> list[Image.Image]: ...

    def start_shard(self) -> None:
        """Called before each shard's first render: one renderer serves shard after shard, and nothing an
        earlier shard left (an out-of-memory halving) may reach this shard's images."""


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Silence diffusers/transformers load and save bars, restoring the caller's setting.

    They print one bar per component; in a long run's log that is noise, not progress.
    """
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    was_on = [(m, m.is_progress_bar_enabled()) for m in (diffusers_logging, transformers_logging)]
    for module, _ in was_on:
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module, on in was_on:
            if on:
                module.enable_progress_bar()


def load_pretrained(cls: Any, model: str, **kwargs: Any) -> Any:
    """``cls.from_pretrained(model, **kwargs)`` for a hub id or a local dir, never substituting another
    model: a hub id that cannot be loaded raises ModelUnavailableError (OSError: hub unreachable and
    nothing cached; ValueError: neither a dir nor a repo id). A local dir that exists but fails to load
    is a broken model, not an unavailable one: its real error goes through."""
    return from_hub_or_dir(cls.from_pretrained, model, **kwargs)


def from_hub_or_dir(load: Callable[..., Any], model: str, **kwargs: Any) -> Any:
    """``load(model, **kwargs)`` (a ``from_pretrained``, a ``load_config``) with `load_pretrained`'s errors."""
    if os.path.isdir(model):
        return load(model, **kwargs)
    try:
        return load(model, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(model, str(exc).splitlines()[0] if str(exc) else "") from exc
