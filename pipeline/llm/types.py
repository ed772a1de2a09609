"""What the LLM stages see of a chat model: the ``LLM`` protocol, answers, failures, usage; and
what they leave in a run: usage totals for stats.json (`usage_stats`) and ``llm_failures.jsonl``
(`write_failures`).

Failures are values, never exceptions, so one bad answer cannot stop a run; only a
configuration that makes *every* request fail (bad key, unknown model or URL) raises
``LLMUnavailableError``. Failures of any stage are collected in one list and written as one JSON
object per row with stage, item (prompt or category), reason, the raw answer and the fallback
used (the rule-based rewrite, or null when the row was left out).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from pipeline.run.atomic import atomic_write_text

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
# A message's content is text, or (a vision model's question) a list of parts: ``{"type": "text", ...}``
# and `image_part`s, the OpenAI chat format that vLLM accepts too.
Messages = list[dict[str, Any]]

class LLMUnavailableError(RuntimeError):
    """The endpoint refuses every request (authentication, unknown model or path), or too many
    requests in a row failed (server down, or a parameter the model rejects)."""


# --------------------------------------------------------------------------- results


@dataclass
class Answer(Generic[T]):
    """A validated answer (``value``) or a failure (``error``); ``raw`` is the last text received."""

    value: T | None
    raw: str | None = None
    error: str | None = None
    attempts: int = 0  # answers received: 1 + re-asks
    # With ``top_logprobs`` asked for: the answer's tokens, each {"token", "logprob", "top": {token: logprob}}
    logprobs: list[dict] | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


@dataclass
class Failure:
    """A row an LLM stage gave up on, for the run's ``llm_failures.jsonl``."""

    stage: str  # "select" | "rewrite" | "generate" | "judge"
    item: str  # the prompt, the category for generation, the pair and side for a judge
    reason: str
    raw: str | None = None
    fallback: str | None = None  # what the run used instead, if anything
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Usage:
    requests: int = 0  # HTTP requests sent, failed ones included
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    reasks: int = 0
    failures: int = 0  # complete_json calls that ended without a valid answer
    text_mode: bool = False  # the endpoint refused json_schema; plain text + extraction was used

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class LLM(Protocol):
    """A chat model that answers with JSON validated against a pydantic schema."""

    model: str
    max_concurrency: int

    def complete_json(self, messages: Messages, schema: type[T], *,
                      check: Callable[[T], str | None] | None = None,
                      temperature: float | None = None) -> Answer[T]: ...

    def usage(self) -> dict: ...


def image_part(data: bytes, mime: str = "image/png") -> dict:
    """An image as a message content part: a base64 data URL, so no server needs to fetch anything."""
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}}


def run_concurrently(fn: Callable[[Any], R], items: Sequence[Any], limit: int) -> list[R]:
    """``[fn(x) for x in items]`` on at most ``limit`` threads, results in input order."""
    if not items:
        return []
    if limit <= 1 or len(items) == 1:
        return [fn(x) for x in items]
    pool = ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="llm")
    try:
        return list(pool.map(fn, items))
    finally:  # after an error (LLMUnavailableError) the queued items are not sent at all
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- what a run keeps


def usage_stats(llm: LLM, failures: Sequence[Failure]) -> dict:
    return {"base_url": llm.base_url, "model": llm.model, **llm.usage(),
            "failed_rows": dict(Counter(f.stage for f in failures))}


def write_failures(path: Path, failures: Sequence[Failure]) -> None:
    atomic_write_text(path, "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in failures))
