"""Who a harmless prompt shows, and which of their attributes it leaves open.

A harmless prompt that shows people gets a bias principle for an attribute the prompt does
not state, in the order gender, race, age ("a man waiting for a bus" states gender, so race);
one that shows nobody, or states every attribute, gets none. The head learns "shows people"
from the labelled prompts (named people, characters and image makers are not shown people);
these word lists decide which attribute is still open, and where to say it.
"""

from __future__ import annotations

import functools
import re

from pipeline.catalog import Catalog
from pipeline.catalog.text import whole_words

ATTRIBUTE_ORDER = ("gender", "race", "age")

PEOPLE = (
    "person", "persons", "people", "someone", "somebody", "individual", "human", "humans", "adult", "crowd",
    "couple", "family", "friends", "friend", "stranger", "neighbor", "neighbour", "passenger", "pedestrian",
    "commuter", "tourist", "traveler", "traveller", "customer", "shopper", "visitor", "guest", "patient", "worker",
    "employee", "colleague", "boss", "manager", "executive", "ceo", "founder", "entrepreneur", "businessperson",
    "doctor", "nurse", "surgeon", "dentist", "paramedic", "pharmacist", "therapist", "veterinarian",
    "teacher", "professor", "student", "tutor", "librarian", "scientist", "researcher", "engineer", "programmer",
    "developer", "designer", "architect", "lawyer", "judge", "accountant", "banker", "clerk", "secretary",
    "receptionist", "cashier", "waiter", "waitress", "bartender", "barista", "chef", "baker", "butcher",
    "farmer", "gardener", "fisherman", "fisher", "miner", "mechanic", "plumber", "electrician", "carpenter",
    "builder", "construction worker", "janitor", "cleaner", "housekeeper", "nanny", "driver", "pilot",
    "firefighter", "police officer", "officer", "security guard", "lifeguard", "bodyguard", "soldier", "athlete", "runner", "jogger",
    "cyclist", "swimmer", "surfer", "skier", "climber", "hiker", "dancer", "singer", "musician", "guitarist",
    "pianist", "drummer", "violinist", "artist", "painter", "sculptor", "photographer", "writer", "author",
    "poet", "journalist", "reporter", "actor", "actress", "influencer", "streamer", "gamer",
    "skateboarder", "dj", "volunteer", "activist", "protester", "politician", "priest", "monk", "nun",
    "vendor", "shopkeeper", "merchant", "tailor", "barber", "hairdresser", "florist", "courier", "mail carrier",
    "astronaut", "sailor", "captain", "referee", "audience", "spectators", "choir",
    "suspect", "diplomat", "warrior", "survivor", "prisoner", "hero", "villain", "wizard", "mage", "moderator",
    "rider", "hunter", "explorer", "landlord", "landlady", "tenant",
    "villagers", "locals", "residents", "parent", "parents", "sibling",
    "man", "men", "woman", "women", "guy", "guys", "lady", "ladies", "gentleman", "gentlemen", "boy", "girl",
    "mother", "father", "mom", "dad", "husband", "wife", "son", "daughter", "brother", "sister", "grandmother",
    "grandfather", "grandma", "grandpa", "bride", "groom", "king", "queen",
)
# Person nouns that say a gender, beyond "man" and "woman" (real prompts: "a cowboy", "a young witch",
# "girlfriend", "policeman", "a goddess"): each names someone to describe, and states their gender.
GENDER_NOUNS = (
    "girlfriend", "boyfriend", "mama", "mamma", "mommy", "mum", "papa", "daddy", "granny", "aunt", "uncle",
    "niece", "nephew", "fiancee", "fiancée", "fiance", "fiancé", "widow", "widower", "housewife", "maiden",
    "maid", "damsel", "lass", "gal", "lad", "dude", "bachelor", "bachelorette", "matriarch", "patriarch",
    "princess", "prince", "duchess", "empress", "emperor", "countess", "baroness",
    "goddess", "priestess", "sorceress", "sorcerer", "enchantress", "huntress", "witch", "heroine", "mistress",
    "stewardess", "hostess", "heiress", "seamstress", "ballerina", "geisha",
    "cowboy", "cowgirl", "schoolgirl", "schoolboy", "catgirl", "catboy", "femboy", "tomboy",
    "businessman", "businesswoman", "policeman", "policewoman", "fireman", "firewoman", "caveman", "cavewoman",
    "salesman", "saleswoman", "spokesman", "spokeswoman", "sportsman", "sportswoman", "chairman", "chairwoman",
    "congressman", "congresswoman", "craftsman", "horseman", "horsewoman", "fisherwoman", "strongman",
    "handyman", "mailman", "milkman", "doorman", "nobleman", "noblewoman", "gunman", "madman", "madwoman",
    "frontiersman", "lesbian", "femme fatale",
)
GENDER_NOUNS = (*GENDER_NOUNS, *(w[:-2] + "en" for w in GENDER_NOUNS if w.endswith("man")))  # "strongmen"
PEOPLE = (*PEOPLE, *GENDER_NOUNS)
GENDER_WORDS = (
    "man", "men", "woman", "women", "guy", "guys", "lady", "ladies", "gentleman", "gentlemen", "boy", "boys",
    "girl", "girls", "male", "female", "mother", "father", "mom", "dad", "husband", "wife", "son", "daughter",
    "brother", "sister", "grandmother", "grandfather", "grandma", "grandpa", "bride", "groom", "king", "queen",
    "actress", "waitress", "fisherman", "he", "she", "his", "her", "him", "nun", "monk", "males", "females", "feminine",
    "masculine", "pregnant", "pregnancy", "motherhood", "fatherhood", "non-binary", "nonbinary", "non - binary",
    "transgender", "himself", "herself", *GENDER_NOUNS,
)
RACE_WORDS = (
    "asian", "east asian", "south asian", "latino", "latina", "latinx", "hispanic",
    "african", "african american", "european", "caucasian", "middle eastern", "native american",
    "indigenous", "pacific islander", "pakistani", "bangladeshi", "nigerian", "kenyan", "ethiopian", "ghanaian",
    "colombian", "peruvian", "iranian", "jamaican", "haitian", "inuit", "maori", "aboriginal", "biracial", "multiracial", "mixed-race", "mixed race",
    # a skin colour says it as well ("pale skin": readers gave such prompts the next open attribute)
    "pale skin", "pale-skinned", "pale skinned", "dark skin", "dark-skinned", "dark skinned", "light-skinned",
    "light skinned", "fair-skinned", "fair skinned", "brown skin", "brown-skinned", "brown skinned", "olive skin",
    "olive-skinned", "red-skinned", "red skinned",
    # peoples and nations the list above lacked ("a bengali girl", "slavic peasants")
    # (not words as often said of things: "dutch angle", "an english garden", "a cuban cigar")
    "bengali", "punjabi", "tamil", "gujarati", "nepali", "iraqi", "syrian", "lebanese", "somali", "sudanese",
    "congolese", "zulu", "maasai", "samoan", "puerto rican", "dominican", "argentinian", "venezuelan", "chilean",
    "slavic", "ukrainian", "romani",
    # the other peoples, nations and regions of origin seldom said of things ("a Tunisian man", "a bald
    # Crimean man"; readers took a person's origin for their race, as the list above does)
    "tunisian", "algerian", "libyan", "jordanian", "saudi", "emirati", "yemeni", "omani", "qatari", "kuwaiti",
    "israeli", "palestinian", "kurdish", "armenian", "azerbaijani", "kazakh", "uzbek", "turkmen", "tajik",
    "kyrgyz", "chechen", "tatar", "crimean", "siberian", "nepalese", "sri lankan", "sinhalese", "cambodian",
    "laotian", "malaysian", "singaporean", "taiwanese", "tongan", "fijian", "papuan", "polynesian",
    "melanesian", "micronesian", "romanian", "bulgarian", "serbian", "croatian", "bosnian", "albanian",
    "macedonian", "slovak", "slovenian", "lithuanian", "latvian", "estonian", "belarusian", "moldovan",
    "senegalese", "malian", "ivorian", "cameroonian", "angolan", "zimbabwean", "zambian", "ugandan",
    "tanzanian", "rwandan", "eritrean", "somalian", "malagasy", "mozambican", "namibian", "south african",
    "liberian", "guatemalan", "honduran", "salvadoran", "nicaraguan", "costa rican", "panamanian",
    "ecuadorian", "bolivian", "paraguayan", "uruguayan", "trinidadian", "bahamian", "cherokee", "navajo",
    "sioux", "lakota", "hopi", "bedouin", "berber", "pashtun", "hmong", "ainu", "yoruba", "igbo", "hausa",
    "afro-american", "afro-latina", "afro-latino", "filipina", "chicana", "chicano",
)
# Origins as often said of things as of people ("japanese manga", "a russian sauna", "chinese
# lanterns"): they state race before a person word (`RACE_BEFORE_PERSON`), their plurals anywhere
# ("three Italians").
_ORIGINS_OF_THINGS = (
    "japanese", "chinese", "russian", "french", "german", "italian", "spanish", "greek", "korean", "thai",
    "turkish", "persian", "mexican", "indian", "irish", "scottish", "swedish", "norwegian", "polish",
    "egyptian", "moroccan", "brazilian", "arab", "vietnamese", "filipino", "indonesian",
)
RACE_WORDS = (*RACE_WORDS, *(w + "s" for w in _ORIGINS_OF_THINGS if w.endswith(("an", "ek", "ab", "no", "ai"))))
AGE_WORDS = (
    "youthful", "elderly", "senior", "seniors", "middle-aged",
    "teen", "teenage", "teenager", "adolescent", "child", "children", "kid", "kids", "baby", "toddler",
    "infant", "retired", "retiree", "pensioner", "grandmother", "grandfather", "grandma", "grandpa", "granny",
    "twenty-something", "thirty-something", "elder", "veteran", "boy", "girl", "boys", "girls",
)
# Words that state race or age only when they describe a person ("a Black nurse", "an old
# fisherman"), not a shirt or a barn: counted directly before a person word (one word between).
RACE_BEFORE_PERSON = (
    "white", "black", "brown",
    # origins as often said of things ("a Dutch angle", "a Swiss watch", "a Mongolian barbecue")
    "dutch", "swiss", "danish", "finnish", "belgian", "austrian", "hungarian", "czech", "portuguese", "cuban",
    "hawaiian", "afghan", "georgian", "mongolian", "tibetan", "burmese", "icelandic", "welsh", "nordic",
    "scandinavian", "celtic", "mediterranean", "caribbean", "balkan", *_ORIGINS_OF_THINGS,
)
AGE_BEFORE_PERSON = ("young", "younger", "old", "older", "aged")
_AGE_NUMBER = re.compile(r"\b\d{1,2}[- ]year[- ]old\b|\bin (?:his|her|their) (?:20|30|40|50|60|70|80|90)s\b", re.IGNORECASE)


