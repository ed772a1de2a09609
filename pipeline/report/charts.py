"""The report's charts as PNG bytes (matplotlib figures, no pyplot): score histograms of both sides, and the
violating − aligned margin of each score per category. Score columns come from the shard schema, so
a scorer added later gets its panels without a change here."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from pipeline.run.score_columns import NUMERIC_COLUMNS


def score_pairs(columns: list[str] | None = None) -> list[tuple[str, str | None, str | None]]:
    """(name, aligned column, violating column) per numeric score: ``aligned_X`` / ``violating_X`` pairs,
    and any other score column alone (as its own aligned-side column). A judge's words (the VLM's
    category and rationale) are no score: the gallery shows them beside the images."""
    cols = [c for c in NUMERIC_COLUMNS if columns is None or c in columns]
    out, seen = [], set()
    for c in cols:
        if c in seen:
            continue
        if c.startswith("aligned_") and (v := "violating_" + c.removeprefix("aligned_")) in cols:
            out.append((c.removeprefix("aligned_"), c, v))
            seen |= {c, v}
        elif c.startswith("violating_") and "aligned_" + c.removeprefix("violating_") in cols:
            continue  # taken with its aligned column
        else:
            out.append((c, c, None))
            seen.add(c)
    return out


def _figure(figsize: tuple[float, float]):
    from matplotlib.figure import Figure  # no pyplot: no backend to choose, no global figure state

    return Figure(figsize=figsize)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _values(df: pd.DataFrame, col: str | None) -> np.ndarray:
    if col is None or col not in df:
        return np.array([])
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    return v[~np.isnan(v)]


def histograms(df: pd.DataFrame) -> bytes | None:
    """One panel per score: aligned and violating distributions of the kept pairs."""
    panels = [(n, a, v) for n, a, v in score_pairs(list(df.columns)) if len(_values(df, a)) + len(_values(df, v))]
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = _figure((4 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (name, a, v) in zip(axes.flat, panels):
        both = np.concatenate([_values(df, a), _values(df, v)])
        bins = np.histogram_bin_edges(both, bins=20) if np.ptp(both) > 0 else 10
        ax.hist(_values(df, a), bins=bins, alpha=.6, label="aligned" if v else name, color="#2b7bba")
        if v:
            ax.hist(_values(df, v), bins=bins, alpha=.6, label="violating", color="#d62728")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    return _png(fig)


def margins(df: pd.DataFrame) -> bytes | None:
    """One panel per paired score: violating − aligned per pair, a box per category."""
    panels = [(n, a, v) for n, a, v in score_pairs(list(df.columns)) if v and len(_values(df, a))]
    if not panels or "category" not in df:
        return None
    cats = sorted(df["category"].unique())
    fig = _figure((max(6, 0.8 * len(cats) + 2), 2.6 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)
    for ax, (name, a, v) in zip(axes[:, 0], panels):
        data, labels = [], []
        for c in cats:
            sub = df[df["category"] == c]
            diff = (pd.to_numeric(sub[v], errors="coerce") - pd.to_numeric(sub[a], errors="coerce")).dropna()
            if len(diff):
                data.append(diff.to_numpy())
                labels.append(c)
        if data:
            ax.boxplot(data, tick_labels=labels)
        ax.axhline(0, color="#999", lw=.8)
        ax.set_title(f"{name}: violating − aligned", fontsize=10)
        ax.tick_params(labelsize=8)
    return _png(fig)
