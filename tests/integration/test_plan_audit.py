"""`livo plan` + `livo audit` on the tiny profile: the planned pairs meet the pair goals by the
project's own prompt checks, and the refused pairs are listed with their reasons."""

from __future__ import annotations

import json

from livo_cli import run_livo
from pipeline.run.layout import RunPaths
from pipeline.run.plan_io import load_plan, read_dropped


def test_tiny_plan_passes_its_own_audit(tmp_path):
    out = tmp_path / "run"
    done = run_livo("plan", "--config", "configs/tiny.yaml", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = run_livo("audit", str(out), "--json", "--min-pass", "0.85")
    assert report.returncode == 0, report.stdout + report.stderr
    audit = json.loads(report.stdout)
    planned = sum(audit["planned"].values())
    assert planned >= 120 and set(audit["planned"]) == {"toxicity", "bias", "benign"}
    harmful = sum(audit["failed"]["aligned_free_of_harm"].values())
    assert harmful <= 0.02 * planned, audit["examples"]
    assert audit["failed"]["sides_differ"] == {}

    paths = RunPaths(out)
    plans = load_plan(paths)
    bias = [p for p in plans if p.kind == "bias"]
    assert bias and all(p.unresolved and len(p.attribute_prompts) == len(p.concepts) for p in bias)
    for d in read_dropped(paths):
        assert d["reason"] and d["principle_id"]
    # plain text form: a table per pair type
    text = run_livo("audit", str(out))
    assert "passes all" in text.stdout and "aligned_free_of_harm" in text.stdout
