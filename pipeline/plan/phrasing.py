"""Saying an attribute inside a prompt: "a nurse at work" -> "a Black nurse at work", so a
bias pair's aligned prompt differs from the neutral one by one adjective before the word that
names the person ("someone" -> "a Black person"); a prompt that names nobody gets no bias pair."""

from __future__ import annotations

import re

from pipeline.catalog import Catalog, Principle
from pipeline.catalog.text import whole_words
from pipeline.prompts.text import fix_articles
from pipeline.select.people import COLOUR_NAMED, GENDER_WORDS, PEOPLE, RACE_BEFORE_PERSON, RACE_WORDS, on_camera

_PRONOUNS = {"someone", "somebody"}
# ("baby" is left out: "a baby seal", "baby elephant" are animals)
AGE_NOUNS = ("child", "children", "kid", "kids", "toddler", "toddlers", "infant", "infants",
             "teenager", "teenagers", "teen", "teens", "adolescent", "adolescents", "senior", "seniors", "elder",
             "elders", "retiree", "retirees", "pensioner", "pensioners")

# Words that go after a determiner and before an adjective in a noun phrase; "a truck driver"
# takes its adjective first ("a female truck driver"), "a tired nurse" before the noun.
_DETERMINERS = {"a", "an", "the", "two", "three", "four", "five", "several", "some", "many", "this", "that",
                "these", "those", "one", "his", "her", "their", "our", "my", "your", "its"}
# Describing adjectives stand before an attribute ("a cute Black girl", "a very evil White girl");
# classifying ones (-al, -ic: "dental", "medical"; "male", "female") after it, like the nouns of a
# compound ("a Black police woman", "a White anime girl", "a male dental hygienist"). Which words are
# adjectives comes from LemmInflect's English lexicon (base forms only: "gamer" is not "game" + -er);
# a word it does not know is read by its ending ("night-shift", "ultra-detailed").
_ADJECTIVE_ENDINGS = ("y", "ed", "ful", "ous", "less", "ing", "ish", "ble", "est", "esque", "ive", "istic")
_CLASSIFYING_ENDINGS = ("al", "ic")
_CLASSIFYING = {"male", "female"}
# -ic and -al adjectives that judge or describe, as prompts use them: "a realistic Indian woman", "an epic White
# knight", "a sentimental White boy"
_DESCRIBING = {"sentimental", "emotional", "magical", "mystical", "ethereal", "surreal", "brutal", "casual", "formal",
               "jovial", "regal", "colossal", "phenomenal", "whimsical", "theatrical", "comical", "tropical",
               "cinematic", "epic", "dramatic", "majestic", "iconic", "aesthetic", "exotic", "romantic", "fantastic",
               "heroic", "athletic", "energetic", "enigmatic", "charismatic", "melancholic", "tragic", "chaotic",
               "mystic", "angelic", "hypnotic", "ecstatic", "nostalgic", "poetic", "rustic", "authentic", "gigantic",
               "frantic", "stoic", "psychotic", "neurotic", "erotic", "demonic", "gothic", "magic", "classic"}
# The kind of image a tag opens with ("portrait girl with smokey eyes", "photo woman").
_IMAGE_WORDS = frozenset({"portrait", "portraits", "photo", "photos", "photograph", "picture", "painting", "drawing",
                         "sketch", "illustration", "render", "selfie", "headshot", "closeup", "close-up", "snapshot",
                         "masterpiece"})
# Words that end a noun phrase going backwards: no determiner of this noun lies beyond them.
_PHRASE_BREAKS = {"of", "in", "at", "on", "with", "for", "by", "to", "from", "near", "under", "over", "behind",
                  "and", "or", "as", "like", "while", "who", "is", "are", "was"}
_NOUN_ENDINGS = ("ity", "ory", "ary", "ery", "try", "phy", "omy", "ogy", "ncy", "rty")  # university, factory


def _adjectival(word: str, before_origin: bool = False) -> bool:
    """A describing adjective (or an adverb before one: "very", "extremely"). ``before_origin``: the
    attribute is an age, which goes before a word of origin too ("a young Irish sailor", "White" and
    "Black" included)."""
    from lemminflect import getAllLemmas

    w = word.lower()
    if w in _CLASSIFYING or (w.endswith(_CLASSIFYING_ENDINGS) and not w.endswith("istic") and w not in _DESCRIBING):
        return False
    if before_origin and (w in RACE_WORDS or w in RACE_BEFORE_PERSON):
        return False
    lemmas = getAllLemmas(w)
    if lemmas:
        # a participle no noun reading claims describes ("a crying man", "a horrible looking girl")
        participle = w.endswith(("ing", "ed")) and "VERB" in lemmas and "NOUN" not in lemmas
        return w in lemmas.get("ADJ", ()) or w in lemmas.get("ADV", ()) or participle
    return "-" in w or (w.endswith(_ADJECTIVE_ENDINGS) and not w.endswith(_NOUN_ENDINGS))


