"""Saying an attribute inside a prompt: "a nurse at work" -> "a Black nurse at work", so a
bias pair's aligned prompt differs from the neutral one by one adjective where the person is
named, and by one appended person phrase where nobody is ("..., an elderly person")."""

from __future__ import annotations

import functools
import re

from pipeline.catalog import Catalog, Principle
from pipeline.prompts.text import fix_articles

# Nouns that name a person without fixing gender, race or age; the catalog's bias keywords
# (roles: nurse, ceo, gamer) are added to them.
PERSON_NOUNS: tuple[str, ...] = (
    "person", "people", "individual", "adult", "adults", "worker", "employee", "customer", "tourist", "traveler",
    "traveller", "passenger", "shopper", "student", "artist", "musician", "chef", "cook", "farmer", "runner",
    "cyclist", "hiker", "swimmer", "dancer", "singer", "writer", "reader", "painter", "photographer", "driver",
    "waiter", "waitress", "barista", "gardener", "shopkeeper", "vendor", "commuter", "pedestrian", "neighbor",
    "neighbour", "friend", "friends", "couple", "parent", "professor", "officer", "soldier", "guard", "athlete",
    "player", "coach", "climber", "surfer", "skier", "fisherman", "volunteer", "patient", "visitor", "crowd",
    "figure", "someone", "stranger", "human", "owner", "manager", "executive", "scientist", "researcher",
)
# Nouns that already state a gender: a gender adjective cannot go before them.
GENDERED_NOUNS: tuple[str, ...] = (
    "man", "men", "woman", "women", "boy", "girl", "guy", "lady", "gentleman", "mother", "father", "husband",
    "wife", "son", "daughter", "brother", "sister", "grandmother", "grandfather", "king", "queen", "waitress",
    "fisherman",
)
# Words that go after a determiner and before an adjective in a noun phrase; "a truck driver"
# takes its adjective first ("a female truck driver"), "a tired nurse" before the noun.
_DETERMINERS = {"a", "an", "the", "two", "three", "four", "five", "several", "some", "many", "this", "that",
                "these", "those", "one", "his", "her", "their", "our", "my", "your", "its"}
_ADJECTIVE_ENDINGS = ("y", "ed", "ful", "ous", "ic", "al", "ive", "less", "ing", "ish", "ent", "ant", "ble", "est")
_ADJECTIVES = {"old", "new", "young", "big", "small", "tall", "short", "happy", "sad", "calm", "quiet", "proud",
               "kind", "wise", "strong", "busy", "lone", "sole", "bright", "dark", "smart", "bold", "brave", "shy",
               "best", "worst", "first", "last", "only", "other"}


def _adjectival(word: str) -> bool:
    w = word.lower()
    return w in _ADJECTIVES or w.endswith(_ADJECTIVE_ENDINGS) or "-" in w


def _insertion_point(prompt: str, noun_start: int) -> int:
    """Where an attribute adjective goes for the noun at ``noun_start``: before the noun when
    only adjectives stand between it and its determiner, else right after the determiner
    (the words between are a compound: "truck", "night-shift" is adjectival)."""
    before = prompt[:noun_start].split()
    modifiers: list[str] = []
    for word in reversed(before[-4:]):
        if word.lower() in _DETERMINERS:
            break
        if not word.isalpha() and "-" not in word:
            return noun_start
        modifiers.append(word)
    else:
        return noun_start
    if all(_adjectival(w) for w in modifiers):
        return noun_start
    first = modifiers[-1]
    return prompt.rindex(first, 0, noun_start)


@functools.lru_cache(maxsize=64)
def noun_pattern(nouns: tuple[str, ...]) -> re.Pattern[str]:
    alts = "|".join(re.escape(n) for n in sorted(set(nouns), key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alts})(?:s|es)?(?![\w-])", re.IGNORECASE)


def person_nouns(principle: Principle, catalog: Catalog) -> tuple[str, ...]:
    roles = [k for p in catalog if p.kind == "bias" for k in p.keywords]
    nouns = (*PERSON_NOUNS, *roles)
    if principle.attribute != "gender":
        nouns = (*nouns, *GENDERED_NOUNS)
    else:
        nouns = tuple(n for n in nouns if n not in GENDERED_NOUNS)
    return tuple(dict.fromkeys(nouns))


def state_attribute(prompt: str, principle: Principle, value: str, catalog: Catalog) -> str:
    """``prompt`` with ``value`` of the principle's attribute said once, minimally."""
    phrase = principle.attribute_phrases[value]
    m = noun_pattern(person_nouns(principle, catalog)).search(prompt)
    if m is None:
        return f"{prompt.rstrip(' ,')}, {phrase.person}"
    at = _insertion_point(prompt, m.start())
    return fix_articles(f"{prompt[:at]}{phrase.adjective} {prompt[at:]}")
