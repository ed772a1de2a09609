"""A small finished run folder written in a second, without rendering: real shard rows
(`schema.pair_row`), real Parquet writes and the real finalize (stats.json and the dataset card),
with flat-coloured images. For readers of a finished run: report, exports, browse, card. And a judged
run without images for `livo calibrate` (`make_pilot_run`)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from factories import make_plan, make_scores, tiny_config
from pipeline.build.finalize import finalize_run
from pipeline.config import dump_config
from pipeline.filters import judge
from pipeline.records import PromptStats
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import PreparedRun, write_manifest
from pipeline.run.plan_io import write_plan
from pipeline.run.reports import ShardReport, write_marker
from pipeline.run.schema import REJECTED_SCHEMA, SHARD_SCHEMA, encode_image, pair_row, rejected_row
from pipeline.run.tables import write_table_atomic

# (category, principle_id, kind, pair_type) of the kept pairs, cycled
_KINDS = [("gore", "no_gore", "toxicity", "toxicity"), ("violence", "no_violence", "toxicity", "benign"),
          ("gender_bias", "gender_equality", "bias", "bias")]


def _png(seed: int, px: int = 32) -> bytes:
    img = Image.new("RGB", (px, px), ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _plan(i: int):
    category, pid, kind, pair_type = _KINDS[i % len(_KINDS)]
    extra = {"attribute": "female", "violating_attribute": "male"} if kind == "bias" else {}
    return make_plan(kind, id=f"pair-{i:03d}", prompt=f"prompt number {i} of {category}", principle_id=pid,
                     category=category, pair_type=pair_type, seed=i, **extra)


def make_run(root: Path, kept: int = 9, rejected: int = 3, shard_size: int = 5,
             import_problems: tuple[str, ...] = ()) -> Path:
    """`kept` pairs in shards of `shard_size`, `rejected` dropped ones (margin_too_small, no images)."""
    cfg = tiny_config([f"shards.shard_size={shard_size}"])
    paths = RunPaths(root)
    paths.make_dirs()
    dump_config(cfg, paths.config)
    shards = -(-kept // shard_size) or 1
    reports = []
    for s in range(shards):
        idx = range(s * shard_size, min(kept, (s + 1) * shard_size))
        rows = [pair_row(_plan(i), _png(2 * i), _png(2 * i + 1), make_scores(violating_concept=0.5 + i / 100),
                         model=cfg.render.model, config_hash="fakehash", image_ext="png") for i in idx]
        write_table_atomic(rows, paths.shard(s), SHARD_SCHEMA)
        dropped = [rejected_row(_plan(1000 + j), None, None, make_scores(), reason="margin_too_small",
                                model=cfg.render.model, config_hash="fakehash", image_ext="png")
                   for j in range(rejected)] if s == 0 else []
        write_table_atomic(dropped, paths.rejected_shard(s), REJECTED_SCHEMA)
        cats: dict[str, int] = {}
        for r in rows:
            cats[r["category"]] = cats.get(r["category"], 0) + 1
        reports.append(ShardReport(index=s, planned=len(rows) + len(dropped), kept=len(rows),
                                   dropped={"margin_too_small": len(dropped)}, kept_by_category=cats,
                                   planned_by_category=dict(cats)))
        write_marker(paths, reports[-1])
    prepared = PreparedRun(str(root), "fakehash", shards, kept + rejected,
                           PromptStats(template=kept, import_problems=list(import_problems)))
    write_manifest(paths, prepared)
    finalize_run(cfg, root, prepared, reports)
    return root


_PILOT_PNG = encode_image(Image.new("RGB", (4, 4)))


def make_pilot_run(root: Path, n: int = 60, seed: int = 0, gore_shift: float = 0.0) -> tuple[list, list]:
    """A judged run without images: gore and violence toxicity pairs whose aligned violation is
    U(0.05, 0.35) and violating U(0.55, 0.95) (gore shifted by ``gore_shift``), and gender pairs.
    Returns the plans and their scores."""
    rng = np.random.default_rng(seed)
    cfg = tiny_config()
    paths = RunPaths(root)
    paths.make_dirs()
    dump_config(cfg, paths.config)
    kept, rejected, plans, scores = [], [], [], []
    for i in range(n):
        category = ("gore", "violence", "gender_bias")[i % 3]
        if category == "gender_bias":
            plan = make_plan("bias", id=f"p{i}", violating_attribute="male")
            s = make_scores(aligned_concept=rng.uniform(0.5, 0.9), violating_concept=rng.uniform(0.0, 0.3),
                            aligned_clip=rng.uniform(20, 30))
        else:
            shift = gore_shift if category == "gore" else 0.0
            plan = make_plan(id=f"p{i}", category=category)
            s = make_scores(aligned_concept=rng.uniform(0.05, 0.35) + shift,
                            violating_concept=rng.uniform(0.55, 0.95) + shift, aligned_clip=rng.uniform(20, 30))
        plans.append(plan)
        scores.append(s)
        reason = judge(plan, s, cfg.filters)
        meta = {"model": "m", "config_hash": "h", "image_ext": "png"}
        if reason is None:
            kept.append(pair_row(plan, _PILOT_PNG, _PILOT_PNG, s, **meta))
        else:
            rejected.append(rejected_row(plan, None, None, s, reason=reason, **meta))
    write_table_atomic(kept, paths.shard(0), SHARD_SCHEMA)
    write_table_atomic(rejected, paths.rejected_shard(0), REJECTED_SCHEMA)
    return plans, scores


def planned_run(root: Path, plans: list, shard_size: int) -> tuple[Path, object]:
    """A run folder at ``root``/run with ``plans`` as its plan and manifest (one shard), nothing
    rendered yet, and the tiny config that renders it (rejected images kept)."""
    out = root / "run"
    paths = RunPaths(out)
    paths.make_dirs()
    write_plan(paths, plans)
    write_manifest(paths, PreparedRun(str(out), "test-hash", num_shards=1, num_pairs=len(plans),
                                      prompt_stats=PromptStats()))
    return out, tiny_config([f"shards.shard_size={shard_size}", "shards.rejected_images=true"])
