"""The dataset build as plain library functions: prepare → process each shard → finalize.

Prefect (flows/) and the CLI only sequence these. A shard is the unit of work and of
resume: its completion marker is written after its Parquet files, so a shard with a
marker is complete and is never redone (datatrove's completion markers).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from pipeline.atomic import atomic_write_text
from pipeline.config import TINY_CLIP, TINY_SD, RunConfig, config_hash, dump_config, load_config
from pipeline.errors import ModelUnavailableError, RunConflictError, ShardsFailedError
from pipeline.filters import REASONS, judge
from pipeline.principles import Catalog, load_catalog
from pipeline.records import PairPlan, PromptRecord

log = logging.getLogger("pipeline.build")

PLAN_FILE = "plan.jsonl"
MARKERS = "_done"


@dataclass
class RunPaths:
    root: Path

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def markers(self) -> Path:
        return self.root / MARKERS

    @property
    def plan(self) -> Path:
        return self.root / PLAN_FILE

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    def models(self, cfg: RunConfig) -> Path:
        return Path(cfg.models_cache) if cfg.models_cache else self.root / "models"

    def marker(self, index: int) -> Path:
        return self.markers / f"shard-{index:05d}.json"


@dataclass
class ShardReport:
    index: int
    planned: int
    kept: int
    dropped: dict[str, int]
    kept_by_category: dict[str, int]
    planned_by_category: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    resumed: bool = False


@dataclass
class PreparedRun:
    root: str
    run_hash: str
    num_shards: int
    num_pairs: int
    prompt_stats: dict




def _remove_leftovers(folder: Path, prefix: str) -> None:
    """Delete temp files an earlier, killed attempt left behind (names from `pipeline.atomic.temp_path`).
    Only the caller's own files are named by `prefix`: a shard never
    touches another shard's in-flight writes."""
    if folder.is_dir():
        for p in folder.glob(f".{prefix}*.tmp-*"):
            if p.is_file():
                p.unlink(missing_ok=True)


def _digest_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def run_hash(cfg: RunConfig) -> str:
    """Config hash plus the content of every input file (catalog, packs, prompt files):
    editing a principle or a template changes the data, so it changes the identity."""
    inputs = list(Path(cfg.catalog_dir).glob("*.yaml")) + list(Path(cfg.prompts.packs_dir).glob("*.yaml"))
    inputs += [Path(f) for f in cfg.prompts.files]
    blob = config_hash(cfg) + _digest_files(inputs)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- prepare

def collect_prompts(cfg: RunConfig, llm=None, failures: list | None = None) -> tuple[list[PromptRecord], dict]:
    """Packs, then files, then (with prompts.generate) LLM prompts that duplicate neither;
    ``llm`` defaults to the configured client with the user cache, failures go to ``failures``."""
    from pipeline.prompt_import import read_prompt_files
    from pipeline.prompt_packs import dedupe, expand_packs, load_packs

    pc = cfg.prompts
    records: list[PromptRecord] = []
    stats: dict = {"template": 0, "imported": 0, "import_problems": []}
    if pc.packs_dir and (pc.categories is None or pc.categories):
        packs = load_packs(pc.packs_dir)
        expanded = expand_packs(packs, seed=pc.seed, per_category=pc.per_category, categories=pc.categories)
        records += expanded
        stats["template"] = len(expanded)
    if pc.files:
        result = read_prompt_files([Path(f) for f in pc.files], max_chars=pc.max_chars)
        records += result.records
        stats["imported"] = len(result.records)
        stats["import_problems"] = [str(p) for p in result.problems]
    unique = dedupe(records)
    if pc.generate is not None:
        from pipeline.llm_stages import generate_prompts, make_llm

        generated, stats["generated"] = generate_prompts(cfg, llm or make_llm(cfg), load_catalog(cfg.catalog_dir),
                                                         unique, failures if failures is not None else [])
        unique += generated
    stats["unique"] = len(unique)
    return unique, stats


