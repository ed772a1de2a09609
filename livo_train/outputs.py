"""A `livo train` output folder: its names, and the final files written when training ends.

    <out>/train_config.yaml   resolved config     <out>/training.json  base model, data, metrics
    <out>/README.md           model card          <out>/value_encoder/ final weights (safetensors)
    <out>/metrics.jsonl       logged metrics      <out>/logs/          TensorBoard
    <out>/checkpoints/checkpoint-<step>/  value_encoder/, optimizer, scheduler, RNG states
    <out>/cache/<key>/        prepared latents and text states (unless data.cache_dir is set)

The model card (README.md) has `huggingface_hub`'s `ModelCardData` as its header and the Jinja2
template ``templates/model_card.md.j2`` (package data) as its body.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from huggingface_hub import ModelCard, ModelCardData

from livo_train.config import TrainConfig
from pipeline.errors import MissingFileError
from pipeline.render.base import quiet_progress_bars
from pipeline.run.atomic import atomic_write_text

CONFIG_FILE = "train_config.yaml"
TRAINING_RECORD = "training.json"
CARD_FILE = "README.md"
METRICS_FILE = "metrics.jsonl"
VALUE_ENCODER = "value_encoder"  # also the weights' folder inside each checkpoint
LOGS_DIR = "logs"
CACHE_DIR = "cache"
_HEAD_ORDER = ["library_name", "base_model", "tags"]  # the card header's order, as the cards always had


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _rel(path: object, out: Path | None) -> str:
    """A local path relative to the output folder, so the card stays true when the folders move
    together; a hub id (no such path) as written."""
    p = Path(str(path))
    if out is None or not p.exists():
        return str(path)
    return os.path.relpath(p.resolve(), Path(out).resolve())


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("livo_train", "templates"), autoescape=False,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["fmt"] = _fmt
    return env.get_template("model_card.md.j2")


def render_model_card(cfg: TrainConfig, summary: dict) -> str:
    data = ModelCardData(library_name="transformers", base_model=summary["base_model"],
                         tags=["livo", "value-alignment", "text-to-image", "value-encoder"])
    text = _template().render(
        card_data=data.to_yaml(original_order=_HEAD_ORDER), name=cfg.name, s=summary, lc=cfg.loss, o=cfg.optim,
        t=cfg.train, d=cfg.data, incomplete=summary.get("data_run_incomplete") or [],
        base_model_path=_rel(summary["base_model_path"], cfg.output_dir),
        data_run=_rel(summary["data_run"], cfg.output_dir))
    return str(ModelCard(text))  # parsed back: a header the Hub cannot read is an error here


def read_training_record(train_dir: str | Path) -> dict:
    """training.json of a training output folder (base model, data run, metrics)."""
    path = Path(train_dir) / TRAINING_RECORD
    if not path.exists():
        raise MissingFileError(f"{train_dir} has no {TRAINING_RECORD}: not a `livo train` output folder")
    return json.loads(path.read_text(encoding="utf-8"))


def write_final(out: Path, cfg: TrainConfig, summary: dict, value_encoder: Any) -> None:
    """The final weights, then training.json (`summary`) and the model card."""
    with quiet_progress_bars():
        value_encoder.save_pretrained(str(out / VALUE_ENCODER), safe_serialization=True)
    atomic_write_text(out / TRAINING_RECORD, json.dumps(summary, indent=2))
    atomic_write_text(out / CARD_FILE, render_model_card(cfg, summary))
