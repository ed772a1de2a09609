"""`livo calibrate`: the valley between aligned and violating scores, keep-rate proposals, per-category
overrides, and a proposal that keeps, when pasted into the config, exactly the pairs it says. The
command line itself: tests/integration/test_calibrate_cli.py."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from factories import make_plan, make_scores, tiny_config
from fake_run import make_pilot_run
from pipeline.calibrate import calibrate_run
from pipeline.calibrate.sweep import valley
from pipeline.config import FilterConfig, dump_config
from pipeline.filters import judge
from pipeline.run.layout import RunPaths
from pipeline.run.schema import REJECTED_SCHEMA, rejected_row
from pipeline.run.tables import write_table_atomic


def test_valley_separates_two_distributions():
    low, high = np.linspace(0.0, 0.3, 20), np.linspace(0.6, 1.0, 20)
    t, j = valley(low, high)
    assert 0.3 < t < 0.6 and j == pytest.approx(1.0)
    # Overlapping: the best cut still lies between the means, J below 1.
    t, j = valley(np.linspace(0.0, 0.6, 30), np.linspace(0.4, 1.0, 30))
    assert 0.4 <= t <= 0.6 and 0 < j < 1
    assert valley(low[:3], high) is None  # too few values on one side


def test_proposals_from_a_pilot_run(tmp_path):
    make_pilot_run(tmp_path)
    result = calibrate_run(tmp_path, keep=0.8)
    rules = {r.reason: r for r in result.rules}
    assert result.pairs == 60
    side = rules["aligned_still_violates"].proposal
    assert side.method == "valley" and 0.35 < side.threshold < 0.55 and side.separation == pytest.approx(1.0)
    assert rules["violating_does_not_violate"].proposal.threshold == side.threshold
    # No aligned/violating contrast: the 20th percentile of min(aligned_clip, violating_clip) keeps 80%.
    fidelity = rules["fidelity_too_low"]
    assert fidelity.proposal.method == "keep_rate" and fidelity.proposal.threshold > 20
    bias = rules["bias_attribute_not_confirmed"].proposal
    assert bias.method == "valley" and 0.3 < bias.threshold < 0.5
    assert rules["aligned_is_nsfw"].proposal.method == "too_few_pairs"  # no nudity pairs: stays as it is
    for name in ("calibration.json", "calibration.png", "filters.yaml"):
        assert (tmp_path / "calibration" / name).stat().st_size > 0


def test_the_proposal_keeps_what_it_says_when_pasted_into_the_config(tmp_path):
    plans, scores = make_pilot_run(tmp_path, gore_shift=0.04)
    result = calibrate_run(tmp_path, keep=0.9, plot=False)
    snippet = yaml.safe_load((tmp_path / "calibration" / "filters.yaml").read_text())
    cfg = FilterConfig(**snippet["filters"])
    for rule in result.rules:  # each rule moved alone, the others at the run's thresholds
        alone = FilterConfig(**{**tiny_config().filters.model_dump(), rule.field: rule.proposal.threshold})
        assert rule.proposed_kept == sum(judge(p, s, alone) is None for p, s in zip(plans, scores)), rule.reason
    # The sides separate fully, so the valley drops no toxicity pair for its violation scores.
    reasons = {judge(p, s, cfg) for p, s in zip(plans, scores) if p.kind == "toxicity"}
    assert not reasons & {"aligned_still_violates", "violating_does_not_violate"}


def test_a_category_that_differs_gets_its_own_threshold(tmp_path):
    make_pilot_run(tmp_path, n=120, gore_shift=0.3)  # gore: aligned U(.35,.65), violating U(.85,1.25)
    snippet = calibrate_run(tmp_path, plot=False).snippet()["filters"]
    own = snippet["by_category"]
    assert 0.65 < own["gore"]["max_aligned_violation"] < 0.85  # gore's own valley
    assert 0.35 < own["violence"]["max_aligned_violation"] < 0.55  # violence's, once gore is out of the mix
    assert "min_clip_score" not in own.get("gender_bias", {})  # keep rates are never per category
    FilterConfig(**snippet)  # valid as a profile's filters: block


def test_sides_the_judges_cannot_tell_apart_keep_their_threshold(tmp_path):
    # Aligned and violating violation drawn from one distribution: any valley would be noise.
    rng = np.random.default_rng(3)
    cfg = tiny_config()
    paths = RunPaths(tmp_path)
    paths.make_dirs()
    dump_config(cfg, paths.config)
    rows = [rejected_row(make_plan(id=f"p{i}"), None, None, make_scores(aligned_concept=rng.uniform(),
                         violating_concept=rng.uniform()), reason="margin_too_small", model="m", config_hash="h",
                         image_ext="png") for i in range(80)]
    write_table_atomic(rows, paths.rejected_shard(0), REJECTED_SCHEMA)
    rule = {r.reason: r for r in calibrate_run(tmp_path, plot=False).rules}["aligned_still_violates"]
    assert rule.proposal.method == "not_separated" and rule.proposal.separation < 0.3
    assert rule.proposal.threshold == cfg.filters.max_aligned_violation
