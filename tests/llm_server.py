"""A real HTTP server speaking the OpenAI chat-completions protocol, scripted per test.

`ScriptedLLMServer` runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in
a thread. Each POST to `/v1/chat/completions` is recorded (JSON body and headers) and
answered by the next scripted `Reply` in the queue, or, when the queue is empty, by the
`responder` callable (request body -> Reply), which suits concurrent requests whose order
is not fixed. With neither, it answers 500 so an unscripted request shows up as a failure.

As a vision model (the VLM judge's tests): `data_url_images` checks that each image arrived as a
base64 data URL and returns its bytes, `vision_answer` answers a JSON verdict with or without the
log-probabilities of its first answer token.
"""

from __future__ import annotations

import base64
import json
import math
import re
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


def answer(content: str, *, usage: dict | None = None, delay: float = 0.0, refusal: str | None = None,
           logprobs: list[dict] | None = None) -> Reply:
    """A successful chat completion whose message content is `content` (with `logprobs`, its
    ``choices[0].logprobs.content``: `token_logprobs` builds them)."""
    message = {"role": "assistant", "content": content}
    if refusal is not None:
        message = {"role": "assistant", "content": None, "refusal": refusal}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    return Reply(200, {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [choice], "usage": usage or USAGE,
    }, delay)


def answer_json(obj: dict, **kw) -> Reply:
    return answer(json.dumps(obj), **kw)


def token_logprobs(tokens: list[str], alternatives: dict[int, dict[str, float]] | None = None) -> list[dict]:
    """The OpenAI ``logprobs.content`` of an answer cut into ``tokens``: each token log-prob 0 with
    itself as its only alternative, except at the indexes ``alternatives`` gives ({token: logprob},
    the first of them the token sampled)."""
    out = []
    for i, token in enumerate(tokens):
        top = (alternatives or {}).get(i, {token: 0.0})
        first = next(iter(top))
        out.append({"token": first if i in (alternatives or {}) else token, "logprob": top[first], "bytes": None,
                    "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top.items()]})
    return out


def vision_answer(verdict: dict, *, key: str, yes_probability: float | None = None, positive: str = "yes",
                  negative: str = "no", delay: float = 0.0) -> Reply:
    """A vision model's JSON verdict, as a server that tokenises it would send it: with
    ``yes_probability``, the first token of ``verdict[key]`` carries the two answers' log-probabilities
    (the sampled one first); without, no logprobs at all."""
    content = json.dumps(verdict)
    if yes_probability is None:
        return answer(content, delay=delay)
    head, value = content.split(f'"{key}": "', 1)
    word, tail = value.split('"', 1)
    tokens = [head, f'"{key}": "', word, '"' + tail]
    pos = math.log(yes_probability) if yes_probability > 0 else -100.0
    neg = math.log(1 - yes_probability) if yes_probability < 1 else -100.0
    sampled_positive = word.lower() == positive.lower()
    top = {word: pos if sampled_positive else neg, (negative if sampled_positive else positive):
           neg if sampled_positive else pos}
    return answer(content, logprobs=token_logprobs(tokens, {2: top}), delay=delay)


def data_url_images(body: dict) -> list[bytes]:
    """The images of a request's messages: each ``image_url`` part must be a base64 PNG or JPEG data URL
    (a vision server fetches nothing); AssertionError otherwise."""
    images = []
    for message in body.get("messages", []):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if part.get("type") != "image_url":
                continue
            url = part["image_url"]["url"]
            match = re.fullmatch(r"data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/=]+)", url)
            assert match, f"not a data URL: {url[:60]}"
            images.append(base64.b64decode(match.group(2), validate=True))
    return images


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
        content = next(m["content"] for m in reversed(self.messages) if m["role"] == "user")
        if isinstance(content, list):  # a vision request: its text parts
            return "\n".join(p["text"] for p in content if p.get("type") == "text")
        return content

    @property
    def images(self) -> list[bytes]:
        return data_url_images(self.body)


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
