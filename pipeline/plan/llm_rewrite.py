"""The aligned twin of a toxicity prompt written by an LLM: the CoProV2 recipe.

CoProV2 pairs each unsafe prompt with a *minimally changed* safe one: same subject,
setting, style and wording, only the violating content swapped for a harmless
counterpart. An answer is accepted when it differs from the original, contains none of
the principle's trigger keywords (the words the keyword selector fires on) and passes the
prompt import rules (text, length); otherwise the model is re-asked with the objection.
A prompt that never gets an acceptable rewrite is recorded as a ``Failure`` (its ``fallback``
is the catalog's rule twin, ``pipeline.plan.rewrite_rules.rewrite_toxic``, None when the
rules cannot clean it). Accepted twins are still only candidates: planning checks them like
every other twin (any principle's harm, fluency) and drops the pair when none passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from pipeline.catalog import Catalog, Principle
from pipeline.catalog.text import prompt_key
from pipeline.config import RunConfig
from pipeline.llm.types import LLM, Failure, Messages, run_concurrently
from pipeline.plan.rewrite_rules import rewrite_toxic
from pipeline.prompts.text import check_prompt
from pipeline.records import Selection

_SYSTEM = """\
You rewrite prompts for a text-to-image model into their minimally changed safe twin, \
for a dataset that teaches the model a value principle.

Keep everything the principle does not object to: subject, setting, style, composition, \
camera and wording. Change only the words that make the image violate the principle, \
replacing them with a harmless counterpart, so the two images differ in that one respect.

Example (principle: no violence)
Prompt: two knights brutally hacking at each other in a muddy field, oil painting
Safe twin: two knights shaking hands in a muddy field, oil painting"""


class SafeRewrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    safe_prompt: str


def rewrite_messages(principle: Principle, prompt: str) -> Messages:
    avoid = ", ".join(principle.keywords)
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"Principle: {principle.statement}\n"
                                    f"Do not use these words: {avoid}\n"
                                    f"Prompt: {prompt}"},
    ]


def rewrite_problem(principle: Principle, original: str, candidate: str, max_chars: int) -> str | None:
    """Why ``candidate`` is not an acceptable safe twin of ``original``, or None."""
    text, reason = check_prompt(candidate, max_chars=max_chars)
    if text is None:
        return f"safe_prompt is not a usable prompt: {reason}"
    if prompt_key(text) == prompt_key(original):
        return "safe_prompt is the same as the original prompt; change what violates the principle"
    found = sorted(principle.find_keywords(text))
    if found:
        return f"safe_prompt still contains the trigger words {', '.join(found)}; replace them"
    return None


class LLMRewriter:
    """Rewrites (prompt, toxicity principle) pairs; ``rewrite_all`` returns only the accepted ones."""

    def __init__(self, catalog: Catalog, llm: LLM, *, max_chars: int = 500):
        self.catalog = catalog
        self.llm = llm
        self.max_chars = max_chars
        self.failures: list[Failure] = []

    def rewrite(self, prompt: str, principle_id: str) -> str | None:
        p = self.catalog.get(principle_id)
        if p.kind != "toxicity":
            raise ValueError(f"{principle_id} is a {p.kind} principle; only toxicity prompts get a safe rewrite")
        answer = self.llm.complete_json(
            rewrite_messages(p, prompt), SafeRewrite,
            check=lambda v: rewrite_problem(p, prompt, v.safe_prompt, self.max_chars))
        if answer.ok:
            return check_prompt(answer.value.safe_prompt, self.max_chars)[0]
        self.failures.append(Failure("rewrite", prompt, answer.error or "no answer", answer.raw,
                                     fallback=rewrite_toxic(prompt, p, self.catalog), detail={"principle_id": principle_id}))
        return None

    def rewrite_all(self, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """{(prompt, principle_id): safe twin} for the pairs the LLM rewrote acceptably."""
        todo = list(dict.fromkeys(items))
        results = run_concurrently(lambda it: self.rewrite(*it), todo, self.llm.max_concurrency)
        return {item: text for item, text in zip(todo, results) if text is not None}


def llm_rewrites(cfg: RunConfig, llm: LLM, catalog: Catalog, selections: Sequence[Selection],
                 failures: list[Failure]) -> tuple[dict[tuple[str, str], str], dict]:
    """Safe twins for every toxicity selection the LLM rewrote acceptably (planning tries the rule
    twin for the rest)."""
    items = list(dict.fromkeys((s.prompt, s.principle_id) for s in selections
                               if s.principle_id and catalog.get(s.principle_id).kind == "toxicity"))
    rewriter = LLMRewriter(catalog, llm, max_chars=cfg.prompts.max_chars)
    rewrites = rewriter.rewrite_all(items)
    failures += rewriter.failures
    return rewrites, {"requested": len(items), "accepted": len(rewrites), "fell_back_to_rules": len(rewriter.failures)}
