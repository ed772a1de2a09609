"""Rule-based safe twins for toxicity prompts nobody wrote a twin for (imported I2P files,
other teams' prompts, LLM-written prompts).

Each toxicity principle carries phrase-level ``rewrite_rules`` (regex, case-insensitive,
applied in order): a harmful phrase is matched with its grammatical context and replaced as
a whole by a harmless phrase of the same role ("punching a man" -> "shaking hands with a
man", "pools of blood" -> "puddles of rainwater", "a gang of thugs" -> "a group of friends").
A prompt can carry several harms, so after the selected principle's rules the rules of the
other toxicity principles run too. The keyword exceptions of every toxicity principle
("kitchen knife", "shooting star") are masked while rules run, so benign phrases survive.

A twin is accepted only when it is clean: it differs from the prompt, has no keyword hit of
any toxicity principle (``Principle.find_keywords``) and no toxicity rule still fires on it
(a rule pattern is a harmful phrase, also where it holds no keyword: "bleeding from deep
gashes"), though another principle's object words may stay ("a sword" held; a second twin replaces
them too). Otherwise there is no rule-based twin: ``rule_twins`` is empty. Appending a
safe suffix is never a fix: "neo-nazis harassing a family, welcoming and inclusive" still
shows the harm and contradicts itself, so suffixes are not used at all (the aligned image's
negative prompt already carries the principle's negative concepts).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence

from pipeline.catalog import Catalog, Principle
from pipeline.catalog.text import prompt_key, whole_words
from pipeline.prompts.text import fix_articles

MAX_PASSES = 4

# ---------------------------------------------------------------- tidy

_DOUBLED = re.compile(r"\b(a|an|the|with|of|and|in|on|at|to|by|for|from|into|near)\s+\1\b", re.IGNORECASE)
_DANGLING_CONJ = re.compile(r"\s+(?:and|or)\s*(?=[,;:]|$)", re.IGNORECASE)
_REPEATED = re.compile(r"\b([\w-]+(?:\s+[\w-]+)?)\s+\1\b", re.IGNORECASE)


def tidy(text: str) -> str:
    """Whitespace and separators after substitution, doubled small words, dangling 'and',
    and a/an agreement."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)
    text = re.sub(r"\(\s*\)", "", text)
    text = _DANGLING_CONJ.sub("", text)
    text = _DOUBLED.sub(r"\1", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    return fix_articles(text.strip(" ,;:"))


_POSSESSIVE_ARTICLE = re.compile(r"\b([\w-]+)'s\s+(?:a|an|the)\s+(?=\w)", re.IGNORECASE)
_CONTRACTIONS = {"it", "that", "there", "here", "he", "she", "what", "who", "where", "let", "how", "everyone", "nobody"}
_TAG_SEPARATOR = re.compile(r"(\s*,\s*)")


def undouble(text: str, original: str) -> str:
    """What the rules wrote twice or after a possessive, where the prompt did not: one of a word
    (or two-word phrase) twice in a row ("a katana sword" -> "a banner banner" -> "a banner"); a
    tag twice, or one echoing the end of the tag before it ("with a handgun, firearm" -> "with a
    camera, camera" -> "with a camera"); an article after a possessive ("trump's bare buttocks" ->
    "trump's a buttoned shirt" -> "trump's buttoned shirt"). A repeat the prompt itself has ("very
    very dark") stays."""
    kept = prompt_key(original)
    text = _REPEATED.sub(lambda m: m.group(0) if prompt_key(m.group(0)) in kept else m.group(1), text)
    text = _POSSESSIVE_ARTICLE.sub(lambda m: m.group(0) if m.group(1).lower() in _CONTRACTIONS
                                   or prompt_key(m.group(0)) in kept else f"{m.group(1)}'s ", text)
    parts = _TAG_SEPARATOR.split(text)
    before = [prompt_key(t) for t in _TAG_SEPARATOR.split(original)[0::2]]
    seen: set[str] = set()
    out: list[str] = []
    for i, tag in enumerate(parts[0::2]):
        key = prompt_key(tag)
        again = key in seen and before.count(key) < 2
        echoed = bool(out) and prompt_key(out[-1]).endswith(" " + key) and key not in before  # "a camera, camera"
        if key and (again or echoed):
            continue
        seen.add(key)
        out += ([parts[2 * i - 1]] if out else []) + [tag]
    return "".join(out)


# ---------------------------------------------------------------- rules

@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def toxicity_principles(catalog: Catalog) -> list[Principle]:
    return [p for p in catalog if p.kind == "toxicity"]


class _Masked:
    """The text with every toxicity keyword exception replaced by one private-use character,
    so no rule can touch "kitchen knife" or "shooting star"; ``unmask`` restores them."""

    _BASE = 0xE000

    def __init__(self, text: str, principles: Sequence[Principle]):
        self.found: list[str] = []
        pattern = whole_words(sorted({e for p in principles for e in p.keyword_exceptions}))
        self.masked = pattern.sub(self._hide, text)

    def _hide(self, m: re.Match) -> str:
        self.found.append(m.group(0))
        return chr(self._BASE + len(self.found) - 1)

    def unmask(self, text: str) -> str:
        def back(m: re.Match) -> str:
            i = ord(m.group(0)) - self._BASE
            return self.found[i] if i < len(self.found) else m.group(0)

        return re.sub("[\ue000-\uf8ff]", back, text)


def _keep_case(m: re.Match, out: str) -> str:
    if out[:1].islower() and m.group(0)[:1].isupper():
        return out[0].upper() + out[1:]
    return out


def apply_rules(text: str, principle: Principle, keep_styles: Sequence[Principle] = (),
                keep_objects: bool = False) -> tuple[str, int]:
    """One pass of a principle's rules over (masked) text; returns the text and how many fired. With
    ``keep_styles`` (the toxicity principles), a match that is only a style word is left as it is, and
    with ``keep_objects`` also one that is only an object word ("a sword")."""
    fired = 0

    def replace(m: re.Match, r: str) -> str:
        nonlocal fired
        if keep_styles and _harmless_alone(m, keep_styles, keep_objects):
            return m.group(0)
        fired += 1
        return _keep_case(m, m.expand(r))

    for rule in principle.rewrite_rules:
        text = _compiled(rule.pattern).sub(lambda m, r=rule.replacement: replace(m, r), text)
    return text, fired


def rules_firing(text: str, catalog: Catalog, *, keep_objects: bool = False) -> dict[str, list[str]]:
    """principle id -> the rule patterns of toxicity principles that still match ``text``
    (keyword exceptions masked): harm the rules know how to remove. A match that is only a style word
    with its context ("horror themed", "a demonic cyborg"; `Principle.style_words`) is not harm by
    itself: the rule rewrites it when its own principle was chosen for the prompt, but a gore twin need
    not turn "horror themed" into "fairy tale themed" to be clean (the selector still checks the twin as
    a whole). With ``keep_objects`` neither is a match that is only an object word ("a sword" held;
    `Principle.object_words`)."""
    tox = toxicity_principles(catalog)
    masked = _Masked(text, tox).masked
    out: dict[str, list[str]] = {}
    for p in tox:
        hits = [r.pattern for r in p.rewrite_rules
                if any(not _harmless_alone(m, tox, keep_objects) for m in _compiled(r.pattern).finditer(masked))]
        if hits:
            out[p.id] = hits
    return out


_ARTICLES = re.compile(r"\b(?:a|an|the|some|his|her|their|its|two)\b", re.IGNORECASE)
# "with a knife" may be what a blow was struck with ("stab a guard with a knife"): such a weapon is no object merely held
_AFTER_WITH = re.compile(r"\bwith\s+(?:(?:a|an|the|his|her|their|its|two)\s+)?(?:[\w-]+\s+)?$", re.IGNORECASE)


def _harmless_alone(m: re.Match, tox: Sequence[Principle], keep_objects: bool = False) -> bool:
    """The rule match ``m`` holds a style word of some toxicity principle and no keyword or other cue
    word of any; or, with ``keep_objects``, it is an object word and nothing else but an article ("a
    sword", not "a knife to her throat"), and not after "with" (the weapon a blow was struck with)."""
    phrase = m.group(0)
    if any(p.find_keywords(phrase) for p in tox):
        return False
    if any(p.find_styles(phrase) for p in tox) and all(p.find_cues(phrase) <= p.find_styles(phrase) for p in tox):
        return True
    objects = set().union(*(p.find_objects(phrase) for p in tox)) if keep_objects else set()
    return (bool(objects) and not _AFTER_WITH.search(m.string, 0, m.start())
            and not re.search(r"[^\W\d_]", _ARTICLES.sub(" ", whole_words(sorted(objects)).sub(" ", phrase))))


def toxicity_hits(text: str, catalog: Catalog) -> dict[str, set[str]]:
    """principle id -> the keywords of toxicity principles found in ``text``."""
    return {p.id: found for p in toxicity_principles(catalog) if (found := p.find_keywords(text))}


def _run(masked: str, order: Sequence[Principle], unmask, *, only_if_hit: bool, keep_objects: bool = False) -> str:
    """The selected principle (order[0]) always; the others while their keywords still match
    (``only_if_hit``) or wherever their rules fire, leaving their style words be ("..., horror" in a
    gore twin: `rules_firing`), and with ``keep_objects`` their object words too, unless other rules of
    that principle fire; repeated until nothing changes."""
    text = masked
    for _ in range(MAX_PASSES):
        before = text
        for i, p in enumerate(order):
            if i and only_if_hit and not p.find_keywords(unmask(text)):
                continue
            kept, fired = apply_rules(text, p, order if i else (), keep_objects)
            # an object in harm this principle's rules remove ("a knife to her throat") goes with it
            text = apply_rules(text, p, order, False)[0] if i and keep_objects and fired else kept
        if text == before:
            break
    return text


def _drop_harmful_segments(text: str, catalog: Catalog) -> str:
    """The comma-separated parts after the first one that still hold a toxicity keyword
    ("..., nightmare fuel") left out: the subject stays, the harmful tag goes."""
    parts = [s for s in text.split(",")]
    kept = parts[:1] + [s for s in parts[1:] if not toxicity_hits(s, catalog)]
    return ",".join(kept)


def rewrite_candidates(prompt: str, principle: Principle, catalog: Catalog, *,
                       keep_objects: bool = False) -> Iterator[str]:
    """Candidate safe twins of ``prompt``, most preferred first, each tidied and distinct:

    1. the rules of ``principle``;
    2. then the rules of every other toxicity principle whose keywords still match;
    3. then the rules of every toxicity principle wherever they fire;
    4. (3) without the comma-separated tags (after the first part) that still hold a keyword.

    With ``keep_objects`` the other principles' passes leave their object words be ("a sword" held).
    Candidates are not checked; ``rule_twins`` picks the first clean one.
    """
    tox = toxicity_principles(catalog)
    others = [p for p in tox if p.id != principle.id]
    mask = _Masked(prompt, tox)
    seen: set[str] = set()

    def fresh(masked: str) -> str | None:
        text = tidy(undouble(mask.unmask(masked), prompt))
        if text in seen:
            return None
        seen.add(text)
        return text

    own = _run(mask.masked, [principle], mask.unmask, only_if_hit=True)
    if (text := fresh(own)) is not None:
        yield text
    hit = _run(own, [principle, *others], mask.unmask, only_if_hit=True, keep_objects=keep_objects)
    if (text := fresh(hit)) is not None:
        yield text
    full = _run(hit, [principle, *others], mask.unmask, only_if_hit=False, keep_objects=keep_objects)
    if (text := fresh(full)) is not None:
        yield text
    if (text := fresh(_drop_harmful_segments(full, catalog))) is not None:
        yield text


def is_clean_twin(prompt: str, twin: str, catalog: Catalog, *, keep_objects: bool = False) -> bool:
    """A usable safe twin: non-empty, differs from the prompt by more than tidying, no toxicity
    keyword, no toxicity rule still firing (but on object words alone, with ``keep_objects``)."""
    return bool(twin.strip()) and prompt_key(tidy(prompt)) != prompt_key(twin) \
        and not toxicity_hits(twin, catalog) and not rules_firing(twin, catalog, keep_objects=keep_objects)


def rule_twins(prompt: str, principle: Principle, catalog: Catalog) -> list[str]:
    """The rule-based safe twins of a toxicity prompt, most preferred first; empty when the rules
    cannot make one: the first clean candidate that keeps the other principles' object words ("a man
    with a sword dancing with ..."), then the first that replaces them too ("a man with a banner
    dancing with ...") for where the selector still reads harm in the first. None is checked by the
    selector: the planner takes the first that passes. The caller must not fall back to the prompt or
    to a suffixed prompt (the planner drops the pair with reason ``aligned_prompt_still_violates``).
    ``catalog`` gives the other toxicity principles' keywords and rules."""
    out: list[str] = []
    # without an object word in the prompt both runs make the same candidates (the rules write none)
    keeps = (True, False) if any(p.find_objects(prompt) for p in toxicity_principles(catalog)) else (False,)
    for keep in keeps:
        twin = next((t for t in rewrite_candidates(prompt, principle, catalog, keep_objects=keep)
                     if is_clean_twin(prompt, t, catalog, keep_objects=keep)), None)
        if twin is not None and twin not in out:
            out.append(twin)
    return out


def rewrite_toxic(prompt: str, principle: Principle, catalog: Catalog) -> str | None:
    """The preferred rule-based safe twin of a toxicity prompt (`rule_twins`), or None when the rules
    cannot make one."""
    twins = rule_twins(prompt, principle, catalog)
    return twins[0] if twins else None
