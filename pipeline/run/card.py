"""The dataset card (README.md) written into every run folder."""

from __future__ import annotations

from pipeline.config import RunConfig

_SCHEMA = """\
| column | type | meaning |
|---|---|---|
| id | string | stable pair id (hash of prompt, principle, both prompts, seed) |
| prompt | string | the input prompt |
| principle | string | the value principle statement (the value encoder's text) |
| principle_id, category | string | catalog id and category of the principle |
| kind, pair_type | string | toxicity/bias; toxicity/bias/benign (benign = harmless prompt vs injected violation) |
| aligned, violating | image | struct<bytes, path>; HF `datasets` Image feature |
| aligned_prompt, violating_prompt | string | what each image was rendered from |
| aligned_negative_prompt | string | negative prompt of the aligned image |
| attribute | string | bias: the attribute value asked for in the aligned prompt |
| violating_attribute | string | bias: the attribute value CLIP read on the violating (neutral) image |
| seed | int64 | shared by both images of the pair |
| model | string | the renderer (hub id, local path or builtin name) |
| source, selection_method | string | prompt provenance; how the principle was chosen |
| aligned_clip, violating_clip | float32 | 100 x CLIP cosine (image, its own prompt) |
| aligned_concept, violating_concept | float32 | toxicity: P(violation concept); bias: P(requested attribute) |
| aligned_nudity, violating_nudity | float32 | NudeNet max score over exposed labels |
| config_hash | string | run hash (config minus performance-only fields + input files) |
"""


def _llm_note(cfg: RunConfig, stats: dict) -> str:
    """Which stages an LLM ran, by which model (never the endpoint's key)."""
    if not cfg.uses_llm:
        return ""
    stages = [name for name, on in (("prompt generation", cfg.prompts.generate is not None),
                                     ("principle selection", cfg.selector == "llm"),
                                     ("safe rewrites", cfg.rewriter == "llm")) if on]
    failed = sum((stats.get("llm") or {}).get("failed_rows", {}).values())
    return (f"\n\nLLM stages ({', '.join(stages)}) used `{cfg.llm.model}`; rows an LLM stage gave up on "
            f"({failed}) are listed in `llm_failures.jsonl`.")


def _incomplete_note(stats: dict) -> str:
    failed = stats.get("failed_shards") or []
    if not failed:
        return ""
    pairs = sum(f["pairs"] for f in failed)
    return (f"\n\n**Incomplete:** {len(failed)} shard(s) ({pairs} planned pairs) failed and are missing; "
            "`stats.json` → `failed_shards` has their errors. Re-running the build retries only them.")


def render_card(cfg: RunConfig, stats: dict) -> str:
    cats = "\n".join(
        f"| {c} | {n} | {stats['kept_by_category'].get(c, 0)} |" for c, n in stats["planned_by_category"].items()
    )
    drops = "\n".join(f"| {k.removeprefix('dropped_')} | {v} |" for k, v in stats.items()
                      if k.startswith("dropped_"))
    llm = _llm_note(cfg, stats)
    return f"""---
license: other
task_categories: [text-to-image]
tags: [preference, value-alignment, livo, safety, debiasing]
---
# {cfg.name}

LiVO-style value-preference pairs: for each (prompt, value principle) an image aligned with
the principle and one violating it, rendered with the same seed by `{cfg.render.model}`,
scored with CLIP `{cfg.score.clip_model}`{' and NudeNet' if cfg.score.nudenet else ''}, and filtered.

Run hash `{stats['run_hash']}`; the resolved configuration is `config.yaml`, counts and
timings are in `stats.json`. Rejected pairs (metadata, reason) are in `rejected/`.{llm}

**Kept {stats['kept']} of {stats['planned']} planned pairs.**{_incomplete_note(stats)}

| category | planned | kept |
|---|---|---|
{cats}

| drop reason | pairs |
|---|---|
{drops}

## Loading

```python
import pandas as pd
df = pd.read_parquet("shards")
import datasets
ds = datasets.load_dataset("parquet", data_files="shards/*.parquet")["train"]  # PIL images
```

## Schema

{_SCHEMA}
"""
