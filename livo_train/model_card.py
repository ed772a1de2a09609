"""The README.md model card written next to a trained value encoder."""

from __future__ import annotations

import os
from pathlib import Path

from livo_train.config import TrainConfig


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _rel(path: object, out: Path | None) -> str:
    """A local path relative to the output folder, so the card stays true when the folders move
    together; a hub id (no such path) as written."""
    p = Path(str(path))
    if out is None or not p.exists():
        return str(path)
    return os.path.relpath(p.resolve(), Path(out).resolve())


def render_model_card(cfg: TrainConfig, summary: dict) -> str:
    lc, o, t, d = cfg.loss, cfg.optim, cfg.train, cfg.data
    loss = (f"LiVO (β={_fmt(lc.beta)}, α={_fmt(lc.alpha)}, γ1={_fmt(lc.gamma1)}, γ2={_fmt(lc.gamma2)})"
            if lc.type == "livo" else f"Diffusion-DPO (β={_fmt(lc.dpo_beta)})")
    incomplete = summary.get("data_run_incomplete") or []
    data_note = ("" if not incomplete else
                 "\n**Trained on an incomplete data run** (`--allow-incomplete`): " + "; ".join(incomplete) + ".\n")
    metrics = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in sorted(summary["final_metrics"].items())) or "| - | - |"
    return f"""---
library_name: transformers
base_model: {summary['base_model']}
tags: [livo, value-alignment, text-to-image, value-encoder]
---
# {cfg.name}: LiVO value encoder

A `CLIPTextModel` trained with the LiVO objective to steer the frozen base model
`{summary['base_model']}` towards value principles. It reads `"<principle>, <prompt>"`; its
pooled output is prepended as one token to the base text encoder's states. Without a value
the base model is unchanged.
{data_note}
| | |
|---|---|
| base model | `{summary['base_model']}` (`{_rel(summary['base_model_path'], cfg.output_dir)}`) |
| data run | `{_rel(summary['data_run'], cfg.output_dir)}` (run hash `{summary['data_run_hash']}`) |
| pairs | {summary['pairs']} |
| loss | {loss} |
| optimizer | AdamW lr {_fmt(o.lr)}, weight decay {_fmt(o.weight_decay)}, grad clip {o.max_grad_norm}, {o.lr_scheduler} schedule |
| batch | {t.batch_size} pairs per device × {summary["num_processes"]} process(es) × {t.gradient_accumulation_steps} accumulation step(s) |
| steps | {summary['global_step']} |
| sampling | {d.sampling} (groups by {', '.join(d.group_by)}), random flip {d.random_flip} |
| precision | {t.mixed_precision}, gradient checkpointing {t.gradient_checkpointing} |
| seed | {t.seed} |

The full resolved configuration is `train_config.yaml`; `training.json` holds the same facts
as JSON.

## Last logged metrics

| metric | value |
|---|---|
{metrics}

## Use

```python
from livo_train.pipeline import LiVOPipeline
pipe = LiVOPipeline.from_pretrained("<this folder>")
out = pipe(["a photo of a doctor"], value="auto", num_images_per_prompt=4)
```
"""
