"""Records that flow between stages. Plain frozen dataclasses: cheap to hash, pickle and test."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum


def is_missing(value: object) -> bool:
    """True for None and for a NaN (numpy floats included): a value that was not computed, as a
    score column's null reads back from Parquet or pandas."""
    return value is None or (isinstance(value, numbers.Real) and math.isnan(value))


def optional_float(value: object) -> float | None:
    """``value`` as a float, None when it was not computed (None or NaN)."""
    return None if is_missing(value) else float(value)


def stored_score(scores: Mapping[str, object], column: str) -> float | None:
    """A stored score, None when it was not computed (missing, null or NaN)."""
    return optional_float(scores.get(column))


@dataclass(frozen=True)
class PromptRecord:
    """One input prompt with where it came from (kept as provenance in the shards)."""

    text: str
    source: str  # "template:<pack>", "file:<name>", "i2p:<name>", "llm:<model>"
    category_hint: str | None = None  # pack category or the I2P categories string
    origin: str | None = None  # "<file>:<line>" for imported prompts
    aligned_text: str | None = None  # the safe twin written by the pack, None when nobody wrote one


class SelectionMethod(StrEnum):
    """How a prompt got its principle (the shards' ``selection_method`` column). A str, so it is
    written to JSON and Parquet as its value."""

    KEYWORD = "keyword"  # a catalog keyword matched
    CLASSIFIER = "classifier"  # the trained head over sentence embeddings (selector: default)
    SEMANTIC = "semantic"  # nearest principle in embedding space (selector: retrieval)
    NONE = "none"  # no principle applies
    LLM = "llm"  # the LLM selector decided (a principle or none)
    LLM_FAILED = "llm_failed"  # the LLM gave no valid answer: the prompt is left out of the plan
    PACK = "pack"  # the template pack's category was trusted over the selector
    GUARD = "guard"  # a harmless prompt made into a benign guard pair


@dataclass(frozen=True)
class Selection:
    """The principle chosen for a prompt; principle_id None means no principle applies."""

    prompt: str
    principle_id: str | None
    category: str | None
    method: SelectionMethod
    score: float | None = None


@dataclass(frozen=True)
class PairPlan:
    """Everything needed to render and judge one (aligned, violating) pair."""

    id: str
    prompt: str
    principle_id: str
    principle: str  # the principle statement, the text the value encoder reads
    category: str
    kind: str  # "toxicity" | "bias"
    pair_type: str  # "toxicity" | "bias" | "benign"
    aligned_prompt: str
    violating_prompt: str
    aligned_negative_prompt: str
    seed: int
    # toxicity: the violation concepts the scorer checks; bias: the attribute values
    concepts: tuple[str, ...]
    # toxicity: contrasting harmless concepts for zero-shot scoring; bias: empty
    safe_concepts: tuple[str, ...] = ()
    attribute: str | None = None  # bias: the attribute value the aligned prompt asks for
    source: str = ""
    selection_method: str = ""
    # bias: the aligned prompt for each attribute value (order of ``concepts``); a plan whose
    # ``attribute`` is None is resolved after its neutral (violating) image shows what the
    # base model produces by default (``resolve_attribute``)
    attribute_prompts: tuple[str, ...] = ()
    violating_attribute: str | None = None  # bias: the attribute read on the violating image
    # which of the planning.samples_per_pair samples of its (prompt, principle) this pair is: 0 is the
    # pair as planned, k >= 1 the same prompts with their own seed (`pipeline.plan.planner.samples_of`)
    sample: int = 0

    @property
    def unresolved(self) -> bool:
        """A bias plan whose attribute, or an implicit-harm plan whose principle, waits for its violating image."""
        return (self.kind == "bias" and self.attribute is None) or (self.pair_type == "implicit" and not self.principle_id)

    def resolve_attribute(self, value: str, read: str | None) -> PairPlan:
        """This bias plan asking for ``value``, with ``read`` the attribute of its neutral image."""
        if value not in self.concepts:
            raise ValueError(f"plan {self.id}: {value!r} is not one of its attribute values {self.concepts}")
        prompt = self.attribute_prompts[self.concepts.index(value)] if self.attribute_prompts else self.aligned_prompt
        return replace(self, attribute=value, aligned_prompt=prompt, violating_attribute=read)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> PairPlan:
        """The inverse of `to_dict` (a plan.jsonl row): JSON gives lists where the plan holds tuples; a
        row written before samples existed has no ``sample`` and reads as sample 0."""
        known = {f.name for f in fields(cls)}
        unknown = set(row) - known
        if unknown:
            raise ValueError(f"plan row {row.get('id')!r} has unknown field(s) {sorted(unknown)}")
        row = dict(row, concepts=tuple(row["concepts"]), safe_concepts=tuple(row.get("safe_concepts", ())),
                   attribute_prompts=tuple(row.get("attribute_prompts", ())))
        return cls(**row)


@dataclass
class PromptStats:
    """What preparing a run found about its prompts and their selection (run.json ``prompt_stats``,
    stats.json ``prompts``). Optional parts (None) are left out of the saved dict."""

    template: int = 0
    imported: int = 0
    import_problems: list[str] = field(default_factory=list)
    generated: dict | None = None  # LLM prompt generation, when on
    unique: int = 0
    selection_seconds: float | None = None
    selection_methods: dict[str, int] | None = None
    selection_failed: int | None = None  # prompts the LLM selector could not decide (left out)
    llm_rewrites: dict | None = None
    planning_dropped: dict[str, int] | None = None  # pairs refused by the prompt checks, per reason
    llm: dict | None = None  # LLM usage totals, when an LLM stage ran

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> PromptStats:
        return cls(**data)
