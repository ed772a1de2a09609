"""OpenAIChatLLM against a real local chat-completions server: structured output, re-asks,
retries, timeouts, the json_schema fallback, the request cache and the key's whereabouts."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from contracts import check_llm
from pydantic import BaseModel, ConfigDict

from llm_server import USAGE, Reply, answer, answer_json, error
from pipeline.llm.cache import request_key
from pipeline.llm.client import OpenAIChatLLM
from pipeline.llm.jsonx import extract_json
from pipeline.llm.types import LLMUnavailableError, run_concurrently

KEY = "sk-livo-test-KEY-7f3a9c"


class Pick(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str


MESSAGES = [{"role": "system", "content": "Label the prompt."}, {"role": "user", "content": "a misty lake"}]


@pytest.fixture
def make_llm(make_llm_client, monkeypatch):
    monkeypatch.setenv("LIVO_TEST_KEY", KEY)

    def make(**kw) -> OpenAIChatLLM:
        return make_llm_client(**{"api_key_env": "LIVO_TEST_KEY", "max_retries": 2, "max_reasks": 2, **kw})

    return make


def test_the_client_keeps_the_llm_contract(make_llm, llm_server):
    llm_server.script(answer_json({"word": "lake"}))
    check_llm(make_llm(), MESSAGES)


def test_valid_answer_uses_json_schema_temperature_and_key(make_llm, llm_server):
    llm_server.script(answer_json({"label": "none"}))
    llm = make_llm()
    a = llm.complete_json(MESSAGES, Pick)
    assert a.ok and a.value.label == "none" and a.attempts == 1 and a.error is None
    [req] = llm_server.requests
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "test-model" and req.body["temperature"] == 0.0
    fmt = req.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["label"]
    # the schema is spelled out in the system message too (what the text fallback relies on)
    assert req.messages[0]["role"] == "system" and '"label"' in req.messages[0]["content"]
    u = llm.usage()
    assert (u["requests"], u["prompt_tokens"], u["completion_tokens"], u["failures"]) == \
        (1, USAGE["prompt_tokens"], USAGE["completion_tokens"], 0)


def test_without_the_key_variable_a_placeholder_is_sent(make_llm, llm_server, monkeypatch):
    monkeypatch.delenv("LIVO_TEST_KEY")
    llm_server.script(answer_json({"label": "x"}))
    assert make_llm().complete_json(MESSAGES, Pick).ok
    assert llm_server.requests[0].headers["authorization"] == "Bearer no-key"


def test_malformed_json_is_reasked_with_the_error(make_llm, llm_server):
    llm_server.script(answer('{"label": "none"'), answer('Sure! ```json\n{"label": "gore"}\n```'))
    llm = make_llm()
    a = llm.complete_json(MESSAGES, Pick)
    assert a.ok and a.value.label == "gore" and a.attempts == 2
    second = llm_server.requests[1].messages
    assert second[-2] == {"role": "assistant", "content": '{"label": "none"'}
    assert "not valid" in second[-1]["content"] and "no JSON object" in second[-1]["content"]
    assert llm.usage()["reasks"] == 1


def test_an_answer_that_never_validates_is_a_recorded_failure(make_llm, llm_server):
    llm_server.script(answer('{"name": 1}'), answer("no idea"), answer('{"label": 5}'))
    llm = make_llm(max_reasks=2)
    a = llm.complete_json(MESSAGES, Pick)
    assert not a.ok and a.value is None
    assert a.error.startswith("invalid answer after 3 attempts") and "label" in a.error
    assert a.raw == '{"label": 5}'
    assert len(llm_server.requests) == 3
    assert llm.usage()["failures"] == 1 and llm.usage()["reasks"] == 2


def test_check_rejections_are_reasked(make_llm, llm_server):
    llm_server.script(answer_json({"label": "bad"}), answer_json({"label": "good"}))
    a = make_llm().complete_json(MESSAGES, Pick, check=lambda v: None if v.label == "good" else "say good")
    assert a.ok and a.value.label == "good"
    assert "say good" in llm_server.requests[1].last_user


def test_429_then_success_is_retried_after_retry_after(make_llm, llm_server):
    llm_server.script(error(429, "rate limited", headers={"retry-after": "0.2"}), answer_json({"label": "ok"}))
    llm = make_llm()
    t0 = time.perf_counter()
    a = llm.complete_json(MESSAGES, Pick)
    assert a.ok and time.perf_counter() - t0 >= 0.2
    assert llm.usage()["retries"] == 1 and llm.usage()["requests"] == 2
    assert llm_server.requests[0].body == llm_server.requests[1].body


def test_500_is_retried_then_recorded(make_llm, llm_server):
    llm_server.script(error(500, "boom"), answer_json({"label": "ok"}))
    assert make_llm().complete_json(MESSAGES, Pick).ok
    llm_server.reset()
    llm_server.script(*[error(503, "overloaded")] * 3)
    llm = make_llm(max_retries=2)
    a = llm.complete_json([{"role": "user", "content": "other"}], Pick)
    assert not a.ok and a.error.startswith("HTTP 503 after 3 tries")
    assert len(llm_server.requests) == 3 and llm.usage()["retries"] == 2


def test_other_400_fails_the_row_without_retry(make_llm, llm_server):
    llm_server.script(error(400, "context length exceeded"))
    a = make_llm().complete_json(MESSAGES, Pick)
    assert not a.ok and "HTTP 400" in a.error and "context length" in a.error
    assert len(llm_server.requests) == 1


def test_slow_answer_beyond_the_timeout(make_llm, llm_server):
    llm_server.script(answer_json({"label": "late"}, delay=1.5), answer_json({"label": "late"}, delay=1.5))
    llm = make_llm(timeout=0.3, max_retries=1)
    t0 = time.perf_counter()
    a = llm.complete_json(MESSAGES, Pick)
    assert not a.ok and a.error.startswith("timeout after 2 tries")
    assert time.perf_counter() - t0 < 1.5
    assert llm.usage()["retries"] == 1


def test_connection_refused_is_a_failed_row(make_llm):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = make_llm(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1).complete_json(MESSAGES, Pick)
    assert not a.ok and a.error.startswith("connection error after 2 tries")


@pytest.mark.parametrize("status", [401, 404])
def test_auth_or_unknown_model_stops_the_stage(make_llm, llm_server, status):
    llm_server.script(error(status, f"Incorrect API key provided: {KEY}"))
    with pytest.raises(LLMUnavailableError) as e:
        make_llm().complete_json(MESSAGES, Pick)
    assert f"HTTP {status}" in str(e.value) and KEY not in str(e.value)


def test_malformed_response_bodies_fail_the_row_only(make_llm, llm_server):
    llm_server.script(Reply(200, "this is not json"), Reply(200, {"choices": []}))
    llm = make_llm()
    for _ in range(2):
        a = llm.complete_json(MESSAGES, Pick)
        assert not a.ok and a.error.startswith("malformed response")


def test_refusal_is_a_failure(make_llm, llm_server):
    llm_server.script(answer("", refusal="I can't help with that."))
    a = make_llm().complete_json(MESSAGES, Pick)
    assert not a.ok and a.error == "refused: I can't help with that."


def test_json_schema_unsupported_falls_back_to_text_and_is_remembered(make_llm, llm_server, tmp_path):
    llm_server.script(error(400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported"),
                      answer('The label is {"label": "none"} as requested.'),
                      answer_json({"label": "two"}))
    llm = make_llm()
    a = llm.complete_json(MESSAGES, Pick)
    assert a.ok and a.value.label == "none" and llm.usage()["text_mode"]
    first, second = llm_server.requests[:2]
    assert "response_format" in first.body and "response_format" not in second.body
    assert second.messages == first.messages
    # the next call goes straight to text, and so does a new client on the same cache
    assert llm.complete_json([{"role": "user", "content": "b"}], Pick).value.label == "two"
    assert "response_format" not in llm_server.requests[2].body
    llm_server.script(answer_json({"label": "three"}))
    again = make_llm()
    assert again.complete_json([{"role": "user", "content": "c"}], Pick).value.label == "three"
    assert "response_format" not in llm_server.requests[3].body and again.usage()["text_mode"]


def test_cached_rerun_sends_zero_requests_and_stores_no_key(make_llm, llm_server, tmp_path):
    llm_server.script(answer("oops"), answer_json({"label": "a"}), answer_json({"label": "b"}))
    first = make_llm()
    answers = [first.complete_json(MESSAGES, Pick), first.complete_json([{"role": "user", "content": "2"}], Pick)]
    assert [a.value.label for a in answers] == ["a", "b"] and len(llm_server.requests) == 3
    first.close()

    second = make_llm()  # same cache file, new process-like client
    again = [second.complete_json(MESSAGES, Pick), second.complete_json([{"role": "user", "content": "2"}], Pick)]
    assert [a.value.label for a in again] == ["a", "b"]
    assert len(llm_server.requests) == 3  # zero new requests: the re-ask was replayed from the cache too
    assert second.usage()["requests"] == 0 and second.usage()["cache_hits"] == 3
    # another model or temperature is another request
    llm_server.script(answer_json({"label": "c"}))
    assert second.complete_json(MESSAGES, Pick, temperature=0.7).value.label == "c"
    assert len(llm_server.requests) == 4
    second.close()
    assert KEY.encode() not in (tmp_path / "cache.sqlite").read_bytes()


def test_concurrency_is_bounded(make_llm, llm_server):
    llm_server.responder = lambda body: answer_json({"label": body["messages"][-1]["content"]}, delay=0.15)
    llm = make_llm(max_concurrency=3, cache_path=None)
    items = [str(i) for i in range(7)]
    out = run_concurrently(lambda i: llm.complete_json([{"role": "user", "content": i}], Pick), items,
                           llm.max_concurrency)
    assert [a.value.label for a in out] == items  # input order kept
    assert llm_server.max_in_flight == 3


def test_request_key_covers_what_determines_the_answer():
    base = request_key("http://h/v1", "m", MESSAGES, {"temperature": 0})
    assert base == request_key("http://h/v1/", "m", MESSAGES, {"temperature": 0})
    assert len({base,
                request_key("http://other/v1", "m", MESSAGES, {"temperature": 0}),
                request_key("http://h/v1", "m2", MESSAGES, {"temperature": 0}),
                request_key("http://h/v1", "m", MESSAGES[:1], {"temperature": 0}),
                request_key("http://h/v1", "m", MESSAGES, {"temperature": 0.5})}) == 5


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": {"b": [1, 2]}}\n```', {"a": {"b": [1, 2]}}),
    ('Here you go: {"a": "}"} and more {"b": 2}', {"a": "}"}),
    ('{broken {"a": 2}', {"a": 2}),
])
def test_extract_json(text, expected):
    assert extract_json(text) == expected


def test_extract_json_without_object():
    with pytest.raises(ValueError):
        extract_json("no json here [1, 2")


def test_repr_and_debug_logs_hide_the_key(make_llm, llm_server, caplog):
    llm_server.script(error(429, "slow down"), error(400, f"bad request for key {KEY}"))
    with caplog.at_level(logging.DEBUG):
        llm = make_llm()
        a = llm.complete_json(MESSAGES, Pick)
    assert not a.ok and "***" in a.error and KEY not in a.error  # scrubbed from recorded text
    assert llm_server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert len(caplog.records) > 3 and KEY not in caplog.text
    assert KEY not in repr(llm) and KEY not in json.dumps(llm.usage())


def test_a_dead_server_stops_the_stage_after_a_streak_of_failed_requests(make_llm, llm_server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = make_llm(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, max_consecutive_failures=3)
    assert not llm.complete_json(MESSAGES, Pick).ok and not llm.complete_json(MESSAGES, Pick).ok
    with pytest.raises(LLMUnavailableError, match="3 requests in a row failed, the last with connection error"):
        llm.complete_json(MESSAGES, Pick)


def test_a_parameter_every_request_rejects_stops_the_stage_and_a_success_resets_the_streak(make_llm, llm_server):
    rejected = error(400, "Unsupported parameter: 'temperature' is not supported with this model.")
    llm_server.script(rejected, rejected, answer_json({"label": "none"}), rejected, rejected, rejected)
    llm = make_llm(max_consecutive_failures=3, cache_path=None)  # no cache: every call reaches the server
    results = [llm.complete_json(MESSAGES, Pick) for _ in range(5)]
    assert [a.ok for a in results] == [False, False, True, False, False]
    with pytest.raises(LLMUnavailableError, match="'temperature' is not supported"):
        llm.complete_json(MESSAGES, Pick)
    assert len(llm_server.requests) == 6


def test_other_statuses_fail_at_once_and_auth_errors_name_the_key_variable(make_llm, llm_server):
    llm_server.script(error(413, "payload too large"), error(422, "unprocessable"))
    llm = make_llm()
    assert llm.complete_json(MESSAGES, Pick).error == "HTTP 413: Error code: 413 - payload too large"
    assert llm.complete_json([{"role": "user", "content": "b"}], Pick).error == "HTTP 422: Error code: 422 - unprocessable"
    assert len(llm_server.requests) == 2 and llm.usage()["retries"] == 0
    llm_server.script(error(403, "forbidden"), error(404, "no such model"))
    with pytest.raises(LLMUnavailableError) as e:
        make_llm().complete_json(MESSAGES, Pick)
    assert str(e.value).endswith("HTTP 403 Error code: 403 - forbidden; set the key in $LIVO_TEST_KEY (llm.api_key_env)")
    with pytest.raises(LLMUnavailableError) as e:
        make_llm().complete_json(MESSAGES, Pick)
    assert str(e.value).endswith("refused model 'test-model': HTTP 404 Error code: 404 - no such model")


def test_json_schema_unsupported_after_a_retry_still_falls_back(make_llm, llm_server):
    llm_server.script(error(503, "warming up"),
                      error(422, "response_format json_schema is not supported by this server"),
                      answer('{"label": "late"}'))
    llm = make_llm(max_consecutive_failures=1)  # the fallback is no failed request
    a = llm.complete_json(MESSAGES, Pick)
    assert a.ok and a.value.label == "late" and llm.usage()["text_mode"]
    assert [("response_format" in r.body) for r in llm_server.requests] == [True, True, False]
    assert (llm.usage()["requests"], llm.usage()["retries"]) == (3, 1)
