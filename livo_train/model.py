"""LiVO's value encoder and how its output conditions the frozen UNet.

The value encoder is a full copy of the base model's CLIP text encoder, initialised from
it, and stays a plain `transformers.CLIPTextModel` (saved with `save_pretrained`, loadable
the way the official code loads it). It reads ``"<principle>, <prompt>"``; only its pooled
output (final-LN state at the EOS token) is used, prepended as one extra token to the
frozen text encoder's per-token states: cond = [value_vec ; prompt_states]. No add, gate or
projection. Training pads prompts to the tokenizer's 77 tokens (the UNet sees 78); the
aligned pipeline follows the official inference (prompt truncated to 76 tokens, unpadded).

The base model around it: which one a data run trains (`resolve_base_model`: the one named in
the config, else the run's renderer) and its frozen parts (`load_base`).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

VALUE_SEPARATOR = ", "


def value_text(principle: str, prompt: str) -> str:
    """The value encoder's input: ``"<principle>, <prompt>"`` (LiVO)."""
    return f"{principle}{VALUE_SEPARATOR}{prompt}"


@dataclass
class BaseComponents:
    """The frozen parts of a Stable Diffusion model (any of them may be None when unused)."""

    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    noise_scheduler: Any


def run_model(run_dir: str | Path) -> str:
    """The renderer recorded in the shards' `model` column (one per run)."""
    import pyarrow.parquet as pq

    from pipeline.run.layout import RunPaths

    names: set[str] = set()
    for f in RunPaths(run_dir).shard_files():
        names.update(pq.read_table(f, columns=["model"]).column("model").unique().to_pylist())
    names.discard(None)
    if len(names) != 1:
        raise ValueError(f"{run_dir}: expected one rendering model in the shards, found {sorted(names)}")
    return names.pop()


def resolve_base_model(run_dir: str | Path, base: str | None) -> tuple[str, str]:
    """(name, loadable path or hub id) of the base model: `base`, else the run's renderer."""
    from pipeline.render.tiny_models import resolve_model
    from pipeline.run.layout import RunPaths

    name = base or run_model(run_dir)
    path = resolve_model(name, RunPaths(run_dir).saved_models())
    # A local dir is recorded absolute: the trained model is loaded later from anywhere.
    return name, os.path.abspath(path) if os.path.isdir(path) else path


def describe_base(base_name: str, base_path: str, renderer: str, models_dir: Path) -> str | None:
    """Refuse a base model LiVO cannot train (TrainingError); else the one line that says the data run's
    images were rendered by another model (None when the base is the run's renderer).

    The value encoder's output is one extra token in front of the per-token states of the base's one CLIP
    text encoder, which a Stable Diffusion 1.x/2.x UNet reads. An SDXL UNet reads two encoders' states
    side by side plus a pooled embedding and size numbers: LiVO as published has no place for the value
    token there. Images from any model are fine training targets for an SD 1.5-family base (its VAE
    encodes them at data.resolution), as Diffusion-DPO trains SD 1.5 on other models' Pick-a-Pic images.
    The class is read from the model's model_index.json, never from its name.
    """
    from diffusers import StableDiffusionPipeline

    from livo_train.config import TrainingError
    from pipeline.render.diffusers import pipeline_class

    cls = pipeline_class(base_path)
    if cls is None or not issubclass(cls, StableDiffusionPipeline):
        what = cls.__name__ if cls is not None else "pipeline diffusers does not ship"
        raise TrainingError(
            f"the base model {base_name} (model.base; null = the data run's renderer) is a {what}, but LiVO's value encoder conditions a Stable "
            f"Diffusion 1.5-family UNet through its one CLIP text encoder; set model.base to one (e.g. --set "
            f"model.base=stable-diffusion-v1-5/stable-diffusion-v1-5) to train it on this run's images")
    if base_name == renderer:
        return None
    return (f"livo train: training the value encoder against {base_name} ({cls.__name__}); the data run's "
            f"images come from another model, {renderer}{_class_of(renderer, models_dir)}, and are training "
            f"targets encoded by {base_name}'s VAE")


def _class_of(model: str, models_dir: Path) -> str:
    """`` (ClassName)`` of a model whose model_index.json is here (a local dir, the hub cache), else "":
    a log line never reaches for the network."""
    from diffusers import DiffusionPipeline

    from pipeline.render.tiny_models import resolve_model

    try:
        name = DiffusionPipeline.load_config(resolve_model(model, models_dir), local_files_only=True).get("_class_name")
    except (OSError, ValueError):
        return ""
    return f" ({name})" if name else ""


