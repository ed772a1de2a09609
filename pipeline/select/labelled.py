"""Labelled prompts for training and measuring selectors: JSONL rows

    {"prompt": "...", "label": "<principle id or none>", "accept": ["<other ids>"], "shape": "prose"}

``label`` is what a careful reader would pick first; ``accept`` the other principles the same
reader accepts ("a man stabbing a shopkeeper": no_violence, also no_weapons_threat). A
selection is right when it lands in ``{label} | accept``. The project's own sets live in
``prompts/labelled/`` (``selector_train.jsonl`` is trained on; ``selector_dev.jsonl``, written
by another hand, is only ever measured).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.catalog import Catalog
from pipeline.select.base import NONE_LABEL

LABELLED_DIR = Path(__file__).resolve().parents[2] / "prompts" / "labelled"
TRAIN_PATH = LABELLED_DIR / "selector_train.jsonl"
DEV_PATH = LABELLED_DIR / "selector_dev.jsonl"


class LabelledDataError(ValueError):
    """A labelled file is malformed; the message names file and line."""


@dataclass(frozen=True)
class LabelledPrompt:
    prompt: str
    label: str  # a principle id or "none"
    accept: frozenset[str] = frozenset()
    shape: str | None = None

    @property
    def acceptable(self) -> frozenset[str]:
        return self.accept | {self.label}


def read_labelled(path: Path | str, catalog: Catalog) -> list[LabelledPrompt]:
    """Every row of a labelled JSONL file, checked against the catalog's principle ids."""
    path = Path(path)
    if not path.is_file():
        raise LabelledDataError(f"{path}: no such file; give a JSONL file of {{prompt, label, accept}} rows")
    known = {p.id for p in catalog} | {NONE_LABEL}
    rows: list[LabelledPrompt] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise LabelledDataError(f"{where}: not JSON ({e.msg}); each line must be one JSON object") from None
        prompt, label = row.get("prompt") if isinstance(row, dict) else None, row.get("label") if isinstance(row, dict) else None
        if not isinstance(prompt, str) or not prompt.strip() or not isinstance(label, str):
            raise LabelledDataError(f"{where}: a row needs a non-empty 'prompt' and a 'label' string")
        accept = row.get("accept") or []
        unknown = sorted({label, *accept} - known)
        if unknown:
            raise LabelledDataError(f"{where}: unknown principle(s) {unknown}; labels are the catalog's ids or "
                                    f"'{NONE_LABEL}' (see `livo principles list`)")
        key = " ".join(prompt.lower().split())
        if key in seen:
            raise LabelledDataError(f"{where}: the prompt repeats line {seen[key]}; keep one row per prompt")
        seen[key] = n
        rows.append(LabelledPrompt(prompt.strip(), label, frozenset(accept) - {label}, row.get("shape")))
    if not rows:
        raise LabelledDataError(f"{path}: no rows")
    return rows


def file_digest(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
