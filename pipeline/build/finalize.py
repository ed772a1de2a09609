"""Finalize a run: stats.json and the dataset card from the completed shards' reports."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.errors import ShardsFailedError
from pipeline.filters import REASONS
from pipeline.plan.checks import REASONS as CHECK_REASONS
from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import PreparedRun
from pipeline.run.reports import ShardFailure, ShardReport


def summarize(prepared: PreparedRun, reports: list[ShardReport]) -> dict:
    def total(attr: str) -> dict[str, int]:
        c: Counter = Counter()
        for r in reports:
            c.update(getattr(r, attr))
        return dict(sorted(c.items()))

    dropped = total("dropped")
    refused = prepared.prompt_stats.planning_dropped or {}
    timings: Counter = Counter()
    for r in reports:
        timings.update(r.seconds)
    return {
        "run_hash": prepared.run_hash,
        "shards": prepared.num_shards,
        "planned": sum(r.planned for r in reports),
        "kept": sum(r.kept for r in reports),
        "dropped": sum(dropped.values()),
        **{f"dropped_{reason}": dropped.get(reason, 0) for reason in REASONS},
        # refused by the prompt checks before rendering (not among "planned")
        "refused_at_planning": sum(refused.values()),
        **{f"dropped_{reason}": refused.get(reason, 0) for reason in CHECK_REASONS},
        "planned_by_category": total("planned_by_category"),
        "kept_by_category": total("kept_by_category"),
        "prompts": prepared.prompt_stats.to_dict(),
        "timings_seconds": {k: round(v, 3) for k, v in sorted(timings.items())},
        # shards this run found damaged (files not matching their markers) and redid
        "repaired_shards": [{"index": r.index, "damage": r.repaired} for r in reports if r.repaired],
    }


def finalize_run(cfg: RunConfig, out: Path | str, prepared: PreparedRun, reports: list[ShardReport],
                 wall_seconds: float | None = None, failures: list[ShardFailure] | None = None) -> dict:
    """Write stats.json and README.md; `failures` are listed under ``failed_shards`` and make
    ``complete`` false. Returns the stats."""
    from pipeline.run.card import render_card

    paths = RunPaths(Path(out))
    stats = summarize(prepared, reports)
    stats["complete"] = not failures
    stats["failed_shards"] = [f.to_dict() for f in sorted(failures or [], key=lambda f: f.index)]
    if wall_seconds is not None:
        stats["timings_seconds"]["wall"] = round(wall_seconds, 3)
    stats["models"] = {"render": cfg.render.model, "clip": cfg.score.clip_model,
                       "models_dir": str(paths.models(cfg.models_cache))}
    if "llm" in stats["prompts"]:  # usage of the LLM stages (all run while preparing), on top
        stats["llm"] = stats["prompts"]["llm"]
        stats["prompts"] = {k: v for k, v in stats["prompts"].items() if k != "llm"}
    atomic_write_text(paths.stats, json.dumps(stats, indent=2))
    atomic_write_text(paths.card, render_card(cfg, stats, paths.root))
    return stats


def raise_if_failed(stats: dict, out: Path | str) -> None:
    if stats["failed_shards"]:
        raise ShardsFailedError([ShardFailure(**f) for f in stats["failed_shards"]], str(out))
