"""Records that flow between stages. Plain frozen dataclasses: cheap to hash, pickle and test."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PromptRecord:
    """One input prompt with where it came from (kept as provenance in the shards)."""

    text: str
    source: str  # "template:<pack>", "file:<name>", "i2p:<name>", "llm:<model>"
    category_hint: str | None = None  # pack category or the I2P categories string
    origin: str | None = None  # "<file>:<line>" for imported prompts


@dataclass(frozen=True)
class Selection:
    """The principle chosen for a prompt; principle_id None means no principle applies."""

    prompt: str
    principle_id: str | None
    category: str | None
    method: str  # "keyword", "semantic", "none", "llm", ...
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
