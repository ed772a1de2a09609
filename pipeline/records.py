"""Records that flow between stages. Plain frozen dataclasses: cheap to hash, pickle and test."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum


@dataclass(frozen=True)
class PromptRecord:
    """One input prompt with where it came from (kept as provenance in the shards)."""

    text: str
    source: str  # "template:<pack>", "file:<name>", "i2p:<name>", "llm:<model>"
    category_hint: str | None = None  # pack category or the I2P categories string
    origin: str | None = None  # "<file>:<line>" for imported prompts


class SelectionMethod(StrEnum):
    """How a prompt got its principle (the shards' ``selection_method`` column). A str, so it is
    written to JSON and Parquet as its value."""

    KEYWORD = "keyword"  # a catalog keyword matched
    SEMANTIC = "semantic"  # nearest principle in embedding space
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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "PairPlan":
        """The inverse of `to_dict` (a plan.jsonl row): JSON gives lists where the plan holds tuples."""
        known = {f.name for f in fields(cls)}
        unknown = set(row) - known
        if unknown:
            raise ValueError(f"plan row {row.get('id')!r} has unknown field(s) {sorted(unknown)}")
        row = dict(row, concepts=tuple(row["concepts"]), safe_concepts=tuple(row.get("safe_concepts", ())))
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
    llm: dict | None = None  # LLM usage totals, when an LLM stage ran

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "PromptStats":
        return cls(**data)
