"""A run's identity: the config hash (performance-only fields left out, see `pipeline.config`)
plus the content of every input file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.config import RunConfig, config_hash


def _digest_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def run_hash(cfg: RunConfig) -> str:
    """Config hash plus the content of the catalog, the packs and the prompt files: editing a
    principle or a template changes the data, so it changes the identity."""
    inputs = list(Path(cfg.catalog_dir).glob("*.yaml")) + list(Path(cfg.prompts.packs_dir).glob("*.yaml"))
    inputs += [Path(f) for f in cfg.prompts.files]
    blob = config_hash(cfg) + _digest_files(inputs)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
