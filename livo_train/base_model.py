"""Which base model a data run trains: the one named in the config, else the run's renderer."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.render.tiny_models import resolve_model
from pipeline.run.layout import RunPaths


def run_model(run_dir: str | Path) -> str:
    """The renderer recorded in the shards' `model` column (one per run)."""
    names: set[str] = set()
    for f in RunPaths(run_dir).shard_files():
        names.update(pq.read_table(f, columns=["model"]).column("model").unique().to_pylist())
    names.discard(None)
    if len(names) != 1:
        raise ValueError(f"{run_dir}: expected one rendering model in the shards, found {sorted(names)}")
    return names.pop()


def resolve_base_model(run_dir: str | Path, base: str | None) -> tuple[str, str]:
    """(name, loadable path or hub id) of the base model: `base`, else the run's renderer."""
    name = base or run_model(run_dir)
    path = resolve_model(name, RunPaths(run_dir).saved_models())
    # A local dir is recorded absolute: the trained model is loaded later from anywhere.
    return name, os.path.abspath(path) if os.path.isdir(path) else path
