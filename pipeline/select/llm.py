"""Principle selection by an LLM, as LiVO's retriever: keyword rules first, the LLM for the rest.

The LLM sees the catalog (id, category, statement, what such prompts look like) and a
few worked examples, answers at the configured temperature (LiVO: 0) with JSON naming one
principle id from the catalog or "none"; the schema enumerates exactly those ids, so an
unknown id is an invalid answer and is re-asked. A prompt the LLM never answers validly
gets ``method="llm_failed"`` (no principle) and a ``Failure`` in ``failures``; the build
leaves such prompts out of the plan instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, create_model

from pipeline.catalog import Catalog
from pipeline.catalog.descriptors import CATEGORY_DESCRIPTORS
from pipeline.llm.types import LLM, Failure, Messages, run_concurrently
from pipeline.records import PromptRecord, Selection, SelectionMethod
from pipeline.select.base import NONE_LABEL
from pipeline.select.keyword import KeywordSelector

# Worked examples (prompt, answer). Written for the few-shot turns, not taken from the
# labelled selector data; an example whose principle is not in the catalog is left out.
FEW_SHOT: tuple[tuple[str, str], ...] = (
    ("a surgeon reviewing x-rays in a hospital corridor, photo", "gender_equality"),
    ("a man holding a shopkeeper at knifepoint behind the counter", "no_weapons_threat"),
    ("a foggy harbour at dawn with fishing boats, watercolor", NONE_LABEL),
    ("a corpse floating face down in a swamp, horror movie still", "no_shocking_horror"),
    ("an elderly woman knitting by the fireplace", NONE_LABEL),
    ("a person racing a drone at a tech meetup, action photo", "age_inclusion"),
)

_SYSTEM = """\
You decide which value principle applies to a prompt for a text-to-image model, so that a \
dataset can teach the model to follow it.

Principles by category (id: statement):
{principles}
- {none}: none of the above applies (harmless scenery, food, animals, objects, art, or people \
in everyday scenes without a role that invites a stereotype).

Rules:
- A toxicity principle applies when the image would show that harmful content.
- A bias principle applies when the prompt shows a person in a profession, role or social \
position without stating their gender, race or age, so the model might fall back on a stereotype.
- If several apply, prefer the toxicity principle whose content is most central to the prompt.
- Answer "{none}" when nothing applies. Use only the ids listed above."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def selection_schema(catalog: Catalog) -> type[BaseModel]:
    """``{"principle_id": <one of the catalog ids or "none">}``; the enum also guides servers
    that constrain decoding to the schema (vLLM, llama.cpp)."""
    choices = (*catalog.ids, NONE_LABEL)
    return create_model("PrincipleChoice", __base__=_Strict, principle_id=(Literal[choices], ...))


def selection_messages(catalog: Catalog, prompt: str) -> Messages:
    lines = []
    for category in dict.fromkeys(p.category for p in catalog):
        typical = "; ".join(CATEGORY_DESCRIPTORS.get(category, ()))
        lines.append(f"Category {category}" + (f" (typical prompts: {typical})" if typical else "") + ":")
        for p in catalog.by_category(category):
            lines.append(f"- {p.id}: {p.statement} (words like: {', '.join(p.keywords[:5])})")
    messages: Messages = [{"role": "system", "content": _SYSTEM.format(principles="\n".join(lines), none=NONE_LABEL)}]
    for example, pid in FEW_SHOT:
        if pid == NONE_LABEL or pid in catalog:
            messages += [{"role": "user", "content": f"Prompt: {example}"},
                         {"role": "assistant", "content": f'{{"principle_id": "{pid}"}}'}]
    messages.append({"role": "user", "content": f"Prompt: {prompt}"})
    return messages


class LLMSelector:
    """``Selector``: keyword rules first (method "keyword"), the LLM for the rest (method "llm")."""

    name = "llm"

    def __init__(self, catalog: Catalog, llm: LLM, *, keywords_first: bool = True):
        self.catalog = catalog
        self.llm = llm
        self.keyword = KeywordSelector(catalog) if keywords_first else None
        self.schema = selection_schema(catalog)
        self.failures: list[Failure] = []

    def _ask(self, prompt: str) -> Selection:
        answer = self.llm.complete_json(selection_messages(self.catalog, prompt), self.schema)
        if not answer.ok:
            self.failures.append(Failure("select", prompt, answer.error or "no answer", answer.raw, fallback=None))
            return Selection(prompt, None, None, SelectionMethod.LLM_FAILED)
        pid = answer.value.principle_id
        if pid == NONE_LABEL:
            return Selection(prompt, None, None, SelectionMethod.LLM)
        return Selection(prompt, pid, self.catalog.get(pid).category, SelectionMethod.LLM)

    def select(self, prompts: Sequence[str]) -> list[Selection]:
        fixed = [self.keyword.match(p) if self.keyword else None for p in prompts]
        # one request per distinct open prompt, even if it occurs twice
        open_prompts = list(dict.fromkeys(p for p, f in zip(prompts, fixed) if f is None))
        answers = dict(zip(open_prompts, run_concurrently(self._ask, open_prompts, self.llm.max_concurrency)))
        return [f if f is not None else answers[p] for p, f in zip(prompts, fixed)]


def drop_failed_selections(prompts: Sequence[PromptRecord], selections: Sequence[Selection]
                           ) -> tuple[list[PromptRecord], list[Selection], int]:
    """Leave out prompts the LLM selector could not decide: guessing "none" would turn a
    harmful prompt into a benign guard pair."""
    kept = [(p, s) for p, s in zip(prompts, selections) if s.method != SelectionMethod.LLM_FAILED]
    return [p for p, _ in kept], [s for _, s in kept], len(prompts) - len(kept)
