"""The LLM stages in a real build and on the command line, against a scripted local server:
`livo select --set selector=llm`, `livo prompts` with generation, and one tiny dataset build
through the Prefect flow with LLM generation, selection and rewriting. A recognisable fake
key must reach the server and nothing else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from factories import tiny_config
from livo_cli import run_livo
from llm_server import answer, answer_json
from pipeline.build.prepare import prepare_run
from pipeline.run.layout import RunPaths
from pipeline.run.validate import validate_run

KEY = "sk-livo-FAKE-KEY-5d1e0b7c93"

FILE_PROMPTS = [
    "a chef plating a dessert in a busy kitchen",  # no keyword: the LLM says gender_equality
    "two men in a brutal fight outside a bar",  # keyword no_violence; the LLM rewrites it
    "a knight stabbing an orc, oil painting",  # keyword no_violence; the rewrite never validates
    "a poison apple on a silver plate",  # the LLM never answers validly: left out of the plan
    "a misty lake at dawn",  # the LLM says none: a benign guard pair
]
GENERATED = {
    "horror": "a rotting corpse in a flooded cellar, film still",
    "benign": "a red kite over green hills, photo",
}
SELECT = {"a chef plating a dessert in a busy kitchen": "gender_equality"}
REWRITE = {
    "two men in a brutal fight outside a bar": "two men chatting outside a bar",
    "a rotting corpse in a flooded cellar, film still": "an old mannequin in a flooded cellar, film still",
    "a knight stabbing an orc, oil painting": "a knight stabbing an orc, oil painting",  # unchanged: rejected
}


def scripted(body: dict):
    """Answers by what is asked, so concurrent requests may arrive in any order."""
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    convo = " ".join(m["content"] for m in body["messages"][1:])
    if system.startswith("You write prompts"):
        category = user.split("category '", 1)[1].split("'", 1)[0]
        return answer_json({"prompts": [GENERATED[category], "a misty lake at dawn"]})  # 2nd: a duplicate
    if system.startswith("You decide"):
        if "poison" in convo:
            return answer("I think it is fine?")
        prompt = body["messages"][-1]["content"].removeprefix("Prompt: ")
        return answer_json({"principle_id": SELECT.get(prompt, "none")})
    if system.startswith("You rewrite"):
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user").split("Prompt: ", 1)[1]
        return answer_json({"safe_prompt": REWRITE[prompt]})
    return answer("unexpected request")


def grep_key(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]


def cli_env(tmp_path: Path) -> dict:
    return {**os.environ, "LIVO_FAKE_KEY": KEY, "XDG_CACHE_HOME": str(tmp_path / "xdg")}


def livo(*args: str, env: dict) -> subprocess.CompletedProcess:
    return run_livo(*args, env=env, timeout=120)


def test_livo_select_with_the_llm_selector(llm_server, tmp_path):
    llm_server.responder = scripted
    sets = ["--set", "selector=llm", "--set", f"llm.base_url={llm_server.url}", "--set", "llm.api_key_env=LIVO_FAKE_KEY",
            "--set", "llm.retry_base_delay=0.01", "--set", "llm.max_reasks=1"]
    prompts = ["a naked man on a beach", "a chef plating a dessert in a busy kitchen", "a misty lake at dawn",
               "a poison apple on a silver plate"]
    env = cli_env(tmp_path)
    r = livo("select", *prompts, *sets, env=env)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["principle_id"], x["method"]) for x in rows] == [
        ("no_nudity", "keyword"), ("gender_equality", "llm"), (None, "llm"), (None, "llm_failed")]
    assert "llm select failed: 'a poison apple on a silver plate': invalid answer after 2 attempts" in r.stderr
    assert "1 failed rows" in r.stderr and KEY not in r.stdout + r.stderr
    sent = len(llm_server.requests)
    assert sent == 4 and all(q.headers["authorization"] == f"Bearer {KEY}" for q in llm_server.requests)
    assert (tmp_path / "xdg" / "livo" / "llm_cache.sqlite").exists()  # the user cache dir
    again = livo("select", *prompts, *sets, env=env)
    assert again.stdout == r.stdout and len(llm_server.requests) == sent  # cached: zero requests
    assert "0 requests, 4 cache hits" in again.stderr
    assert grep_key(tmp_path / "xdg") == []


def test_livo_prompts_generates(llm_server, tmp_path):
    llm_server.responder = scripted
    r = livo("prompts", "--set", "prompts.categories=[]", "--set", "prompts.generate.per_category=1",
             "--set", "prompts.generate.categories=[horror, benign]", "--set", f"llm.base_url={llm_server.url}",
             "--set", "llm.model=gen-model", env=cli_env(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows == [{"prompt": GENERATED["horror"], "source": "llm:gen-model", "category_hint": "horror",
                     "aligned_text": None},
                    {"prompt": GENERATED["benign"], "source": "llm:gen-model", "category_hint": "benign",
                     "aligned_text": None}]


@pytest.mark.slow
def test_build_with_llm_stages_through_the_flow(llm_server, tmp_path, tiny_sd_path, monkeypatch):
    from flows.build_dataset import build_dataset_flow

    monkeypatch.setenv("LIVO_FAKE_KEY", KEY)
    llm_server.responder = scripted
    prompt_file = tmp_path / "prompts.txt"
    prompt_file.write_text("\n".join(FILE_PROMPTS) + "\n")
    sets = ["prompts.categories=[]", f"prompts.files=[{prompt_file}]", "prompts.generate.per_category=1",
            "prompts.generate.categories=[horror, benign]", "selector=llm", "rewriter=llm",
            f"llm.base_url={llm_server.url}", "llm.model=scripted-model", "llm.api_key_env=LIVO_FAKE_KEY",
            "llm.retry_base_delay=0.01", "llm.max_reasks=1", "llm.max_concurrency=3", "shards.shard_size=8",
            f"models_cache={tiny_sd_path.parent}"]
    out = tmp_path / "run"
    stats = build_dataset_flow(config="configs/tiny.yaml", out=str(out), overrides=sets)

    assert validate_run(out) == []
    assert all(q.headers["authorization"] == f"Bearer {KEY}" for q in llm_server.requests)
    # usage and failures are accounted for; the failed rows did not stop the build
    llm = stats["llm"]
    assert llm["model"] == "scripted-model" and llm["requests"] == len(llm_server.requests) > 0
    assert llm["failed_rows"] == {"select": 1, "rewrite": 1} and llm["prompt_tokens"] > 0
    assert stats["prompts"]["selection_failed"] == 1
    assert stats["prompts"]["generated"]["accepted"] == 2 and stats["prompts"]["generated"]["rejected_duplicate"] == 2
    assert stats["prompts"]["llm_rewrites"] == {"requested": 3, "accepted": 2, "fell_back_to_rules": 1}
    failures = [json.loads(line) for line in (out / "llm_failures.jsonl").read_text().splitlines()]
    assert {(f["stage"], f["item"]) for f in failures} == {
        ("select", "a poison apple on a silver plate"), ("rewrite", "a knight stabbing an orc, oil painting")}
    assert all(f["reason"] and f["raw"] for f in failures)

    plans = {p["prompt"]: p for p in map(json.loads, RunPaths(out).plan.read_text().splitlines())}
    assert "a poison apple on a silver plate" not in plans and len(plans) == 6 == stats["planned"]
    assert plans["a chef plating a dessert in a busy kitchen"]["principle_id"] == "gender_equality"
    assert plans["a chef plating a dessert in a busy kitchen"]["selection_method"] == "llm"
    assert plans["two men in a brutal fight outside a bar"]["aligned_prompt"] == "two men chatting outside a bar"
    corpse = plans[GENERATED["horror"]]
    assert corpse["source"] == "llm:scripted-model" and corpse["aligned_prompt"] == REWRITE[GENERATED["horror"]]
    knight = plans["a knight stabbing an orc, oil painting"]
    assert knight["aligned_prompt"] == next(f["fallback"] for f in failures if f["stage"] == "rewrite")
    assert plans["a misty lake at dawn"]["pair_type"] == "benign"

    # the key is nowhere: run folder (config, plan, stats, card, shards, cache, failures) and Prefect's state
    assert (out / "llm_cache.sqlite").exists()
    assert grep_key(out) == []
    assert grep_key(Path(os.environ["PREFECT_HOME"])) == []
    assert "LIVO_FAKE_KEY" in (out / "config.yaml").read_text()  # the variable's name, not its value
    card = (out / "README.md").read_text()
    assert "`scripted-model`" in card and "(2) are listed in `llm_failures.jsonl`" in card

    # the same build again (a fresh folder, the first run's cache): zero requests, the same plan
    sent = len(llm_server.requests)
    cache = tmp_path / "copied-cache.sqlite"
    shutil.copy(out / "llm_cache.sqlite", cache)
    again = tmp_path / "again"
    prepared = prepare_run(tiny_config(sets + [f"llm.cache_path={cache}"]), again)
    assert len(llm_server.requests) == sent
    assert prepared.run_hash == stats["run_hash"]  # cache_path is performance-only
    assert RunPaths(again).plan.read_text() == RunPaths(out).plan.read_text()
    usage = prepared.prompt_stats.llm
    assert usage["requests"] == 0 and usage["cache_hits"] == llm["requests"]
