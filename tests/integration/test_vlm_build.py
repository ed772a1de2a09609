"""A tiny-profile build with the VLM judge on, against the scripted server answering as a vision
model: every toxicity image is asked about its pair's principle (a PNG data URL), the answers
join the filter evidence (thresholds set so the VLM's "yes" drops pairs), failures are recorded
in the rows and the build goes on, and `livo report` shows the judge's rationale next to the pair."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
from PIL import Image

from factories import judge_build_sets, tiny_config
from llm_server import Reply, answer, data_url_images, error, vision_answer
from pipeline.build.executor import build_dataset
from pipeline.calibrate.sweep import read_judged_pairs
from pipeline.report.run_report import ReportOptions, write_report
from pipeline.run.layout import RunPaths
from pipeline.run.tables import read_rejected, read_run
from pipeline.run.validate import validate_run

KEY = "sk-livo-FAKE-VLM-KEY-81c2"
UNSAFE = {"gore", "horror"}  # categories whose images the scripted judge calls violations
BROKEN = "hate"  # the judge never answers these validly


def scripted_vlm(body: dict) -> Reply:
    """Answers by the policy asked about (the same whatever the tiny model drew, so on any CPU)."""
    [png] = data_url_images(body)
    assert Image.open(io.BytesIO(png)).size == (64, 64)
    asked = next(m["content"] for m in body["messages"] if isinstance(m["content"], list))  # a re-ask follows it
    question = next(p["text"] for p in asked if p.get("type") == "text")
    category = re.search(r"Policy \((.+?)\):", question).group(1).lower().replace(" ", "_")
    if category == BROKEN:
        return answer("I would rather not say.")
    unsafe = category in UNSAFE
    verdict = {"violates": "yes" if unsafe else "no", "category": category if unsafe else "none",
               "rationale": f"(scripted) the image is judged for {category}."}
    return vision_answer(verdict, key="violates", yes_probability=0.97 if unsafe else 0.03)


def test_a_tiny_build_with_the_vlm_judge_scores_filters_and_reports(llm_server, tmp_path, tiny_sd_path, monkeypatch):
    monkeypatch.setenv("LIVO_FAKE_KEY", KEY)
    llm_server.script(error(429, "busy", headers={"retry-after": "0.1"}))  # the first request waits its turn
    llm_server.responder = scripted_vlm
    # only the VLM can object: fidelity, margin and the violating side pass whatever the tiny models drew
    sets = judge_build_sets(tiny_sd_path.parent, "score.vlm.model=scripted-vlm", f"score.vlm.base_url={llm_server.url}",
                            "score.vlm.api_key_env=LIVO_FAKE_KEY", "score.vlm.retry_base_delay=0.01",
                            "score.vlm.max_reasks=1", "filters.max_aligned_violation=0.9")
    out = tmp_path / "run"
    stats = build_dataset(tiny_config(sets), out)
    assert validate_run(out) == []

    kept, rejected = read_run(out), read_rejected(out)
    both = pd.concat([kept, rejected])
    tox, bias = both[both["kind"] == "toxicity"], both[both["kind"] == "bias"]
    assert len(tox) and len(bias)
    asked = tox[tox["category"] != BROKEN]
    assert asked["violating_vlm_rationale"].str.startswith("(scripted)").all()
    assert bias[["aligned_vlm", "aligned_vlm_rationale", "violating_vlm"]].isna().all().all()  # bias pairs: not asked
    # every toxicity image was one request, each with its image (the 429 retried once)
    assert len(llm_server.requests) == 1 + 2 * len(tox) + 2 * len(tox[tox["category"] == BROKEN])  # + re-asks
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in llm_server.requests)

    # the VLM's "yes" on an aligned image drops its pair; its "no" keeps the pair
    dropped = rejected[rejected["reason"] == "aligned_still_violates"]
    assert set(dropped["category"]) == UNSAFE & set(tox["category"]) != set()
    assert (dropped["aligned_vlm"] > 0.9).all()
    assert stats["dropped_aligned_still_violates"] == len(dropped)
    safe = kept[(kept["kind"] == "toxicity") & (kept["category"] != BROKEN)]
    assert len(safe) and (safe["aligned_vlm"] < 0.1).all() and (safe["violating_vlm_category"] == "none").all()
    # a pair the judge never answered for keeps a null P and says why; the build went on
    broken = tox[tox["category"] == BROKEN]
    assert len(broken) and broken["aligned_vlm"].isna().all()
    assert broken["aligned_vlm_rationale"].str.startswith("no answer: invalid answer after 2 attempts").all()

    card = (out / "README.md").read_text()
    assert "a VLM judge (`scripted-vlm`, yes_no answers)" in card
    assert f"`scripted-vlm` (yes_no) at `{llm_server.url}`" in card  # the models table
    assert (out / "llm_cache.sqlite").exists()  # the answers are cached in the run folder
    assert [str(p) for p in Path(out).rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()] == []

    # `livo calibrate` reads the VLM's numbers and words back as the rules see them
    pairs, scores = read_judged_pairs(out)
    judged = [s for p, s in zip(pairs, scores) if p.kind == "toxicity" and p.category in UNSAFE]
    assert judged and all(s["aligned_vlm"] > 0.9 and s["aligned_vlm_rationale"].startswith("(scripted)") for s in judged)

    page = write_report(out, options=ReportOptions(boxes=False)).read_text()
    assert "<b>VLM judge</b> (P(violates) 0.03, none): (scripted) the image is judged for" in page
    assert RunPaths(out).report.exists()
