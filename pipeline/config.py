"""Typed run configuration: YAML profiles in configs/, `--set key.sub=value` overrides.

The resolved config is saved next to every output. Its hash, minus performance-only
fields, identifies the data a run produces (so changing batch size or device reuses work).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.categories import ALL, BENIGN

# Built-in offline models are named explicitly so a profile never falls back to them silently.
TINY_SD = "builtin:tiny-sd"
TINY_CLIP = "builtin:tiny-clip"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PromptsConfig(_Section):
    packs_dir: Path = Field(Path("prompts/packs"), description="Folder of template packs (*.yaml).")
    categories: list[str] | None = Field(None, description="Pack categories to use; null = all, 'benign' included.")
    per_category: int | None = Field(None, ge=1, description="Cap on prompts per category (deterministic sample).")
    files: list[Path] = Field(default_factory=list, description="Prompt files to import: .txt, .jsonl, I2P .csv.")
    max_chars: int = Field(500, ge=10, description="Longer prompts are reported and skipped.")
    seed: int = Field(0, description="Seed of the template expansion shuffle.")

    @field_validator("categories")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            bad = [c for c in v if c not in (*ALL, BENIGN)]
            if bad:
                raise ValueError(f"unknown categories {bad}; expected any of {', '.join((*ALL, BENIGN))}")
        return v


class SemanticConfig(_Section):
    model: str | None = Field(None, description="Sentence-transformers model path or id; null = the packaged all-MiniLM-L6-v2.")
    threshold: float | None = Field(None, description="Minimum similarity to pick a principle; null = calibrated default.")
    margin: float | None = Field(None, description="Required lead over the benign anchors; null = calibrated default.")
    device: str = "cpu"


class PlanningConfig(_Section):
    seed: int = Field(0, description="Mixed into every pair's seed and id.")
    trust_pack_category: bool = Field(True, description="Template prompts keep their pack's category when the selector disagrees.")
    benign_pairs: bool = Field(True, description="Pair harmless prompts with an injected violation (quality guard).")
    max_pairs: int | None = Field(None, ge=1, description="Cap on planned pairs (first N in plan order).")


class RenderConfig(_Section):
    model: str = Field(TINY_SD, description="Diffusers model id or local path; 'builtin:tiny-sd' = offline tiny model.")
    device: str = "cpu"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    steps: int = Field(4, ge=1)
    guidance_scale: float = Field(7.5, ge=0)
    width: int = Field(64, ge=8, multiple_of=8)
    height: int = Field(64, ge=8, multiple_of=8)
    batch_size: int = Field(16, ge=1)
    scheduler: str | None = Field(None, description="Diffusers scheduler class name; null = the model's own.")


class ScoreConfig(_Section):
    clip_model: str = Field(TINY_CLIP, description="clip-anytorch name (e.g. ViT-L/14) or local checkpoint path.")
    nudenet: bool = Field(True, description="Score nudity with the NudeNet detector.")
    device: str = "cpu"
    batch_size: int = Field(32, ge=1)


class FilterConfig(_Section):
    min_clip_score: float = Field(18.0, description="fidelity_too_low below this (100 x cosine, image vs its prompt).")
    max_aligned_violation: float = Field(0.5, description="aligned_still_violates above this.")
    min_violating_violation: float = Field(0.5, description="violating_does_not_violate below this.")
    min_margin: float = Field(0.1, description="margin_too_small when violating - aligned violation is below this.")
    min_attribute_prob: float = Field(0.5, description="bias_attribute_not_confirmed below this (aligned image).")


class ShardsConfig(_Section):
    shard_size: int = Field(32, ge=1, description="Pairs per shard (the unit of work and of resume).")
    image_format: Literal["png", "jpeg"] = "png"
    jpeg_quality: int = Field(95, ge=1, le=100)
    rejected_images: bool = Field(False, description="Also store the images of rejected pairs.")


class RunConfig(_Section):
    name: str = "livo-dataset"
    catalog_dir: Path = Path("value_principles")
    models_cache: Path | None = Field(None, description="Where built-in models are saved; null = <out>/models.")
    selector: Literal["default", "keyword"] = "default"
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    planning: PlanningConfig = Field(default_factory=PlanningConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    shards: ShardsConfig = Field(default_factory=ShardsConfig)


# Settings that change speed, not data: excluded from the run hash (as distilabel's signatures).
PERFORMANCE_ONLY = (
    "models_cache",
    "semantic.device",
    "render.device",
    "render.batch_size",
    "score.device",
    "score.batch_size",
)


class ConfigError(ValueError):
    pass


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    # YAML parsing gives numbers, booleans, null and [lists] their natural types.
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = nxt
        node[path[-1]] = value
    return data


def load_config(path: Path | str | None = None, overrides: list[str] | None = None) -> RunConfig:
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
    data = apply_overrides(data, overrides or [])
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        lines = [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        raise ConfigError(f"invalid config{f' {path}' if path else ''}:\n  " + "\n  ".join(lines)) from None


def config_dict(cfg: RunConfig) -> dict:
    return cfg.model_dump(mode="json")


def dump_config(cfg: RunConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config_dict(cfg), sort_keys=False), encoding="utf-8")


def config_hash(cfg: RunConfig) -> str:
    data = config_dict(cfg)
    for dotted in PERFORMANCE_ONLY:
        *parents, leaf = dotted.split(".")
        node = data
        for p in parents:
            node = node[p]
        node.pop(leaf, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
