"""The SQLite request cache: answers by sha256 of (base URL, model, messages, parameters), never the key."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from pipeline.llm.types import Messages
from pipeline.run.layout import LLM_CACHE_FILE


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
    return Path(base) / "livo" / LLM_CACHE_FILE


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