@functools.lru_cache(maxsize=8)
def _before_person(words: tuple[str, ...]) -> re.Pattern[str]:
    """One of ``words``, at most one word, then a person word."""
    gap = r"\s+(?:[\w-]+\s+)?"
    return re.compile(whole_words(words).pattern + gap + whole_words(PEOPLE, plural=True).pattern, re.IGNORECASE)


# People a prompt names but does not show: the maker of the image in quality and style tags
# ("by a professional photographer", "award-winning photographer", "shot by a famous
# painter"). Their words are masked before anyone is looked for.
_MAKERS = r"(?:photographers?|photography|artists?|painters?|illustrators?|cinematographers?|directors?)"
_OFF_CAMERA = re.compile(
    rf"\b(?:(?:shot|photographed|painted|drawn|filmed|taken|made|art|artwork|photo|painting|illustration)\s+)?by\s+"
    rf"(?:an?\s+|the\s+)?(?:[\w-]+\s+){{0,2}}?{_MAKERS}\b"
    rf"|\b(?:professional|award[- ]winning|famous|renowned|master|expert|fashion|wildlife|magnum|national geographic|"
    rf"street|portrait|wedding)\s+(?:[\w-]+\s+)?{_MAKERS}\b"
    # whoever made the thing shown ("lines written by a madman", "a vase painted by a young woman")
    rf"|\b(?:written|drawn|painted|sketched|scribbled|photographed|filmed|made|designed|sculpted|carved|"
    rf"knitted|sewn|built|crafted|created)\s+by\s+(?:an?\s+|the\s+|my\s+|his\s+|her\s+)?(?:[\w-]+\s+){{0,2}}?"
    rf"{whole_words(PEOPLE, plural=True).pattern}"
    # whose eyes the image is seen through ("a meltdown from the point of view of a child")
    rf"|\b(?:from|through)\s+(?:the\s+)?(?:point of view|perspective|pov|eyes)\s+of\s+(?:an?\s+|the\s+|my\s+)?"
    rf"(?:[\w-]+\s+){{0,2}}?{whole_words((*PEOPLE, *AGE_WORDS), plural=True).pattern}",
    re.IGNORECASE)
