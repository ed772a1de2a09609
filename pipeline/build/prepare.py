"""Prepare a run: the resolved config, the prompts, their principles, the deterministic plan and
run.json; reused as they are when the folder already holds the same run (resume)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

from pipeline.build.identity import run_hash
from pipeline.catalog import load_catalog
from pipeline.config import RunConfig, dump_config
from pipeline.errors import RunConflictError
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import PreparedRun, read_manifest, write_manifest
from pipeline.run.plan_io import write_dropped, write_plan

log = logging.getLogger("pipeline.build")


def prepare_run(cfg: RunConfig, out: Path | str) -> PreparedRun:
    """Write config.yaml, plan.jsonl and run.json; a folder holding another run is refused."""
    from pipeline.plan.checks import check_for
    from pipeline.plan.planner import apply_pack_categories, plan_pairs
    from pipeline.prompts.collect import collect_prompts
    from pipeline.select.factory import make_selector

    paths = RunPaths(Path(out))
    rhash = run_hash(cfg)
    previous = read_manifest(paths)
    if previous is not None:
        if previous.run_hash != rhash:
            raise RunConflictError(
                f"{paths.root} holds a run with a different configuration (run hash {previous.run_hash}, "
                f"now {rhash}); choose another --out or delete that folder"
            )
        if paths.plan.exists():
            log.info("resuming run %s in %s", rhash, paths.root)
            paths.remove_root_leftovers()
            return previous
    paths.remove_root_leftovers()
    paths.make_dirs()
    dump_config(cfg, paths.config)

    catalog = load_catalog(cfg.catalog_dir)
    llm, llm_failures = None, []
    if cfg.uses_llm:
        from pipeline.llm.client import make_llm

        llm = make_llm(cfg, paths.llm_cache)
    prompts, stats = collect_prompts(cfg, llm, llm_failures)
    for problem in stats.import_problems:
        log.warning("skipped prompt: %s", problem)
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
        llm.close()
    planning = cfg.planning
    planned = plan_pairs(prompts, selections, catalog, seed=planning.seed, benign_pairs=planning.benign_pairs,
                         max_pairs=planning.max_pairs, rewrites=rewrites, check=check_for(cfg, catalog, selector),
                         bias_attribute=planning.bias_attribute)
    plans = planned.plans
    stats.planning_dropped = planned.dropped_counts()
    write_dropped(paths, planned.dropped)
    if not plans:
        raise RuntimeError("no pairs planned: no prompt matched a principle and benign pairs are off, "
                           f"or every pair failed the prompt checks ({stats.planning_dropped}); see livo audit")
    write_plan(paths, plans)
    size = cfg.shards.shard_size
    prepared = PreparedRun(str(paths.root), rhash, (len(plans) + size - 1) // size, len(plans), stats)
    write_manifest(paths, prepared)
    return prepared
