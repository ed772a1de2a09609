"""Cheap, conservative fluency checks of a planned prompt: the slips word edits make ("a
umbrella", "an people", "the the", "greeting at a rival", "at at", ", ,"). A hit means an
edit broke the sentence; no hit does not prove it reads well. Planning, ``livo audit`` and the
tests of packs and rewrite rules all use this one checker."""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

from pipeline.prompts.text import wants_an

_WORD = re.compile(r"[A-Za-z0-9][\w'-]*")
_NOT_NOUN_START = {"a", "an", "and", "or", "the"}
_DOUBLED = re.compile(r"\b([a-z]+)\s+\1\b", re.IGNORECASE)
_DOUBLED_OK = {"very", "bye", "so", "ha", "no", "knock", "cha", "tut", "boo"}
_PREPOSITIONS = "in|on|at|of|with|by|to|from|for|into|onto"
_TWO_PREPOSITIONS = re.compile(rf"\b(?:{_PREPOSITIONS})\s+(?:{_PREPOSITIONS})\b", re.IGNORECASE)
# A preposition, conjunction or article left hanging at the end of a clause.
_DANGLING = re.compile(r"\b(a|an|the|of|at|with|to|from|into|onto|by|near|and|or)\s*(?:[,.;:]|$)", re.IGNORECASE)
# Verbs of greeting that take a direct object, not a preposition ("greeting at a rival").
_GREETING_PREP = re.compile(r"\b(greeting|greet|greeted|hugging|hug|hugged)\s+(at|to|on|into)\b", re.IGNORECASE)
_STRAY = re.compile(r"\s[,.;:]|,\s*,|^\W|[,;:]$|\(\s*\)|[{}]|\s{2,}")


def fluency_problems(text: str) -> list[str]:
    """What looks broken in ``text`` (empty when nothing does)."""
    problems: list[str] = []
    words = _WORD.findall(text)
    for a, b in pairwise(words):
        if a.lower() in ("a", "an") and b.lower() not in _NOT_NOUN_START:
            an = wants_an(b)
            if an is not None and a.lower() != ("an" if an else "a"):
                problems.append(f"'{a} {b}'")
    problems += [f"doubled word '{m.group(0)}'" for m in _DOUBLED.finditer(text)
                 if m.group(1).lower() not in _DOUBLED_OK]
    problems += [f"two prepositions '{m.group(0)}'" for m in _TWO_PREPOSITIONS.finditer(text)]
    problems += [f"dangling '{m.group(1)}'" for m in _DANGLING.finditer(text)]
    problems += [f"'{m.group(0)}'" for m in _GREETING_PREP.finditer(text)]
    if _STRAY.search(text) or text != text.strip():
        problems.append("stray punctuation or spaces")
    return problems


def edit_problems(text: str, original: str) -> list[str]:
    """The problems of ``text`` that ``original`` does not have: what an edit broke. A prompt
    people typed ("very very very detailed", "8 k , trending") keeps its own slips in both
    sides of a pair, and a twin is not refused for them."""
    left = Counter(fluency_problems(original))
    out = []
    for problem in fluency_problems(text):
        if left[problem]:
            left[problem] -= 1
        else:
            out.append(problem)
    return out
