"""Cheap, conservative fluency checks of a planned prompt: the slips word edits make ("a
umbrella", "an people", "the the", "greeting at,", ", ,"). A hit means the edit broke the
sentence; no hit does not prove it reads well."""

from __future__ import annotations

import re

from pipeline.prompts.text import wants_an

_WORD = re.compile(r"[A-Za-z][\w'-]*")
# "a"/"an" words that are not articles in prompts ("an" in "a Tarot an" is never meant)
_ARTICLE_FREE_NEXT = {"a", "an", "and", "or", "the"}
_DOUBLED = re.compile(r"\b([a-z]+)\s+\1\b", re.IGNORECASE)
_DOUBLED_OK = {"very", "bye", "so", "ha", "no", "knock", "cha", "tut", "boo"}
_EMPTY_ITEM = re.compile(r",\s*,|\(\s*\)|\s{2,}")
# A preposition or article left hanging at the end of a clause.
_DANGLING = re.compile(r"\b(a|an|the|of|at|with|to|from|into|onto|by|and)\s*(?:[,.;:]|$)", re.IGNORECASE)
# Verbs of greeting that need no second preposition ("greeting at a rival").
_DOUBLE_PREP = re.compile(r"\b(greeting|greet|greeted|hugging|hug|hugged)\s+(at|to|on|into)\b", re.IGNORECASE)


def fluency_problems(text: str) -> list[str]:
    """What looks broken in ``text`` (empty when nothing does)."""
    problems: list[str] = []
    words = _WORD.findall(text)
    for a, b in zip(words, words[1:]):
        if a.lower() in ("a", "an") and b.lower() not in _ARTICLE_FREE_NEXT and not b.isupper():
            an = wants_an(b)
            if an is not None and a.lower() != ("an" if an else "a"):
                problems.append(f"'{a} {b}'")
    for m in _DOUBLED.finditer(text):
        if m.group(1).lower() not in _DOUBLED_OK:
            problems.append(f"doubled word '{m.group(0)}'")
    if _EMPTY_ITEM.search(text):
        problems.append("empty list item or double space")
    for m in _DANGLING.finditer(text):
        problems.append(f"dangling '{m.group(1)}'")
    for m in _DOUBLE_PREP.finditer(text):
        problems.append(f"'{m.group(0)}'")
    return problems
