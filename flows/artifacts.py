"""What a `build-dataset` flow run shows in Prefect: a progress artifact updated as shards
finish, a table of per-shard counts and drop reasons, and a markdown summary at the end."""

from __future__ import annotations

import time

from prefect.artifacts import (create_markdown_artifact, create_progress_artifact, create_table_artifact,
                               update_progress_artifact)

from pipeline.filters import REASONS

PROGRESS_KEY = "build-dataset-progress"
SHARDS_KEY = "build-dataset-shards"
SUMMARY_KEY = "build-dataset-summary"


def shard_row(index: int, report=None, failure: dict | None = None) -> dict:
    if report is None:
        return {"shard": index, "status": "failed", "planned": failure["pairs"], "kept": 0, "dropped": 0,
                **{r: 0 for r in REASONS}, "seconds": 0.0, "error": failure["error"]}
    return {"shard": index, "status": "resumed" if report.resumed else "done", "planned": report.planned,
            "kept": report.kept, "dropped": sum(report.dropped.values()),
            **{r: report.dropped.get(r, 0) for r in REASONS},
            "seconds": round(sum(report.seconds.values()), 2), "error": ""}


class RunBoard:
    """Per-shard rows of one flow run and the artifacts built from them."""

    def __init__(self, prepared, out: str) -> None:
        self.prepared = prepared
        self.out = out
        self.rows: dict[int, dict] = {}
        self.started = time.monotonic()
        self.pairs_this_run = 0  # pairs of shards processed now, not resumed: the rate's numerator
        self.progress_id = create_progress_artifact(
            progress=0.0, key=PROGRESS_KEY,
            description=f"{out}: pairs of finished shards (run {prepared.run_hash})")

    def record(self, index: int, report=None, failure: dict | None = None, publish: bool = True) -> None:
        self.rows[index] = shard_row(index, report, failure)
        if report is None or not report.resumed:
            self.pairs_this_run += self.rows[index]["planned"]
        if publish:
            self.publish_progress()

    def progress(self) -> float:
        finished = sum(row["planned"] for row in self.rows.values())
        return round(100.0 * finished / max(self.prepared.num_pairs, 1), 2)

    def status(self) -> str:
        """'3 of 6 shards finished (50% of pairs, 1.20 pairs/s, eta 20 s)' for the run log."""
        finished = sum(row["planned"] for row in self.rows.values())
        rate = self.pairs_this_run / max(time.monotonic() - self.started, 1e-9)
        eta = (self.prepared.num_pairs - finished) / rate if rate else float("nan")
        return (f"{len(self.rows)} of {self.prepared.num_shards} shards finished ({self.progress():.0f}% of pairs, "
                f"{rate:.2f} pairs/s, eta {eta:.0f} s)")

    def publish_progress(self) -> None:
        update_progress_artifact(self.progress_id, progress=self.progress())

    def publish_results(self, stats: dict) -> None:
        create_table_artifact(key=SHARDS_KEY, table=[self.rows[i] for i in sorted(self.rows)],
                              description=f"{self.out}: per-shard counts and drop reasons")
        create_markdown_artifact(key=SUMMARY_KEY, markdown=summary_markdown(self.out, stats),
                                 description="dataset build summary")


def summary_markdown(out: str, stats: dict) -> str:
    drops = "\n".join(f"| {r} | {stats.get(f'dropped_{r}', 0)} |" for r in REASONS)
    cats = "\n".join(f"| {c} | {n} | {stats['kept_by_category'].get(c, 0)} |"
                     for c, n in stats["planned_by_category"].items())
    lines = [f"# {out}", "",
             f"Kept **{stats['kept']}** of {stats['planned']} pairs in completed shards "
             f"(run `{stats['run_hash']}`, {stats['shards']} shards, "
             f"{stats['timings_seconds'].get('wall', 0):.0f} s).", ""]
    if stats["failed_shards"]:
        lines += [f"**{len(stats['failed_shards'])} shard(s) failed**; re-run the same deployment or command "
                  "to retry only them.", "", "| shard | pairs | attempts | error |", "|---|---|---|---|"]
        lines += [f"| {f['index']} | {f['pairs']} | {f['attempts']} | {f['error'][:200].replace('|', '/')} |"
                  for f in stats["failed_shards"]]
        lines.append("")
    lines += ["| reason | dropped |", "|---|---|", drops, "", "| category | planned | kept |", "|---|---|---|",
              cats, ""]
    return "\n".join(lines)
