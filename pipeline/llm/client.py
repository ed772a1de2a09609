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
  429 (honouring ``Retry-After``) and 5xx (the policy: ``pipeline.llm.retry``);
* a bounded number of re-asks on invalid answers, showing the model its validation error;
* an SQLite request cache keyed by sha256 of (base URL, model, messages, parameters):
  re-running the same work sends no requests. The API key is never part of the key nor
  stored, and is scrubbed from any error text kept for failure reports;
* usage totals (requests, cache hits, tokens, retries, re-asks, failures);
* for vision models, messages whose content holds image parts (`types.image_part`, data URLs) and,
  on request, the answer tokens' top log-probabilities (``Answer.logprobs``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from pipeline.llm.cache import RequestCache, normalize_base_url, request_key, user_cache_path
from pipeline.llm.jsonx import describe_error, extract_json, response_format, with_schema_instruction
from pipeline.llm.retry import Transient, is_retryable, retry_after, with_retries
from pipeline.llm.types import Answer, LLMUnavailableError, Messages, T, Usage

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.config import LLMConfig, RunConfig

log = logging.getLogger("pipeline.llm")

# Local servers (vLLM, llama.cpp, Ollama) accept any key; the client insists on one.
PLACEHOLDER_KEY = "no-key"
TEXT_MODE_FLAG = "json_schema_unsupported"

REASK = ("Your previous answer was not valid: {error}\n"
         "Answer again with only a JSON object that matches the schema, and nothing else.")


class _RequestFailed(Exception):
    """No usable HTTP answer for this request (after retries); the row fails, the run goes on."""


class _SchemaUnsupported(Exception):
    """The server rejected ``response_format`` (a 400/422 naming it): switch to plain text."""


def _schema_unsupported(e: Exception) -> bool:
    msg = str(getattr(e, "message", "") or e).lower()
    return any(word in msg for word in ("response_format", "json_schema", "structured output", "response format"))


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
    def from_config(cls, cfg: LLMConfig, default_cache: Path | str | None) -> OpenAIChatLLM:
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

    def _params(self, schema: type[BaseModel], temperature: float, top_logprobs: int | None) -> dict:
        params: dict[str, Any] = {"temperature": temperature}
        if not self._text_mode:
            params["response_format"] = response_format(schema)
        if top_logprobs:
            params.update(logprobs=True, top_logprobs=top_logprobs)
        return params

    def _request(self, messages: Messages, schema: type[BaseModel], temperature: float,
                 top_logprobs: int | None = None) -> dict:
        """One answer: {"content", "refusal"}, from the cache or the server (with retries).

        A failed request fails its row; `max_consecutive_failures` of them in a row stop the stage
        (a dead server would otherwise cost every remaining row its full retry schedule).
        """
        try:
            return self._request_once(messages, schema, temperature, top_logprobs)
        except _RequestFailed as e:
            self._note_failure(e)
            raise

    def _request_once(self, messages: Messages, schema: type[BaseModel], temperature: float,
                      top_logprobs: int | None) -> dict:
        """The answer, asked for with ``json_schema`` output unless this endpoint is in text mode; if
        the server turns it down, the same request in plain text (the schema is in the system message
        too), and text from then on."""
        try:
            return self._cached_or_fetched(messages, self._params(schema, temperature, top_logprobs))
        except _SchemaUnsupported:
            self._switch_to_text_mode()
            # no response_format now
            return self._cached_or_fetched(messages, self._params(schema, temperature, top_logprobs))

    def _cached_or_fetched(self, messages: Messages, params: dict) -> dict:
        """The cached answer to (messages, params), else the server's (then cached)."""
        key = request_key(self.base_url, self.model, messages, params)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self._count(cache_hits=1)
                return hit
        answer = self._answer_of(self._send(messages, params))
        self._note_answer()
        if self.cache is not None:
            self.cache.put(key, answer)
        return answer

    def _send(self, messages: Messages, params: dict) -> Any:
        """`_attempt` under the retry policy (`with_retries`); retries are counted."""
        try:
            return with_retries(lambda: self._attempt(messages, params), max_retries=self.max_retries,
                                base_delay=self.retry_base_delay, on_retry=lambda: self._count(retries=1))
        except Transient as e:
            raise _RequestFailed(f"{e.kind} after {e.tries} tries: {e.detail}") from None

    def _attempt(self, messages: Messages, params: dict) -> Any:
        """One HTTP request; its failure comes out as one of this module's exceptions (`_failure`)."""
        self._count(requests=1)
        try:
            return self._client.chat.completions.create(model=self.model, messages=messages, **params)
        except Exception as e:  # noqa: BLE001 - sorted by `_failure`; nothing escapes unclassified
            raise self._failure(e, structured="response_format" in params) from None

    def _failure(self, e: Exception, *, structured: bool) -> Exception:
        """What a failed attempt means: the endpoint is unusable (``LLMUnavailableError``), the server
        cannot do structured output (`_SchemaUnsupported`), worth a retry (`Transient`), or this row
        fails (`_RequestFailed`)."""
        oa = self._openai
        if isinstance(e, (oa.AuthenticationError, oa.PermissionDeniedError, oa.NotFoundError)):
            hint = f"; set the key in ${self.api_key_env} (llm.api_key_env)" if e.status_code in (401, 403) else ""
            return LLMUnavailableError(f"{self.base_url} refused model {self.model!r}: HTTP {e.status_code} "
                                       f"{self.redact(getattr(e, 'message', str(e)))}{hint}")
        if isinstance(e, (oa.BadRequestError, oa.UnprocessableEntityError)):
            if structured and _schema_unsupported(e):
                return _SchemaUnsupported()
            return _RequestFailed(f"HTTP {e.status_code}: {self.redact(e.message)}")
        if isinstance(e, (oa.APIConnectionError, oa.APIStatusError)):
            status = getattr(e, "status_code", None)
            kind = ("timeout" if isinstance(e, oa.APITimeoutError) else
                    "connection error" if status is None else f"HTTP {status}")
            detail = self.redact(getattr(e, "message", str(e)))
            if is_retryable(status):
                return Transient(kind, detail, retry_after(e))
            return _RequestFailed(f"{kind}: {detail}")
        # a body the client cannot parse: this row fails, not the run
        return _RequestFailed(f"malformed response: {type(e).__name__}: {self.redact(str(e))[:300]}")

    def _answer_of(self, resp: Any) -> dict:
        """{"content", "refusal"} of a chat completion, its tokens counted; "logprobs" too when the
        server sent them (`_token_logprobs`)."""
        choices = getattr(resp, "choices", None)
        if not choices:
            raise _RequestFailed(f"malformed response (no choices): {self.redact(str(resp)[:500])}")
        message = choices[0].message
        usage = getattr(resp, "usage", None)
        if usage is not None:
            self._count(prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0)
        answer = {"content": message.content, "refusal": getattr(message, "refusal", None)}
        tokens = _token_logprobs(getattr(choices[0], "logprobs", None))
        if tokens is not None:
            answer["logprobs"] = tokens
        return answer

    def _switch_to_text_mode(self) -> None:
        log.warning("%s does not support json_schema output; using plain text + JSON extraction", self._endpoint)
        with self._lock:
            self._text_mode = self._usage.text_mode = True
        if self.cache is not None:
            self.cache.set_flag(self._endpoint, TEXT_MODE_FLAG)

    # ------------------------------------------------------------ the failure streak

    def _note_answer(self) -> None:
        """Only the server answering ends a streak (cache hits say nothing about it)."""
        with self._lock:
            self._failures_in_a_row = 0

    def _note_failure(self, e: _RequestFailed) -> None:
        """One more failed request; ``max_consecutive_failures`` in a row stop the stage."""
        with self._lock:
            self._failures_in_a_row += 1
            streak = self._failures_in_a_row
        if self.max_consecutive_failures is not None and streak >= self.max_consecutive_failures:
            raise LLMUnavailableError(
                f"{self.base_url} (model {self.model!r}): {streak} requests in a row failed, the last with {e}; "
                "stopping this stage (answers so far are cached: run again once the server works)") from None

    # ------------------------------------------------------------ one validated answer

    def complete_json(self, messages: Messages, schema: type[T], *,
                      check: Callable[[T], str | None] | None = None,
                      temperature: float | None = None, top_logprobs: int | None = None,
                      schema_in_prompt: bool = True) -> Answer[T]:
        """Ask until the answer parses, validates against ``schema`` and passes ``check``
        (which returns an error message or None), re-asking at most ``max_reasks`` times.

        ``top_logprobs``: ask for that many alternatives of every answer token (``Answer.logprobs``;
        None where the server sends none). ``schema_in_prompt=False`` leaves the messages as given (a
        model trained on one prompt format, whose prompt already spells out its JSON answer)."""
        temperature = self.temperature if temperature is None else temperature
        convo = with_schema_instruction(messages, schema) if schema_in_prompt else list(messages)
        raw: str | None = None
        problem = ""
        for attempt in range(self.max_reasks + 1):
            if attempt:
                self._count(reasks=1)
                convo = [*convo, {"role": "assistant", "content": raw or ""},
                         {"role": "user", "content": REASK.format(error=problem)}]
            try:
                reply = self._request(convo, schema, temperature, top_logprobs)
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
                return Answer(value, raw, None, attempt + 1, reply.get("logprobs"))
        self._count(failures=1)
        return Answer(None, raw, f"invalid answer after {self.max_reasks + 1} attempts: {problem}",
                      self.max_reasks + 1)

    def close(self) -> None:
        self._client.close()
        if self.cache is not None:
            self.cache.close()


def _token_logprobs(logprobs: Any) -> list[dict] | None:
    """The chat completion's ``logprobs.content`` as plain data (it is cached as JSON): per token
    {"token", "logprob", "top": {alternative: logprob}}; None when the server sent none."""
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        return None
    return [{"token": t.token, "logprob": t.logprob,
             "top": {alt.token: alt.logprob for alt in (getattr(t, "top_logprobs", None) or [])}} for t in content]


def make_llm(cfg: RunConfig, default_cache: Path | str | None = None) -> OpenAIChatLLM:
    """The configured client; the cache defaults to ``default_cache``, else the user cache dir."""
    return OpenAIChatLLM.from_config(cfg.llm, default_cache or user_cache_path())
