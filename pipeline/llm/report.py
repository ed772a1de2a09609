"""What the LLM stages leave in a run: usage totals for stats.json and ``llm_failures.jsonl``.

Failures of any stage are collected in one list and written as one JSON object per row with
stage, item (prompt or category), reason, the raw answer and the fallback used (the
rule-based rewrite, or null when the row was left out).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pipeline.llm.types import LLM, Failure
from pipeline.run.atomic import atomic_write_text


def usage_stats(llm: LLM, failures: Sequence[Failure]) -> dict:
    return {"base_url": llm.base_url, "model": llm.model, **llm.usage(),
            "failed_rows": dict(Counter(f.stage for f in failures))}


def write_failures(path: Path, failures: Sequence[Failure]) -> None:
    atomic_write_text(path, "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in failures))
