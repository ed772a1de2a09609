"""What a `build-dataset` flow run shows in Prefect: a progress artifact updated as shards
finish, a table of per-shard counts and drop reasons, and a markdown summary at the end.
`RunBoard` is the flow's `pipeline.build.progress.BuildProgress`."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from flows.console import LIVO
from pipeline.build.progress import ProgressCounts
from pipeline.filters import REASONS
from pipeline.run.manifest import PreparedRun
from pipeline.run.reports import ShardFailure, ShardReport

PROGRESS_KEY = "build-dataset-progress"
SHARDS_KEY = "build-dataset-shards"
SUMMARY_KEY = "build-dataset-summary"


def shard_row(index: int, report: ShardReport | None = None, failure: ShardFailure | None = None) -> dict:
    if report is None:
        return {"shard": index, "status": "failed", "planned": failure.pairs, "kept": 0, "dropped": 0,
                **{r: 0 for r in REASONS}, "seconds": 0.0, "error": failure.error}
    return {"shard": index, "status": "resumed" if report.resumed else "done", "planned": report.planned,
            "kept": report.kept, "dropped": sum(report.dropped.values()),
            **{r: report.dropped.get(r, 0) for r in REASONS},
            "seconds": round(sum(report.seconds.values()), 2), "error": ""}


class RunBoard:
    """Per-shard rows of one flow run, the artifacts built from them and the run-log lines."""

    def __init__(self, out: str, runner: str = "local") -> None:
        self.out = out
        self.runner = runner
        self.rows: dict[int, dict] = {}
        self.counts: ProgressCounts | None = None
        self.progress_id = None

    def start(self, prepared: PreparedRun, done: list[ShardReport]) -> None:
        self.counts = ProgressCounts(prepared)
        self.progress_id = create_progress_artifact(
            progress=0.0, key=PROGRESS_KEY,
            description=f"{self.out}: pairs of finished shards (run {prepared.run_hash})")
        get_run_logger().info("run %s: %d pairs in %d shards, %d to do (runner %s)", prepared.run_hash,
                              prepared.num_pairs, prepared.num_shards, prepared.num_shards - len(done), self.runner,
                              extra=LIVO)
        for report in done:
            self._record(report.index, report, None)
        self.publish_progress()

    def _record(self, index: int, report: ShardReport | None, failure: ShardFailure | None) -> None:
        self.rows[index] = shard_row(index, report, failure)
        self.counts.add(self.rows[index]["planned"], resumed=report is not None and report.resumed)

    def shard_done(self, index: int, report: ShardReport | None, failure: ShardFailure | None) -> None:
        self._record(index, report, failure)
        logger = get_run_logger()
        # one line per shard: what it gave, then where the run stands
        if report is not None:
            logger.info("shard %d: kept %d of %d, dropped %s (%.1f s); %s", index, report.kept, report.planned,
                        report.dropped or "none", sum(report.seconds.values()), self.status(), extra=LIVO)
        else:
            logger.error("shard %d failed after its retries: %s; %s", index, failure.error, self.status(),
                         extra=LIVO)
        self.publish_progress()

    def progress(self) -> float:
        return self.counts.percent()

    def status(self) -> str:
        """'3 of 6 shards finished (50% of pairs, 1.20 pairs/s, eta 20 s)' for the run log."""
        return self.counts.status()

    def publish_progress(self) -> None:
        update_progress_artifact(self.progress_id, progress=self.progress())

    def close(self, stats: dict | None) -> None:
        if stats is None:
            return
        create_table_artifact(key=SHARDS_KEY, table=[self.rows[i] for i in sorted(self.rows)],
                              description=f"{self.out}: per-shard counts and drop reasons")
        create_markdown_artifact(key=SUMMARY_KEY, markdown=summary_markdown(self.out, stats),
                                 description="dataset build summary")


def summary_markdown(out: str, stats: dict) -> str:
    drops = "\n".join(f"| {r} | {stats.get(f'dropped_{r}', 0)} |" for r in REASONS)
    cats = "\n".join(f"| {c} | {n} | {stats['kept_by_category'].get(c, 0)} |"
                     for c, n in stats["planned_by_category"].items())
    lines = [f"# {out}", "",
             (f"Kept **{stats['kept']}** of {stats['planned']} pairs in completed shards "
              f"(run `{stats['run_hash']}`, {stats['shards']} shards, "
              f"{stats['timings_seconds'].get('wall', 0):.0f} s)."), ""]
    if stats["failed_shards"]:
        lines += [(f"**{len(stats['failed_shards'])} shard(s) failed**; re-run the same deployment or command "
                   "to retry only them."), "", "| shard | pairs | attempts | error |", "|---|---|---|---|"]
        lines += [f"| {f['index']} | {f['pairs']} | {f['attempts']} | {f['error'][:200].replace('|', '/')} |"
                  for f in stats["failed_shards"]]
        lines.append("")
    lines += ["| reason | dropped |", "|---|---|", drops, "", "| category | planned | kept |", "|---|---|---|",
              cats, ""]
    return "\n".join(lines)