# A scene that says nobody is in it ("an empty raincoat", "no people", "deserted street").
_NOBODY = re.compile(r"\b(?:no (?:people|humans?|persons?|one|figures?)|nobody|no-one|without (?:people|humans|anyone)|"
                     r"empty|deserted|unoccupied|uninhabited|abandoned)\b", re.IGNORECASE)


# Who is or may be a child or a teenager. No pair may show one beside sexual content or nudity:
# `shows_minor` refuses such a toxicity pair, whose violating side is the user's own prompt, and
# `may_show_minor` keeps the sexual injections off a benign guard pair. "girl" is as often a grown
# woman in real prompts ("anime girl", "a beautiful girl"), so it counts only for the guard pair,
# where caution costs nothing (another principle is injected).
_MINOR = re.compile(
    r"\b(?:child|children|kids?|kiddos?|bab(?:y|ies)|toddlers?|infants?|newborns?|teens?|teenagers?|teenage|"
    r"adolescents?|pre-?teens?|tweens?|underage|minors?|schoolgirls?|schoolboys?|schoolchildren|lolis?|lolita|"
    r"shota|boys?|little girls?|young girls?)\b|\b(?:[1-9]|1[0-7])\s?(?:-?\s?(?:years?|yrs?)[- ]old|yo|y/o)\b",
    re.IGNORECASE)
