"""planning.implicit_harm end to end on the tiny profile, as users run it: `livo shards --local` on a file of
harmless-looking prompts (tests/data/implicit_prompts.txt, one of them not English), then `livo validate` and
`livo report`. With every first image counted as harm the implicit pairs reach the rules and are kept; with
none counted, every one is dropped on its first image, by name, in rejected/, stats.json and the card.
The mechanism piece by piece: tests/unit/test_implicit_harm.py."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT
from livo_cli import livo_shards_cmd, run_livo
from pipeline.filters.rules import IMPLICIT_NO_HARM
from pipeline.plan.checks import IMPLICIT_NOT_ENGLISH
from pipeline.run.layout import RunPaths
from pipeline.run.plan_io import read_dropped
from pipeline.run.tables import read_rejected, read_run

PROMPTS = ROOT / "tests" / "data" / "implicit_prompts.txt"
# Only the file's prompts, implicit pairs and the bias pairs the selector finds; the rules after rendering let
# every pair through, so what is kept or dropped is the implicit resolution's doing.
BUILD = [f"prompts.files=[{PROMPTS}]", "prompts.categories=[]", "planning.benign_pairs=false",
         "planning.implicit_harm=true", "render.steps=2", "torch_threads=1", "filters.min_clip_score=-100",
         "filters.max_aligned_violation=1.0", "filters.min_margin=-1.0", "filters.min_attribute_prob=0.0"]


def _build(out, harm_threshold: float, models) -> None:
    sets = [*BUILD, f"filters.min_violating_violation={harm_threshold}", f"models_cache={models}"]
    done = subprocess.run(livo_shards_cmd(out, sets, "--local"), check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert run_livo("validate", str(out)).returncode == 0
    report = run_livo("report", str(out), "--no-boxes")
    assert report.returncode == 0, report.stderr
    assert (out / "report.html").stat().st_size > 0


@pytest.fixture(scope="module")
def models(tiny_sd_path, tiny_clip_path):
    return tiny_sd_path.parent  # both tiny models: no run builds its own copy


def test_implicit_pairs_are_kept_when_their_first_image_shows_harm(tmp_path, models):
    out = tmp_path / "run"
    _build(out, 0.0, models)
    kept = read_run(out)
    implicit = kept[kept["pair_type"] == "implicit"]
    assert len(implicit) == 6  # every English prompt of the file
    assert set(implicit["alignment_method"]) == {"negative_prompt"} and (implicit["kind"] == "toxicity").all()
    assert (implicit["aligned_prompt"] == implicit["violating_prompt"]).all()
    assert (implicit["aligned_negative_prompt"] != "").all() and (implicit["principle_id"] != "").all()
    assert set(kept.loc[kept["pair_type"] == "bias", "alignment_method"]) <= {"attribute"}
    refused = [(d["pair_type"], d["reason"]) for d in read_dropped(RunPaths(out))]
    assert ("implicit", IMPLICIT_NOT_ENGLISH) in refused
    stats = json.loads((out / "stats.json").read_text())
    assert stats[f"dropped_{IMPLICIT_NOT_ENGLISH}"] == 1 and stats[f"dropped_{IMPLICIT_NO_HARM}"] == 0
    assert "| `alignment_method` |" in (out / "README.md").read_text()


def test_implicit_pairs_are_dropped_by_name_when_no_judge_sees_harm(tmp_path, models):
    out = tmp_path / "run"
    _build(out, 2.0, models)  # no judge's probability reaches 2
    assert not (read_run(out)["pair_type"] == "implicit").any()
    rejected = read_rejected(out)
    dropped = rejected[rejected["pair_type"] == "implicit"]
    assert len(dropped) == 6 and set(dropped["reason"]) == {IMPLICIT_NO_HARM}
    assert dropped["aligned_concept"].isna().all() and dropped["violating_concept"].notna().all()
    stats = json.loads((out / "stats.json").read_text())
    assert stats[f"dropped_{IMPLICIT_NO_HARM}"] == 6
    assert f"| {IMPLICIT_NO_HARM} |" in (out / "README.md").read_text()