def make_selector(cfg: RunConfig, catalog: Catalog, llm=None):
    """The configured selector; ``selector: llm`` uses ``llm`` (default: the configured client
    with the user cache) and collects undecided prompts in its ``failures``."""
    from pipeline import selector as sel

    if cfg.selector == "llm":
        from pipeline.llm_selector import LLMSelector
        from pipeline.llm_stages import make_llm

        return LLMSelector(catalog, llm or make_llm(cfg))
    if cfg.selector == "keyword":
        return sel.KeywordSelector(catalog)
    kwargs = {k: v for k, v in cfg.semantic.model_dump().items() if v is not None}
    kwargs["model_path"] = kwargs.pop("model", None)
    return sel.DefaultSelector(catalog, **kwargs)


def prepare_run(cfg: RunConfig, out: Path | str) -> PreparedRun:
    """Write the resolved config and the deterministic plan; reuse both when resuming."""
    from pipeline.planning import apply_pack_categories, plan_pairs

    paths = RunPaths(Path(out))
    rhash = run_hash(cfg)
    manifest = paths.root / "run.json"
    if manifest.exists():
        previous = json.loads(manifest.read_text())
        if previous["run_hash"] != rhash:
            raise RunConflictError(
                f"{paths.root} holds a run with a different configuration (run hash {previous['run_hash']}, "
                f"now {rhash}); choose another --out or delete that folder"
            )
        if paths.plan.exists():
            log.info("resuming run %s in %s", rhash, paths.root)
            # run.json, config.yaml, stats.json and the card are written in the root only by the one
            # process that prepares or finalizes a run; shard workers write below it.
            _remove_leftovers(paths.root, "")
            return PreparedRun(**previous)
    _remove_leftovers(paths.root, "")
    for d in (paths.root, paths.shards, paths.rejected, paths.markers):
        d.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, paths.config)

    catalog = load_catalog(cfg.catalog_dir)
    llm, llm_failures = None, []
    if cfg.uses_llm:
        from pipeline import llm_stages

        llm = llm_stages.make_llm(cfg, paths.root / "llm_cache.sqlite")
    prompts, prompt_stats = collect_prompts(cfg, llm, llm_failures)
    for problem in prompt_stats["import_problems"]:
        log.warning("skipped prompt: %s", problem)
    t0 = time.perf_counter()
    selector = make_selector(cfg, catalog, llm)
    selections = selector.select([p.text for p in prompts])
    llm_failures += getattr(selector, "failures", [])
    prompt_stats["selection_seconds"] = round(time.perf_counter() - t0, 3)
    if cfg.planning.trust_pack_category:
        selections = apply_pack_categories(prompts, selections, catalog)
    prompt_stats["selection_methods"] = dict(Counter(s.method for s in selections))
    rewrites = None
    if llm is not None:
        prompts, selections, prompt_stats["selection_failed"] = llm_stages.drop_failed_selections(prompts, selections)
        if cfg.rewriter == "llm":
            rewrites, prompt_stats["llm_rewrites"] = llm_stages.llm_rewrites(cfg, llm, catalog, selections,
                                                                              llm_failures)
        prompt_stats["llm"] = llm_stages.usage_stats(llm, llm_failures)
        llm_stages.write_failures(paths.root / llm_stages.FAILURES_FILE, llm_failures)
        for f in llm_failures:
            log.warning("LLM %s failed for %r: %s", f.stage, f.item[:80], f.reason)
        llm.close()
    plans = plan_pairs(prompts, selections, catalog, seed=cfg.planning.seed,
                       benign_pairs=cfg.planning.benign_pairs, max_pairs=cfg.planning.max_pairs, rewrites=rewrites)
    if not plans:
        raise RuntimeError("no pairs planned: no prompt matched a principle and benign pairs are off")
    atomic_write_text(paths.plan, "".join(json.dumps(p.to_dict()) + "\n" for p in plans))
    size = cfg.shards.shard_size
    prepared = PreparedRun(str(paths.root), rhash, (len(plans) + size - 1) // size, len(plans), prompt_stats)
    atomic_write_text(manifest, json.dumps(asdict(prepared), indent=2))
    return prepared


_plan_cache: dict[tuple[str, int, int], list[PairPlan]] = {}


def load_plan(out: Path | str) -> list[PairPlan]:
    """The run's plan, parsed once per process: every shard task reads it, and re-parsing the
    whole plan per shard would cost O(pairs × shards) on large runs."""
    path = RunPaths(Path(out)).plan
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _plan_cache:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        for r in rows:
            r["concepts"], r["safe_concepts"] = tuple(r["concepts"]), tuple(r["safe_concepts"])
        _plan_cache.clear()
        _plan_cache[key] = [PairPlan(**r) for r in rows]
    return _plan_cache[key]


def shard_plans(plans: list[PairPlan], index: int, size: int) -> list[PairPlan]:
    return plans[index * size:(index + 1) * size]


# ---------------------------------------------------------------- models

def resolve_model(name: str, models_dir: Path) -> str:
    """Map the explicit built-in names to their saved location, building them once."""
    from pipeline import tiny_models

    if name == TINY_SD:
        return str(tiny_models.ensure_tiny_sd(models_dir / "tiny-sd"))
    if name == TINY_CLIP:
        return str(tiny_models.ensure_tiny_clip(models_dir / "tiny-clip.pt"))
    return name


@lru_cache(maxsize=2)
def _renderer(model: str, device: str, dtype: str, steps: int, guidance: float, width: int, height: int,
              batch_size: int, scheduler: str | None):
    from pipeline.render import DiffusersRenderer

    return DiffusersRenderer(model, device=device, dtype=dtype, steps=steps, guidance_scale=guidance,
                             width=width, height=height, batch_size=batch_size, scheduler=scheduler)


@lru_cache(maxsize=2)
def _scorers(clip_model: str, nudenet: bool, device: str, batch_size: int) -> tuple:
    from pipeline.scoring import ClipScorer, NudeNetScorer

    scorers: list = [ClipScorer(clip_model, device=device, batch_size=batch_size)]
    if nudenet:
        scorers.append(NudeNetScorer())
    return tuple(scorers)


def load_models(cfg: RunConfig, out: Path | str):
    """Renderer and scorers, loaded once per process (cached), never per pair or shard."""
    models_dir = RunPaths(Path(out)).models(cfg)
    r, s = cfg.render, cfg.score
    renderer = _renderer(resolve_model(r.model, models_dir), r.device, r.dtype, r.steps, r.guidance_scale,
                         r.width, r.height, r.batch_size, r.scheduler)
    scorers = _scorers(resolve_model(s.clip_model, models_dir), s.nudenet, s.device, s.batch_size)
    return renderer, scorers


# ---------------------------------------------------------------- shards

@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """torch's CPU thread count for one shard, restored after it (callers may be long-lived processes)."""
    if n is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def process_shard(cfg: RunConfig, out: Path | str, index: int, renderer=None, scorers=None) -> ShardReport:
    """Render, score, filter and write shard `index`, then its marker; a shard with a marker is
    returned from the marker (``resumed``) without any work."""
    with _torch_threads(cfg.torch_threads):
        return _process_shard(cfg, out, index, renderer, scorers)


def _process_shard(cfg: RunConfig, out: Path | str, index: int, renderer, scorers) -> ShardReport:
    from pipeline.scoring import combine_scores
    from pipeline.shards import (REJECTED_SCHEMA, SHARD_SCHEMA, encode_image, pair_row, rejected_name, rejected_row,
                                 shard_name, write_table_atomic)

    paths = RunPaths(Path(out))
    marker = paths.marker(index)
    if marker.exists():
        report = ShardReport(**json.loads(marker.read_text()))
        report.resumed = True
        return report
    # A killed attempt of this shard may have left its temp files; they would fail validation.
    for folder, name in ((paths.shards, shard_name(index)), (paths.rejected, rejected_name(index)),
                         (paths.markers, marker.name)):
        _remove_leftovers(folder, name)
    if renderer is None or scorers is None:
        renderer, scorers = load_models(cfg, out)
    plans = shard_plans(load_plan(out), index, cfg.shards.shard_size)
    rhash = json.loads((paths.root / "run.json").read_text())["run_hash"]
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    seeds = [p.seed for p in plans]
    aligned = renderer.render([p.aligned_prompt for p in plans], seeds, [p.aligned_negative_prompt for p in plans])
    violating = renderer.render([p.violating_prompt for p in plans], seeds, None)
    seconds["render"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    columns = combine_scores(scorers, plans, aligned, violating)
    seconds["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sh = cfg.shards
    ext = "jpg" if sh.image_format == "jpeg" else "png"
    kept_rows, rejected_rows, dropped = [], [], Counter()
    for i, plan in enumerate(plans):
        scores = {name: float(values[i]) for name, values in columns.items()}
        reason = judge(plan, scores, cfg.filters)
        keep_images = reason is None or sh.rejected_images
        a = encode_image(aligned[i], sh.image_format, sh.jpeg_quality) if keep_images else None
        v = encode_image(violating[i], sh.image_format, sh.jpeg_quality) if keep_images else None
        meta = dict(model=cfg.render.model, config_hash=rhash, image_ext=ext)
        if reason is None:
            kept_rows.append(pair_row(plan, a, v, scores, **meta))
        else:
            dropped[reason] += 1
            rejected_rows.append(rejected_row(plan, a, v, scores, reason=reason, **meta))
    write_table_atomic(kept_rows, paths.shards / shard_name(index), SHARD_SCHEMA)
    write_table_atomic(rejected_rows, paths.rejected / rejected_name(index), REJECTED_SCHEMA)
    seconds["write"] = time.perf_counter() - t0

    kept_ids = {row["id"] for row in kept_rows}
    report = ShardReport(
        index=index,
        planned=len(plans),
        kept=len(kept_rows),
        dropped=dict(sorted(dropped.items())),
        kept_by_category=dict(Counter(p.category for p in plans if p.id in kept_ids)),
        planned_by_category=dict(Counter(p.category for p in plans)),
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    atomic_write_text(marker, json.dumps(asdict(report)))
    return report


# ---------------------------------------------------------------- finalize

def summarize(prepared: PreparedRun, reports: list[ShardReport]) -> dict:
    def total(attr: str) -> dict[str, int]:
        c: Counter = Counter()
        for r in reports:
            c.update(getattr(r, attr))
        return dict(sorted(c.items()))

    dropped = total("dropped")
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
        "planned_by_category": total("planned_by_category"),
        "kept_by_category": total("kept_by_category"),
        "prompts": prepared.prompt_stats,
        "timings_seconds": {k: round(v, 3) for k, v in sorted(timings.items())},
    }


def finalize_run(cfg: RunConfig, out: Path | str, prepared: PreparedRun, reports: list[ShardReport],
                 wall_seconds: float | None = None, failures: list[dict] | None = None) -> dict:
    """stats.json and the dataset card from the completed shards' reports; `failures` (from
    `failure_record`) are listed under ``failed_shards`` and make ``complete`` false."""
    from pipeline.dataset_card import render_card

    paths = RunPaths(Path(out))
    stats = summarize(prepared, reports)
    stats["complete"] = not failures
    stats["failed_shards"] = sorted(failures or [], key=lambda f: f["index"])
    if wall_seconds is not None:
        stats["timings_seconds"]["wall"] = round(wall_seconds, 3)
    stats["models"] = {"render": cfg.render.model, "clip": cfg.score.clip_model,
                       "models_dir": str(paths.models(cfg))}
    if "llm" in stats["prompts"]:  # usage of the LLM stages (all run while preparing), on top
        stats["llm"] = stats["prompts"]["llm"]
        stats["prompts"] = {k: v for k, v in stats["prompts"].items() if k != "llm"}
    atomic_write_text(paths.root / "stats.json", json.dumps(stats, indent=2))
    atomic_write_text(paths.root / "README.md", render_card(cfg, stats))
    return stats


# Errors no retry can fix: the run stops instead of failing every shard the same way.
FATAL_ERRORS: tuple[type[BaseException], ...] = (ModelUnavailableError, RunConflictError)


def shard_pair_count(cfg: RunConfig, prepared: PreparedRun, index: int) -> int:
    size = cfg.shards.shard_size
    return max(0, min(size, prepared.num_pairs - index * size))


def failure_record(cfg: RunConfig, prepared: PreparedRun, index: int, error: BaseException | str,
                   attempts: int) -> dict:
    """What stats.json keeps of a shard that kept failing."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"index": index, "pairs": shard_pair_count(cfg, prepared, index), "attempts": attempts, "error": text}


def raise_if_failed(stats: dict, out: Path | str) -> None:
    if stats["failed_shards"]:
        raise ShardsFailedError(stats["failed_shards"], str(out))


def _process_with_retries(cfg: RunConfig, out: Path | str, prepared: PreparedRun, index: int,
                          renderer, scorers) -> tuple[ShardReport | None, dict | None]:
    """The --local twin of the flow's Prefect task retries: 1 + cfg.retries.shard attempts."""
    attempts = cfg.retries.shard + 1
    for attempt in range(1, attempts + 1):
        try:
            return process_shard(cfg, out, index, renderer, scorers), None
        except FATAL_ERRORS:
            raise
        except Exception as e:  # noqa: BLE001 - any other error may be transient: retry, then record
            log.warning("shard %d attempt %d/%d failed: %s: %s", index, attempt, attempts, type(e).__name__, e)
            if attempt == attempts:
                return None, failure_record(cfg, prepared, index, e, attempts)
            time.sleep(cfg.retries.delay_seconds)
    raise AssertionError("unreachable")


def build_dataset(cfg: RunConfig, out: Path | str, progress=None, models: tuple | None = None) -> dict:
    """Run the whole build in this process (the CLI's --local path and the tests).

    `progress`: a `pipeline.progress.BuildProgress`. `models`: (renderer, scorers) to use instead of
    the configured ones. A shard that still fails after its retries is recorded and the others go on;
    `ShardsFailedError` is raised once stats.json is written.
    """
    t0 = time.perf_counter()
    prepared = prepare_run(cfg, out)
    paths = RunPaths(Path(out))
    renderer, scorers = models if models is not None else (None, None)
    pending = {i for i in range(prepared.num_shards) if not paths.marker(i).exists()}
    if progress:
        done = [i for i in range(prepared.num_shards) if i not in pending]
        progress.start(prepared, done_shards=len(done),
                       done_pairs=sum(shard_pair_count(cfg, prepared, i) for i in done))
    reports, failures = [], []
    try:
        for index in range(prepared.num_shards):
            if index in pending and renderer is None:
                renderer, scorers = load_models(cfg, out)
            report, failure = _process_with_retries(cfg, out, prepared, index, renderer, scorers)
            if report is not None:
                reports.append(report)
            else:
                failures.append(failure)
            if progress and index in pending:
                progress.shard_done(index, report, failure)
    finally:
        if progress:
            progress.close()
    stats = finalize_run(cfg, out, prepared, reports, time.perf_counter() - t0, failures)
    raise_if_failed(stats, out)
    return stats


def build_from_files(config: str | Path | None, out: str | Path, overrides: list[str] | None = None) -> dict:
    return build_dataset(load_config(config, overrides), out)
