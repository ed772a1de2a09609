"""Real subprocesses for the orchestration tests: `livo shards`, a Prefect server, `flows.serve`,
a Prefect worker. Each runs in its own process group so stopping it stops its children too
(flow-run subprocesses, uvicorn), and nothing outlives the test that started it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT

BIN = Path(sys.executable).parent


def let_children_take_ctrl_c() -> None:
    """Call before starting a child a test sends Ctrl-C: a shell starts background jobs (``make test &``,
    nohup) with SIGINT ignored, an ignored signal stays ignored across exec, and Python then leaves it
    ignored in the child too. Python's own handler in this process is reset to the default in a child."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group, SIGKILL what is left after `grace` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their leader
    except ProcessLookupError:
        pass
    proc.wait()


@contextmanager
def spawn(cmd: list[str], log: Path, env: dict | None = None, cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as sink:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            stop_group(proc)


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def wait_for(check: Callable[[], bool], timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None,
             what: str = "condition", interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}:\n{tail(log) if log else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}:\n{tail(log) if log else ''}")
        time.sleep(interval)


def api_get(api: str, path: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(f"{api}{path}", timeout=5) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def api_post(api: str, path: str, body: dict) -> object:
    req = urllib.request.Request(f"{api}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())
