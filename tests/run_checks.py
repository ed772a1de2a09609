"""Comparing run folders: what "the same dataset" means for the resume, Ray and deployment tests."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.run.tables import read_rejected, read_run
from pipeline.run.validate import validate_run


def content(run: Path) -> dict:
    """Everything a run's data consists of, in shard order; timings and paths left out."""
    kept, rejected = read_run(run), read_rejected(run)
    stats = json.loads((run / "stats.json").read_text())
    for volatile in ("timings_seconds", "models", "prompts"):
        stats.pop(volatile, None)
    return {
        "ids": list(kept["id"]),
        "aligned": [cell["bytes"] for cell in kept["aligned"]],
        "violating": [cell["bytes"] for cell in kept["violating"]],
        "rejected": list(zip(rejected["id"], rejected["reason"])),
        "files": sorted(p.name for p in (run / "shards").iterdir()),
        "stats": stats,
    }


def assert_same_dataset(run: Path, reference: Path) -> None:
    got, want = content(run), content(reference)
    assert len(got["ids"]) == len(set(got["ids"])), "duplicate ids"
    assert got["ids"] == want["ids"]
    assert got["aligned"] == want["aligned"], "aligned image bytes differ"
    assert got["violating"] == want["violating"], "violating image bytes differ"
    assert got["rejected"] == want["rejected"]
    assert got["files"] == want["files"]
    assert got["stats"] == want["stats"]
    # whole files, byte for byte: scores too, not only the images (a score's last float bits
    # once depended on what the worker had scored before)
    for folder in ("shards", "rejected"):
        for path in sorted((reference / folder).glob("*.parquet")):
            assert (run / folder / path.name).read_bytes() == path.read_bytes(), f"{folder}/{path.name} differs"


def assert_clean(run: Path) -> None:
    """Valid by the data contract, and no temporary or partial file anywhere in the folder."""
    assert validate_run(run) == []
    leftovers = [str(p.relative_to(run)) for p in run.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []
