"""Chat LLMs on any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama), JSON answers only.

The LLM stages (prompt generation, principle selection, safe rewrites) talk to an ``LLM``:
``complete_json(messages, schema)`` returns an ``Answer`` holding a validated pydantic
object, or the reason and raw text of a failure. Failures are values, never exceptions,
so one bad answer cannot stop a run; only a configuration that makes *every* request fail
(bad key, unknown model or URL) raises ``LLMUnavailableError``.

``OpenAIChatLLM`` (the ``openai`` client, its own retries switched off) adds:

* structured output: ``response_format={"type": "json_schema"}`` with the schema; on a
  400 saying the server does not support it, plain text for the rest of the run (the
  finding is remembered per endpoint in the cache), the first JSON object extracted and
  validated either way;
* retries with exponential backoff and jitter on timeouts, connection errors, 408/409,
  429 (honouring ``Retry-After``) and 5xx;
* a bounded number of re-asks on invalid answers, showing the model its validation error;
* an SQLite request cache keyed by sha256 of (base URL, model, messages, parameters):
  re-running the same work sends no requests. The API key is never part of the key nor
  stored, and is scrubbed from any error text kept for failure reports;
* usage totals (requests, cache hits, tokens, retries, re-asks, failures).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, Protocol, Sequence, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.config import LLMConfig

log = logging.getLogger("pipeline.llm")

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
Messages = list[dict[str, str]]

# Local servers (vLLM, llama.cpp, Ollama) accept any key; the client insists on one.
PLACEHOLDER_KEY = "no-key"
CACHE_FILE = "llm_cache.sqlite"
RETRY_STATUS = (408, 409, 429)  # plus every 5xx
MAX_BACKOFF = 30.0
TEXT_MODE_FLAG = "json_schema_unsupported"

REASK = ("Your previous answer was not valid: {error}\n"
         "Answer again with only a JSON object that matches the schema, and nothing else.")


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

    @property
    def ok(self) -> bool:
        return self.value is not None


@dataclass
class Failure:
    """A row an LLM stage gave up on, for the run's ``llm_failures.jsonl``."""

    stage: str  # "select" | "rewrite" | "generate"
    item: str  # the prompt, or the category for generation
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


# --------------------------------------------------------------------------- JSON


def extract_json(text: str) -> Any:
    """The first JSON object in ``text``: the whole text, a fenced block, or one embedded in prose."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ValueError("no JSON object found in the answer")


def describe_error(e: Exception) -> str:
    """A short, model-readable description of why an answer was rejected."""
    if isinstance(e, ValidationError):
        parts = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(answer)"
            parts.append(f"{loc}: {err['msg']}")
        return "; ".join(parts)
    return str(e)


def schema_instruction(schema: type[BaseModel]) -> str:
    return ("Answer with a single JSON object and nothing else, matching this JSON schema: "
            + json.dumps(schema.model_json_schema(), separators=(",", ":")))


def with_schema_instruction(messages: Messages, schema: type[BaseModel]) -> Messages:
    """The messages with the schema spelled out in the system message, so servers without
    structured output (the text fallback) are told the same thing."""
    note = schema_instruction(schema)
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{messages[0]['content']}\n\n{note}"}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def response_format(schema: type[BaseModel]) -> dict:
    return {"type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": True}}


# --------------------------------------------------------------------------- cache


def normalize_base_url(url: str) -> str:
    return url.rstrip("/")


def request_key(base_url: str, model: str, messages: Messages, params: dict) -> str:
    """sha256 over everything that determines the answer; never the API key."""
    blob = json.dumps({"base_url": normalize_base_url(base_url), "model": model, "messages": messages,
                       "params": params}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def user_cache_path() -> Path:
    """Where commands without a run folder (``livo select``, ``livo prompts``) keep their cache."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "livo" / CACHE_FILE


class RequestCache:
    """Answers by request key, plus per-endpoint findings (json_schema unsupported), in SQLite.

    One connection shared by the client's threads behind a lock; WAL so that another
    process reading the same file does not block.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL, "
                             "created REAL NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS endpoint_flags (endpoint TEXT NOT NULL, flag TEXT NOT NULL, "
                             "PRIMARY KEY (endpoint, flag))")

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, response: dict) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)",
                             (key, json.dumps(response, ensure_ascii=False), time.time()))

    def has_flag(self, endpoint: str, flag: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM endpoint_flags WHERE endpoint = ? AND flag = ?",
                                    (endpoint, flag)).fetchone() is not None

    def set_flag(self, endpoint: str, flag: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO endpoint_flags VALUES (?, ?)", (endpoint, flag))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --------------------------------------------------------------------------- client


class _RequestFailed(Exception):
    """No usable HTTP answer for this request (after retries); the row fails, the run goes on."""


def _schema_unsupported(e: Exception) -> bool:
    msg = str(getattr(e, "message", "") or e).lower()
    return any(word in msg for word in ("response_format", "json_schema", "structured output", "response format"))


def _retry_after(e: Exception) -> float | None:
    response = getattr(e, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIChatLLM:
    """``LLM`` on the ``openai`` client: any server speaking the chat-completions protocol."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        temperature: float = 0.0,
        timeout: float = 60.0,
        max_retries: int = 4,
        retry_base_delay: float = 1.0,
        max_reasks: int = 2,
        max_concurrency: int = 4,
        cache_path: Path | str | None = None,
        max_consecutive_failures: int | None = 8,
    ):
        import openai

        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.max_reasks = max_reasks
        self.max_concurrency = max_concurrency
        self.max_consecutive_failures = max_consecutive_failures
        self._failures_in_a_row = 0
        self.cache = RequestCache(cache_path) if cache_path else None
        # The key lives only in this client's headers; kept here solely to scrub it from error text.
        key = os.environ.get(api_key_env) or ""
        self._secret = key if len(key) >= 6 else None
        self._client = openai.OpenAI(base_url=self.base_url, api_key=key or PLACEHOLDER_KEY,
                                     timeout=timeout, max_retries=0)
        self._openai = openai
        self._endpoint = f"{self.base_url}|{self.model}"
        self._text_mode = bool(self.cache and self.cache.has_flag(self._endpoint, TEXT_MODE_FLAG))
        self._usage = Usage(text_mode=self._text_mode)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: "LLMConfig", default_cache: Path | str | None) -> "OpenAIChatLLM":
        return cls(cfg.base_url, cfg.model, api_key_env=cfg.api_key_env, temperature=cfg.temperature,
                   timeout=cfg.timeout, max_retries=cfg.max_retries, retry_base_delay=cfg.retry_base_delay,
                   max_reasks=cfg.max_reasks, max_concurrency=cfg.max_concurrency,
                   cache_path=cfg.cache_path or default_cache,
                   max_consecutive_failures=cfg.max_consecutive_failures)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatLLM(base_url={self.base_url!r}, model={self.model!r})"

    # ------------------------------------------------------------ bookkeeping

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for k, v in deltas.items():
                setattr(self._usage, k, getattr(self._usage, k) + v)

    def usage(self) -> dict:
        with self._lock:
            return self._usage.to_dict()

    def redact(self, text: str | None) -> str | None:
        if text is None or not self._secret:
            return text
        return text.replace(self._secret, "***")

    # ------------------------------------------------------------ one request

    def _params(self, schema: type[BaseModel], temperature: float) -> dict:
        params: dict[str, Any] = {"temperature": temperature}
        if not self._text_mode:
            params["response_format"] = response_format(schema)
        return params

    def _backoff(self, attempt: int, hint: float | None) -> float:
        ceiling = min(MAX_BACKOFF, self.retry_base_delay * 2 ** attempt)
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never ~0, never in lockstep
        return min(MAX_BACKOFF, max(delay, hint or 0.0))

    def _request(self, messages: Messages, schema: type[BaseModel], temperature: float) -> dict:
        """One answer: {"content", "refusal"}, from the cache or the server (with retries).

        A failed request fails its row; `max_consecutive_failures` of them in a row stop the stage
        (a dead server would otherwise cost every remaining row its full retry schedule).
        """
        try:
            answer = self._request_once(messages, schema, temperature)
        except _RequestFailed as e:
            with self._lock:
                self._failures_in_a_row += 1
                streak = self._failures_in_a_row
            if self.max_consecutive_failures is not None and streak >= self.max_consecutive_failures:
                raise LLMUnavailableError(
                    f"{self.base_url} (model {self.model!r}): {streak} requests in a row failed, the last with {e}; "
                    "stopping this stage (answers so far are cached: run again once the server works)") from None
            raise
        return answer

    def _request_once(self, messages: Messages, schema: type[BaseModel], temperature: float) -> dict:
        oa = self._openai
        params = self._params(schema, temperature)
        key = request_key(self.base_url, self.model, messages, params)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self._count(cache_hits=1)
                return hit
        for attempt in range(self.max_retries + 1):
            self._count(requests=1)
            try:
                resp = self._client.chat.completions.create(model=self.model, messages=messages, **params)
            except (oa.AuthenticationError, oa.PermissionDeniedError, oa.NotFoundError) as e:
                hint = f"; set the key in ${self.api_key_env} (llm.api_key_env)" if e.status_code in (401, 403) else ""
                raise LLMUnavailableError(
                    f"{self.base_url} refused model {self.model!r}: HTTP {e.status_code} "
                    f"{self.redact(getattr(e, 'message', str(e)))}{hint}") from None
            except (oa.BadRequestError, oa.UnprocessableEntityError) as e:
                if "response_format" in params and _schema_unsupported(e):
                    log.warning("%s does not support json_schema output; using plain text + JSON extraction",
                                self._endpoint)
                    with self._lock:
                        self._text_mode = self._usage.text_mode = True
                    if self.cache is not None:
                        self.cache.set_flag(self._endpoint, TEXT_MODE_FLAG)
                    return self._request_once(messages, schema, temperature)
                raise _RequestFailed(f"HTTP {e.status_code}: {self.redact(e.message)}") from None
            except (oa.APIConnectionError, oa.APIStatusError) as e:
                status = getattr(e, "status_code", None)
                retryable = status is None or status in RETRY_STATUS or status >= 500
                kind = ("timeout" if isinstance(e, oa.APITimeoutError) else
                        "connection error" if status is None else f"HTTP {status}")
                if not retryable or attempt == self.max_retries:
                    tries = f" after {attempt + 1} tries" if retryable else ""
                    raise _RequestFailed(f"{kind}{tries}: {self.redact(getattr(e, 'message', str(e)))}") from None
                self._count(retries=1)
                time.sleep(self._backoff(attempt, _retry_after(e)))
                continue
            except Exception as e:  # noqa: BLE001 - a body the client cannot parse: this row fails, not the run
                raise _RequestFailed(f"malformed response: {type(e).__name__}: {self.redact(str(e))[:300]}") from None
            choices = getattr(resp, "choices", None)
            if not choices:
                raise _RequestFailed(f"malformed response (no choices): {self.redact(str(resp)[:500])}")
            message = choices[0].message
            usage = getattr(resp, "usage", None)
            if usage is not None:
                self._count(prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0)
            answer = {"content": message.content, "refusal": getattr(message, "refusal", None)}
            with self._lock:  # only the server answering ends a streak (cache hits say nothing about it)
                self._failures_in_a_row = 0
            if self.cache is not None:
                self.cache.put(key, answer)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # ------------------------------------------------------------ one validated answer

    def complete_json(self, messages: Messages, schema: type[T], *,
                      check: Callable[[T], str | None] | None = None,
                      temperature: float | None = None) -> Answer[T]:
        """Ask until the answer parses, validates against ``schema`` and passes ``check``
        (which returns an error message or None), re-asking at most ``max_reasks`` times."""
        temperature = self.temperature if temperature is None else temperature
        convo = with_schema_instruction(messages, schema)
        raw: str | None = None
        problem = ""
        for attempt in range(self.max_reasks + 1):
            if attempt:
                self._count(reasks=1)
                convo = [*convo, {"role": "assistant", "content": raw or ""},
                         {"role": "user", "content": REASK.format(error=problem)}]
            try:
                reply = self._request(convo, schema, temperature)
            except _RequestFailed as e:
                self._count(failures=1)
                return Answer(None, raw, str(e), attempt)
            if reply.get("refusal"):
                self._count(failures=1)
                return Answer(None, self.redact(reply["refusal"]), f"refused: {self.redact(reply['refusal'])}",
                              attempt + 1)
            raw = self.redact(reply.get("content") or "")
            try:
                value = schema.model_validate(extract_json(raw))
                problem = check(value) if check else None
            except ValueError as e:  # pydantic's ValidationError is a ValueError
                value, problem = None, describe_error(e)
            if not problem:
                return Answer(value, raw, None, attempt + 1)
        self._count(failures=1)
        return Answer(None, raw, f"invalid answer after {self.max_reasks + 1} attempts: {problem}",
                      self.max_reasks + 1)

    def close(self) -> None:
        self._client.close()
        if self.cache is not None:
            self.cache.close()
