"""What the dataset card and the HTML report both say about a run, as plain rows and sentences:
counts per category, principle and pair type, drop reasons, filter thresholds, models, notes.
Each page formats them its own way (Markdown, HTML); `code` spans are marked with backticks."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.run.counts import DIMENSIONS, RunCounts
from pipeline.run.layout import LLM_FAILURES_FILE, STATS_FILE
from pipeline.typed_config import PERFORMANCE_ONLY_MARK

Table = tuple[list[str], list[list[object]]]
_TINY_PREFIX = "builtin:"


def rel_path(path: str | Path | None, root: Path) -> str:
    """A path inside the run folder as relative to it (the card must survive a move); others as written."""
    if path is None:
        return "-"
    p = Path(path)
    if p.is_absolute() and p.resolve().is_relative_to(Path(root).resolve()):
        return os.path.relpath(p.resolve(), Path(root).resolve())
    return str(path)


def uses_tiny_models(cfg: RunConfig) -> bool:
    return cfg.render.model.startswith(_TINY_PREFIX)


def count_tables(stats: dict, counts: RunCounts) -> list[Table]:
    """Kept per category (planned from stats.json, kept split by pair type), per principle, per pair
    type, and the drop reasons per pair type."""
    planned = stats.get("planned_by_category", {})
    cats = sorted(set(planned) | set(counts.kept["category"]))
    types = sorted(counts.kept["pair_type"])
    tables: list[Table] = [(["category", "planned", "kept", *(f"kept {t}" for t in types)],
                            [[c, planned.get(c, "-"), counts.kept["category"].get(c, 0),
                              *(counts.kept_by_type.get((c, t), 0) for t in types)] for c in cats])]
    for dim in DIMENSIONS[1:]:
        tables.append(([dim, "kept"], [[k, v] for k, v in sorted(counts.kept[dim].items())]))
    return tables + [reason_table(counts)]


def reason_table(counts: RunCounts) -> Table:
    types = sorted({t for _, _, c in counts.reasons() for t in c})
    return (["drop reason", "stage", *types, "total"],
            [[r, stage, *(c.get(t, 0) for t in types), sum(c.values())] for stage, r, c in counts.reasons()])


def threshold_table(cfg: RunConfig) -> Table:
    """Every FilterConfig field (a threshold added later shows up by itself)."""
    return (["threshold", "value", "meaning"],
            [[f"`filters.{name}`", getattr(cfg.filters, name), f.description or ""]
             for name, f in type(cfg.filters).model_fields.items()])


def model_table(cfg: RunConfig, stats: dict, root: Path) -> Table:
    rows: list[list[object]] = [["renderer", f"`{cfg.render.model}`"], ["selector", f"`{cfg.selector}`"]]
    for name, f in type(cfg.score).model_fields.items():
        if (f.json_schema_extra or {}) != PERFORMANCE_ONLY_MARK and name != "vlm":
            rows.append([f"score.{name}", f"`{getattr(cfg.score, name)}`"])
    vlm = cfg.score.vlm  # a section: its model and answer style, when it is on
    if vlm.model is not None:
        rows.append(["score.vlm", f"`{vlm.model}` ({vlm.style}) at `{vlm.base_url}`"])
    if uses_tiny_models(cfg):
        rows.append(["built-in models folder", f"`{rel_path((stats.get('models') or {}).get('models_dir'), root)}`"])
    return ["model", "value"], rows


def import_problems(stats: dict) -> list[str]:
    return list((stats.get("prompts") or {}).get("import_problems") or [])


def notes(cfg: RunConfig, stats: dict, counts: RunCounts) -> list[tuple[str, str]]:
    """(title, sentence) notes a reader must see first: content warning, noise, incomplete, LLM."""
    harms = sorted(c for c, n in counts.kept["category"].items() if n and not c.endswith("_bias"))
    out = [("Content warning.", "Every pair has an image made to violate a value principle"
            + (f" ({', '.join(harms)})" if harms else "") + ": such images may be disturbing or explicit. "
            "The HTML report (`livo report`) blurs them until asked.")]
    if uses_tiny_models(cfg):
        out.append(("These images are noise.", ("The built-in tiny models have random weights: the pictures are "
                    "noise-like and the CLIP scores meaningless. This run shows the machinery; "
                    "`configs/sd15.yaml` makes real data.")))
    failed = stats.get("failed_shards") or []
    if failed:
        out.append(("Incomplete:", (f"{len(failed)} shard(s) ({sum(f['pairs'] for f in failed)} planned pairs) "
                    f"failed and are missing; `{STATS_FILE}` → `failed_shards` has their errors. Re-running the "
                    "build retries only them.")))
    if cfg.uses_llm:
        stages = [name for name, on in (("prompt generation", cfg.prompts.generate is not None),
                                         ("principle selection", cfg.selector == "llm"),
                                         ("safe rewrites", cfg.rewriter == "llm")) if on]
        failed_rows = sum((stats.get("llm") or {}).get("failed_rows", {}).values())
        out.append(("LLM stages", (f"({', '.join(stages)}) used `{cfg.llm.model}`; rows an LLM stage gave up on "
                    f"({failed_rows}) are listed in `{LLM_FAILURES_FILE}`.")))
    return out
