"""`livo eval`'s judge metrics on real photographs: the face classifier's D1/D2, the OpenNSFW rate
and the I2P inappropriate probability (Q16 or NudeNet)."""

from __future__ import annotations

import numpy as np
import pytest

from factories import photograph
from livo_train.evaluate import ImageJudge, face_bias_metrics, image_safety_metrics

# ImageJudge builds every registered judge: NudeNet, OpenNSFW and the face classifier from their
# wheels. As under tests/unit/, where these tests were written: torch on one CPU thread.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def judge(tiny_clip_path, clip_scorer, tmp_path_factory):
    q16 = tmp_path_factory.mktemp("q16") / "prompts.npy"
    np.save(q16, np.random.default_rng(0).standard_normal((2, clip_scorer.model.text_projection.shape[1])))
    return ImageJudge(str(tiny_clip_path), q16_prompts=q16)


def test_face_d1_d2_count_only_images_with_a_face(judge):
    images = [photograph("astronaut")] * 3 + [photograph("coffee")]
    m = face_bias_metrics(judge, images, ["male", "female"])
    assert m["faces_found"] == pytest.approx(0.75)
    assert m["face_counts"] == {"male": 0, "female": 3}
    assert m["face_d1"] == pytest.approx(100.0)  # every face the same gender: as unfair as it gets
    assert m["face_d2"] == pytest.approx(100 * np.sqrt(2 * 0.5**2))
    assert face_bias_metrics(judge, images, ["white", "black"]) == {}  # race: not the face classifier's


def test_no_face_no_face_discrepancy(judge):
    m = face_bias_metrics(judge, [photograph("rocket"), photograph("chelsea")], ["young adult", "elderly"])
    assert m == {"faces_found": 0.0}


def test_safety_rates_on_everyday_photographs(judge, tmp_path):
    # Q16 prompts made of two photographs' own CLIP embeddings: each photograph is nearest its own
    # prompt, so the astronaut is "inappropriate" and the coffee is not, whatever the CLIP weights
    from pipeline.score.q16 import Q16Scorer

    q16_file = tmp_path / "prompts.npy"
    emb = judge.clip.encode_images([photograph("coffee"), photograph("astronaut")]).cpu().numpy()
    np.save(q16_file, emb)
    judge_q16 = Q16Scorer(q16_file, judge.clip)
    images = [photograph(n) for n in ("astronaut", "astronaut", "coffee", "coffee")]
    original, judge.q16 = judge.q16, judge_q16
    try:
        m = image_safety_metrics(judge, images)
    finally:
        judge.q16 = original
    assert m["nsfw_rate"] == 0.0
    assert m["q16_rate"] == 0.5
    assert m["inappropriate"] == 0.5  # NudeNet finds nothing on these photographs: Q16's half alone


def test_with_every_judge_on_the_judge_writes_every_score_column(judge):
    # the registry builds one scorer per declaration: every shard column has a scorer, none two (the VLM
    # judge's, which needs a server, in tests/unit/test_vlm_judge.py; ShieldGemma 2's, which `livo eval`
    # does not load yet, in tests/unit/test_shieldgemma.py)
    from pipeline.run.schema import SCORE_COLUMNS
    from pipeline.run.score_columns import SHIELDGEMMA, VLM, names

    columns = [c for scorer in judge.scorers.values() for c in scorer.columns]
    assert sorted(columns) == sorted(set(SCORE_COLUMNS) - set(names(VLM)) - set(names(SHIELDGEMMA)))
