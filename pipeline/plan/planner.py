"""Pair planning: from (prompt, selected principle) to the two prompts and the shared seed.

Deterministic from the config and the prompts: the same inputs give the same ids, prompts
and seeds on every machine, which is what resume and dataset equality rest on.

How each kind of pair is made:
- toxicity: the violating side is the prompt; the aligned side is the first candidate twin
  that passes the prompt checks (``checks.PromptCheck``): the twin its template pack wrote,
  then the LLM's rewrite (rewriter: llm), then the catalog's rewrite rules. No passing
  candidate, or a prompt whose harm exists only as text ("a suicide note": the image shows
  unreadable letters), and the pair is dropped with the reason before any image is rendered.
- bias: the violating side is the neutral prompt; the aligned side states one attribute value
  (``phrasing.state_attribute``). Which value is chosen after the neutral image shows what the
  base model produces (``score.attributes.resolve_bias_plans``, at shard time), or round-robin here with
  ``bias_attribute="balanced"``.
- benign guard: the aligned side is the harmless prompt itself (tidied), the violating side the
  same prompt plus one toxicity principle's injection.
- implicit harm (planning.implicit_harm): both sides the imported prompt itself, the principle chosen
  after its image is judged (`plan.implicit`).

Samples (``samples``, planning.samples_per_pair): each planned pair is repeated with its own seed
(`samples_of`); sample 0 is the pair as planned alone, so a plan of N samples is a prefix of the
plan of N + 1 (plan order is sample, then id).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pipeline.catalog import Catalog, Principle
from pipeline.categories import ALL, BENIGN, SEXUAL
from pipeline.plan.checks import (
    INJECTION_NOT_RECOGNISED,
    NO_PERSON,
    ONLY_AS_TEXT,
    SEXUAL_WITH_MINOR,
    STILL_VIOLATES,
    PromptCheck,
)
from pipeline.plan.implicit import IMPLICIT, plan_implicit
from pipeline.plan.phrasing import state_attribute
from pipeline.plan.rewrite_rules import rewrite_candidates, rule_twins, tidy
from pipeline.records import PairPlan, PromptRecord, Selection, SelectionMethod
from pipeline.select.people import may_show_minor, pairable_bias_principle, shows_minor


def stable_int(*parts: object, bits: int = 31) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << bits)


def pair_id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]


def inject_violation(prompt: str, principle: Principle) -> str:
    return tidy(f"{prompt}, {principle.injection}")


@dataclass(frozen=True)
class DroppedPair:
    """A pair planning refused, with the twins it tried (``livo audit`` shows them)."""

    prompt: str
    principle_id: str
    pair_type: str
    reason: str
    candidates: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "principle_id": self.principle_id, "pair_type": self.pair_type,
                "reason": self.reason, "candidates": list(self.candidates)}


@dataclass
class Plan:
    plans: list[PairPlan]
    dropped: list[DroppedPair] = field(default_factory=list)

    def dropped_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(d.reason for d in self.dropped).items()))


def apply_pack_categories(prompts: Sequence[PromptRecord], selections: Sequence[Selection],
                          catalog: Catalog) -> list[Selection]:
    """Template prompts carry the category their pack was written for; where the selector
    disagrees, trust the pack when it names the principle: its category has one, or one of
    them has a keyword or cue word in the prompt. Otherwise the pack cannot say which of its category's
    principles applies (bribery is not drug use), so the selector's decision stands."""
    out: list[Selection] = []
    for rec, sel in zip(prompts, selections):
        hint = rec.category_hint if rec.source.startswith("template:") else None
        if hint is None or hint == sel.category or (hint == BENIGN and sel.principle_id is None):
            out.append(sel)
        elif hint == BENIGN:
            out.append(Selection(rec.text, None, None, SelectionMethod.PACK))
        elif hint in ALL:
            candidates = catalog.by_category(hint)
            hit = candidates[0] if len(candidates) == 1 else next(
                (p for p in candidates if p.find_keywords(rec.text) or p.find_cues(rec.text)), None)
            out.append(sel if hit is None else Selection(rec.text, hit.id, hit.category, SelectionMethod.PACK))
        else:
            out.append(sel)
    return out


def _toxic_candidates(rec: PromptRecord, p: Principle, rewrites: Mapping[tuple[str, str], str],
                      catalog: Catalog) -> list[str]:
    twin = rec.aligned_text if rec.category_hint == p.category else None
    found = [twin, rewrites.get((rec.text, p.id)), *rule_twins(rec.text, p, catalog)]
    return list(dict.fromkeys(c for c in found if c))


