"""A real HTTP server speaking the OpenAI chat-completions protocol, scripted per test.

`ScriptedLLMServer` runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in
a thread. Each POST to `/v1/chat/completions` is recorded (JSON body and headers) and
answered by the next scripted `Reply` in the queue, or, when the queue is empty, by the
`responder` callable (request body -> Reply), which suits concurrent requests whose order
is not fixed. With neither, it answers 500 so an unscripted request shows up as a failure.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


@dataclass
class Reply:
    status: int = 200
    body: dict | str = ""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def answer(content: str, *, usage: dict | None = None, delay: float = 0.0, refusal: str | None = None) -> Reply:
    """A successful chat completion whose message content is `content`."""
    message = {"role": "assistant", "content": content}
    if refusal is not None:
        message = {"role": "assistant", "content": None, "refusal": refusal}
    return Reply(200, {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage or USAGE,
    }, delay)


def answer_json(obj: dict, **kw) -> Reply:
    return answer(json.dumps(obj), **kw)


def error(status: int, message: str = "error", *, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "invalid_request_error", "code": None}},
                 headers=headers or {})


@dataclass
class Recorded:
    body: dict
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict]:
        return self.body["messages"]

    @property
    def last_user(self) -> str:
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")


class ScriptedLLMServer:
    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.responder: Callable[[dict], Reply] | None = None
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0  # most requests being answered at once (concurrency tests)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = {"_raw": raw.decode(errors="replace")}
                reply = server._next(body, {k.lower(): v for k, v in self.headers.items()}, self.path)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if reply.delay:
                        time.sleep(reply.delay)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                data = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def _next(self, body: dict, headers: dict[str, str], path: str) -> Reply:
        with self._lock:
            self.requests.append(Recorded(body, headers))
            if not path.endswith("/chat/completions"):
                return error(404, f"unknown path {path}")
            if self.queue:
                return self.queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return error(500, "unscripted request")

    def script(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.requests.clear()
            self.responder = None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
