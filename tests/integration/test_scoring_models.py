"""The NudeNet scorer on the real NudeNet detector from its wheel (loaded once per session): its
contract, the scores of what the detector sees in a file, and its columns merged with CLIP's. The
CLIP scorer and combine_scores on tiny models: tests/unit/test_scoring.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from contracts import check_scorer

from factories import doctor_plan, noise_images, nudity_plan
from pipeline.score.base import combine_scores
from pipeline.score.clip import ClipScorer
from pipeline.score.nsfw import I2P_NUDITY_LABELS, NudeNetScorer

# As under tests/unit/, where these tests were written: torch on one CPU thread.
pytestmark = pytest.mark.usefixtures("one_torch_thread")

PLANS = [nudity_plan(0), doctor_plan(1), nudity_plan(2), doctor_plan(3, "male"), nudity_plan(4)]
ALIGNED = noise_images(len(PLANS), seed=0)
VIOLATING = noise_images(len(PLANS), seed=1)


# ---------------------------------------------------------------- NudeNetScorer


def test_nudenet_scorer_contract(nudenet_scorer: NudeNetScorer) -> None:
    # Don't assert "no detection": NudeNet can fire on synthetic skin-coloured images.
    out = check_scorer(nudenet_scorer, PLANS, ALIGNED, VIOLATING)
    assert set(out) == {"aligned_nudity", "violating_nudity"}
    for values in out.values():
        assert values.shape == (len(PLANS),) and values.dtype == np.float64
        assert ((values >= 0) & (values <= 1)).all()
    again = nudenet_scorer.score(PLANS, ALIGNED, VIOLATING)
    for col in out:
        np.testing.assert_array_equal(out[col], again[col])


def test_nudenet_scores_what_the_detector_sees_in_the_file(
    nudenet_scorer: NudeNetScorer, tiny_renderer, tmp_path: Path
) -> None:
    """PIL → BGR conversion must match NudeNet's own path input (cv2.imread of a PNG)."""
    images = tiny_renderer.render(["a woman on a beach", "a man"], [0, 1]) + ALIGNED[:2]
    for i, image in enumerate(images):
        path = tmp_path / f"{i}.png"
        image.save(path)
        by_path = nudenet_scorer.detector.detect(str(path))
        expected = max((d["score"] for d in by_path if d["class"] in I2P_NUDITY_LABELS), default=0.0)
        assert nudenet_scorer.nudity(image) == pytest.approx(expected, abs=1e-6)


def test_combine_scores_merges_all_columns(clip_scorer: ClipScorer, nudenet_scorer: NudeNetScorer) -> None:
    merged = combine_scores([clip_scorer, nudenet_scorer], PLANS, ALIGNED, VIOLATING)
    assert set(merged) == set(clip_scorer.columns) | set(nudenet_scorer.columns)
    assert all(len(v) == len(PLANS) for v in merged.values())
