"""calibration.png: per threshold rule, the distributions it separates with the current (grey) and
proposed (blue) thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_calibration(result, values_by_reason: dict, path: Path) -> Path:
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