_GIRL = re.compile(r"\bgirls?\b", re.IGNORECASE)


def shows_minor(text: str) -> bool:
    return _MINOR.search(text) is not None


def may_show_minor(text: str) -> bool:
    return shows_minor(text) or _GIRL.search(text) is not None


def on_camera(text: str) -> str:
    """``text`` with the image makers of its quality tags blanked out (same length, so spans
    found in it are spans of ``text``)."""
    return _OFF_CAMERA.sub(lambda m: " " * len(m.group(0)), text)


def shows_people(text: str) -> bool:
    """A person word outside the quality tags."""
    return whole_words(PEOPLE, plural=True).search(on_camera(text)) is not None


def says_nobody(text: str) -> bool:
    """A word that says nobody is there, with no person named before it: "an empty raincoat floating,
    a man" shows nobody, but "a lone woman at an empty station" and "a girl in an abandoned hotel" show
    her (a reader gave a bias principle to each of the 4 real training prompts with a person word
    before the emptiness that the head, out of fold, read as showing people)."""
    m = _NOBODY.search(text)
    return m is not None and whole_words(PEOPLE, plural=True).search(on_camera(text[:m.start()])) is None


# Things a colour names, not a skin ("a black metal singer", "a black belt instructor")
COLOUR_NAMED = re.compile(r"\b(?:black|white)[ -](?:metal|belts?|tie|collar|ops|magic)\b", re.IGNORECASE)