def _inflected(word: str) -> bool:
    """A plural or a verb's -s form ("kisses", "holds"): no noun of a compound before a person's noun."""
    from lemminflect import getAllLemmas

    lemmas = getAllLemmas(word)
    forms = {f for pos in ("NOUN", "VERB") for f in lemmas.get(pos, ())}
    return bool(forms) and word not in forms and word.endswith("s")


def _adverb(word: str) -> bool:
    from lemminflect import getAllLemmas

    lemmas = getAllLemmas(word.lower())
    return "ADV" in lemmas and "ADJ" not in lemmas if lemmas else word.lower().endswith("ly")


def _insertion_point(prompt: str, noun_start: int, attribute: str | None = None) -> int:
    """Where an attribute adjective goes for the noun at ``noun_start``: before the nouns that
    stand right before it as a compound ("a tired truck driver" -> "a tired female truck
    driver", "anime girl" -> "White anime girl"), else before the noun itself; describing
    adjectives stay in front ("an ultra detailed woman" -> "an ultra detailed Black woman").
    The noun phrase starts after a determiner, a preposition, a tag separator or the start of the
    prompt ("police woman, anime cel" -> "Black police woman, anime cel")."""
    before = prompt[:noun_start].split()
    modifiers: list[str] = []
    determined = unbounded = False
    for word in reversed(before[-4:]):
        low = word.lower()
        if low in _DETERMINERS or low in _PHRASE_BREAKS:
            determined = low in _DETERMINERS
            break
        if not word.replace("-", "").isalpha() or _inflected(low):  # "portrait," or "2d"; "kisses"
            break
        modifiers.append(word)
    else:
        unbounded = len(before) > 4
    if not determined:
        # what opens a tag is the kind of image, not part of the person's name ("portrait girl")
        while modifiers and modifiers[-1].lower() in _IMAGE_WORDS:
            modifiers.pop()
    compound = 0
    for i, word in enumerate(modifiers):  # nearest first; the kind of image is no part of the name ("a portrait anime girl")
        colour_named = i and COLOUR_NAMED.fullmatch(f"{word} {modifiers[i - 1]}")  # "a male black metal singer"
        if not colour_named and (_adjectival(word, before_origin=attribute == "age") or word.lower() in _IMAGE_WORDS):
            break
        compound += 1
    if unbounded and (compound == len(modifiers) or compound > 1):  # no start of the phrase in sight: leave it
        return noun_start
    if not compound or (compound < len(modifiers) and _adverb(modifiers[compound])):
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
              "parlor", "harbor", "harbour", "mentor", "doctor", "tutor", "ancient", "current", "agent",
              # what the fallback took for a role in the real training prompts and the template packs
              "waist", "wrist", "shoulder", "render", "watercolor", "watercolour", "expressionist", "impressionist",
              "orientalist", "brutalist", "dystopian", "lovecraftian", "transparent", "violent", "hyper", "her", "for",
              "basement", "appartment", "pavement", "locker", "newspaper", "scooter", "banner", "stroller",
              "shelter", "bunker", "sewer", "skyscraper", "dumpster", "barrier", "refrigerator", "incubator",
              "blender", "screwdriver", "revolver", "saber", "hamburger", "burger", "croissant", "cucumber",
              "currant", "lavender", "plant", "retriever", "elephant", "spider", "facehugger", "glacier", "rent",
              "career", "semester", "heist", "horror", "giant", "element", "environment", "government",
              "advertisement", "argument", "variant", "matter", "quarter", "scatter", "encounter", "westminster"}


def _role_noun(prompt: str) -> re.Match[str] | None:
    for m in _ROLE.finditer(prompt):
        if m.group("noun").lower().rstrip("s") not in _NOT_ROLES:
            return m
    return None


# Groups whose members are of every gender: "a male family" states nobody's gender.
_MIXED_GROUPS = frozenset({"family", "families", "couple", "couples", "parents", "crowd", "crowds", "audience",
                           "spectators", "choir", "people", "villagers", "locals", "residents", "friends", "siblings"})
