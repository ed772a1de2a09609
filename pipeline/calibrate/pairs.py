"""A finished run's judged pairs, kept and rejected, as the filter rules see them.

Every score is stored with every pair (a rejected pair keeps the scores that rejected it),
so the rules can be re-applied to a run with any thresholds without rendering anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.records import is_missing
from pipeline.run.schema import SCORE_COLUMNS
from pipeline.run.tables import read_rejected, read_run

_FACTS = ["id", "category", "kind", "attribute", "violating_attribute"]


@dataclass(frozen=True)
class StoredPair:
    """The plan fields a rule reads (`pipeline.filters.evidence.Pair`), from a shard row."""

    id: str
    category: str
    kind: str
    attribute: str | None
    violating_attribute: str | None
    kept: bool


def _text(v: object) -> str | None:
    return None if is_missing(v) else str(v)


def _score(v: object) -> float | None:
    return None if is_missing(v) else float(v)


def read_judged_pairs(run: Path | str) -> tuple[list[StoredPair], list[dict[str, float | None]]]:
    """(pairs, their scores) of every kept and rejected pair of ``run``, images not read."""
    columns = _FACTS + list(SCORE_COLUMNS)
    frames = [(read_run(run, columns), True), (read_rejected(run, columns), False)]
    pairs, scores = [], []
    for frame, kept in frames:
        for row in frame.to_dict("records"):
            pairs.append(StoredPair(str(row["id"]), str(row["category"]), str(row["kind"]), _text(row["attribute"]),
                                    _text(row["violating_attribute"]), kept))
            scores.append({c: _score(row[c]) for c in SCORE_COLUMNS})
    return pairs, scores