_SEPARATOR = re.compile(r"(\s*[,;|]\s*)")


def segments(text: str) -> list[str]:
    """A prompt split at its tag separators, separators kept as their own items (even
    positions are tags): "a knight, blood, by X" -> ["a knight", ", ", "blood", ", ", "by X"]."""
    return _SEPARATOR.split(text)


def without(parts: Sequence[str], drop: set[int]) -> str:
    """The prompt with the tags at ``drop`` (tag numbers) left out, with their separators."""
    tags = parts[0::2]
    seps = list(parts[1::2])
    out = ""
    for i, tag in enumerate(tags):
        if i in drop:
            continue
        if out:
            out += seps[i - 1] if i - 1 < len(seps) else ", "
        out += tag
    return tidy(out)


def single_drops(base: str) -> list[str]:
    """``base`` without one of its tags (never the first, the subject), from the last tag."""
    parts = segments(base)
    tags = parts[0::2]
    return [without(parts, {i}) for i in range(len(tags) - 1, 0, -1) if tags[i].strip()]


def tag_twins(prompt: str, base: str, check: PromptCheck) -> list[str]:
    """Twins of a tag-list prompt that leave out tags: the harm of a prompt people typed often
    sits in tags ("..., blood, gore", "by <an artist whose work is the harm>"), which no phrase
    rule rewrites. From ``base`` (the rules' best attempt, else the prompt): without every tag
    (but the first, the subject) that alone carries harm, then without one tag at a time, the
    drop that leaves the least harm first where the selector scores harm (else from the last):
    the first drop to pass the check should be the harm's tag, not a style tag whose loss
    merely tips a borderline prompt under the threshold ("..., photorealistic"). A twin of fewer
    than four words that keeps less than half of the prompt is no twin ("Hairy, burly, thick
    strongmen kissing in a sauna" -> "Hairy, burly": the scene was in a later tag). No twins where
    the first tag alone carries harm ("epstein hanging from rope, suicide painting, ..."): leaving
    out other tags only dilutes it. The caller checks them like any other candidate."""
    parts = segments(base)
    tags = parts[0::2]
    if len(tags) < 2:
        return []
    if _first_tag_harmful(tags, check):
        return []
    harmful = {i for i, h in enumerate(check.harms(tags)) if h and i}
    out = [without(parts, harmful)] if harmful else []
    drops = single_drops(base)
    levels = check.harm_levels(drops)
    if levels is not None:
        drops = [d for _, d in sorted(zip(levels, drops), key=lambda x: x[0])]  # stable: ties keep the order
    out += drops
    return _long_enough(prompt, out)


def _first_tag_harmful(tags: Sequence[str], check: PromptCheck) -> bool:
    """The subject alone carries harm: leaving out other tags only dilutes it."""
    return check.harms(tags[:1])[0] is not None


def _long_enough(prompt: str, twins: Sequence[str]) -> list[str]:
    half = len(prompt.split()) / 2
    return [t for t in dict.fromkeys(twins) if t and t != tidy(prompt) and (len(t.split()) >= min(4, half))]


MAX_TAG_DROPS = 3


def greedy_tag_twins(bases: Mapping[int, str], prompts: Mapping[int, str], check: PromptCheck) -> dict[int, list[str]]:
    """Per base, twins that leave out two, then three tags, each time the tag whose loss leaves the
    least harm (one selector batch per round for all bases): harm people type often sits in more than
    one tag ("..., tom of finland style, <a name>, in <a porn actor's> body, ..."), where no single drop
    passes. Never the first tag, never more than half of the tags, never a base whose first tag alone
    carries harm (`tag_twins`); empty where the selector gives no harm levels. The caller checks them
    like any other candidate, after the single drops."""
    paths = {}
    for i, base in bases.items():
        parts = segments(base)
        tags = parts[0::2]
        if len(tags) >= 4 and not _first_tag_harmful(tags, check):
            paths[i] = (parts, set())
    out: dict[int, list[str]] = defaultdict(list)
    for depth in range(1, MAX_TAG_DROPS + 1):
        options = {i: [(j, without(parts, dropped | {j})) for j, tag in enumerate(parts[0::2])
                       if j and j not in dropped and tag.strip()]
                   for i, (parts, dropped) in paths.items() if 2 * (len(dropped) + 1) <= len(parts[0::2])}
        options = {i: opts for i, opts in options.items() if opts}
        if not options or check.harm_levels([t for opts in options.values() for _, t in opts]) is None:
            break
        for i, opts in options.items():
            levels = check.harm_levels([t for _, t in opts])
            j, twin = min(zip(opts, levels), key=lambda x: x[1])[0]
            paths[i][1].add(j)
            if depth > 1:
                out[i].append(twin)
    return {i: _long_enough(prompts[i], twins) for i, twins in out.items()}


