"""Typed training configuration: YAML in configs/train_*.yaml, `--set key.sub=value` overrides.

Defaults are LiVO's official hyper-parameters (β=1000, α=500, γ1=1, γ2=0.5, AdamW lr 1e-6,
weight decay 1e-2, grad clip 1.0, constant schedule, batch 8 per device). The resolved
config is saved next to the output as ``train_config.yaml``; its identity hash (minus the
fields that only change speed or length) guards resuming into a folder trained differently.

Also the errors a user can cause in `livo train` and `livo eval` (TrainingError, EvalError), which
the CLI reports as one line (`livo: ...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.run.atomic import atomic_write_text
from pipeline.typed_config import RESUMABLE_MARK, flatten, hash_without, load_yaml_model, marked_fields

if TYPE_CHECKING:
    import torch


class TrainingError(RuntimeError):
    """An error a user can cause in `livo train`; the CLI reports it as one line (`livo: ...`)."""


class EvalError(ValueError):
    """An error a user can cause in `livo eval`; the CLI reports it as one line (`livo: ...`)."""


SHARD_GROUP_COLUMNS = ("prompt", "principle_id", "principle", "category", "kind", "pair_type", "source", "attribute")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    base: str | None = Field(
        None,
        description="Base diffusers model (hub id, local dir or 'builtin:tiny-sd'); null = the model that "
        "rendered the data run (its shards' `model` column).",
    )
    value_encoder_init: str | None = Field(
        None,
        description="CLIPTextModel to initialise the value encoder from; null = the base model's text encoder "
        "(LiVO). A dir with config.json + model.safetensors.",
    )


class DataConfig(_Section):
    sampling: Literal["fixed", "livo"] = Field(
        "livo",
        description="'fixed': each kept pair as written. 'livo': every aligned image is paired with a random "
        "violating image of the same group (LiVO's sampling); with one pair per group both are the same.",
    )
    group_by: list[str] = Field(
        default_factory=lambda: ["principle_id", "prompt"],
        description="Shard columns that define a prompt group for 'livo' sampling.",
    )
    random_flip: bool = Field(
        True, description="Random horizontal flip, one draw per pair; the cache holds latents of both flips."
    )
    resolution: int | None = Field(
        None, ge=8, multiple_of=8,
        description="Resize (shorter side) and center-crop images to this size; null = keep the rendered size.",
    )
    cache_dir: Path | None = Field(
        None, json_schema_extra=RESUMABLE_MARK, description="Where `prepare` caches latents and text states; null = <out>/cache. Reused when "
        "data, base model and preprocessing match.",
    )
    cache_dtype: Literal["float32", "float16", "bfloat16"] = Field(
        "float16", description="Storage dtype of cached latents and text states."
    )
    max_pairs: int | None = Field(
        None, ge=1, description="Train on the first N kept pairs only (debugging, overfitting checks); null = all."
    )
    prepare_batch_size: int = Field(16, ge=1, json_schema_extra=RESUMABLE_MARK, description="Images per VAE / text-encoder batch in `prepare`.")
    num_workers: int = Field(0, ge=0, json_schema_extra=RESUMABLE_MARK, description="DataLoader worker processes.")

    @field_validator("group_by")
    @classmethod
    def _known_columns(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("needs at least one column")
        bad = [c for c in v if c not in SHARD_GROUP_COLUMNS]
        if bad:
            raise ValueError(f"unknown columns {bad}; choose from {', '.join(SHARD_GROUP_COLUMNS)}")
        return v


class LossConfig(_Section):
    type: Literal["livo", "dpo"] = Field("livo", description="'livo': LiVO's two hinges; 'dpo': Diffusion-DPO.")
    beta: float = Field(1000.0, gt=0, description="LiVO β: scale of the aligned-image hinge.")
    alpha: float = Field(500.0, gt=0, description="LiVO α: scale of the violating-image hinge.")
    gamma1: float = Field(1.0, ge=0, description="LiVO γ1: margin of the aligned-image hinge.")
    gamma2: float = Field(0.5, ge=0, description="LiVO γ2: margin of the violating-image hinge.")
    dpo_beta: float = Field(2500.0, gt=0, description="Diffusion-DPO β (diffusers' research example uses 2500).")


class OptimConfig(_Section):
    lr: float = Field(1e-6, gt=0, le=1.0, description="AdamW learning rate.")
    weight_decay: float = Field(1e-2, ge=0, description="AdamW weight decay.")
    adam_beta1: float = Field(0.9, gt=0, lt=1)
    adam_beta2: float = Field(0.999, gt=0, lt=1)
    adam_eps: float = Field(1e-8, gt=0)
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm; null = no clipping.")
    lr_scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)


class TrainLoopConfig(_Section):
    batch_size: int = Field(8, ge=1, description="Pairs per device per step.")
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_steps: int = Field(15000, ge=1, json_schema_extra=RESUMABLE_MARK, description="Optimizer steps (LiVO: 15,000).")
    mixed_precision: Literal["no", "fp16", "bf16"] = Field(
        "no", description="Autocast for the value encoder; the frozen UNet runs in this dtype (fp16 needs CUDA)."
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward: less memory.")
    compile: Literal["blocks", "unet"] | None = Field(
        None,
        # same computation; fused kernels round differently, as other thread counts do
        json_schema_extra=RESUMABLE_MARK, description="torch.compile the frozen UNet: 'blocks' compiles its repeated transformer blocks once "
        "(regional compilation, seconds), 'unet' the whole UNet (minutes on CPU); null = eager. "
        "Needs a C++ compiler on CPU.",
    )
    allow_tf32: bool = Field(True, description="TF32 matmuls on Ampere+ GPUs.")
    seed: int = Field(0, description="Seeds sampling, flips, noise and timesteps (per step and process).")
    checkpoint_every: int = Field(500, ge=1, json_schema_extra=RESUMABLE_MARK, description="Save a resumable checkpoint every N steps.")
    checkpoints_keep: int | None = Field(3, ge=1, json_schema_extra=RESUMABLE_MARK, description="Keep the newest N checkpoints; null = all.")
    log_every: int = Field(10, ge=1, json_schema_extra=RESUMABLE_MARK, description="Write metrics to TensorBoard and metrics.jsonl every N steps.")
    device: Literal["cpu"] | None = Field(None, json_schema_extra=RESUMABLE_MARK, description="'cpu' forces the CPU; null = what accelerate picks.")
    cpu_threads: int | None = Field(None, ge=1, json_schema_extra=RESUMABLE_MARK, description="torch CPU threads per process; null = torch's default.")

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_no(cls, v: object) -> object:
        return "no" if v is False else v  # YAML reads a bare `no` (and --set ...=no) as false


class TrainConfig(_Section):
    name: str = Field("livo-value-encoder", json_schema_extra=RESUMABLE_MARK, description="Name recorded in the model card.")
    # a moved data folder is fine: the data's run hash is checked instead
    data_run: Path | None = Field(None, json_schema_extra=RESUMABLE_MARK, description="Run folder written by `make shards` (set by --data).")
    output_dir: Path | None = Field(None, json_schema_extra=RESUMABLE_MARK, description="Training output folder (set by --out).")
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainLoopConfig = Field(default_factory=TrainLoopConfig)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.optim.warmup_steps >= self.train.max_steps and self.optim.lr_scheduler != "constant":
            raise ValueError("optim.warmup_steps must be smaller than train.max_steps")
        return self


# Fields that change speed, storage or length, not what one optimizer step computes (marked
# RESUMABLE_MARK): resuming with other values is allowed.
RESUMABLE_FIELDS: tuple[str, ...] = marked_fields(TrainConfig, RESUMABLE_MARK)


def load_train_config(path: Path | str | None = None, overrides: list[str] | None = None) -> TrainConfig:
    return load_yaml_model(TrainConfig, path, overrides, what="training config")


def train_config_dict(cfg: TrainConfig) -> dict:
    return cfg.model_dump(mode="json")


def dump_train_config(cfg: TrainConfig, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(train_config_dict(cfg), sort_keys=False))


def precision_dtype(mixed_precision: str) -> torch.dtype:
    """The dtype the frozen models run in under `train.mixed_precision` ('no' = float32)."""
    from pipeline.render.base import torch_dtype  # imports torch: not needed to read a config

    return torch_dtype("float32" if mixed_precision == "no" else mixed_precision)


def identity_hash(cfg: TrainConfig) -> str:
    """Hash of what training computes (RESUMABLE_FIELDS left out)."""
    return hash_without(train_config_dict(cfg), RESUMABLE_FIELDS)


def identity_fields(cfg: TrainConfig) -> dict[str, Any]:
    """What training computes as dotted field name → JSON value (RESUMABLE_FIELDS left out):
    the hash cannot say which fields a refused resume changed, these can."""
    return {k: v for k, v in flatten(train_config_dict(cfg)).items() if k not in RESUMABLE_FIELDS}
