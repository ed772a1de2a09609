"""Saying an attribute inside a prompt: "a nurse at work" -> "a Black nurse at work", so a
bias pair's aligned prompt differs from the neutral one by one adjective where the person is
named, and by one appended person phrase where nobody is ("..., an elderly person")."""

from __future__ import annotations

import functools
import re

from pipeline.catalog import Catalog, Principle

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
_VOWEL_SOUND = re.compile(r"^(?:[aei]|o(?!ne\b|nce\b|ne-)|u(?!ni|se|su|ro|ku|tah|bi)|honest|hour|heir)", re.IGNORECASE)
_ARTICLE = re.compile(r"\b(a|an)(\s+)([\w-]+)", re.IGNORECASE)


def vowel_sound(word: str) -> bool:
    """Whether ``word`` starts with a vowel sound, as far as spelling tells ("an hour", "a unicorn")."""
    return bool(_VOWEL_SOUND.match(word))


def fix_articles(text: str) -> str:
    """'a' before a vowel sound becomes 'an' and 'an' before a consonant becomes 'a'
    (keeping capitals): edits that put a new word after an article need this."""
    def repl(m: re.Match[str]) -> str:
        article, space, word = m.groups()
        want = "an" if vowel_sound(word) else "a"
        if article.lower() == want:
            return m.group(0)
        return (want.capitalize() if article[0].isupper() else want) + space + word
    return _ARTICLE.sub(repl, text)


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
    return fix_articles(f"{prompt[:m.start()]}{phrase.adjective} {prompt[m.start():]}")
