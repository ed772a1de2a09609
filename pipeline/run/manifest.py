"""``run.json``: the identity of a prepared run (run hash, pairs, shards, prompt statistics)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import MissingFileError
from pipeline.records import PromptStats
from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import MANIFEST_FILE, RunPaths
from pipeline.run.plan_io import ShardLayout


@dataclass
class PreparedRun:
    root: str
    run_hash: str
    num_shards: int
    num_pairs: int
    prompt_stats: PromptStats
    samples_per_pair: int = 1  # what the plan was made with (a growing planning.samples_per_pair extends it)
    sample_pairs: int | None = None  # pairs of sample 0, the shards' block (`ShardLayout`); None: the whole plan

    def layout(self, shard_size: int) -> ShardLayout:
        return ShardLayout(self.num_pairs, shard_size, self.sample_pairs)

    def shard_pairs(self, index: int, shard_size: int) -> int:
        """Planned pairs of shard ``index`` (the last shard of each sample may be short)."""
        return self.layout(shard_size).pairs_of(index)

    def to_dict(self) -> dict:
        return {"root": self.root, "run_hash": self.run_hash, "num_shards": self.num_shards,
                "num_pairs": self.num_pairs, "prompt_stats": self.prompt_stats.to_dict(),
                "samples_per_pair": self.samples_per_pair, "sample_pairs": self.sample_pairs}

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
