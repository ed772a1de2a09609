"""The LLM stages as the build uses them: make the client, generate, drop undecided rows,
rewrite, and account for usage and failures. Kept here so pipeline/build.py only sequences.

Failures of any stage are appended to one list and written as ``llm_failures.jsonl`` in the
run folder: one JSON object per row with stage, item (prompt or category), reason, the raw
answer and the fallback used (the rule-based rewrite, or null when the row was left out).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

from pipeline.config import RunConfig
from pipeline.llm import LLM, Failure, OpenAIChatLLM, user_cache_path
from pipeline.llm_selector import FAILED_METHOD
from pipeline.principles import Catalog
from pipeline.records import PromptRecord, Selection

FAILURES_FILE = "llm_failures.jsonl"


def make_llm(cfg: RunConfig, default_cache: Path | str | None = None) -> OpenAIChatLLM:
    """The configured client; the cache defaults to ``default_cache``, else the user cache dir."""
    return OpenAIChatLLM.from_config(cfg.llm, default_cache or user_cache_path())


def generate_prompts(cfg: RunConfig, llm: LLM, catalog: Catalog, existing: Sequence[PromptRecord],
                     failures: list[Failure]) -> tuple[list[PromptRecord], dict]:
    from pipeline.llm_prompts import LLMPromptGenerator

    g = cfg.prompts.generate
    gen = LLMPromptGenerator(catalog, llm, per_category=g.per_category, categories=g.categories,
                             temperature=g.temperature, min_chars=g.min_chars, max_chars=cfg.prompts.max_chars,
                             max_rounds=g.max_rounds)
    records = gen.generate(existing)
    failures += gen.failures
    return records, gen.stats(records)


def drop_failed_selections(prompts: Sequence[PromptRecord], selections: Sequence[Selection]
                           ) -> tuple[list[PromptRecord], list[Selection], int]:
    """Leave out prompts the LLM selector could not decide: guessing "none" would turn a
    harmful prompt into a benign guard pair."""
    kept = [(p, s) for p, s in zip(prompts, selections) if s.method != FAILED_METHOD]
    return [p for p, _ in kept], [s for _, s in kept], len(prompts) - len(kept)


def llm_rewrites(cfg: RunConfig, llm: LLM, catalog: Catalog, selections: Sequence[Selection],
                 failures: list[Failure]) -> tuple[dict[tuple[str, str], str], dict]:
    """Safe twins for every toxicity selection; the rest keep the rule-based rewrite."""
    from pipeline.llm_rewrite import LLMRewriter

    items = list(dict.fromkeys((s.prompt, s.principle_id) for s in selections
                               if s.principle_id and catalog.get(s.principle_id).kind == "toxicity"))
    rewriter = LLMRewriter(catalog, llm, max_chars=cfg.prompts.max_chars)
    rewrites = rewriter.rewrite_all(items)
    failures += rewriter.failures
    return rewrites, {"requested": len(items), "accepted": len(rewrites), "fell_back_to_rules": len(rewriter.failures)}


def usage_stats(llm: OpenAIChatLLM, failures: Sequence[Failure]) -> dict:
    return {"base_url": llm.base_url, "model": llm.model, **llm.usage(),
            "failed_rows": dict(Counter(f.stage for f in failures))}


def write_failures(path: Path, failures: Sequence[Failure]) -> None:
    path.write_text("".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in failures), encoding="utf-8")
