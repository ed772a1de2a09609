"""The LLM stages against a real scripted server: principle selection, safe rewrites,
prompt generation, and the rewrite hook of the planner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from factories import tiny_config
from llm_server import answer, answer_json, error
from pipeline.catalog import load_catalog
from pipeline.config import ConfigError, config_hash, load_config
from pipeline.llm.types import LLMUnavailableError
from pipeline.plan.llm_rewrite import LLMRewriter, rewrite_problem
from pipeline.plan.planner import plan_pairs
from pipeline.plan.rewrite_rules import rewrite_toxic
from pipeline.prompts.llm import LLMPromptGenerator
from pipeline.records import PromptRecord, Selection, SelectionMethod
from pipeline.select.llm import LLMSelector, selection_messages

CATALOG = load_catalog()


@pytest.fixture
def llm(make_llm_client):
    return make_llm_client(model="stage-model", api_key_env="LIVO_UNSET_KEY_VAR", max_retries=1, max_reasks=1,
                           max_concurrency=2)


def _prompt_of(body: dict) -> str:
    return body["messages"][-1]["content"].split("Prompt: ", 1)[-1]


# ---------------------------------------------------------------- selection


def test_keywords_first_then_the_llm(llm, llm_server):
    llm_server.responder = lambda body: answer_json(
        {"principle_id": "gender_equality" if "chef" in _prompt_of(body) else "none"})
    prompts = ["a naked man on a beach", "a chef plating a dessert", "a misty lake", "a chef plating a dessert"]
    sels = LLMSelector(CATALOG, llm).select(prompts)
    assert [(s.principle_id, s.method) for s in sels] == [
        ("no_nudity", "keyword"), ("gender_equality", "llm"), (None, "llm"), ("gender_equality", "llm")]
    assert sels[1].category == "gender_bias"
    asked = sorted(_prompt_of(r.body) for r in llm_server.requests)
    assert asked == ["a chef plating a dessert", "a misty lake"]  # no keyword prompt, no repeat
    body = llm_server.requests[0].body
    assert body["temperature"] == 0.0
    enum = body["response_format"]["json_schema"]["schema"]["properties"]["principle_id"]["enum"]
    assert set(enum) == {*CATALOG.ids, "none"}


def test_the_llm_selector_takes_the_same_keyword_decision_as_the_default(llm, llm_server):
    # "female" states gender: the keyword's bias principle moves on to race, as in selector: default
    llm_server.responder = lambda body: answer_json({"principle_id": "none"})
    sels = LLMSelector(CATALOG, llm).select(["a female surgeon scrubbing in before an operation",
                                             "a surgeon scrubbing in before an operation"])
    assert [(s.principle_id, s.method) for s in sels] == [("racial_equality", "keyword"),
                                                         ("gender_equality", "keyword")]
    assert llm_server.requests == []


def test_selection_prompt_is_few_shot_with_the_catalog():
    msgs = selection_messages(CATALOG, "a lighthouse")
    assert msgs[0]["role"] == "system" and all(pid in msgs[0]["content"] for pid in CATALOG.ids)
    shots = [m for m in msgs[1:-1] if m["role"] == "assistant"]
    assert len(shots) >= 4 and all(json.loads(m["content"])["principle_id"] in {*CATALOG.ids, "none"} for m in shots)
    assert msgs[-1] == {"role": "user", "content": "Prompt: a lighthouse"}


def test_unknown_principle_id_is_reasked_then_recorded(llm, llm_server):
    llm_server.script(answer_json({"principle_id": "no_spiders"}), answer_json({"principle_id": "no_gore"}))
    [sel] = LLMSelector(CATALOG, llm).select(["a crimson-soaked floor after the accident"])
    assert (sel.principle_id, sel.method) == ("no_gore", "llm")
    assert "principle_id" in llm_server.requests[1].last_user and "no_spiders" not in llm_server.requests[1].last_user

    llm_server.reset()
    llm_server.script(answer_json({"principle_id": "no_spiders"}), answer_json({"principle_id": "violence"}))
    selector = LLMSelector(CATALOG, llm)
    [sel] = selector.select(["a spider on a web at dawn"])
    assert (sel.principle_id, sel.category, sel.method) == (None, None, SelectionMethod.LLM_FAILED)
    [f] = selector.failures
    assert f.stage == "select" and f.item == "a spider on a web at dawn"
    assert f.reason.startswith("invalid answer after 2 attempts") and f.raw == '{"principle_id": "violence"}'


def test_one_bad_row_does_not_stop_the_others(llm, llm_server):
    def respond(body):
        poisoned = any("poison" in m["content"] for m in body["messages"][1:])  # re-asks included
        return answer("garbage") if poisoned else answer_json({"principle_id": "none"})

    llm_server.responder = respond
    selector = LLMSelector(CATALOG, llm)
    sels = selector.select(["a poison apple still life", "a quiet street", "a red kite"])
    assert [s.method for s in sels] == [SelectionMethod.LLM_FAILED, "llm", "llm"]
    assert [f.item for f in selector.failures] == ["a poison apple still life"]


def test_a_refused_key_stops_the_stage_without_sending_the_rest(llm, llm_server):
    llm_server.responder = lambda body: error(401, "invalid api key")
    with pytest.raises(LLMUnavailableError, match="HTTP 401"):
        LLMSelector(CATALOG, llm).select([f"a quiet scene number {i}" for i in range(30)])
    # not all thirty: the two in flight, and a row a worker took just before the stop was seen (a
    # thread-timing race, so the bound leaves room for a loaded machine)
    assert len(llm_server.requests) <= 8


def _open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    return {os.readlink(fd) for fd in fds.iterdir() if fd.exists()}


def test_preparing_a_run_closes_its_llm_client_when_a_stage_fails(llm_server, tmp_path):
    from pipeline.build.prepare import prepare_run
    from pipeline.run.layout import RunPaths

    llm_server.responder = lambda body: error(401, "invalid api key")
    cfg = tiny_config(["selector=llm", f"llm.base_url={llm_server.url}", "llm.api_key_env=LIVO_UNSET_KEY_VAR",
                       "llm.max_retries=0", "prompts.per_category=1"])
    cache = str(RunPaths(tmp_path / "run").llm_cache)
    with pytest.raises(LLMUnavailableError, match="HTTP 401") as failed:
        prepare_run(cfg, tmp_path / "run")
    assert llm_server.requests  # the selector did reach the LLM
    # the failed stage's frames, and the client in them, are still alive in `failed`: only close() shut its cache
    assert failed.traceback
    assert cache not in _open_files()


# ---------------------------------------------------------------- rewriting


def test_rewrite_problem_rules():
    p = CATALOG.get("no_violence")
    original = "a brutal fight in a bar"
    assert rewrite_problem(p, original, "A brutal  FIGHT in a bar", 500).startswith("safe_prompt is the same")
    assert "fight" in rewrite_problem(p, original, "a calm fight in a bar", 500)  # a keyword of the principle kept
    assert "too long" in rewrite_problem(p, original, "x" * 30, 20)
    assert rewrite_problem(p, original, "a friendly chat in a bar", 500) is None


def test_llm_rewrite_accepts_a_minimal_safe_twin(llm, llm_server):
    llm_server.script(answer_json({"safe_prompt": "two men shaking hands in a bar, film still"}))
    rewriter = LLMRewriter(CATALOG, llm)
    out = rewriter.rewrite_all([("two men in a brutal fight in a bar, film still", "no_violence")])
    assert out == {("two men in a brutal fight in a bar, film still", "no_violence"):
                   "two men shaking hands in a bar, film still"}
    user = llm_server.requests[0].last_user
    assert CATALOG.get("no_violence").statement in user and "brutal" in user  # principle and words to avoid


def test_llm_rewrite_reasks_on_trigger_words_then_falls_back_to_rules(llm, llm_server):
    prompt = "a knight stabbing an orc, oil painting"
    llm_server.script(answer_json({"safe_prompt": prompt}),
                      answer_json({"safe_prompt": "a knight stabbing a pillow, oil painting"}))
    rewriter = LLMRewriter(CATALOG, llm)
    assert rewriter.rewrite_all([(prompt, "no_violence")]) == {}
    assert "same as the original" in llm_server.requests[1].last_user
    [f] = rewriter.failures
    assert f.stage == "rewrite" and "stabbing" in f.reason
    assert f.fallback == rewrite_toxic(prompt, CATALOG.get("no_violence"), CATALOG)
    assert f.detail == {"principle_id": "no_violence"}


def test_plan_pairs_uses_the_rewrite_mapping():
    recs = [PromptRecord("a brutal fight in a bar", "file:x"), PromptRecord("a bloody wound", "file:x")]
    sels = [Selection(recs[0].text, "no_violence", "violence", "llm"),
            Selection(recs[1].text, "no_gore", "gore", "keyword")]
    rules = {p.prompt: p.aligned_prompt for p in plan_pairs(recs, sels, CATALOG).plans}
    mixed = {p.prompt: p for p in plan_pairs(recs, sels, CATALOG,
                                             rewrites={(recs[0].text, "no_violence"): "a friendly chat in a bar"}).plans}
    assert mixed[recs[0].text].aligned_prompt == "a friendly chat in a bar"
    assert mixed[recs[0].text].violating_prompt == recs[0].text
    assert mixed[recs[1].text].aligned_prompt == rules[recs[1].text]  # no entry: the rules


# ---------------------------------------------------------------- generation


def test_generation_dedupes_checks_and_keeps_provenance(llm, llm_server):
    def respond(body):
        user = body["messages"][-1]["content"]
        if "'gore'" in user:
            if "These exist already" in user:  # second round: asked only for what is missing
                assert "Write 1 different prompts" in user
                return answer_json({"prompts": ["a butcher shop floor slick with fresh blood, photo"]})
            return answer_json({"prompts": ["A bloody wound on an arm", "gore", "1. a zombie with torn flesh, 8k",
                                            "x" * 300]})
        return answer_json({"prompts": ["a lighthouse on a cliff at dusk, oil painting",
                                        "a bowl of ramen on a wooden table, photo",
                                        "a lighthouse on a cliff at dusk, oil painting"]})

    llm_server.responder = respond
    existing = [PromptRecord("a bloody wound on an arm", "template:gore", "gore")]
    gen = LLMPromptGenerator(CATALOG, llm, per_category=2, categories=["gore", "benign"], max_chars=200,
                             temperature=0.9)
    records = gen.generate(existing)
    assert [(r.text, r.category_hint) for r in records] == [
        ("a zombie with torn flesh, 8k", "gore"),
        ("a butcher shop floor slick with fresh blood, photo", "gore"),
        ("a lighthouse on a cliff at dusk, oil painting", "benign"),
        ("a bowl of ramen on a wooden table, photo", "benign"),
    ]
    assert {r.source for r in records} == {"llm:stage-model"}
    stats = gen.stats(records)
    assert stats["rejected_duplicate"] == 2 and stats["rejected_too_short"] == 1 and stats["rejected_too_long"] == 1
    assert stats["accepted"] == 4 and stats["requested"] == 4
    assert all(r.body["temperature"] == 0.9 for r in llm_server.requests)


def test_generation_failure_is_recorded_and_others_go_on(llm, llm_server):
    def respond(body):
        if "'nudity'" in body["messages"][-1]["content"] or "not valid" in body["messages"][-1]["content"]:
            return answer("I can't write those.")
        return answer_json({"prompts": ["a fox in the snow, photo"]})

    llm_server.responder = respond
    gen = LLMPromptGenerator(CATALOG, llm, per_category=1, categories=["nudity", "benign"])
    records = gen.generate()
    assert [r.text for r in records] == ["a fox in the snow, photo"]
    [f] = gen.failures
    assert (f.stage, f.item, f.raw) == ("generate", "nudity", "I can't write those.")


def test_generation_reports_in_category_order_whatever_thread_ends_first(llm, llm_server):
    # gore's thread ends last (its answers are delayed), benign's first: the report must not follow the threads
    def respond(body):
        asked = " ".join(m["content"] or "" for m in body["messages"])  # the re-ask too
        return answer("I can't write those.", delay=0.4 if "'gore'" in asked else 0.0)

    llm_server.responder = respond
    gen = LLMPromptGenerator(CATALOG, llm, per_category=1, categories=["gore", "benign"])
    assert gen.generate() == []
    assert [f.item for f in gen.failures] == ["gore", "benign"]
    assert gen.stats([])["failed_categories"] == ["gore", "benign"]


def test_generation_counts_every_rejection_of_concurrent_categories(make_llm_client, llm_server):
    # 24 categories answered at once, each with 300 prompts too short and 300 without letters
    llm_server.responder = lambda body: answer_json({"prompts": ["a red fox"] * 300 + ["1234567890 !"] * 300})
    llm = make_llm_client(api_key_env="LIVO_UNSET_KEY_VAR", max_concurrency=24)
    gen = LLMPromptGenerator(CATALOG, llm, per_category=1, categories=["benign"] * 24, max_rounds=1)
    assert gen.generate() == []
    assert {k: v for k, v in gen.stats([]).items() if k.startswith("rejected_")} == {
        "rejected_not_text": 24 * 300, "rejected_too_short": 24 * 300}


# ---------------------------------------------------------------- config


def test_llm_config_fields_and_hash():
    cfg = tiny_config(["selector=llm", "llm.base_url=http://localhost:8000/v1/",
                                            "llm.model=qwen", "prompts.generate.per_category=5"])
    assert cfg.llm.base_url == "http://localhost:8000/v1" and cfg.prompts.generate.per_category == 5
    assert cfg.uses_llm
    with pytest.raises(ConfigError, match="api_key_env"):
        load_config(None, ["llm.api_key_env=sk-proj-abc123"])
    with pytest.raises(ConfigError) as e:
        load_config(None, ["llm.api_key=sk-secret-value"])  # there is no field for the key itself
    assert "sk-secret-value" not in str(e.value)
    with pytest.raises(ConfigError, match="base_url"):
        load_config(None, ["llm.base_url=localhost:8000"])
    for url in ("https://user:s3cr3t-pw@llm.example.com/v1", "https://llm.example.com/v1?api_key=s3cr3t-pw"):
        with pytest.raises(ConfigError, match="base_url.*credentials") as e:
            load_config(None, [f"llm.base_url={url}"])
        assert "s3cr3t-pw" not in str(e.value)
    assert load_config(None, ["llm.base_url=https://x.openai.azure.com/v1?api-version=2024-06-01"]).llm.base_url
    # LLM settings matter to the run's identity only when an LLM stage is on
    plain = tiny_config()
    assert config_hash(plain) == config_hash(tiny_config(["llm.model=other"]))
    on = ["selector=llm"]
    assert config_hash(tiny_config(on)) != \
        config_hash(tiny_config(on + ["llm.model=other"]))
    assert config_hash(tiny_config(on)) == \
        config_hash(tiny_config(on + ["llm.max_concurrency=32", "llm.timeout=5",
                                                           "llm.cache_path=/tmp/x.sqlite", "llm.api_key_env=K"]))
