"""Prompt generation by an LLM: N prompts per category, deduplicated and checked.

Per category the LLM is asked for the prompts still missing, in up to ``max_rounds``
requests; each round lists what was already accepted so the model does not repeat it.
Every generated prompt goes through the import rules (text, length; see
``pipeline.prompts.text.check_prompt``) plus a minimum length, and is dropped when its normalised
text already exists (packs, files, or an earlier generated prompt). Kept prompts carry
``source="llm:<model>"`` and the category they were asked for as ``category_hint``; the
selector still decides their principle. A category whose answers never validate is
recorded as a ``Failure`` and the run continues with what it has.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from pipeline.catalog import Catalog
from pipeline.catalog.descriptors import CATEGORY_DESCRIPTORS
from pipeline.catalog.text import prompt_key
from pipeline.categories import ALL, BENIGN, kind_of
from pipeline.config import RunConfig
from pipeline.llm.types import LLM, Failure, Messages, run_concurrently
from pipeline.prompts.text import check_prompt
from pipeline.records import PromptRecord

MAX_LISTED = 40  # accepted prompts shown back to the model per round (keeps requests small)
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*\u2022])\s+")

BENIGN_BRIEF = ("harmless images with no value problem: landscapes, cities, food, animals, objects, "
                "art, and people in everyday scenes without a profession or social role")

_SYSTEM = """\
You write prompts for a text-to-image model, for a research dataset that teaches the model \
value principles (safety and fairness). Prompts are single lines describing one concrete \
image: subject, setting and a style or medium, like real prompts users type. Vary subjects, \
settings, styles and wording; do not number them."""


class GeneratedPrompts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompts: list[str]


def category_brief(category: str, catalog: Catalog) -> str:
    """What prompts of a category show, from the catalog's principles and the selector's descriptors."""
    if category == BENIGN:
        return BENIGN_BRIEF
    principles = catalog.by_category(category)
    if not principles:
        raise ValueError(f"no principle in the catalog covers category {category!r}")
    statements = " ".join(p.statement for p in principles)
    looks = "; ".join(CATEGORY_DESCRIPTORS.get(category, ())) or ", ".join(principles[0].keywords[:8])
    if kind_of(category) == "bias":
        attribute = principles[0].attribute
        return (f"{looks}; a person whose {attribute} a model tends to stereotype, without stating the "
                f"{attribute} (principle tested: {statements})")
    return f"{looks} (principle tested: {statements})"


def generation_messages(category: str, brief: str, n: int, max_chars: int, already: Sequence[str]) -> Messages:
    ask = f"Write {n} different prompts for the category '{category}': {brief}. At most {max_chars} characters each."
    if already:
        listed = "\n".join(f"- {t}" for t in already[-MAX_LISTED:])
        ask += f"\nThese exist already; do not repeat or paraphrase them:\n{listed}"
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]


def _clean(text: str) -> str:
    text = _LIST_MARKER.sub("", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text


class LLMPromptGenerator:
    def __init__(self, catalog: Catalog, llm: LLM, *, per_category: int, categories: Sequence[str] | None = None,
                 temperature: float = 1.0, min_chars: int = 10, max_chars: int = 500, max_rounds: int = 3):
        self.catalog = catalog
        self.llm = llm
        self.per_category = per_category
        self.categories = list(categories) if categories is not None else [*ALL, BENIGN]
        self.temperature = temperature
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.max_rounds = max_rounds
        self.failures: list[Failure] = []
        self.rejected: Counter = Counter()

    def _check(self, raw: str) -> tuple[str | None, str | None]:
        text, reason = check_prompt(_clean(raw), max_chars=self.max_chars)
        if text is None:
            return None, "too_long" if reason and reason.startswith("prompt too long") else "not_text"
        if len(text) < self.min_chars:
            return None, "too_short"
        return text, None

    def _category(self, category: str, taken: frozenset[str]) -> tuple[list[str], Counter, Failure | None]:
        """(accepted texts, rejections by reason, the failure or None) of one category. Categories run on
        threads: each keeps its own counts, and only `generate`'s thread adds them to the generator's."""
        brief = category_brief(category, self.catalog)
        accepted: list[str] = []
        rejected: Counter = Counter()
        failure: Failure | None = None
        keys = set(taken)
        for _ in range(self.max_rounds):
            missing = self.per_category - len(accepted)
            if missing <= 0:
                break
            answer = self.llm.complete_json(
                generation_messages(category, brief, missing, self.max_chars, accepted), GeneratedPrompts,
                check=lambda v: None if v.prompts else "prompts is empty", temperature=self.temperature)
            if not answer.ok:
                failure = Failure("generate", category, answer.error or "no answer", answer.raw,
                                  detail={"accepted": len(accepted)})
                break
            for raw in answer.value.prompts:
                text, why = self._check(raw)
                if text is None:
                    rejected[why] += 1
                elif prompt_key(text) in keys:
                    rejected["duplicate"] += 1
                elif len(accepted) < self.per_category:
                    keys.add(prompt_key(text))
                    accepted.append(text)
        return accepted, rejected, failure

    def generate(self, existing: Iterable[PromptRecord] = ()) -> list[PromptRecord]:
        """New prompts, per category in order, none duplicating ``existing`` or each other."""
        taken = frozenset(prompt_key(r.text) for r in existing)
        per_cat = run_concurrently(lambda c: self._category(c, taken), self.categories, self.llm.max_concurrency)
        out: list[PromptRecord] = []
        seen = set(taken)
        source = f"llm:{self.llm.model}"
        # in category order, not in the order the threads ended: stats and failures do not depend on timing
        for category, (texts, rejected, failure) in zip(self.categories, per_cat):
            self.rejected.update(rejected)
            if failure is not None:
                self.failures.append(failure)
            for text in texts:  # categories ran in parallel: drop cross-category repeats in a fixed order
                if prompt_key(text) in seen:
                    self.rejected["duplicate"] += 1
                    continue
                seen.add(prompt_key(text))
                out.append(PromptRecord(text, source, category_hint=category))
        return out

    def stats(self, generated: Sequence[PromptRecord]) -> dict:
        return {"requested": self.per_category * len(self.categories), "accepted": len(generated),
                "by_category": dict(Counter(r.category_hint for r in generated)),
                **{f"rejected_{k}": v for k, v in sorted(self.rejected.items())},
                "failed_categories": [f.item for f in self.failures]}


def generate_prompts(cfg: RunConfig, llm: LLM, catalog: Catalog, existing: Sequence[PromptRecord],
                     failures: list[Failure]) -> tuple[list[PromptRecord], dict]:
    """``prompts.generate`` of the config; failures are appended to ``failures``."""
    g = cfg.prompts.generate
    gen = LLMPromptGenerator(catalog, llm, per_category=g.per_category, categories=g.categories,
                             temperature=g.temperature, min_chars=g.min_chars, max_chars=cfg.prompts.max_chars,
                             max_rounds=g.max_rounds)
    records = gen.generate(existing)
    failures += gen.failures
    return records, gen.stats(records)
