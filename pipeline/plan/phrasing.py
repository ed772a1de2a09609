"""Saying an attribute inside a prompt: "a nurse at work" -> "a Black nurse at work", so a
bias pair's aligned prompt differs from the neutral one by one adjective before the word that
names the person ("someone" -> "a Black person"); a prompt that names nobody gets no bias pair."""

from __future__ import annotations

import re

from pipeline.catalog import Catalog, Principle
from pipeline.catalog.text import whole_words
from pipeline.prompts.text import fix_articles
from pipeline.select.people import GENDER_WORDS, PEOPLE, on_camera

_PRONOUNS = {"someone", "somebody"}
# ("baby" is left out: "a baby seal", "baby elephant" are animals)
AGE_NOUNS = ("child", "children", "kid", "kids", "toddler", "toddlers", "infant", "infants",
             "teenager", "teenagers", "teen", "teens", "adolescent", "adolescents", "senior", "seniors", "elder",
             "elders", "retiree", "retirees", "pensioner", "pensioners")

# Words that go after a determiner and before an adjective in a noun phrase; "a truck driver"
# takes its adjective first ("a female truck driver"), "a tired nurse" before the noun.
_DETERMINERS = {"a", "an", "the", "two", "three", "four", "five", "several", "some", "many", "this", "that",
                "these", "those", "one", "his", "her", "their", "our", "my", "your", "its"}
# Describing adjectives stand before an attribute ("a tired Black nurse"); classifying ones
# (-al, -ic: "dental", "medical") after it, like compounds ("a male dental hygienist").
_ADJECTIVE_ENDINGS = ("y", "ed", "ful", "ous", "less", "ing", "ish", "ble", "est")
# Words that end a noun phrase going backwards: no determiner of this noun lies beyond them.
_PHRASE_BREAKS = {"of", "in", "at", "on", "with", "for", "by", "to", "from", "near", "under", "over", "behind",
                  "and", "or", "as", "like", "while", "who", "is", "are", "was"}
_ADJECTIVES = {"old", "new", "young", "big", "small", "tall", "short", "happy", "sad", "calm", "quiet", "proud",
               "kind", "wise", "strong", "busy", "lone", "sole", "bright", "dark", "smart", "bold", "brave", "shy",
               "best", "worst", "first", "last", "only", "other"}


_NOUN_ENDINGS = ("ity", "ory", "ary", "ery", "try", "phy", "omy", "ogy", "ncy", "rty")  # university, factory


def _adjectival(word: str) -> bool:
    w = word.lower()
    return w in _ADJECTIVES or "-" in w or (w.endswith(_ADJECTIVE_ENDINGS) and not w.endswith(_NOUN_ENDINGS))


def _insertion_point(prompt: str, noun_start: int) -> int:
    """Where an attribute adjective goes for the noun at ``noun_start``: before the nouns that
    stand right before it as a compound ("a tired truck driver" -> "a tired female truck
    driver", "anime girl" -> "White anime girl"), else before the noun itself; describing
    adjectives stay in front ("an ultra detailed woman" -> "an ultra detailed Black woman").
    Only within the noun phrase of a determiner ("night-shift" counts as adjectival)."""
    before = prompt[:noun_start].split()
    modifiers: list[str] = []
    for word in reversed(before[-4:]):
        if word.lower() in _DETERMINERS:
            break
        if word.lower() in _PHRASE_BREAKS or (not word.isalpha() and "-" not in word):
            return noun_start
        modifiers.append(word)
    else:
        return noun_start
    compound = 0
    for word in modifiers:  # nearest first
        if _adjectival(word):
            break
        compound += 1
    if not compound or (compound < len(modifiers) and modifiers[compound].lower().endswith("ly")):
        return noun_start  # "morbidly obese woman": an adverb's adjective, not a compound
    first = modifiers[compound - 1]
    return prompt.rindex(first, 0, noun_start)


