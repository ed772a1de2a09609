"""The run folder: every file and folder name of a run, defined once.

    <run>/config.yaml        resolved configuration               CONFIG_FILE
    <run>/run.json           run hash, pairs, shards, prompt stats MANIFEST_FILE (manifest.py)
    <run>/plan.jsonl         the deterministic pair plan          PLAN_FILE (plan_io.py)
    <run>/plan_dropped.jsonl pairs the prompt checks refused      DROPPED_FILE (plan_io.py)
    <run>/shards/shard-00000.parquet ...        kept pairs        SHARDS_DIR (schema.py, tables.py)
    <run>/rejected/rejected-00000.parquet ...   dropped pairs     REJECTED_DIR
    <run>/_done/shard-00000.json ...            shard markers     MARKERS_DIR (reports.py)
    <run>/stats.json         counts, timings, failed shards       STATS_FILE
    <run>/README.md          dataset card                         CARD_FILE (card.py)
    <run>/report.html        HTML report (`livo report`)          REPORT_FILE (pipeline.report)
    <run>/calibration/calibration.json, calibration.png, filters.yaml
                             thresholds proposed from the run     CALIBRATION_DIR (pipeline.calibrate)
    <run>/models/            built-in tiny models (models_cache null)  MODELS_DIR
    <run>/llm_cache.sqlite   LLM request cache                    LLM_CACHE_FILE
    <run>/llm_failures.jsonl rows an LLM stage gave up on         LLM_FAILURES_FILE
    <run>/.build.lock        held by the process building the run  LOCK_FILE (lock.py)

Everything that reads or writes a run (the build, validation, training) goes through
`RunPaths`; temporary files of interrupted writes are recognised by `atomic.is_temp_name`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import MissingFileError
from pipeline.run.atomic import is_temp_name, remove_leftovers

CONFIG_FILE = "config.yaml"
MANIFEST_FILE = "run.json"
PLAN_FILE = "plan.jsonl"
DROPPED_FILE = "plan_dropped.jsonl"
STATS_FILE = "stats.json"
CARD_FILE = "README.md"
REPORT_FILE = "report.html"
SHARDS_DIR = "shards"
REJECTED_DIR = "rejected"
MARKERS_DIR = "_done"
CALIBRATION_DIR = "calibration"
MODELS_DIR = "models"
LLM_CACHE_FILE = "llm_cache.sqlite"
LLM_FAILURES_FILE = "llm_failures.jsonl"
LOCK_FILE = ".build.lock"


def shard_name(index: int) -> str:
    """File name of the index-th kept shard (zero padded so name order == write order)."""
    return f"shard-{index:05d}.parquet"


def rejected_name(index: int) -> str:
    return f"rejected-{index:05d}.parquet"


def marker_name(index: int) -> str:
    return f"shard-{index:05d}.json"


def parquet_files(folder: Path) -> list[Path]:
    """The Parquet files of a folder, never the temporary files of unfinished writes; sorted, so
    shard order (and so row order) is stable across runs and file systems."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    # Files only: a folder that happens to end in .parquet is not a shard (nothing here writes one).
    return sorted(p for p in folder.glob("*.parquet") if p.is_file() and not is_temp_name(p.name))


@dataclass(frozen=True)
class RunPaths:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def plan(self) -> Path:
        return self.root / PLAN_FILE

    @property
    def plan_dropped(self) -> Path:
        return self.root / DROPPED_FILE

    @property
    def stats(self) -> Path:
        return self.root / STATS_FILE

    @property
    def card(self) -> Path:
        return self.root / CARD_FILE

    @property
    def report(self) -> Path:
        return self.root / REPORT_FILE

    @property
    def shards(self) -> Path:
        return self.root / SHARDS_DIR

    @property
    def rejected(self) -> Path:
        return self.root / REJECTED_DIR

    @property
    def markers(self) -> Path:
        return self.root / MARKERS_DIR

    @property
    def calibration(self) -> Path:
        return self.root / CALIBRATION_DIR

    @property
    def llm_cache(self) -> Path:
        return self.root / LLM_CACHE_FILE

    @property
    def llm_failures(self) -> Path:
        return self.root / LLM_FAILURES_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    def shard(self, index: int) -> Path:
        return self.shards / shard_name(index)

    def rejected_shard(self, index: int) -> Path:
        return self.rejected / rejected_name(index)

    def marker(self, index: int) -> Path:
        return self.markers / marker_name(index)

    def models(self, models_cache: Path | str | None = None) -> Path:
        """Where built-in models live: ``models_cache`` when set, else <run>/models."""
        return Path(models_cache) if models_cache else self.root / MODELS_DIR

    def saved_models(self) -> Path:
        """`models` as the run's saved config.yaml says (for readers of a finished run)."""
        from pipeline.config import load_config

        cache = load_config(self.config).models_cache if self.config.exists() else None
        return self.models(cache)

    def make_dirs(self) -> None:
        for d in (self.root, self.shards, self.rejected, self.markers):
            d.mkdir(parents=True, exist_ok=True)

    def remove_root_leftovers(self) -> None:
        # run.json, config.yaml, stats.json and the card are written in the root only by the one
        # process that prepares or finalizes a run; shard workers write below it.
        remove_leftovers(self.root)

    def remove_shard_leftovers(self, index: int) -> None:
        """Temp files a killed attempt of this shard left (they would fail validation); only its own."""
        for folder, name in ((self.shards, shard_name(index)), (self.rejected, rejected_name(index)),
                             (self.markers, marker_name(index))):
            remove_leftovers(folder, name)

    def shard_files(self) -> list[Path]:
        """The kept-pair shards of a finished run; FileNotFoundError naming the fix when there are none."""
        if not self.shards.is_dir():
            raise MissingFileError(f"no {SHARDS_DIR}/ folder in {self.root}: run `make shards` first")
        files = parquet_files(self.shards)
        if not files:
            raise MissingFileError(f"{self.shards} holds no shards: run `make shards` first")
        return files
