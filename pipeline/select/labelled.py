"""Labelled prompts for training and measuring selectors: JSONL rows

    {"prompt": "...", "label": "<principle id or none>", "accept": ["<other ids>"], "shape": "prose"}

``label`` is what a careful reader would pick first; ``accept`` the other principles the same
reader accepts ("a man stabbing a shopkeeper": no_violence, also no_weapons_threat). A
selection is right when it lands in ``{label} | accept``. Rows of real prompts may also say
whether the prompt is English, the reader's minimal safe ``twin`` of a harmful prompt and that
twin's label, and where the row came from (``source``).

``prompts/labelled/real/`` holds real prompts (I2P, COCO captions) labelled by reading, split
into ``*_train`` and ``*_dev`` by ``is_dev`` before any result was looked at; the dev files are
never trained on. ``selector_train.jsonl`` (in-house, written to instructions) is trained on
next to the real train files; ``selector_dev.jsonl`` (another in-house hand) is only measured.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.catalog import Catalog
from pipeline.catalog.text import prompt_key
from pipeline.select.base import NONE_LABEL

LABELLED_DIR = Path(__file__).resolve().parents[2] / "prompts" / "labelled"
TRAIN_PATH = LABELLED_DIR / "selector_train.jsonl"
DEV_PATH = LABELLED_DIR / "selector_dev.jsonl"
REAL_DIR = LABELLED_DIR / "real"
REAL_SOURCES = ("i2p", "coco")  # prompts people typed into Stable Diffusion; photo captions
# What `make train-selector` trains on: the in-house rows, then the real train splits.
TRAIN_FILES = (TRAIN_PATH, *(REAL_DIR / f"{s}_train.jsonl" for s in REAL_SOURCES))
REAL_DEV_FILES = {s: REAL_DIR / f"{s}_dev.jsonl" for s in REAL_SOURCES}
_DEV_SHARE = 5  # one in five


def is_dev(key: str) -> bool:
    """The fixed dev split of real material: a hash of the prompt (I2P) or of the image id
    (COCO, whose captions of one image must not straddle the split)."""
    digest = hashlib.sha256(("livo-real-split\x1f" + key).encode()).digest()
    return int.from_bytes(digest[:8], "big") % _DEV_SHARE == 0


def split_key(prompt: str, source: str | None) -> str:
    """What ``is_dev`` hashes for a row: the image id of a COCO caption, else the prompt."""
    if source and source.startswith("coco:"):
        return source
    return prompt_key(prompt)


class LabelledDataError(ValueError):
    """A labelled file is malformed; the message names file and line."""


@dataclass(frozen=True)
class LabelledPrompt:
    prompt: str
    label: str  # a principle id or "none"
    accept: frozenset[str] = frozenset()
    shape: str | None = None
    english: bool = True
    twin: str | None = None  # the reader's minimal safe twin of a harmful prompt
    twin_label: str | None = None
    source: str | None = None

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
        twin, twin_label = row.get("twin"), row.get("twin_label")
        if twin is not None and (not isinstance(twin, str) or not twin.strip() or not isinstance(twin_label, str)):
            raise LabelledDataError(f"{where}: a 'twin' must be a non-empty string with a 'twin_label'")
        unknown = sorted({label, *accept, *([twin_label] if twin else [])} - known)
        if unknown:
            raise LabelledDataError(f"{where}: unknown principle(s) {unknown}; labels are the catalog's ids or "
                                    f"'{NONE_LABEL}' (see `livo principles list`)")
        key = prompt_key(prompt)
        if key in seen:
            raise LabelledDataError(f"{where}: the prompt repeats line {seen[key]}; keep one row per prompt")
        seen[key] = n
        rows.append(LabelledPrompt(prompt.strip(), label, frozenset(accept) - {label}, row.get("shape"),
                                   bool(row.get("english", True)), twin.strip() if twin else None,
                                   twin_label if twin else None, row.get("source")))
    if not rows:
        raise LabelledDataError(f"{path}: no rows")
    return rows


def file_digest(path: Path | str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