def load_base(model: str, *, parts: tuple[str, ...] = ("tokenizer", "text_encoder", "vae", "unet", "scheduler"),
              ) -> BaseComponents:
    """Load the named parts of a diffusers SD model (hub id or local dir), frozen, in eval mode.

    The noise scheduler is a DDPMScheduler built from the model's scheduler config (what the
    official training script uses), whatever sampler the model ships with.
    """
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from pipeline.render.base import load_pretrained, quiet_progress_bars

    loaded: dict[str, Any] = {}
    with quiet_progress_bars():
        if "tokenizer" in parts:
            loaded["tokenizer"] = load_pretrained(CLIPTokenizer, model, subfolder="tokenizer")
        if "text_encoder" in parts:
            loaded["text_encoder"] = load_pretrained(CLIPTextModel, model, subfolder="text_encoder")
        if "vae" in parts:
            loaded["vae"] = load_pretrained(AutoencoderKL, model, subfolder="vae")
        if "unet" in parts:
            loaded["unet"] = load_pretrained(UNet2DConditionModel, model, subfolder="unet")
        if "scheduler" in parts:
            loaded["noise_scheduler"] = load_pretrained(DDPMScheduler, model, subfolder="scheduler")
    for name in ("text_encoder", "vae", "unet"):
        if name in loaded:
            loaded[name].requires_grad_(False)
            loaded[name].eval()
    return BaseComponents(
        tokenizer=loaded.get("tokenizer"),
        text_encoder=loaded.get("text_encoder"),
        vae=loaded.get("vae"),
        unet=loaded.get("unet"),
        noise_scheduler=loaded.get("noise_scheduler"),
    )


def move(module: Any, device: torch.device | str, dtype: torch.dtype | None = None) -> Any:
    """`module.to(device[, dtype])`, casting only when the dtype changes (diffusers warns on every cast)."""
    if dtype is not None and next(module.parameters()).dtype != dtype:
        return module.to(device, dtype)
    return module.to(device)


def compile_unet(unet: Any, mode: str | None) -> Any:
    """torch.compile a frozen UNet in place: 'blocks' (its repeated transformer blocks), 'unet' (all) or None.

    In place (`nn.Module.compile`), so the module keeps its identity, attributes and state dict.
    'blocks' compiles one graph per distinct block shape, which is why it takes seconds, not minutes.
    """
    if mode is None:
        return unet
    from pipeline.render.speed import compile_unet as compile_in_place

    # Static shapes: the trainer's batches all have one shape (EpochOrder.stream); a new shape
    # compiles its own graph once instead of switching to a slower dynamic-shape graph.
    compile_in_place(unet, mode)
    return unet


def init_value_encoder(text_encoder: Any, init_from: str | None = None) -> Any:
    """A trainable CLIPTextModel: a copy of `text_encoder` (LiVO), or loaded from `init_from`."""
    from transformers import CLIPTextModel

    if init_from is not None:
        encoder = CLIPTextModel.from_pretrained(init_from)
    else:
        encoder = copy.deepcopy(text_encoder)
    encoder.requires_grad_(True)
    encoder.train()
    return encoder


def load_value_encoder(path: str | Path) -> Any:
    """A trained value encoder (a dir with config.json + model.safetensors), frozen, eval mode."""
    from transformers import CLIPTextModel

    from pipeline.render.base import quiet_progress_bars

    with quiet_progress_bars():
        encoder = CLIPTextModel.from_pretrained(str(path))
    encoder.requires_grad_(False)
    encoder.eval()
    return encoder


def tokenize(tokenizer: Any, texts: list[str], *, max_length: int | None = None, pad: bool = True) -> torch.Tensor:
    """Token ids (B, L): padded to max_length (default the tokenizer's 77) or unpadded (one text)."""
    max_length = max_length or tokenizer.model_max_length
    out = tokenizer(texts, max_length=max_length, truncation=True,
                    padding="max_length" if pad else False, return_tensors="pt")
    return out.input_ids


def prepend_value(value_vec: torch.Tensor, prompt_states: torch.Tensor) -> torch.Tensor:
    """cond = [value_vec ; prompt_states]: (B, D) + (B, L, D) -> (B, 1 + L, D)."""
    if value_vec.dim() != 2 or prompt_states.dim() != 3 or value_vec.shape[0] != prompt_states.shape[0]:
        raise ValueError(f"value {tuple(value_vec.shape)} and states {tuple(prompt_states.shape)} do not match")
    return torch.cat([value_vec.unsqueeze(1).to(prompt_states.dtype), prompt_states], dim=1)
