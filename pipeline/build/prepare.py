"""Prepare a run: the resolved config, the prompts, their principles, the deterministic plan and
run.json; reused as they are when the folder already holds the same run (resume)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import yaml

from pipeline.build.identity import run_hash
from pipeline.catalog import Catalog, load_catalog
from pipeline.config import PERFORMANCE_ONLY, RunConfig, config_dict, dump_config
from pipeline.errors import PlanningError, RunConflictError
from pipeline.llm.types import LLM, Failure
from pipeline.run.layout import RunPaths
from pipeline.run.lock import check_unlocked
from pipeline.run.manifest import PreparedRun, read_manifest, write_manifest
from pipeline.run.plan_io import write_dropped, write_plan
from pipeline.typed_config import changed_fields

log = logging.getLogger("pipeline.build")


def conflict_error(paths: RunPaths, previous: PreparedRun, cfg: RunConfig, rhash: str) -> RunConflictError:
    """The refusal, naming the fields that differ from the folder's config.yaml."""
    ignore = PERFORMANCE_ONLY + (() if cfg.uses_llm else ("llm",))
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


def _nothing_planned(cfg: RunConfig, stats) -> PlanningError:
    refused = stats.planning_dropped or {}
    if refused:
        return PlanningError(f"no pairs planned: every pair failed the prompt checks ({refused}); see "
                             "`livo audit` on the run folder, or add prompts")
    benign = "" if cfg.planning.benign_pairs else " and planning.benign_pairs is off"
    return PlanningError(f"no pairs planned: none of the {stats.unique} prompt(s) matched a principle{benign}; add "
                         "prompts that show a principle's harm or people, or turn planning.benign_pairs on")


def _select(cfg: RunConfig, catalog: Catalog, paths: RunPaths, llm: LLM | None):
    """(prompts, their stats, the selector, its selections, the LLM rewrites or None)."""
    from pipeline.plan.planner import apply_pack_categories
    from pipeline.prompts.collect import collect_prompts
    from pipeline.select.factory import make_selector

    llm_failures: list[Failure] = []
    prompts, stats = collect_prompts(cfg, llm, llm_failures)
    for problem in stats.import_problems:
        log.warning("skipped prompt: %s", problem)
    if not prompts:
        raise PlanningError("no prompts: the template packs give none (prompts.categories empty or prompts.packs_dir "
                            "null) and neither do prompts.files; choose pack categories or add a prompt file")
    t0 = time.perf_counter()
    selector = make_selector(cfg, catalog, llm)
    selections = selector.select([p.text for p in prompts])
    llm_failures += getattr(selector, "failures", [])
    stats.selection_seconds = round(time.perf_counter() - t0, 3)
    if cfg.planning.trust_pack_category:
        selections = apply_pack_categories(prompts, selections, catalog)
    stats.selection_methods = dict(Counter(str(s.method) for s in selections))
    rewrites = None
    if llm is not None:
        from pipeline.llm.report import usage_stats, write_failures
        from pipeline.plan.llm_rewrite import llm_rewrites
        from pipeline.select.llm import drop_failed_selections

        prompts, selections, stats.selection_failed = drop_failed_selections(prompts, selections)
        if cfg.rewriter == "llm":
            rewrites, stats.llm_rewrites = llm_rewrites(cfg, llm, catalog, selections, llm_failures)
        stats.llm = usage_stats(llm, llm_failures)
        write_failures(paths.llm_failures, llm_failures)
        for f in llm_failures:
            log.warning("LLM %s failed for %r: %s", f.stage, f.item[:80], f.reason)
    return prompts, stats, selector, selections, rewrites


def prepare_run(cfg: RunConfig, out: Path | str) -> PreparedRun:
    """Write config.yaml, plan.jsonl and run.json; a folder holding another run is refused."""
    from pipeline.plan.checks import check_for
    from pipeline.plan.planner import plan_pairs

    paths = RunPaths(Path(out))
    rhash = run_hash(cfg)
    previous = read_manifest(paths)
    if previous is not None:
        if previous.run_hash != rhash:
            raise conflict_error(paths, previous, cfg, rhash)
        if paths.plan.exists():
            log.info("resuming run %s in %s", rhash, paths.root)
            paths.remove_root_leftovers()
            return previous
    catalog = load_catalog(cfg.catalog_dir)  # before anything is written: a bad catalog leaves no folder
    paths.remove_root_leftovers()
    paths.make_dirs()
    dump_config(cfg, paths.config)

    llm = None
    if cfg.uses_llm:
        from pipeline.llm.client import make_llm

        llm = make_llm(cfg, paths.llm_cache)
    try:
        prompts, stats, selector, selections, rewrites = _select(cfg, catalog, paths, llm)
    finally:
        if llm is not None:  # a failed stage too: its HTTP connections and the cache's SQLite handle
            llm.close()
    planning = cfg.planning
    planned = plan_pairs(prompts, selections, catalog, seed=planning.seed, benign_pairs=planning.benign_pairs,
                         max_pairs=planning.max_pairs, rewrites=rewrites, check=check_for(cfg, catalog, selector),
                         bias_attribute=planning.bias_attribute)
    plans = planned.plans
    stats.planning_dropped = planned.dropped_counts()
    write_dropped(paths, planned.dropped)
    if not plans:
        raise _nothing_planned(cfg, stats)
    write_plan(paths, plans)
    size = cfg.shards.shard_size
    prepared = PreparedRun(str(paths.root), rhash, (len(plans) + size - 1) // size, len(plans), stats)
    write_manifest(paths, prepared)
    return prepared
