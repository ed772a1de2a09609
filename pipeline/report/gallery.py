"""The report's gallery: one card per pair, aligned and violating side by side, with the prompts,
principle, seed, scores, what the VLM judge said of each image, and why the pair was kept or dropped
(what each card shows; the markup is the ``pair`` macro of ``templates/report.html.j2``).

Shards keep only NudeNet's best score per image, not its boxes, so the boxes are found again here
on the violating images shown (`NudeNetBoxes`); where it finds none the whole image is blurred.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from PIL import Image

from pipeline.records import is_missing
from pipeline.report.charts import score_pairs
from pipeline.report.html import Box, thumbnail_uri
from pipeline.run.validate import decode_image

BoxFinder = Callable[[Image.Image], list[Box]]


class NudeNetBoxes:
    """NudeNet's boxes of the I2P exposed labels (the ones the scorer counts), as image fractions."""

    def __init__(self) -> None:
        from pipeline.score.nsfw import NudeNetScorer

        self.scorer = NudeNetScorer()

    def __call__(self, img: Image.Image) -> list[Box]:
        import numpy as np

        bgr = np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1])
        w, h = img.size
        return [Box(x / w, y / h, bw / w, bh / h) for d in self.scorer.detector.detect(bgr)
                if d["class"] in self.scorer.labels for x, y, bw, bh in [d["box"]]]


def _fmt(v: object) -> str:
    if is_missing(v):
        return "–"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _image(cell: object) -> Image.Image | None:
    if cell is None or (isinstance(cell, dict) and cell.get("bytes") is None):
        return None
    return decode_image(cell)


def _scores(row: pd.Series) -> list[tuple[str, str, str | None]]:
    """(name, aligned, violating or None) of each score this run used, formatted."""
    out = []
    for name, a, v in score_pairs(list(row.index)):
        if _fmt(row[a]) == "–" and (v is None or _fmt(row[v]) == "–"):
            continue  # a scorer this run did not use
        out.append((name, _fmt(row[a]), _fmt(row[v]) if v else None))
    return out


def judge_words(row: pd.Series, side: str) -> dict | None:
    """What the VLM judge said of one image: its verdict (P(violates) and category) and rationale; None
    where it was not asked (off, a bias pair)."""
    rationale = row.get(f"{side}_vlm_rationale")
    if not isinstance(rationale, str):
        return None
    p, category = row.get(f"{side}_vlm"), row.get(f"{side}_vlm_category")
    verdict = "no answer" if is_missing(p) else f"P(violates) {_fmt(float(p))}"
    if isinstance(category, str):
        verdict += f", {category}"
    return {"verdict": verdict, "rationale": rationale}


def card(row: pd.Series, status: str, checked: Sequence[str], boxes: BoxFinder | None) -> dict:
    """What the report's card of one pair shows (``report.html.j2``'s ``pair``)."""
    aligned, violating = _image(row["aligned"]), _image(row["violating"])
    bias = isinstance(row.get("attribute"), str)
    return {
        "status": status, "category": row["category"], "principle_id": row["principle_id"],
        "pair_type": row["pair_type"], "principle": row["principle"], "prompt": row["prompt"],
        "aligned_prompt": row["aligned_prompt"], "violating_prompt": row["violating_prompt"], "seed": row["seed"],
        "aligned_src": thumbnail_uri(aligned) if aligned else None,
        "violating_src": thumbnail_uri(violating) if violating else None,
        "boxes": boxes(violating) if boxes is not None and violating is not None else [],
        "attribute": row["attribute"] if bias else None,
        "violating_attribute": str(row.get("violating_attribute") or "–") if bias else None,
        "scores": _scores(row),
        "said": {side: judge_words(row, side) for side in ("aligned", "violating")},
        "reason": row["reason"] if isinstance(row.get("reason"), str) else None, "checked": list(checked),
    }


def cards(df: pd.DataFrame, status: str, checked: Sequence[str], boxes: BoxFinder | None) -> list[dict]:
    return [card(row, status, checked, boxes) for _, row in df.iterrows()]
