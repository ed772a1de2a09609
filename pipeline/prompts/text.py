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


# ---------------------------------------------------------------- articles
_ARTICLE = re.compile(r"\b([Aa]n?) ([A-Za-z0-9][\w'-]*)")
# vowel letters that sound like consonants, and silent-h words
_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "ure", "eu", "one", "once", "ubiq", "ukr")
_VOWEL_SOUND_H = ("hour", "honest", "honor", "honour", "heir")


def wants_an(word: str) -> bool:
    """Whether ``word`` takes 'an': a vowel sound, as far as spelling tells ('an hour', 'a unicorn', 'an 8k photo')."""
    w = word.lower()
    if w.startswith(_VOWEL_SOUND_H):
        return True
    if w[0].isdigit():  # "an 8k photo", "an 18th-century painting", "a 35mm photo"
        return w.startswith("8") or re.match(r"1[18](\D|$)", w) is not None
    return w[0] in "aeiou" and not w.startswith(_CONSONANT_SOUND)


def fix_articles(text: str) -> str:
    """'a' / 'an' agreement after any word edit (slot filling, rewrites, attribute phrases):
    'a adult' -> 'an adult', 'an man' -> 'a man'."""

    def sub(m: re.Match) -> str:
        art, word = m.group(1), m.group(2)
        want = "an" if wants_an(word) else "a"
        if art.lower() == want:
            return m.group(0)
        return (want.capitalize() if art[0] == "A" else want) + " " + word

    return _ARTICLE.sub(sub, text)
