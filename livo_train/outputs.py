"""A `livo train` output folder: its names, and the final files written when training ends.

    <out>/train_config.yaml   resolved config     <out>/training.json  base model, data, metrics
    <out>/README.md           model card          <out>/value_encoder/ final weights (safetensors)
    <out>/metrics.jsonl       logged metrics      <out>/logs/          TensorBoard
    <out>/checkpoints/checkpoint-<step>/  value_encoder/, optimizer, scheduler, RNG states
    <out>/cache/<key>/        prepared latents and text states (unless data.cache_dir is set)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from livo_train.config import TrainConfig
from livo_train.model_card import render_model_card
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
