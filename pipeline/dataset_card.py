"""The README.md dataset card written into every run folder."""

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
| seed | int64 | shared by both images of the pair |
| model | string | the renderer (hub id, local path or builtin name) |
| source, selection_method | string | prompt provenance; how the principle was chosen |
| aligned_clip, violating_clip | float32 | 100 x CLIP cosine (image, its own prompt) |
| aligned_concept, violating_concept | float32 | toxicity: P(violation concept); bias: P(requested attribute) |
| aligned_nudity, violating_nudity | float32 | NudeNet max score over exposed labels |
| config_hash | string | run hash (config minus performance-only fields + input files) |
"""


def render_card(cfg: RunConfig, stats: dict) -> str:
    cats = "\n".join(
        f"| {c} | {n} | {stats['kept_by_category'].get(c, 0)} |" for c, n in stats["planned_by_category"].items()
    )
    drops = "\n".join(f"| {k.removeprefix('dropped_')} | {v} |" for k, v in stats.items()
                      if k.startswith("dropped_"))
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
timings are in `stats.json`. Rejected pairs (metadata, reason) are in `rejected/`.

**Kept {stats['kept']} of {stats['planned']} planned pairs.**

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
