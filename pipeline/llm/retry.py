"""The retry policy of LLM requests: which failures are retried, how long to wait, how often.

Retried: timeouts, connection errors, HTTP 408/409/429 and every 5xx (`Transient`), at most
``max_retries`` times, with exponential backoff from ``retry_base_delay`` (capped at 30 s) and
"equal jitter", never shorter than the server's ``Retry-After``. Ours, not the ``openai``
client's ``max_retries`` (switched off): that one's schedule is fixed (0.5 s doubling to 8 s,
ignoring ``llm.retry_base_delay``), a short ``Retry-After`` replaces its backoff and one over a
minute stops the retries, and it hides the tries from the usage counts and "after N tries".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")

RETRY_STATUS = (408, 409, 429)  # plus every 5xx
MAX_BACKOFF = 30.0


class Transient(Exception):
    """One attempt failed in a way worth retrying; after the last one, `tries` says how many were made."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.retry_after, self.tries = kind, detail, retry_after, 1


def is_retryable(status: int | None) -> bool:
    """A connection-level failure (no status), 408, 409, 429 or a 5xx."""
    return status is None or status in RETRY_STATUS or status >= 500


def retry_after(e: Exception) -> float | None:
    """The ``Retry-After`` seconds of a failed HTTP response, if it sent a number."""
    response = getattr(e, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def backoff(attempt: int, base_delay: float, hint: float | None) -> float:
    ceiling = min(MAX_BACKOFF, base_delay * 2 ** attempt)
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never ~0, never in lockstep
    return min(MAX_BACKOFF, max(delay, hint or 0.0))


def with_retries(attempt: Callable[[], R], *, max_retries: int, base_delay: float,
                 on_retry: Callable[[], None]) -> R:
    """``attempt()`` again after each `Transient` it raises, at most ``max_retries`` times, sleeping
    `backoff` in between; the last `Transient` is raised with its ``tries``, anything else at once."""
    for n in range(max_retries + 1):
        try:
            return attempt()
        except Transient as e:
            if n == max_retries:
                e.tries = n + 1
                raise
            on_retry()
            time.sleep(backoff(n, base_delay, e.retry_after))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
