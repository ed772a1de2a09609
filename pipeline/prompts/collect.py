"""The prompts of a run: packs, then files, then (with ``prompts.generate``) LLM prompts that
duplicate neither."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import RunConfig
from pipeline.records import PromptRecord, PromptStats


def collect_prompts(cfg: RunConfig, llm=None, failures: list | None = None) -> tuple[list[PromptRecord], PromptStats]:
    """``llm`` defaults to the configured client with the user cache; failures go to ``failures``."""
    from pipeline.prompts.expand import expand_packs
    from pipeline.prompts.importer import read_prompt_files
    from pipeline.prompts.packs import load_packs
    from pipeline.prompts.text import dedupe

    pc = cfg.prompts
    records: list[PromptRecord] = []
    stats = PromptStats()
    if pc.packs_dir and (pc.categories is None or pc.categories):
        packs = load_packs(pc.packs_dir)
        expanded = expand_packs(packs, seed=pc.seed, per_category=pc.per_category, categories=pc.categories,
                                whole_packs=pc.whole_packs)
        records += expanded
        stats.template = len(expanded)
    if pc.files:
        result = read_prompt_files([Path(f) for f in pc.files], max_chars=pc.max_chars)
        records += result.records
        stats.imported = len(result.records)
        stats.import_problems = [str(p) for p in result.problems]
    unique = dedupe(records)
    if pc.generate is not None:
        from pipeline.catalog import load_catalog
        from pipeline.llm.client import make_llm
        from pipeline.prompts.llm import generate_prompts

        generated, stats.generated = generate_prompts(cfg, llm or make_llm(cfg), load_catalog(cfg.catalog_dir),
                                                      unique, failures if failures is not None else [])
        unique += generated
    stats.unique = len(unique)
    return unique, stats
