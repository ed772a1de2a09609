"""Prepare a run: the resolved config, the prompts, their principles, the deterministic plan and
run.json; reused as they are when the folder already holds the same run (resume). A run's identity
(`run_hash`): the config hash (performance-only and resumable fields left out, see `pipeline.config`)
plus the content of every input file.

A run grows in place when planning.samples_per_pair grows (`_check_growth`): the plan is made again, its first
lines must be the folder's plan (samples 0 to the old N - 1 in the same shards, `_check_prefix`), and only
the new samples' shards are pending; a smaller value is refused."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from pipeline.catalog import Catalog, load_catalog
from pipeline.config import PERFORMANCE_ONLY, RESUMABLE, RunConfig, config_dict, config_hash, dump_config
from pipeline.errors import PlanningError, RunConflictError
from pipeline.llm.types import LLM, Failure, usage_stats, write_failures
from pipeline.records import PairPlan, PromptRecord, PromptStats, Selection
from pipeline.run.layout import RunPaths
from pipeline.run.lock import check_unlocked
from pipeline.run.manifest import PreparedRun, read_manifest, write_manifest
from pipeline.run.plan_io import ShardLayout, plan_ids, write_dropped, write_plan
from pipeline.select.head import HEAD_FILE
from pipeline.typed_config import changed_fields

if TYPE_CHECKING:
    from pipeline.plan.planner import Plan
    from pipeline.select.base import Selector

log = logging.getLogger("pipeline.build")


def _digest_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def run_hash(cfg: RunConfig) -> str:
    """Config hash plus the content of the catalog, the packs, the prompt files and the default
    selector's head and the Q16 prompts: editing a principle or a template, or retraining the head, changes the
    data, so it changes the identity."""
    inputs = list(Path(cfg.catalog_dir).glob("*.yaml")) + list(Path(cfg.prompts.packs_dir).glob("*.yaml"))
    inputs += [Path(f) for f in cfg.prompts.files]
    if cfg.selector == "default":  # the trained head decides principles: retraining changes the data
        head = cfg.semantic.head or Path(cfg.catalog_dir) / HEAD_FILE
        inputs += [Path(head)] if Path(head).is_file() else []
    if cfg.score.q16_prompts is not None and Path(cfg.score.q16_prompts).is_file():  # Q16's judgement is the file
        inputs.append(Path(cfg.score.q16_prompts))
    blob = config_hash(cfg) + _digest_files(inputs)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def conflict_error(paths: RunPaths, previous: PreparedRun, cfg: RunConfig, rhash: str) -> RunConflictError:
    """The refusal, naming the fields that differ from the folder's config.yaml."""
    ignore = PERFORMANCE_ONLY + RESUMABLE + (() if cfg.uses_llm else ("llm",))
    try:
        saved = yaml.safe_load(paths.config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        saved = {}
    changed = changed_fields(saved, config_dict(cfg), ignore) if saved else []
    what = ", ".join(changed) if changed else (
        "same fields, but an input file changed: the catalog, the packs, the prompt files or the selector head")
    return RunConflictError(
        f"{paths.root} holds a run with a different configuration ({what}; run hash {previous.run_hash}, now "
        f"{rhash}); build into another folder (--out; under make: OUT=...) or delete {paths.root} to rebuild it")


def preflight(cfg: RunConfig, out: Path | str) -> None:
    """What a build would refuse, checked before anything starts (the CLI runs it before Prefect): a
    bad catalog, an unreadable prompt file, a folder another process is building (RunLockedError) or
    holding another run (RunConflictError). Writes nothing."""
    from pipeline.prompts.importer import read_prompt_files

    paths = RunPaths(Path(out))
    load_catalog(cfg.catalog_dir)
    if cfg.prompts.files:
        read_prompt_files([Path(f) for f in cfg.prompts.files], max_chars=cfg.prompts.max_chars)
    check_unlocked(paths)
    rhash = run_hash(cfg)
    previous = read_manifest(paths)
    if previous is not None and previous.run_hash != rhash:
        raise conflict_error(paths, previous, cfg, rhash)


def _nothing_planned(cfg: RunConfig, stats: PromptStats) -> PlanningError:
    refused = stats.planning_dropped or {}
    if refused:
        return PlanningError(f"no pairs planned: every pair failed the prompt checks ({refused}); see "
                             "`livo audit` on the run folder, or add prompts")
    benign = "" if cfg.planning.benign_pairs else " and planning.benign_pairs is off"
    return PlanningError(f"no pairs planned: none of the {stats.unique} prompt(s) matched a principle{benign}; add "
                         "prompts that show a principle's harm or people, or turn planning.benign_pairs on")


@dataclass(frozen=True)
class _Collected:
    """The run's prompts; ``counts``: collect_prompts' part of the prompt stats (template, imported,
    import problems, generated, unique)."""

    prompts: list[PromptRecord]
    counts: PromptStats
    failures: list[Failure]  # LLM prompt generation's


@dataclass(frozen=True)
class _Selected:
    """The prompts that go on to planning, each with its selection, and the selector (planning's checks use it)."""

    prompts: list[PromptRecord]
    selections: list[Selection]
    selector: Selector
    seconds: float
    methods: dict[str, int]  # counted before the LLM selector's undecided prompts are left out
    failed: int | None  # prompts the LLM selector could not decide; None without an LLM
    failures: list[Failure]


@dataclass(frozen=True)
class _Rewritten:
    """The LLM's safe twins, (prompt, principle id) -> twin; None when the rules write every twin."""

    rewrites: dict[tuple[str, str], str] | None = None
    stats: dict | None = None
    failures: list[Failure] = field(default_factory=list)


def _resume(cfg: RunConfig, paths: RunPaths, rhash: str) -> PreparedRun | None:
    """The folder's run when it is this one and its plan is written; another run is refused."""
    previous = read_manifest(paths)
    if previous is None:
        return None
    if previous.run_hash != rhash:
        raise conflict_error(paths, previous, cfg, rhash)
    if not paths.plan.exists():
        return None
    log.info("resuming run %s in %s", rhash, paths.root)
    paths.remove_root_leftovers()
    return previous


def _check_growth(cfg: RunConfig, paths: RunPaths, previous: PreparedRun) -> None:
    """A run's samples only grow: fewer would leave shards of samples no longer planned."""
    old, new = previous.samples_per_pair, cfg.planning.samples_per_pair
    if new < old:
        raise RunConflictError(
            f"{paths.root} holds a run of planning.samples_per_pair={old}, now {new}: a run grows, it never shrinks; "
            f"set planning.samples_per_pair={old} or more, or build into another folder (--out)")
    log.info("growing run %s in %s from %d to %d samples per pair", previous.run_hash, paths.root, old, new)


def _sample_block(plans: list[PairPlan]) -> int:
    """Pairs of sample 0: the block `ShardLayout` cuts each sample's shards from."""
    return sum(1 for p in plans if p.sample == 0)


def _check_prefix(paths: RunPaths, previous: PreparedRun, plans: list[PairPlan], size: int) -> None:
    """The folder's plan must be the first lines of the grown one, in the same shards: else its shards
    would hold other pairs than their new plan says."""
    old_ids = plan_ids(paths)[:previous.num_pairs]
    old_layout, new_layout = previous.layout(size), ShardLayout(len(plans), size, _sample_block(plans))
    same_shards = all(old_layout.bounds(i) == new_layout.bounds(i) for i in range(previous.num_shards))
    if old_ids != [p.id for p in plans[:len(old_ids)]] or len(old_ids) != previous.num_pairs or not same_shards:
        raise RunConflictError(
            f"{paths.root}: its plan of {previous.samples_per_pair} sample(s) per pair is not the start of the plan of "
            f"{len(plans)} pairs made now (an input answered differently, e.g. an uncached LLM); build into another "
            f"folder (--out) or delete {paths.root} to rebuild it")


def _start_folder(cfg: RunConfig, paths: RunPaths) -> None:
    paths.remove_root_leftovers()
    paths.make_dirs()
    dump_config(cfg, paths.config)


@contextmanager
def _open_llm(cfg: RunConfig, paths: RunPaths) -> Iterator[LLM | None]:
    """The run's LLM client (None when no stage uses one), closed after the LLM stages even when one
    fails: its HTTP connections and the cache's SQLite handle."""
    if not cfg.uses_llm:
        yield None
        return
    from pipeline.llm.client import make_llm

    llm = make_llm(cfg, paths.llm_cache)
    try:
        yield llm
    finally:
        llm.close()


def _collect(cfg: RunConfig, llm: LLM | None) -> _Collected:
    from pipeline.prompts.collect import collect_prompts

    failures: list[Failure] = []
    prompts, counts = collect_prompts(cfg, llm, failures)
    for problem in counts.import_problems:
        log.warning("skipped prompt: %s", problem)
    if not prompts:
        raise PlanningError("no prompts: the template packs give none (prompts.categories empty or prompts.packs_dir "
                            "null) and neither do prompts.files; choose pack categories or add a prompt file")
    return _Collected(prompts, counts, failures)


def _select(cfg: RunConfig, catalog: Catalog, llm: LLM | None, prompts: list[PromptRecord]) -> _Selected:
    from pipeline.plan.planner import apply_pack_categories
    from pipeline.select.factory import make_selector

    t0 = time.perf_counter()  # before the selector is built: selection_seconds includes loading its models
    selector = make_selector(cfg, catalog, llm)
    selections = selector.select([p.text for p in prompts])
    failures = list(getattr(selector, "failures", []))
    seconds = round(time.perf_counter() - t0, 3)
    if cfg.planning.trust_pack_category:
        selections = apply_pack_categories(prompts, selections, catalog)
    methods = dict(Counter(str(s.method) for s in selections))
    failed = None
    if llm is not None:
        from pipeline.select.llm import drop_failed_selections

        prompts, selections, failed = drop_failed_selections(prompts, selections)
    return _Selected(prompts, selections, selector, seconds, methods, failed, failures)


def _rewrite(cfg: RunConfig, catalog: Catalog, llm: LLM | None, selections: list[Selection]) -> _Rewritten:
    if llm is None or cfg.rewriter != "llm":
        return _Rewritten()
    from pipeline.plan.llm_rewrite import llm_rewrites

    failures: list[Failure] = []
    rewrites, stats = llm_rewrites(cfg, llm, catalog, selections, failures)
    return _Rewritten(rewrites, stats, failures)


def _report_llm(paths: RunPaths, llm: LLM | None, failures: list[Failure]) -> dict | None:
    """The LLM's usage totals (None without an LLM); writes llm_failures.jsonl, even when empty, and
    logs each failure."""
    if llm is None:
        return None
    usage = usage_stats(llm, failures)
    write_failures(paths.llm_failures, failures)
    for f in failures:
        log.warning("LLM %s failed for %r: %s", f.stage, f.item[:80], f.reason)
    return usage


def _plan(cfg: RunConfig, catalog: Catalog, selected: _Selected, rewritten: _Rewritten) -> Plan:
    from pipeline.plan.checks import check_for
    from pipeline.plan.planner import plan_pairs

    planning = cfg.planning
    return plan_pairs(selected.prompts, selected.selections, catalog, seed=planning.seed,
                      benign_pairs=planning.benign_pairs, max_pairs=planning.max_pairs, rewrites=rewritten.rewrites,
                      check=check_for(cfg, catalog, selected.selector), bias_attribute=planning.bias_attribute,
                      samples=planning.samples_per_pair, implicit_harm=planning.implicit_harm)


def _prompt_stats(collected: _Collected, selected: _Selected, rewritten: _Rewritten, llm_usage: dict | None,
                  planned: Plan) -> PromptStats:
    return replace(collected.counts, selection_seconds=selected.seconds, selection_methods=selected.methods,
                   selection_failed=selected.failed, llm_rewrites=rewritten.stats,
                   planning_dropped=planned.dropped_counts(), llm=llm_usage)


def _write_run(cfg: RunConfig, paths: RunPaths, rhash: str, plans: list[PairPlan], stats: PromptStats,
               previous: PreparedRun | None = None) -> PreparedRun:
    """plan.jsonl before run.json: run.json marks a prepared folder (`_resume`), and a grown one (its
    samples_per_pair), so a growth stopped before run.json is done again from the start."""
    size = cfg.shards.shard_size
    block = _sample_block(plans)
    write_plan(paths, plans)
    if previous is not None:
        dump_config(cfg, paths.config)  # the folder's config says how many samples it now holds
    layout = ShardLayout(len(plans), size, block)
    prepared = PreparedRun(str(paths.root), rhash, layout.num_shards, len(plans), stats,
                           cfg.planning.samples_per_pair, block)
    write_manifest(paths, prepared)
    return prepared


def prepare_run(cfg: RunConfig, out: Path | str) -> PreparedRun:
    """Write config.yaml, plan.jsonl and run.json; a folder holding another run is refused, one holding this
    run with fewer samples per pair grown (`_check_growth`)."""
    paths = RunPaths(Path(out))
    rhash = run_hash(cfg)
    resumed = _resume(cfg, paths, rhash)
    if resumed is not None and resumed.samples_per_pair == cfg.planning.samples_per_pair:
        return resumed
    catalog = load_catalog(cfg.catalog_dir)  # before anything is written: a bad catalog leaves no folder
    if resumed is None:
        _start_folder(cfg, paths)
    else:
        _check_growth(cfg, paths, resumed)
    with _open_llm(cfg, paths) as llm:
        collected = _collect(cfg, llm)
        selected = _select(cfg, catalog, llm, collected.prompts)
        rewritten = _rewrite(cfg, catalog, llm, selected.selections)
        llm_usage = _report_llm(paths, llm, collected.failures + selected.failures + rewritten.failures)
    planned = _plan(cfg, catalog, selected, rewritten)
    stats = _prompt_stats(collected, selected, rewritten, llm_usage, planned)
    if resumed is not None:
        _check_prefix(paths, resumed, planned.plans, cfg.shards.shard_size)
    write_dropped(paths, planned.dropped)
    if not planned.plans:
        raise _nothing_planned(cfg, stats)
    return _write_run(cfg, paths, rhash, planned.plans, stats, resumed)
