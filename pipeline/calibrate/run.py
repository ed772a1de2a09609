"""`livo calibrate RUN` as a library call: sweep every threshold rule over a finished run, overall
and per category, and write what each threshold would keep and the proposed `filters:` block.

Writes <out>/calibration.json (tables and proposals), calibration.png (per threshold rule, the
distributions it separates with the current (grey) and proposed (blue) thresholds) and filters.yaml
(paste into a profile); <out> defaults to RUN/calibration.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from pipeline.calibrate.sweep import Proposal, grid, keep_table, propose, read_judged_pairs, rule_values
from pipeline.config import load_config
from pipeline.errors import MissingFileError
from pipeline.run.atomic import atomic_write_text
from pipeline.run.layout import RunPaths

# A category gets its own threshold only from a valley (a keep rate is a share of the whole run,
# not something each category must meet), and only when it differs this much from the overall
# one (the valley rules' statistics are probabilities).
CATEGORY_TOLERANCE = 0.02


@dataclass
class RuleCalibration:
    reason: str
    field: str
    drop_below: bool
    pairs: int  # pairs the rule applies to (its judge on)
    current: float
    current_kept: int  # pairs the whole filter keeps now
    proposal: Proposal
    proposed_kept: int  # ... with this rule at the proposal, the others unchanged
    table: list[dict]
    by_category: dict[str, dict] = field(default_factory=dict)


@dataclass
class Calibration:
    run: str
    pairs: int
    keep: float
    rules: list[RuleCalibration]
    files: dict[str, str] = field(default_factory=dict)

    def snippet(self) -> dict:
        """The proposed `filters:` block: overall thresholds, and per category where it differs."""
        block: dict = {r.field: r.proposal.threshold for r in self.rules}
        by_category: dict[str, dict] = {}
        for r in self.rules:
            for category, c in r.by_category.items():
                t = c["proposal"]["threshold"]
                if c["proposal"]["method"] == "valley" and abs(t - r.proposal.threshold) > CATEGORY_TOLERANCE:
                    by_category.setdefault(category, {})[r.field] = t
        if by_category:
            block["by_category"] = dict(sorted(by_category.items()))
        return {"filters": block}


def calibrate_run(run: Path | str, keep: float = 0.9, out: Path | str | None = None, plot: bool = True) -> Calibration:
    """Sweep the run's stored scores; ``keep`` is the target share for rules without a contrast."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    paths = RunPaths(Path(run))
    if not paths.config.exists():
        raise MissingFileError(f"{run} has no {paths.config.name}: not a run folder (make one with `livo shards`)")
    cfg = load_config(paths.config).filters
    pairs, scores = read_judged_pairs(run)
    if not pairs:
        raise MissingFileError(f"{run} holds no judged pairs yet: finish the pilot run (`livo shards`) first")
    categories = np.array([p.category for p in pairs])
    every = np.ones(len(pairs), bool)
    values = rule_values(pairs, scores, cfg)
    rules = []
    for rv in values:
        current = getattr(cfg, rv.rule.field)
        proposal = propose(rv, every, keep, current)
        rc = RuleCalibration(
            rv.rule.reason, rv.rule.field, rv.rule.drop_below, pairs=int(np.isfinite(rv.values).sum()),
            current=current, current_kept=int((rv.keeps_now & rv.others_keep).sum()), proposal=proposal,
            proposed_kept=keep_table(rv, every, [proposal.threshold])[0]["kept"],
            table=keep_table(rv, every, grid(rv.values, current, proposal.threshold)))
        for category in sorted({p.category for p in pairs}):
            mask = categories == category
            if not np.isfinite(rv.values[mask]).any():
                continue  # the rule does not apply to this category, or its judge is off
            own = getattr(cfg.for_category(category), rv.rule.field)
            p = propose(rv, mask, keep, own)
            rc.by_category[category] = {
                "pairs": int(mask.sum()), "current": own, "proposal": asdict(p),
                "table": keep_table(rv, mask, grid(rv.values[mask], own, p.threshold)),
            }
        rules.append(rc)
    result = Calibration(str(run), len(pairs), keep, rules)
    _write(result, Path(out) if out else paths.calibration, {rv.rule.reason: rv for rv in values} if plot else None)
    return result


def _write(result: Calibration, out: Path, rule_values_by_reason: dict | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "calibration.json", "yaml": out / "filters.yaml"}
    header = (f"# Proposed by `livo calibrate {result.run}` from {result.pairs} judged pairs (keep target "
              f"{result.keep:g}).\n# Paste into a profile (configs/*.yaml) in place of its filters: block.\n")
    atomic_write_text(files["yaml"], header + yaml.safe_dump(result.snippet(), sort_keys=False))
    if rule_values_by_reason is not None:
        files["png"] = plot_calibration(result, rule_values_by_reason, out / "calibration.png")
    result.files = {k: str(v) for k, v in files.items()}
    atomic_write_text(files["json"], json.dumps(asdict(result), indent=2))


def plot_calibration(result: Calibration, values_by_reason: dict, path: Path) -> Path:
    """calibration.png: per threshold rule, the distributions it separates with the current (grey) and
    proposed (blue) thresholds."""
    from matplotlib.figure import Figure  # no pyplot: no backend to choose, no global figure state

    rules = result.rules
    fig = Figure(figsize=(3.2 * len(rules), 3.0))
    axes = fig.subplots(1, len(rules), squeeze=False)
    for ax, rc in zip(axes[0], rules):
        rv = values_by_reason[rc.reason]
        if rv.rule.contrast is not None and np.isfinite(rv.low).any():
            low, high = rv.rule.contrast_sides
            series = [(f"{low} image", rv.low, "#2b7bba"), (f"{high} image", rv.high, "#d6604d")]
        else:
            series = [("pairs", rv.values, "#7f7f7f")]
        finite = [v[np.isfinite(v)] for _, v, _ in series]
        bins = np.histogram_bin_edges(np.concatenate(finite), bins=20) if sum(map(len, finite)) else 10
        for (label, _, colour), v in zip(series, finite):
            if len(v):
                ax.hist(v, bins=bins, alpha=0.55, color=colour, label=label)
        ax.axvline(rc.current, color="#555555", linestyle="--", label=f"current {rc.current:g}")
        ax.axvline(rc.proposal.threshold, color="#08306b", label=f"proposed {rc.proposal.threshold:g}")
        ax.set_title(f"{rc.field}\n({rc.proposal.method})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    fig.suptitle(f"{result.pairs} judged pairs of {Path(result.run).name}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
