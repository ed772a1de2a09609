"""A tiny-profile build with ShieldGemma 2 on (the tiny random one, loaded from its folder as the hub id
would be): every toxicity image gets P(yes) against its pair's principle, bias pairs none; the
probability joins the filter evidence (the aligned image's violation is its most alarmed judge);
the card names the judge and `livo report` shows the score."""

from __future__ import annotations

import pandas as pd

from factories import judge_build_sets, tiny_config
from pipeline.build.executor import build_dataset
from pipeline.filters.rules import violation
from pipeline.report.run_report import ReportOptions, write_report
from pipeline.run.tables import read_rejected, read_run
from pipeline.run.validate import validate_run

LIMIT = 0.5  # max_aligned_violation: the tiny random judge says about 0.5-0.6 of everything


def test_a_tiny_build_with_shieldgemma_scores_filters_and_reports(tmp_path, tiny_sd_path, tiny_shieldgemma_path):
    # only the aligned image's violation can object: fidelity, margin and the violating side pass
    sets = judge_build_sets(tiny_sd_path.parent, "score.shieldgemma.enabled=true",
                            f"score.shieldgemma.model={tiny_shieldgemma_path}", f"filters.max_aligned_violation={LIMIT}")
    out = tmp_path / "run"
    stats = build_dataset(tiny_config(sets), out)
    assert validate_run(out) == []

    kept, rejected = read_run(out), read_rejected(out)
    both = pd.concat([kept, rejected])
    tox, bias = both[both["kind"] == "toxicity"], both[both["kind"] == "bias"]
    assert len(tox) and len(bias)
    for side in ("aligned", "violating"):
        assert tox[f"{side}_shieldgemma"].between(0, 1).all()  # every toxicity image was judged
        assert bias[f"{side}_shieldgemma"].isna().all()  # bias pairs: not asked

    # the aligned image's violation is the most alarmed of CLIP's concept score and ShieldGemma's P(yes)
    for _, row in tox.iterrows():
        assert violation(row, row, "aligned") == max(row["aligned_concept"], row["aligned_shieldgemma"])
    alarmed = tox[tox["aligned_shieldgemma"] > LIMIT]
    assert len(alarmed) and (alarmed["reason"] == "aligned_still_violates").all()
    assert (alarmed["aligned_concept"] <= LIMIT).any()  # pairs CLIP let through, dropped on ShieldGemma's word
    dropped = rejected[rejected["reason"] == "aligned_still_violates"]
    assert stats["dropped_aligned_still_violates"] == len(dropped) >= len(alarmed)
    assert (kept.loc[kept["kind"] == "toxicity", "aligned_shieldgemma"] <= LIMIT).all()

    card = (out / "README.md").read_text()
    assert f"ShieldGemma 2 (`{tiny_shieldgemma_path}`) on toxicity pairs" in card
    page = write_report(out, options=ReportOptions(boxes=False)).read_text()
    assert "<dt>shieldgemma</dt>" in page
