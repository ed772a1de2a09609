"""`livo report RUN`: one self-contained HTML file about a finished run (RUN/report.html by default):
the card's facts (counts, drop reasons, thresholds, models, import problems), score charts, and a
gallery of a deterministic sample of kept and rejected pairs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape
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


def _code(text: str) -> str:
    """Escape, then the facts' `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _tables(tables: list[Table]) -> str:
    return "".join(H.table(head, [[_plain(c) for c in row] for row in rows]) for head, rows in tables)


def _plain(v: object) -> object:
    return v.strip("`") if isinstance(v, str) else v


def _sample(paths: RunPaths, n: int, seed: int, rejected: bool) -> tuple[pd.DataFrame, int]:
    """(sampled rows, rows in total) of the kept or rejected pairs."""
    files = parquet_files(paths.rejected if rejected else paths.shards)
    if not files:
        return pd.DataFrame(), 0
    import pyarrow.parquet as pq

    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return read_sample(paths.root, n, seed, rejected=rejected).to_pandas(), total


def render_report(run: str | Path, options: ReportOptions = ReportOptions()) -> str:
    paths = RunPaths(Path(run))
    cfg = load_config(paths.config)
    stats = json.loads(paths.stats.read_text()) if paths.stats.exists() else {}
    counts = count_run(paths)
    kept, kept_total = _sample(paths, options.max_pairs, options.seed, rejected=False)
    rejected, rejected_total = _sample(paths, options.max_pairs, options.seed, rejected=True)
    boxes = gallery.NudeNetBoxes() if options.boxes and cfg.score.nudenet else None
    cards = gallery.cards(kept, "kept", REASONS, boxes) + gallery.cards(rejected, "rejected", REASONS, boxes)
    both = pd.concat([d for d in (kept, rejected) if len(d)]) if len(kept) + len(rejected) else pd.DataFrame()
    blur_how = ("NudeNet's boxes of exposed body parts where it finds any on the shown image (found again here: "
                "shards keep only the best score), the whole image otherwise" if boxes is not None
                else "the whole image (box detection off)")
    problems = import_problems(stats)
    chart_parts = [f'<img alt="{alt}" src="{H.png_uri(png)}">' for alt, png in
                   (("score histograms", charts.histograms(kept)), ("margins per category", charts.margins(kept)))
                   if png is not None]
    filters = [H.select("category", "category", both.get("category", [])),
               H.select("principle", "principle", both.get("principle_id", [])),
               H.select("pairType", "pair type", both.get("pair_type", [])),
               H.select("status", "kept / rejected", ["kept"] * bool(len(kept)) + ["rejected"] * bool(len(rejected)))]
    shown = (f"Showing {len(kept)} of {kept_total} kept and {len(rejected)} of {rejected_total} rejected pairs"
             + (f" (a deterministic sample, seed {options.seed}: the same run gives the same pairs)"
                if len(kept) < kept_total or len(rejected) < rejected_total else "") + ".")
    if rejected_total and not cfg.shards.rejected_images:
        shown += " Rejected pairs keep no images unless the run sets <code>shards.rejected_images</code>."
    body = f"""<h1>{escape(cfg.name)}: run report</h1>
<p>Run <code>{escape(paths.root.name)}</code>, hash <code>{escape(str(stats.get('run_hash', '?')))}</code>:
kept <b>{stats.get('kept', counts.kept_total)}</b> of {stats.get('planned', '?')} planned pairs.</p>
{''.join(H.note(f'<b>{escape(t)}</b> {_code(x)}', warning=i == 0) for i, (t, x) in enumerate(notes(cfg, stats, counts)))}
{H.note('Violating images are blurred: ' + blur_how + '. The switch above the gallery shows them.')}
<h2>Counts and drop reasons</h2>{_tables(count_tables(stats, counts))}
<h2>Filter thresholds</h2>{_tables([threshold_table(cfg)])}
<h2>Models</h2>{_tables([model_table(cfg, stats, paths.root)])}
<h2>Prompt import problems</h2>
{('<ul>' + ''.join(f'<li><code>{escape(p)}</code></li>' for p in problems) + '</ul>') if problems else '<p>None.</p>'}
<h2>Scores</h2><div class="charts">{''.join(chart_parts) or '<p>No scores.</p>'}</div>
<h2 id="gallery">Pairs</h2><p id="sample-info">{shown}</p>
{H.controls(filters)}
<div class="gallery">{''.join(cards)}</div>"""
    return H.page(f"{cfg.name}: run report", body, options.page_size)


def write_report(run: str | Path, out: str | Path | None = None, options: ReportOptions = ReportOptions()) -> Path:
    paths = RunPaths(Path(run))
    if not paths.config.exists():
        raise MissingFileError(f"{run} has no {paths.config.name}: not a run folder (build one with `livo shards`)")
    target = Path(out) if out is not None else paths.report
    atomic_write_text(target, render_report(run, options))
    return target
