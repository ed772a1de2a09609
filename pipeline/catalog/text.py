"""Text matching every stage shares: words of a list found as whole words (the catalog's
keywords, the people and attribute words), and when two prompts are the same prompt."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# An alternation of nothing would match the empty string everywhere.
_NOTHING = re.compile(r"(?!)")


def whole_words(words: Iterable[str], *, plural: bool = False) -> re.Pattern[str]:
    """Any of ``words`` (phrases too), case-insensitive, as whole words; with ``plural`` also
    followed by "s" or "es". No words: a pattern that matches nothing."""
    return _whole_words(tuple(words), plural)


@functools.lru_cache(maxsize=1024)
def _whole_words(words: tuple[str, ...], plural: bool) -> re.Pattern[str]:
    if not words:
        return _NOTHING
    # Longest first, so that "machine gun" wins over "gun".
    alts = "|".join(re.escape(w) for w in sorted(dict.fromkeys(words), key=len, reverse=True))
    suffix = "(?:s|es)?" if plural else ""
    # A hyphen joins words into one: "gun" is no more in "gun-shaped" than in "begun".
    return re.compile(rf"(?<![\w-])(?:{alts}){suffix}(?![\w-])", re.IGNORECASE)


def prompt_key(text: str) -> str:
    """What two prompts share when they are the same prompt: case folded (``casefold``, so
    "Straße" and "STRASSE" agree) and whitespace runs collapsed. The real labelled prompts'
    train/dev split hashes it (``select.labelled.split_key``): changing it reshuffles that split."""
    return " ".join(text.casefold().split())