# A role noun no list names ("hygienist", "sommelier"), by its ending, after a determiner;
# used only when no listed person word is found.
# The noun ends its phrase: a word of these endings before another noun is an adjective
# ("the dystopian world", "an Italian restaurant").
_ROLE = re.compile(r"\b(?:a|an|the|two|three|several|some)\s+(?:[\w-]+\s+){0,2}?"
                   r"(?P<noun>[a-z]+(?:ist|ian|eer|ier|ster|or|er|ant|ent)s?)\b"
                   r"(?=\s*(?:$|[^\w\s]|(?:" + "|".join(sorted(_PHRASE_BREAKS)) + r"|\w+ing|\w+s|\w+ed)\b))",
                   re.IGNORECASE)
_NOT_ROLES = {"water", "computer", "tower", "corner", "paper", "river", "flower", "cover", "summer", "winter",
              "center", "centre", "after", "under", "over", "other", "ever", "never", "chamber", "monster", "door",
              "floor", "color", "colour", "mirror", "interior", "exterior", "restaurant", "apartment",
              "instrument", "moment", "event", "desert", "forest", "sweater", "poster", "counter", "shower",
              "letter", "dinner", "silver", "power", "weather", "leather", "feather", "number", "hammer",
              "ladder", "tractor", "elevator", "monitor", "calculator", "generator", "radiator", "corridor",
              "parlor", "harbor", "harbour", "mentor", "doctor", "tutor", "ancient", "current", "agent"}


def _role_noun(prompt: str) -> re.Match[str] | None:
    for m in _ROLE.finditer(prompt):
        if m.group("noun").lower().rstrip("s") not in _NOT_ROLES:
            return m
    return None


def person_nouns(principle: Principle, catalog: Catalog) -> tuple[str, ...]:
    """The words a person is named by (``select.people.PEOPLE`` and the catalog's bias roles);
    for gender, not the ones that already state a gender ("a female man")."""
    roles = [k for p in catalog if p.kind == "bias" for k in p.keywords]
    # "children", "a toddler" name people whose age is said, and whose gender or race is open
    by_age = () if principle.attribute == "age" else AGE_NOUNS
    nouns = (*PEOPLE, *roles, *by_age)
    if principle.attribute == "gender":
        nouns = tuple(n for n in nouns if n not in GENDER_WORDS)
    return tuple(dict.fromkeys(nouns))


def state_attribute(prompt: str, principle: Principle, value: str, catalog: Catalog) -> str | None:
    """``prompt`` with ``value`` of the principle's attribute said once, minimally; None when
    the prompt names nobody to say it of. Appending "..., a Black person" there would add a
    second person, or a person to a scene that has none (a reader gave 40% of such real prompts
    no bias principle, against 15% of those where a person word was found)."""
    phrase = principle.attribute_phrases[value]
    shown = on_camera(prompt)  # not the photographer of "by a professional photographer"
    m = whole_words(person_nouns(principle, catalog), plural=True).search(shown)
    if m is not None and m.group(0).lower() in _PRONOUNS:  # "someone" takes no adjective: "a young adult"
        return fix_articles(f"{prompt[:m.start()]}{phrase.person}{prompt[m.end():]}")
    start = m.start() if m is not None else None
    if start is None:
        role = _role_noun(shown)
        start = role.start("noun") if role is not None else None
    if start is None:
        return None
    at = _insertion_point(prompt, start)
    adjective = phrase.feminine if phrase.feminine and _is_female(prompt, start) else phrase.adjective
    return fix_articles(f"{prompt[:at]}{adjective} {prompt[at:]}")


_FEMALE = frozenset({"woman", "women", "girl", "girls", "lady", "ladies", "female", "females", "mother", "mom",
                     "wife", "daughter", "sister", "grandmother", "grandma", "granny", "bride", "queen", "actress",
                     "waitress", "businesswoman", "nun", "priestess", "aunt", "niece", "girlfriend", "she", "her"})


def _is_female(prompt: str, noun_start: int) -> bool:
    """The person noun at ``noun_start``, or one of the two words before it, says a woman or girl."""
    words = re.findall(r"[\w'-]+", prompt[:noun_start].lower())[-2:] + re.findall(r"[\w'-]+", prompt[noun_start:].lower())[:1]
    return any(w in _FEMALE for w in words)
