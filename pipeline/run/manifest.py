"""``run.json``: the identity of a prepared run (run hash, pairs, shards, prompt statistics)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import MissingFileError
from pipeline.records import PromptStats
from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import MANIFEST_FILE, RunPaths


@dataclass
class PreparedRun:
    root: str
    run_hash: str
    num_shards: int
    num_pairs: int
    prompt_stats: PromptStats

    def shard_pairs(self, index: int, shard_size: int) -> int:
        """Planned pairs of shard ``index`` (the last shard may be short)."""
        return max(0, min(shard_size, self.num_pairs - index * shard_size))

    def to_dict(self) -> dict:
        return {"root": self.root, "run_hash": self.run_hash, "num_shards": self.num_shards,
                "num_pairs": self.num_pairs, "prompt_stats": self.prompt_stats.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> PreparedRun:
        return cls(**{**data, "prompt_stats": PromptStats.from_dict(data["prompt_stats"])})


def write_manifest(paths: RunPaths, prepared: PreparedRun) -> None:
    atomic_write_text(paths.manifest, json.dumps(prepared.to_dict(), indent=2))


def read_manifest(paths: RunPaths) -> PreparedRun | None:
    if not paths.manifest.exists():
        return None
    return PreparedRun.from_dict(json.loads(paths.manifest.read_text()))


def run_hash_of(run_dir: str | Path) -> str:
    """The run hash of a finished run folder, for readers such as training."""
    prepared = read_manifest(RunPaths(Path(run_dir)))
    if prepared is None:
        raise MissingFileError(f"{run_dir} has no {MANIFEST_FILE}: not a run folder written by `make shards`")
    return prepared.run_hash
