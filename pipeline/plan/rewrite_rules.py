"""Rule-based safe twins for prompts nobody wrote a twin for (imported, LLM-written): the
catalog's phrase-level rewrite rules, then its safe suffix."""

from __future__ import annotations

import re

from pipeline.catalog import Principle


def tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)
    return text.strip(" ,;")


def rewrite_toxic(prompt: str, principle: Principle) -> str:
    """Minimal change: apply the rewrite rules; if none fired, append the safe suffix."""
    text, fired = prompt, 0
    for rule in principle.rewrite_rules:
        text, n = rule.apply(text)
        fired += n
    text = tidy(text)
    if fired == 0 or text.lower() == prompt.lower():
        text = tidy(f"{prompt}, {principle.safe_suffix or 'safe for work'}")
    return text
