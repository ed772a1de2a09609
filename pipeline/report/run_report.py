"""`livo report RUN`: one self-contained HTML file about a finished run (RUN/report.html by default):
the card's facts (counts, drop reasons, thresholds, models, import problems), score charts of every kept
pair (their category and score columns alone, read shard by shard), and a gallery of a deterministic
sample of kept and rejected pairs (only the sampled rows' row groups read)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.config import load_config
from pipeline.errors import MissingFileError
from pipeline.filters import REASONS
from pipeline.report import charts, gallery
from pipeline.report import html as H
from pipeline.run.atomic import atomic_write_text
from pipeline.run.browse import read_sample
from pipeline.run.counts import count_run
from pipeline.run.facts import Table, count_tables, import_problems, model_table, notes, threshold_table
from pipeline.run.layout import RunPaths, parquet_files


@dataclass(frozen=True)
class ReportOptions:
    max_pairs: int = 200  # kept pairs shown (a deterministic sample beyond that); as many rejected ones
    seed: int = 0
    boxes: bool = True  # run NudeNet on the shown violating images to blur only its boxes
    page_size: int = H.PAGE_SIZE


def _plain(tables: list[Table]) -> list[Table]:
    """The facts' tables with their `code` marks dropped (a table cell is plain text here)."""
    return [(head, [[c.strip("`") if isinstance(c, str) else c for c in row] for row in rows]) for head, rows in tables]


def _sample(paths: RunPaths, n: int, seed: int, rejected: bool) -> tuple[pd.DataFrame, int]:
    """(sampled rows, rows in total) of the kept or rejected pairs."""
    files = parquet_files(paths.rejected if rejected else paths.shards)
    if not files:
        return pd.DataFrame(), 0
    import pyarrow.parquet as pq

    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return read_sample(paths.root, n, seed, rejected=rejected).to_pandas(), total


def score_frame(paths: RunPaths) -> pd.DataFrame:
    """Every kept pair's category and numeric scores, no images or prompts: what the charts draw, from
    all rows of the run rather than the gallery's sample, at a few bytes per pair."""
    import pyarrow.parquet as pq

    wanted = ["category", *dict.fromkeys(c for _, a, v in charts.score_pairs() for c in (a, v) if c)]
    frames = []
    for f in parquet_files(paths.shards):
        names = set(pq.ParquetFile(f).schema_arrow.names)
        frames.append(pq.read_table(f, columns=[c for c in wanted if c in names]).to_pandas())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=wanted)


def render_report(run: str | Path, options: ReportOptions = ReportOptions()) -> str:
    paths = RunPaths(Path(run))
    cfg = load_config(paths.config)
    stats = json.loads(paths.stats.read_text()) if paths.stats.exists() else {}
    counts = count_run(paths)
    kept, kept_total = _sample(paths, options.max_pairs, options.seed, rejected=False)
    rejected, rejected_total = _sample(paths, options.max_pairs, options.seed, rejected=True)
    boxes = gallery.NudeNetBoxes() if options.boxes and cfg.score.nudenet else None
    both = pd.concat([d for d in (kept, rejected) if len(d)]) if len(kept) + len(rejected) else pd.DataFrame()
    scores = score_frame(paths)
    charts_shown = [(alt, H.png_uri(png)) for alt, png in
                    ((f"score histograms of all {len(scores)} kept pairs", charts.histograms(scores)),
                     (f"margins per category of all {len(scores)} kept pairs", charts.margins(scores)))
                    if png is not None]
    return H.render(
        "report.html.j2", title=f"{cfg.name}: run report", page_size=options.page_size, name=cfg.name,
        run=paths.root.name, run_hash=str(stats.get("run_hash", "?")), kept=stats.get("kept", counts.kept_total),
        planned=stats.get("planned", "?"), notes=notes(cfg, stats, counts), boxes=boxes is not None,
        count_tables=_plain(count_tables(stats, counts)), threshold_table=_plain([threshold_table(cfg)])[0],
        model_table=_plain([model_table(cfg, stats, paths.root)])[0], problems=import_problems(stats),
        charts=charts_shown,
        shown={"kept": len(kept), "kept_total": kept_total, "rejected": len(rejected),
               "rejected_total": rejected_total, "seed": options.seed,
               "no_rejected_images": bool(rejected_total) and not cfg.shards.rejected_images},
        filters=[("category", "category", both.get("category", [])),
                 ("principle", "principle", both.get("principle_id", [])),
                 ("pairType", "pair type", both.get("pair_type", [])),
                 ("status", "kept / rejected", ["kept"] * bool(len(kept)) + ["rejected"] * bool(len(rejected)))],
        cards=gallery.cards(kept, "kept", REASONS, boxes) + gallery.cards(rejected, "rejected", REASONS, boxes))


def write_report(run: str | Path, out: str | Path | None = None, options: ReportOptions = ReportOptions()) -> Path:
    paths = RunPaths(Path(run))
    if not paths.config.exists():
        raise MissingFileError(f"{run} has no {paths.config.name}: not a run folder (build one with `livo shards`)")
    target = Path(out) if out is not None else paths.report
    atomic_write_text(target, render_report(run, options))
    return target
