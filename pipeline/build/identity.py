"""A run's identity: the config hash (performance-only fields left out, see `pipeline.config`)
plus the content of every input file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.config import RunConfig, config_hash
from pipeline.select.head import HEAD_FILE


def _digest_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def run_hash(cfg: RunConfig) -> str:
    """Config hash plus the content of the catalog, the packs, the prompt files and the default
    selector's head and the Q16 prompts: editing a principle or a template, or retraining the head, changes the
    data, so it changes the identity."""
    inputs = list(Path(cfg.catalog_dir).glob("*.yaml")) + list(Path(cfg.prompts.packs_dir).glob("*.yaml"))
    inputs += [Path(f) for f in cfg.prompts.files]
    if cfg.selector == "default":  # the trained head decides principles: retraining changes the data
        head = cfg.semantic.head or Path(cfg.catalog_dir) / HEAD_FILE
        inputs += [Path(head)] if Path(head).is_file() else []
    if cfg.score.q16_prompts is not None and Path(cfg.score.q16_prompts).is_file():  # Q16's judgement is the file
        inputs.append(Path(cfg.score.q16_prompts))
    blob = config_hash(cfg) + _digest_files(inputs)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
