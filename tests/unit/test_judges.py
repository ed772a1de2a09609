"""The image judges that need no model from a wheel: gender and age probabilities from a face
reading, Q16 on the tiny CLIP, CLIP's image memo. OpenNSFW and the face classifier (dlib) on real
photographs and awkward images: tests/integration/test_judges_models.py."""

from __future__ import annotations

import gc
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from factories import PHOTOGRAPHS, make_plan, photograph
from pipeline.catalog import load_catalog
from pipeline.score.attributes import AGE_MARGIN, FaceReading, readable, value_distribution, value_probability
from pipeline.score.base import ImageMemo
from pipeline.typed_config import ConfigError


def test_gender_and_age_probabilities():
    assert value_probability("female", 0.9, None) == pytest.approx(0.9)
    assert value_probability("male", 0.9, 40) == pytest.approx(0.1)
    assert value_probability("elderly", None, 70) == 1.0
    assert value_probability("elderly", None, 60 - AGE_MARGIN / 2) == pytest.approx(0.5)
    assert value_probability("elderly", None, 40) == 0.0
    assert value_probability("black", 0.9, 40) is None  # race: the face classifier does not read it
    assert value_probability("female", None, 40) is None  # no face


def test_value_distribution_over_a_plans_values():
    np.testing.assert_allclose(value_distribution(("male", "female"), FaceReading(1, 0.8, 30)), [0.2, 0.8])
    ages = ("young adult", "middle-aged", "elderly")
    np.testing.assert_allclose(value_distribution(ages, FaceReading(2, 0.5, 70)), [0, 0, 1])
    # A child is more than AGE_MARGIN from every range: the nearest range takes it.
    np.testing.assert_allclose(value_distribution(ages, FaceReading(1, 0.5, 6)), [1, 0, 0])
    assert value_distribution(ages, FaceReading(0)) is None
    assert value_distribution(("white", "black"), FaceReading(1, 0.5, 30)) is None


def test_every_gender_and_age_value_of_the_catalog_is_read_by_the_face_classifier():
    catalog = load_catalog("value_principles")
    values = [v for p in catalog if p.kind == "bias" and p.attribute in ("gender", "age") for v in p.attribute_values]
    assert values and [v for v in values if not readable(v)] == []


# ---------------------------------------------------------------- Q16 and CLIP's image memo


def _q16_file(tmp_path, clip_scorer, fmt="pickle", dim=None):
    dim = dim or clip_scorer.model.text_projection.shape[1]
    prompts = np.random.default_rng(1).standard_normal((2, dim)).astype(np.float16)
    if fmt == "npy":
        path = tmp_path / "prompts.npy"
        np.save(path, prompts)
    else:
        path = tmp_path / "prompts.p"
        path.write_bytes(pickle.dumps(prompts))
    return path, prompts


@pytest.mark.parametrize("fmt", ["pickle", "npy"])
def test_q16_is_the_softmax_of_100_cosines(tmp_path, clip_scorer, fmt):
    from pipeline.score.q16 import Q16Scorer

    path, prompts = _q16_file(tmp_path, clip_scorer, fmt)
    q16 = Q16Scorer(path, clip_scorer)
    images = [photograph(n).resize((64, 64)) for n in PHOTOGRAPHS]
    emb = clip_scorer.encode_images(images).numpy()
    p = prompts.astype(np.float32)
    cos = emb @ (p / np.linalg.norm(p, axis=1, keepdims=True)).T
    expected = np.exp(100 * cos[:, 1]) / np.exp(100 * cos).sum(axis=1)
    np.testing.assert_allclose(q16.inappropriate(images), expected, rtol=1e-4, atol=1e-6)
    out = q16.score([make_plan()] * 4, images, images)
    assert set(out) == {"aligned_q16", "violating_q16"}


def test_q16_refuses_prompts_of_another_clip(tmp_path, clip_scorer):
    from pipeline.score.q16 import Q16Scorer

    path, _ = _q16_file(tmp_path, clip_scorer, dim=768 + 1)
    with pytest.raises(ConfigError, match="dimension 769 but the CLIP model .* embeds in"):
        Q16Scorer(path, clip_scorer)


def test_q16_file_never_runs_code(tmp_path):
    from pipeline.score.q16 import load_q16_prompts

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "prompts.p"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ConfigError, match=r"is not a Q16 prompts file \(\w+\.system is not part of a pickled numpy"):
        load_q16_prompts(path)
    with pytest.raises(ConfigError, match="does not exist; download data/ViT-L-14/prompts.p"):
        load_q16_prompts(tmp_path / "missing.p")
    (tmp_path / "wrong.npy").write_bytes(b"")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 4)))
    with pytest.raises(ConfigError, match=r"holds shape \(3, 4\)"):
        load_q16_prompts(tmp_path / "wrong.npy")


def test_clip_encodes_an_image_once_while_it_lives(clip_scorer):
    calls = []
    handle = clip_scorer.model.visual.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        a, b = photograph("coffee").resize((64, 64)), photograph("rocket").resize((64, 64))
        first = clip_scorer.encode_images([a, b, a])
        again = clip_scorer.encode_images([b, a])
        twin = clip_scorer.encode_images([a.copy()])  # equal content, another object: encoded
    finally:
        handle.remove()
    assert sum(calls) == 3
    assert torch_equal(first[[1, 0]], again) and torch_equal(twin[0], first[0])


def torch_equal(x, y) -> bool:
    import torch

    return bool(torch.allclose(x, y, atol=1e-6))


def test_image_memo_never_answers_for_a_dead_image():
    memo = ImageMemo()
    image = Image.new("RGB", (4, 4))
    memo.put(image, "reading")
    assert memo.get(image) == "reading" and memo.get(image.copy()) is None
    key = id(image)
    del image
    gc.collect()
    reborn = [Image.new("RGB", (4, 4)) for _ in range(50)]  # some may take the freed id
    assert all(memo.get(im) is None for im in reborn), key
