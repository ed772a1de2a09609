"""A finished build grown with planning.samples_per_pair renders only the new samples: the shards of
the first build are kept as they are (never reopened), the new samples fill new shards, and the
grown folder is a valid, complete run."""

from __future__ import annotations

from pathlib import Path

from factories import tiny_config
from pipeline.build.executor import build_dataset
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import read_manifest
from pipeline.run.tables import read_run
from run_checks import assert_clean


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_growing_samples_renders_only_the_new_pairs(tmp_path, small_build):
    out = tmp_path / "run"
    paths = RunPaths(out)
    one = build_dataset(tiny_config(small_build), out)
    first = read_manifest(paths)
    before = _snapshot(paths.markers), _snapshot(paths.shards), _snapshot(paths.rejected)
    assert one["complete"] and first.samples_per_pair == 1

    two = build_dataset(tiny_config(small_build + ["planning.samples_per_pair=2"]), out)
    grown = read_manifest(paths)
    assert two["complete"] and two["planned"] == 2 * one["planned"]
    assert (grown.run_hash, grown.num_shards, grown.num_pairs) == (
        first.run_hash, 2 * first.num_shards, 2 * first.num_pairs)
    markers, shards, rejected = _snapshot(paths.markers), _snapshot(paths.shards), _snapshot(paths.rejected)
    for old, new in zip(before, (markers, shards, rejected)):  # not rewritten: same bytes, same mtime
        assert {name: new[name] for name in old} == old
    assert len(markers) == grown.num_shards
    kept = read_run(out)
    assert set(kept["sample"]) <= {0, 1} and (kept["sample"] == 1).any()
    assert list(kept["sample"]) == sorted(kept["sample"])  # shards in order: the first sample, then the new one
    assert_clean(out)