# A person word that only says whose body part is shown ("a human hand", "a woman's feet") names
# nobody the image shows whole; the attribute would be said of a hand.
# (A face's parts, "a man's ear", come with the person: only parts shown apart from them count.)
_BODY_PART_AFTER = re.compile(r"(?:'s)?\s+(?:hands?|palms?|fists?|thumbs?|wrists?|feet|foot|toes|fingers?|arms?|legs?|"
                              r"knees?|elbows?|skulls?|skeletons?|bones|"
                              r"brain|heart|organs|anatomy|silhouettes?|shadows?|"
                              r"figurines?|statues?|sculptures?|mannequins?|dolls?)\b", re.IGNORECASE)

# ... or only the shape of a thing ("a lamp shaped as a woman", "a statue of a soldier").
# Things made in a person's likeness, named before "of a ..." or before the person word alike.
_FIGURES = "statue|doll|mannequin|plush|plushie|toy"
_LIKENESS_BEFORE = re.compile(rf"\b(?:shaped (?:as|like)|in the (?:shape|form) of|(?:{_FIGURES}|sculpture|figurine|bust|"
                              r"effigy|silhouette|puppet|action figure)s? of)\s+"
                              r"(?:(?:an?|the|two|three|some)\s+)?(?:[\w-]+\s+){0,2}$", re.IGNORECASE)
# ... or a thing that has a person's shape: a kind of thing right before the person word ("a robot girl", "a
# plush boy", "an alien woman") or what it is made of after it ("a girl made of clouds and sky").
_THING_BEFORE = re.compile(rf"\b(?:{_FIGURES}|robot|robotic|android|mecha|fumo|clay|wooden|origami|lego|cardboard|"
                           r"skeleton|alien|ghost|ghostly|phantom|spectral|zombie|undead|vampire|werewolf|demon|elf|"
                           r"elven|orc|goblin|cyborg|humanoid|animatronic|automaton|marionette|porcelain|monster|moth|"
                           r"lizard|insect|fish|snake)[\s-]+$",
                           re.IGNORECASE)
_MADE_OF_AFTER = re.compile(r"(?:'s)?\s+(?:made|formed|carved|built)\s+(?:of|from|out of)\b", re.IGNORECASE)


# ... or a role someone or something else plays ("a cat working as pizza delivery man", "a pig dressed as
# a judge"; a person playing it was found first).
_ROLE_BEFORE = re.compile(r"\b(?:dressed|disguised|costumed|working|posing|cosplaying|cast|acting|portrayed|reimagined)\s+as\s+"
                          r"(?:(?:an?|the)\s+)?(?:[\w-]+\s+){0,2}$", re.IGNORECASE)
# ... or the owner of a place shown without them ("a female art student's apartment").
_PLACE_AFTER = re.compile(r"\s*['’]\s*s\s+(?:[\w-]+\s+)?(?:apartment|house|home|room|bedroom|studio|office|kitchen|garden|shop|store|"
                          r"workshop|library|lab|laboratory|cabin|castle|palace|grave|tomb)s?\b", re.IGNORECASE)
# Nouns that come with the person they follow ("a woman portrait", "a man face").
_WITH_THE_PERSON = _IMAGE_WORDS | {"face", "faces", "head", "eyes", "hair", "body", "smile", "profile"}
_PLURAL_PEOPLE = {"people", "men", "women", "children", "folks"}


def _a_likeness(shown: str, start: int, end: int) -> bool:
    """The person word at ``start:end`` names a likeness or a thing in a person's shape."""
    return bool(_LIKENESS_BEFORE.search(shown, 0, start) or _THING_BEFORE.search(shown, 0, start)
                or _MADE_OF_AFTER.match(shown, end))


def _not_shown(shown: str, start: int, end: int) -> bool:
    """The person word at ``start:end`` names only a body part ("a human thin hand" too), a likeness or
    a thing in a person's shape, a role played as, the owner of a place, or is itself a noun's modifier
    ("a butcher knife", "a human ballet")."""
    if _a_likeness(shown, start, end) or _ROLE_BEFORE.search(shown, 0, start) or _PLACE_AFTER.match(shown, end):
        return True
    after = shown[end:]
    words = re.match(r"(?:'s)?((?:\s+[\w-]+){0,3})", after).group(1).split()
    skip = 0
    while skip < min(2, len(words) - 1) and _adjectival(words[skip]):
        skip += 1
    rest = " " + " ".join(words[skip:])
    plural = shown[start:end].lower() in _PLURAL_PEOPLE or _plural_form(shown[start:end].lower())
    return bool(_BODY_PART_AFTER.match(after) or (skip and _BODY_PART_AFTER.match(rest))
                or (words and not after.startswith("'") and _modified_noun(words[0], plural)))