def stated_attributes(text: str) -> set[str]:
    text = re.sub(r"\s+", " ", on_camera(text))  # "red  skinned"
    out = set()
    if whole_words(GENDER_WORDS, plural=True).search(text):
        out.add("gender")
    if whole_words(RACE_WORDS, plural=True).search(text) or _before_person(RACE_BEFORE_PERSON).search(COLOUR_NAMED.sub(" ", text)):
        out.add("race")
    if whole_words(AGE_WORDS, plural=True).search(text) or _AGE_NUMBER.search(text) or _before_person(AGE_BEFORE_PERSON).search(text):
        out.add("age")
    return out


# Traits of a stereotype: a race said of a person described by one ("an angry Black woman", "a lazy
# Mexican", "a greedy Jewish banker") would teach the stereotype as the aligned image. Race is still
# the principle that applies (selection says so, as a reader does), but the planner pairs the next
# open attribute instead (`pairable_bias_principle`).
_STEREOTYPE_TRAITS = re.compile(
    r"\b(?:angry|furious|aggressive|violent|dangerous|menacing|evil|wicked|sinister|criminal|thug|thuggish|"
    r"lazy|greedy|stingy|dirty|filthy|smelly|poor|ghetto|primitive|savage|uncivilized|drunk|drunken|stupid|"
    r"dumb|ugly|exotic|submissive|terrorist|illegal|crazy|insane|psycho|psychotic|deranged|creepy|scary|horrible|"
    r"hideous|disgusting|starving|starved|malnourished|famished|homeless|impoverished|enraged|raging|rage|hostile|"
    r"prisoners?|inmates?|convicts?|jailed|imprisoned|incarcerated|cheating|gangsters?|fat|obese)\b", re.IGNORECASE)


def _closed(text: str) -> set[str]:
    """Attributes not to be paired though open: race for a prompt with a stereotype's trait."""
    return {"race"} if _STEREOTYPE_TRAITS.search(on_camera(text)) else set()


def _first_open(text: str, catalog: Catalog, closed: frozenset[str] | set[str] = frozenset()) -> str | None:
    by_attribute = {p.attribute: p.id for p in catalog if p.kind == "bias"}
    stated = stated_attributes(text) | closed
    for attribute in ATTRIBUTE_ORDER:
        if attribute not in stated and attribute in by_attribute:
            return by_attribute[attribute]
    return None


def open_bias_principle(text: str, catalog: Catalog, principle_id: str) -> str | None:
    """A bias principle a keyword chose ("doctor" -> gender), kept unless the prompt states its
    attribute ("a female doctor"): then the first attribute still open, or None."""
    p = catalog.get(principle_id)
    if p.kind != "bias" or p.attribute not in stated_attributes(text):
        return principle_id
    return _first_open(text, catalog)


def bias_principle_for(text: str, catalog: Catalog, head_says_people: bool) -> str | None:
    """The bias principle of the first open attribute of a harmless prompt the head reads as
    showing people, unless the prompt says nobody is there; None when nobody is shown or
    nothing is open. Whether someone is shown is the head's call alone: on real prompts a
    person word is as often a named celebrity, a character or an image maker as someone the
    image shows (a person word without the head's reading was right for 38% of the real
    labelled prompts it fired on), while which attribute the prompt states is the word lists'."""
    if not head_says_people or says_nobody(text):
        return None
    return _first_open(text, catalog)


def pairable_bias_principle(text: str, catalog: Catalog, principle_id: str) -> str | None:
    """The bias principle a pair is planned for: the selected one, unless its attribute is closed
    for this prompt (`_closed`); then the next attribute neither stated nor closed, or None."""
    closed = _closed(text)
    if catalog.get(principle_id).attribute not in closed:
        return principle_id
    return _first_open(text, catalog, closed)
