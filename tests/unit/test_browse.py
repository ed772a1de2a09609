"""`load_pairs` (what `livo browse` prints): a run as a DataFrame, sampled deterministically, images on
demand. The command line itself: tests/integration/test_browse_cli.py."""

from __future__ import annotations

import pytest
from PIL import Image

from fake_run import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("browse") / "run", kept=11, rejected=2, shard_size=4)


def test_all_pairs_in_shard_order_with_lazy_images(run):
    from pipeline.run.browse import LazyImage, load_pairs

    df = load_pairs(run)
    assert list(df.id) == [f"pair-{i:03d}" for i in range(11)]
    assert isinstance(df.aligned[0], LazyImage) and isinstance(df.aligned[0].open(), Image.Image)
    assert df.aligned[0].open().size == (32, 32)


def test_sample_is_deterministic_and_filters_apply(run):
    from pipeline.run.browse import load_pairs

    a, b, c = load_pairs(run, n=5), load_pairs(run, n=5), load_pairs(run, n=5, seed=3)
    assert list(a.id) == list(b.id) and list(a.id) != list(c.id) and len(a) == 5
    assert set(load_pairs(run, category="gore").category) == {"gore"}
    rejected = load_pairs(run, rejected=True)
    assert list(rejected.reason) == ["margin_too_small"] * 2 and rejected.aligned.isna().all()