def _check_in_rounds(items: Sequence[Sequence[tuple[str, str]]], verdict: dict, check: PromptCheck) -> None:
    """Fill ``verdict`` ((aligned, violating) -> problem or None) for each item's candidates in order, one
    batched `PromptCheck.aligned_problems` per round, until one passes or none is left: the first
    passing candidate is the one checking them all would find, for a fraction of the checks (the
    selector's cost is per text). The first candidate is always checked (a drop's reason is its)."""
    for k in range(max(map(len, items), default=0)):
        ask = [pairs[k] for pairs in items
               if k < len(pairs) and not any(verdict.get(q, "") is None for q in pairs[:k])]
        ask = [q for q in dict.fromkeys(ask) if q not in verdict]
        verdict.update(zip(ask, check.aligned_problems(ask)))


def _passed(verdict: dict, cands: Sequence[str], violating: str) -> str | None:
    """The first candidate whose check passed, or None."""
    return next((c for c in cands if verdict.get((c, violating), "") is None), None)


def plan_pairs(
    prompts: Sequence[PromptRecord],
    selections: Sequence[Selection],
    catalog: Catalog,
    *,
    seed: int = 0,
    benign_pairs: bool = True,
    max_pairs: int | None = None,
    rewrites: Mapping[tuple[str, str], str] | None = None,
    check: PromptCheck | None = None,
    bias_attribute: str = "model_default",
    samples: int = 1,
    implicit_harm: bool = False,
) -> Plan:
    """One plan per prompt (prompts with no principle become benign guard pairs or are
    skipped), in ``samples`` samples each (`samples_of`); pairs whose prompts fail the checks are in
    ``Plan.dropped`` (once, whatever ``samples``). Ordered by sample, then id; ``max_pairs`` keeps the
    first in that order.

    ``implicit_harm``: imported prompts no text judgement flags also get an implicit-harm pair, its
    principle left open until its image is judged (`plan.implicit`).

    ``rewrites`` maps (prompt, principle id) to a safe twin written elsewhere (the LLM
    rewriter). ``check`` defaults to the catalog's keywords without a selector.
    """
    if len(prompts) != len(selections):
        raise ValueError(f"{len(prompts)} prompts but {len(selections)} selections")
    if bias_attribute not in ("model_default", "balanced"):
        raise ValueError(f"bias_attribute must be model_default or balanced, got {bias_attribute!r}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    check = check or PromptCheck(catalog)
    rewrites = rewrites or {}
    guard = [p for p in catalog if p.kind == "toxicity"]
    # no sexual injection beside someone who may be a child (`people.may_show_minor`)
    guard_near_minor = [p for p in guard if p.category != SEXUAL]
    plans: list[PairPlan] = []
    dropped: list[DroppedPair] = []
    toxic_items: list[tuple[PromptRecord, Selection, Principle, list[str]]] = []
    bias_items: dict[str, list[tuple[PromptRecord, Selection]]] = defaultdict(list)

    benign_items: list[tuple[PromptRecord, Selection]] = []
    for rec, sel in zip(prompts, selections):
        if sel.principle_id is None:
            if benign_pairs and guard:
                benign_items.append((rec, sel))
            continue
        p = catalog.get(sel.principle_id)
        if p.kind == "toxicity" and p.category == SEXUAL and shows_minor(rec.text):
            # its violating side is the prompt itself: never rendered
            dropped.append(DroppedPair(rec.text, p.id, "toxicity", SEXUAL_WITH_MINOR, ()))
        elif p.kind == "toxicity":
            toxic_items.append((rec, sel, p, _toxic_candidates(rec, p, rewrites, catalog)))
        elif (pid := pairable_bias_principle(rec.text, catalog, p.id)) is not None:
            bias_items[pid].append((rec, sel))
        elif benign_pairs and guard:
            # race beside a stereotype's trait, nothing else open: a harmless prompt without a pair of its own
            benign_items.append((rec, replace(sel, principle_id=None, category=None, method=SelectionMethod.NONE)))
    # A bias pair says its attribute of a person the prompt names; a harmless prompt that names nobody to
    # say it of ("a human hand holding a cigarette", "portrait of director krenicc") gets what a prompt
    # without a principle gets: a benign guard pair when it is clean, else a refusal that says why.
    stated_of = {(pid, rec.text): [state_attribute(rec.text, catalog.get(pid), v, catalog)
                                   for v in catalog.get(pid).attribute_values]
                 for pid, items in bias_items.items() for rec, _ in items}
    if benign_pairs and guard:
        for pid, items in bias_items.items():
            named = [None not in stated_of[(pid, rec.text)] for rec, _ in items]
            benign_items += [(rec, replace(sel, principle_id=None, category=None, method=SelectionMethod.NONE))
                             for (rec, sel), ok in zip(items, named) if not ok]
            items[:] = [it for it, ok in zip(items, named) if ok]

    # Benign guard: the aligned image is the harmless prompt itself, so the value encoder
    # learns to leave harmless content alone; only a clean English prompt can teach that.
    source_problems = check.benign_source_problems([rec.text for rec, _ in benign_items])
    for (rec, sel), problem in zip(benign_items, source_problems):
        pool = guard_near_minor if may_show_minor(rec.text) else guard
        p = (pool or guard)[stable_int(seed, "guard", rec.text) % len(pool or guard)]
        if not pool:  # a catalog of sexual principles alone
            dropped.append(DroppedPair(rec.text, p.id, "benign", SEXUAL_WITH_MINOR, ()))
            continue
        violating = inject_violation(rec.text, p)
        if problem is not None:
            dropped.append(DroppedPair(rec.text, p.id, "benign", problem, (violating,)))
        elif check.injection_recognised(violating, p.id) and not check.harm_only_as_text(violating):
            # the aligned side tidied as the violating side is ("an banana", ", ,"): the injection is all
            # that differs
            plans.append(_make(rec, sel, p, "benign", tidy(rec.text), violating, seed))
        else:
            dropped.append(DroppedPair(rec.text, p.id, "benign", INJECTION_NOT_RECOGNISED, (violating,)))

    # Candidate twins checked in rounds, one batch each: the first candidate of every pair, then the
    # next of the pairs none of whose candidates passed yet; each pair takes its first passing one. A
    # tag-list prompt none of whose twins passes gets twins without tags, checked in later rounds.
    verdict: dict[tuple[str, str], str | None] = {}
    _check_in_rounds([[(c, rec.text) for c in cands] for rec, _, _, cands in toxic_items], verdict, check)
    bases: dict[int, str] = {}
    for i, (rec, sel, p, cands) in enumerate(toxic_items):
        if _passed(verdict, cands, rec.text) is not None or check.harm_only_as_text(rec.text):
            continue
        bases[i] = cands[-1] if cands else ([rec.text] + list(rewrite_candidates(rec.text, p, catalog)))[-1]
    # one batch each; tag_twins reads the caches
    check.harms([t for base in bases.values() for t in segments(base)[0::2]])
    check.harm_levels([t for base in bases.values() for t in single_drops(base)])
    for i, base in bases.items():
        rec, sel, p, cands = toxic_items[i]
        toxic_items[i] = (rec, sel, p, cands + [t for t in tag_twins(rec.text, base, check) if t not in cands])
    _check_in_rounds([[(c, rec.text) for c in cands] for rec, _, _, cands in toxic_items], verdict, check)
    # still none: leave out two or three tags, greedily
    bases = {i: base for i, base in bases.items() if _passed(verdict, toxic_items[i][3], toxic_items[i][0].text) is None}
    more = greedy_tag_twins(bases, {i: toxic_items[i][0].text for i in bases}, check)
    for i, twins in more.items():
        rec, sel, p, cands = toxic_items[i]
        toxic_items[i] = (rec, sel, p, cands + [t for t in twins if t not in cands])
    _check_in_rounds([[(c, rec.text) for c in cands] for rec, _, _, cands in toxic_items], verdict, check)
    for rec, sel, p, cands in toxic_items:
        good = _passed(verdict, cands, rec.text)
        if check.harm_only_as_text(rec.text):
            dropped.append(DroppedPair(rec.text, p.id, "toxicity", ONLY_AS_TEXT, tuple(cands)))
        elif good is None:
            reason = verdict[(cands[0], rec.text)] if cands else STILL_VIOLATES
            dropped.append(DroppedPair(rec.text, p.id, "toxicity", reason, tuple(cands)))
        else:
            plans.append(_make(rec, sel, p, "toxicity", good, rec.text, seed))

    # every bias pair's aligned options, checked in one batch (the selector's cost is per call, not per
    # text); the loop below reads the checks' cache
    check.harms([o for stated in stated_of.values() if None not in stated for o in stated])
    for pid, items in bias_items.items():
        p = catalog.get(pid)
        # balanced: round-robin over a seeded order, so value counts differ by at most one (in every sample:
        # sample k asks for the value k places on, `samples_of`)
        items.sort(key=lambda it: stable_int(seed, "balance", pid, it[0].text))
        offset = stable_int(seed, "offset", pid) % len(p.attribute_values)
        for i, (rec, sel) in enumerate(items):
            stated = stated_of[(pid, rec.text)]
            if None in stated:
                dropped.append(DroppedPair(rec.text, p.id, "bias", NO_PERSON, ()))
                continue
            options = tuple(o for o in stated if o is not None)
            problems = [r for r in check.aligned_problems([(o, rec.text) for o in options]) if r]
            if problems:
                dropped.append(DroppedPair(rec.text, p.id, "bias", problems[0], options))
                continue
            value = p.attribute_values[(i + offset) % len(p.attribute_values)] if bias_attribute == "balanced" else None
            aligned = options[p.attribute_values.index(value)] if value else ""
            plans.append(_make(rec, sel, p, "bias", aligned, rec.text, seed, value, options))

    if implicit_harm:
        implicit, refused = plan_implicit(list(zip(prompts, selections)), catalog, seed)
        plans += implicit
        dropped += [DroppedPair(rec.text, "", IMPLICIT, reason) for rec, reason in refused]

    plans = [s for pl in plans for s in samples_of(pl, samples, seed)]
    plans.sort(key=lambda pl: (pl.sample, pl.id))
    dropped.sort(key=lambda d: (d.reason, d.principle_id, d.prompt))
    return Plan(plans[:max_pairs] if max_pairs else plans, dropped)


def samples_of(plan: PairPlan, n: int, seed: int) -> list[PairPlan]:
    """The ``n`` samples of one planned pair (``seed``: planning.seed): sample 0 is ``plan`` itself, sample
    k >= 1 the same pair with its own seed and id, both from the parts of sample 0's plus k, so the
    samples of n are the first n of n + 1. A bias pair whose value was chosen at planning time
    (balanced) asks sample k for the value k places after sample 0's: a prompt's n samples show
    min(n, values) distinct values, PopAlign's population rather than one value per prompt."""
    out = [plan]
    for k in range(1, n):
        pair_seed = stable_int(seed, "seed", plan.principle_id, plan.prompt, k)
        aligned, attribute = plan.aligned_prompt, plan.attribute
        if plan.kind == "bias" and attribute is not None:
            j = (plan.concepts.index(attribute) + k) % len(plan.concepts)
            attribute, aligned = plan.concepts[j], plan.attribute_prompts[j]
        out.append(replace(plan, sample=k, seed=pair_seed, attribute=attribute, aligned_prompt=aligned, id=pair_id(
            plan.prompt, plan.principle_id, plan.pair_type, aligned if plan.pair_type != "bias" else "",
            plan.violating_prompt, pair_seed, k)))
    return out


def _make(
    rec: PromptRecord,
    sel: Selection,
    p: Principle,
    pair_type: str,
    aligned: str,
    violating: str,
    seed: int,
    attribute: str | None = None,
    attribute_prompts: tuple[str, ...] = (),
) -> PairPlan:
    pair_seed = stable_int(seed, "seed", p.id, rec.text)
    return PairPlan(
        id=pair_id(rec.text, p.id, pair_type, aligned if pair_type != "bias" else "", violating, pair_seed),
        prompt=rec.text,
        principle_id=p.id,
        principle=p.statement,
        category=p.category,
        kind=p.kind,
        pair_type=pair_type,
        aligned_prompt=aligned,
        violating_prompt=violating,
        aligned_negative_prompt=", ".join(p.negative_concepts),
        seed=pair_seed,
        concepts=tuple(p.attribute_values if p.kind == "bias" else p.violation_concepts),
        safe_concepts=tuple(p.safe_concepts),
        attribute=attribute,
        source=rec.source,
        selection_method=sel.method if sel.principle_id else SelectionMethod.GUARD,
        attribute_prompts=attribute_prompts,
    )
