"""Text rules every prompt passes, whatever its source: normalisation, the dedupe key, and
the checks that make a string a usable prompt (import, LLM answers)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pipeline.records import PromptRecord

# Placeholders that spreadsheet / pandas exports write for a missing value.
_NULL_WORDS = {"nan", "none", "null", "n/a", "na", "<na>"}
UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that failed UTF-8 decoding


def normalize_prompt(text: str) -> str:
    """Strip and collapse all whitespace runs (newlines, tabs, ...) to single spaces."""
    return " ".join(text.split())


def prompt_key(text: str) -> str:
    """The dedupe key: lower-cased (casefolded), whitespace-collapsed text."""
    return " ".join(text.casefold().split())


def dedupe(records: Iterable[PromptRecord]) -> list[PromptRecord]:
    """Keep the first record of each normalised text (see prompt_key), in order."""
    seen: set[str] = set()
    out: list[PromptRecord] = []
    for rec in records:
        key = prompt_key(rec.text)
        if key in seen:
            continue
        seen.add(key)
        out.append(rec)
    return out


def check_prompt(raw: str, max_chars: int = 500) -> tuple[str | None, str | None]:
    """(cleaned text, None) for a usable prompt, (None, reason) for a bad one."""
    if UNDECODABLE.search(raw):
        return None, "undecodable bytes (not valid UTF-8)"
    text = normalize_prompt(raw)
    if not text:
        return None, "empty prompt"
    bad = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn")})
    if bad:
        return None, f"not text: control or invalid characters ({', '.join(bad[:3])})"
    if text.lower() in _NULL_WORDS:
        return None, f"not text: placeholder value {text!r}"
    if not any(c.isalpha() for c in text):
        return None, "not text: no letters"
    if len(text) > max_chars:
        return None, f"prompt too long ({len(text)} > {max_chars} characters)"
    return text, None
