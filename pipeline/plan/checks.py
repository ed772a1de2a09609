"""Prompt-level checks of a pair before any image exists: is the aligned prompt free of every
principle's harm (the catalog's keywords, then the configured selector), different from the
violating one, and unbroken; does the violating side of a benign guard pair really violate.
Planning uses them to choose among candidate twins; ``livo audit`` reports them for a plan.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.catalog import Catalog
from pipeline.catalog.text import prompt_key
from pipeline.plan.fluency import edit_problems
from pipeline.plan.rewrite_rules import rules_firing
from pipeline.select.base import Selector
from pipeline.select.keyword import KeywordSelector

STILL_VIOLATES = "aligned_prompt_still_violates"
SAME_SIDES = "aligned_same_as_violating"
NOT_FLUENT = "aligned_prompt_not_fluent"
INJECTION_NOT_RECOGNISED = "violating_prompt_not_recognised"
ONLY_AS_TEXT = "violating_harm_only_as_text"
SOURCE_NOT_CLEAN = "benign_source_not_clean"
SOURCE_NOT_ENGLISH = "benign_source_not_english"
NO_PERSON = "no_person_to_describe"
SEXUAL_WITH_MINOR = "sexual_content_with_a_minor"
IMPLICIT_NOT_ENGLISH = "implicit_prompt_not_english"  # planning.implicit_harm (`plan.implicit`)
REASONS = (STILL_VIOLATES, SAME_SIDES, NOT_FLUENT, INJECTION_NOT_RECOGNISED, ONLY_AS_TEXT, SOURCE_NOT_CLEAN,
           SOURCE_NOT_ENGLISH, NO_PERSON, SEXUAL_WITH_MINOR, IMPLICIT_NOT_ENGLISH)

# Things whose harm is their words: a renderer draws unreadable letters, so an image of "a
# suicide note" or "xenophobic leaflets" does not violate. A keyword counts as text-only when
# one of these stands within two words of it.
_TEXT_CARRIERS = re.compile(r"\b(?:notes?|letters?|leaflets?|flyers?|slogans?|messages?|slurs?|words|signs?|captions?|"
                            r"texts?|shouting|chanting|saying|insults?)\b", re.IGNORECASE)


@dataclass
class PromptCheck:
    """Checks prompts in batches; ``selector`` None checks keywords only."""

    catalog: Catalog
    selector: Selector | None = None

    def __post_init__(self) -> None:
        self.keyword = KeywordSelector(self.catalog)
        self._toxic = {p.id for p in self.catalog if p.kind == "toxicity"}
        self._harm: dict[str, str | None] = {}
        self._level: dict[str, float] = {}

    def harms(self, texts: Sequence[str]) -> list[str | None]:
        """Per text, the id of a toxicity principle it still carries (keywords of any principle
        first, then the selector), or None."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._harm]
        open_texts = []
        for t in todo:
            hit = sorted(set(self.keyword.hits(t)) & self._toxic)
            self._harm[t] = hit[0] if hit else None
            if not hit:
                open_texts.append(t)
        if self.selector is not None and open_texts:
            for t, sel in zip(open_texts, self.selector.select(open_texts)):
                if sel.principle_id in self._toxic:
                    self._harm[t] = sel.principle_id
        return [self._harm[t] for t in texts]

    def harm_levels(self, texts: Sequence[str]) -> list[float] | None:
        """Per text, the selector's probability that it is harmful (1 for a toxicity keyword), or
        None where the selector gives no such number (keywords alone, retrieval, an LLM)."""
        scores = getattr(self.selector, "harm_probabilities", None)
        if scores is None:
            return None
        todo = [t for t in dict.fromkeys(texts) if t not in self._level]
        if todo:
            self._level.update(zip(todo, map(float, scores(todo))))
        return [self._level[t] for t in texts]

    def aligned_problems(self, pairs: Sequence[tuple[str, str]]) -> list[str | None]:
        """Per (aligned, violating), the first reason the aligned prompt is unfit, or None."""
        harms = self.harms([a for a, _ in pairs])
        out: list[str | None] = []
        for (aligned, violating), harm in zip(pairs, harms):
            if prompt_key(aligned) == prompt_key(violating):
                out.append(SAME_SIDES)
            elif harm is not None:
                out.append(STILL_VIOLATES)
            elif edit_problems(aligned, violating):
                out.append(NOT_FLUENT)
            else:
                out.append(None)
        return out

    def benign_source_problems(self, texts: Sequence[str]) -> list[str | None]:
        """Per harmless prompt, why it may not be the aligned side of a benign guard pair, or
        None: the pair teaches that this image is fine, so the prompt must be clean (no phrase
        a toxicity rewrite rule would change, "a cannabis bloom" included, and below the
        selector's clean threshold where it has one: suggestive, drug-themed or dark prompts
        the selector let through are not) and English (the guard's injection is English, and
        a reader cannot check the rest)."""
        from pipeline.select.embed import is_english

        levels = self.harm_levels(texts)
        harm = levels if levels is not None else [0.0] * len(texts)
        clean = getattr(self.selector, "clean_threshold", 1.0)
        out: list[str | None] = []
        for t, h in zip(texts, harm):
            if set(self.keyword.hits(t)) & self._toxic or h >= clean or rules_firing(t, self.catalog):
                out.append(SOURCE_NOT_CLEAN)
            elif not is_english(t):
                out.append(SOURCE_NOT_ENGLISH)
            else:
                out.append(None)
        return out

    def injection_recognised(self, violating: str, principle_id: str) -> bool:
        return principle_id in self.keyword.hits(violating)

    def harm_only_as_text(self, violating: str) -> bool:
        """Every toxicity keyword of the prompt sits next to a text carrier ("a suicide note",
        "shouting slurs"), and there is at least one."""
        words = re.findall(r"[\w'-]+", violating.lower())
        hits = [k for pid, ks in self.keyword.hits(violating).items() if pid in self._toxic for k in ks]
        if not hits:
            return False
        for k in hits:
            first = k.split()[0]
            spots = [i for i, w in enumerate(words) if w == first]
            near = any(_TEXT_CARRIERS.fullmatch(w) for i in spots for w in words[max(0, i - 2):i + len(k.split()) + 2])
            if not near:
                return False
        return True


def check_for(cfg, catalog: Catalog, selector: Selector | None = None) -> PromptCheck:
    """The prompt checks of a run: its own selector, except the LLM one, whose place the offline
    default takes (checks must be cheap enough to run before a GPU build, and spend no requests)."""
    if cfg.selector == "llm" or selector is None:
        from pipeline.select.factory import make_selector

        selector = make_selector("default" if cfg.selector == "llm" else cfg, catalog)
    return PromptCheck(catalog, selector)
