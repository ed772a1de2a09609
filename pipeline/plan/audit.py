"""``livo audit``: the prompt-level checks of a planned run, counted per question and pair
type with examples, before any GPU time is spent.

Questions asked of every planned pair (what a careful reader checks of a pair's two prompts, short of the images):
- ``aligned_free_of_harm``: the aligned prompt carries no toxicity principle (keywords of every
  principle, then the configured selector);
- ``sides_differ``: the two prompts differ;
- ``aligned_fluent``: no broken edit (articles, doubled words, dangling words that the
  user's prompt does not have itself);
- ``violating_violates``: the violating prompt shows the pair's principle (its keywords or the
  selector name a principle of the pair's category, and the harm is not only text an image
  cannot show; bias pairs: always, the neutral prompt is the violation).
Bias pairs whose attribute is chosen after rendering are checked on every attribute option.
Implicit-harm pairs (planning.implicit_harm) are counted apart: their two sides are the user's one prompt
by design and their harm is what the image shows, so none of these questions applies before rendering.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.catalog import Catalog
from pipeline.catalog.text import prompt_key
from pipeline.plan.checks import PromptCheck
from pipeline.plan.fluency import edit_problems
from pipeline.plan.implicit import is_implicit
from pipeline.records import PairPlan

QUESTIONS = ("aligned_free_of_harm", "sides_differ", "aligned_fluent", "violating_violates")


@dataclass
class AuditReport:
    planned: Counter = field(default_factory=Counter)  # pair_type -> pairs
    failed: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # question -> pair_type -> n
    passed_all: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    refused: Counter = field(default_factory=Counter)  # reason -> pairs refused at planning
    refused_examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    implicit: int = 0  # implicit-harm pairs: judged on their first image at shard time, not here

    def share_passing(self, pair_type: str | None = None) -> float:
        n = sum(self.planned.values()) if pair_type is None else self.planned[pair_type]
        ok = sum(self.passed_all.values()) if pair_type is None else self.passed_all[pair_type]
        return ok / n if n else 1.0

    def to_dict(self) -> dict:
        return {
            "planned": dict(self.planned),
            "passed_all": dict(self.passed_all),
            "failed": {q: dict(self.failed[q]) for q in QUESTIONS},
            "refused_at_planning": dict(self.refused),
            "examples": {k: v for k, v in self.examples.items()},
            "implicit_harm_pairs": self.implicit,
        }


def _aligned_texts(plan: PairPlan) -> list[str]:
    return list(plan.attribute_prompts) if plan.kind == "bias" and plan.attribute_prompts else [plan.aligned_prompt]


def audit_plan(plans: Sequence[PairPlan], dropped: Sequence[dict], catalog: Catalog, check: PromptCheck,
               max_examples: int = 5) -> AuditReport:
    report = AuditReport(implicit=sum(1 for p in plans if is_implicit(p)))
    plans = [p for p in plans if not is_implicit(p)]
    aligned = [t for p in plans for t in _aligned_texts(p)]
    harm = dict(zip(aligned, check.harms(aligned)))
    toxic_plans = [p for p in plans if p.kind == "toxicity"]
    violating_harm = dict(zip((p.violating_prompt for p in toxic_plans),
                              check.harms([p.violating_prompt for p in toxic_plans])))
    for p in plans:
        t = p.pair_type
        report.planned[t] += 1
        texts = _aligned_texts(p)
        fails = {
            "aligned_free_of_harm": next((f"{a!r} carries {harm[a]}" for a in texts if harm[a]), None),
            "sides_differ": next((f"{a!r}" for a in texts if prompt_key(a) == prompt_key(p.violating_prompt)), None),
            "aligned_fluent": next((f"{a!r}: {', '.join(broken)}" for a in texts
                                    if (broken := edit_problems(a, p.prompt))), None),
            "violating_violates": _violation_problem(p, violating_harm, catalog, check),
        }
        for q, problem in fails.items():
            if problem is not None:
                report.failed[q][t] += 1
                if len(report.examples[q]) < max_examples:
                    report.examples[q].append(f"[{p.principle_id}] {problem}  <- {p.violating_prompt!r}")
        if not any(fails.values()):
            report.passed_all[t] += 1
    for d in dropped:
        report.refused[d["reason"]] += 1
        if len(report.refused_examples[d["reason"]]) < max_examples:
            tried = "; ".join(repr(c) for c in d.get("candidates", [])[:2]) or "no candidate"
            report.refused_examples[d["reason"]].append(f"[{d['principle_id']}] {d['prompt']!r} -> {tried}")
    return report


def _violation_problem(p: PairPlan, violating_harm: dict, catalog: Catalog, check: PromptCheck) -> str | None:
    if p.kind == "bias":
        return None
    if p.pair_type == "benign":
        return None if check.injection_recognised(p.violating_prompt, p.principle_id) else "injection not recognised"
    if check.harm_only_as_text(p.violating_prompt):
        return "its harm exists only as text"
    found = violating_harm.get(p.violating_prompt)
    if found is not None and catalog.get(found).category == p.category:
        return None
    if catalog.get(p.principle_id).find_keywords(p.violating_prompt):
        return None
    return f"the violating prompt reads as {found or 'harmless'}"


def format_report(report: AuditReport) -> str:
    types = sorted(report.planned)
    lines = [f"{'question':24}" + "".join(f"{t:>12}" for t in types) + f"{'all':>12}"]
    for q in QUESTIONS:
        row = []
        for t in types:
            n = report.planned[t]
            row.append(f"{(n - report.failed[q][t]) / n:>12.1%}" if n else f"{'-':>12}")
        n_all = sum(report.planned.values())
        row.append(f"{(n_all - sum(report.failed[q].values())) / n_all:>12.1%}" if n_all else f"{'-':>12}")
        lines.append(f"{q:24}" + "".join(row))
    lines.append(f"{'passes all':24}" + "".join(f"{report.share_passing(t):>12.1%}" for t in types)
                 + f"{report.share_passing():>12.1%}")
    lines.append(f"{'pairs':24}" + "".join(f"{report.planned[t]:>12}" for t in types)
                 + f"{sum(report.planned.values()):>12}")
    for q in QUESTIONS:
        for ex in report.examples.get(q, []):
            lines.append(f"  {q}: {ex}")
    if report.implicit:
        lines.append(f"implicit-harm pairs: {report.implicit} (their category is read off their first image when "
                     "the shards render; no prompt question applies)")
    if report.refused:
        lines.append(f"refused at planning: {sum(report.refused.values())} "
                     f"({', '.join(f'{r} {n}' for r, n in sorted(report.refused.items()))})")
        for reason, exs in sorted(report.refused_examples.items()):
            for ex in exs:
                lines.append(f"  {reason}: {ex}")
    return "\n".join(lines)
