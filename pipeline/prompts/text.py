"""Text rules every prompt passes, whatever its source: normalisation, dedupe (on
``catalog.text.prompt_key``), and the checks that make a string a usable prompt (import, LLM answers)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pipeline.catalog.text import prompt_key
from pipeline.records import PromptRecord

# Placeholders that spreadsheet / pandas exports write for a missing value.
_NULL_WORDS = {"nan", "none", "null", "n/a", "na", "<na>"}
UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that failed UTF-8 decoding


def normalize_prompt(text: str) -> str:
    """Strip and collapse all whitespace runs (newlines, tabs, ...) to single spaces."""
    return " ".join(text.split())


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

_ARTICLE = re.compile(r"(?<![\w'’-])([Aa]n?)(\s+)([A-Za-z0-9][\w'’-]*)")
# vowel letters that sound like consonants ("a unicorn", "a European", "a one-eyed cat")
_YU = ("unic", "unif", "uniq", "unit", "univ", "union", "unis", "unil", "use", "usu", "uti", "uto", "ura",
       "uri", "ure", "ute", "eu", "ewe", "one", "once", "oui", "ufo", "uku", "ukr", "ubiq")
_SILENT_H = ("hour", "honest", "honor", "honour", "heir")  # "an hour", "an honest man"


def wants_an(word: str) -> bool | None:
    """True/False for 'an'/'a' before ``word``, as far as spelling tells; None where the text
    is left alone (acronyms, also as people type them: "an rv", "a tv"; single letters, "X-ray")."""
    head = re.split(r"[-'’]", word, maxsplit=1)[0]
    if head[:1].isdigit():  # "an 8k photo", "an 18th-century painting", "a 35mm photo"
        return head.startswith("8") or re.match(r"1[18](\D|$)", head) is not None
    if len(head) <= 1 or head.isupper() or (len(head) <= 4 and not re.search(r"[aeiouy]", head, re.IGNORECASE)):
        return None
    w = word.lower()
    if w.startswith(_SILENT_H):
        return True
    return w[0] in "aeiou" and not w.startswith(_YU)


def fix_articles(text: str) -> str:
    """'a' / 'an' agreement after any word edit (slot filling, rewrite rules, attribute
    phrases): 'a umbrella' -> 'an umbrella', 'an man' -> 'a man'."""

    def sub(m: re.Match) -> str:
        art, space, word = m.groups()
        want = wants_an(word)
        if want is None or (art.lower() == "an") == want:
            return m.group(0)
        new = "an" if want else "a"
        return (new.capitalize() if art[0] == "A" else new) + space + word

    return _ARTICLE.sub(sub, text)