def _modified_noun(word: str, plural: bool) -> bool:
    """``word``, right after a person's noun, is a noun that the person's noun only qualifies: a base
    form with no adjective reading, and no verb reading after a plural ("people fight")."""
    from lemminflect import getAllLemmas

    w = word.lower()
    if not w.isalpha() or w in _WITH_THE_PERSON or w in _PHRASE_BREAKS or w in _DETERMINERS or w in PEOPLE:
        return False
    lemmas = getAllLemmas(w)
    return (w in lemmas.get("NOUN", ()) and "ADJ" not in lemmas and not w.endswith(("ing", "ed"))
            and not _plural_form(w) and not (plural and "VERB" in lemmas))


def _plural_form(word: str) -> bool:
    """Spelled like a plural or a verb's -s form: an -s that is not -ss ("waitress", "dress")."""
    return word.endswith("s") and not word.endswith("ss")


def _depicted(shown: str, nouns: tuple[str, ...]) -> re.Match[str] | None:
    """The first person word of ``shown`` that names someone the image shows. A word that named a
    likeness before names it again ("a fumo plush of a girl ..., anime girl")."""
    likenesses: set[str] = set()
    for m in whole_words(nouns, plural=True).finditer(shown):
        word = m.group(0).lower()
        if _a_likeness(shown, *m.span()):
            likenesses.add(word)
        elif word not in likenesses and not _not_shown(shown, *m.span()):
            return m
    return None


def person_nouns(principle: Principle, catalog: Catalog) -> tuple[str, ...]:
    """The words a person is named by (``select.people.PEOPLE`` and the catalog's bias roles);
    for gender, not the ones that already state a gender ("a female man") nor mixed groups ("a family")."""
    roles = [k for p in catalog if p.kind == "bias" for k in p.keywords]
    # "children", "a toddler" name people whose age is said, and whose gender or race is open
    by_age = () if principle.attribute == "age" else AGE_NOUNS
    nouns = (*PEOPLE, *roles, *by_age)
    if principle.attribute == "gender":
        nouns = tuple(n for n in nouns if n not in GENDER_WORDS and n not in _MIXED_GROUPS)
    return tuple(dict.fromkeys(nouns))


def state_attribute(prompt: str, principle: Principle, value: str, catalog: Catalog) -> str | None:
    """``prompt`` with ``value`` of the principle's attribute said once, minimally; None when
    the prompt names nobody to say it of. Appending "..., a Black person" there would add a
    second person, or a person to a scene that has none (a reader gave 40% of such real prompts
    no bias principle, against 15% of those where a person word was found)."""
    phrase = principle.attribute_phrases[value]
    shown = on_camera(prompt)  # not the photographer of "by a professional photographer"
    m = _depicted(shown, person_nouns(principle, catalog))
    if m is not None and m.group(0).lower() in _PRONOUNS:  # "someone" takes no adjective: "a young adult"
        return _said_at(prompt, m.start(), phrase.person, m.end())
    start = m.start() if m is not None else None
    if start is None:
        role = _role_noun(shown)
        start = role.start("noun") if role is not None and not _not_shown(shown, *role.span("noun")) else None
    if start is None:
        return None
    at = _insertion_point(prompt, start, principle.attribute)
    adjective = phrase.feminine if phrase.feminine and _is_female(prompt, start) else phrase.adjective
    return _said_at(prompt, at, adjective + " ")


def _said_at(prompt: str, start: int, words: str, end: int | None = None) -> str:
    """``prompt`` with ``words`` in place of ``prompt[start:end]`` (inserted where ``end`` is None), and
    only the article right before them made to agree ("a Indian man" -> "an Indian man"): the user's
    own slips elsewhere ("holding a ak - 4 7") stay, so the two sides differ by the attribute alone."""
    before = prompt[:start]
    article = re.search(r"\b(?:a|an)\s+$", before, re.IGNORECASE)
    if article is not None:
        said = fix_articles(before[article.start():] + words)
        return before[:article.start()] + said + prompt[start if end is None else end:]
    return before + words + prompt[start if end is None else end:]


_FEMALE = frozenset({"woman", "women", "girl", "girls", "lady", "ladies", "female", "females", "mother", "mom",
                     "wife", "daughter", "sister", "grandmother", "grandma", "granny", "bride", "queen", "actress",
                     "waitress", "businesswoman", "nun", "priestess", "aunt", "niece", "girlfriend", "she", "her"})


def _is_female(prompt: str, noun_start: int) -> bool:
    """The person noun at ``noun_start``, or one of the two words before it, says a woman or girl."""
    words = re.findall(r"[\w'-]+", prompt[:noun_start].lower())[-2:] + re.findall(r"[\w'-]+", prompt[noun_start:].lower())[:1]
    return any(w in _FEMALE for w in words)
