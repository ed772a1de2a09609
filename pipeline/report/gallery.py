"""The report's gallery: one card per pair, aligned and violating side by side, with the prompts,
principle, seed, scores and why the pair was kept or dropped.

Shards keep only NudeNet's best score per image, not its boxes, so the boxes are found again here
on the violating images shown (`NudeNetBoxes`); where it finds none the whole image is blurred.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

import pandas as pd
from PIL import Image

from pipeline.report.charts import score_pairs
from pipeline.report.html import Box, frame, thumbnail_uri
from pipeline.run.validate import decode_image

BoxFinder = Callable[[Image.Image], list[Box]]


class NudeNetBoxes:
    """NudeNet's boxes of the I2P exposed labels (the ones the scorer counts), as image fractions."""

    def __init__(self) -> None:
        from pipeline.score.nudenet import NudeNetScorer

        self.scorer = NudeNetScorer()

    def __call__(self, img: Image.Image) -> list[Box]:
        import numpy as np

        bgr = np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1])
        w, h = img.size
        return [Box(x / w, y / h, bw / w, bh / h) for d in self.scorer.detector.detect(bgr)
                if d["class"] in self.scorer.labels for x, y, bw, bh in [d["box"]]]


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _image(cell: object) -> Image.Image | None:
    if cell is None or (isinstance(cell, dict) and cell.get("bytes") is None):
        return None
    return decode_image(cell)


def _scores(row: pd.Series) -> str:
    parts = []
    for name, a, v in score_pairs(list(row.index)):
        if _fmt(row[a]) == "–" and (v is None or _fmt(row[v]) == "–"):
            continue  # a scorer this run did not use
        parts.append(f"<dt>{escape(name)}</dt><dd>{_fmt(row[a])}" + (f" / {_fmt(row[v])}" if v else "") + "</dd>")
    return "".join(parts)


def why(row: pd.Series, checked: Sequence[str]) -> str:
    if isinstance(row.get("reason"), str):
        return f'<div class="why rejected">dropped: {escape(row["reason"])}</div>'
    return (f'<div class="why" title="{escape(", ".join(checked))}">kept: none of the {len(checked)} filters '
            "objected (thresholds above)</div>")


def card(row: pd.Series, status: str, checked: Sequence[str], boxes: BoxFinder | None) -> str:
    aligned, violating = _image(row["aligned"]), _image(row["violating"])
    found = boxes(violating) if boxes is not None and violating is not None else []
    attr = ""
    if isinstance(row.get("attribute"), str):
        attr = (f"<dt>attribute</dt><dd>{escape(row['attribute'])} (neutral image read as "
                f"{escape(str(row.get('violating_attribute') or '–'))})</dd>")
    return f"""<article class="pair" data-category="{escape(row['category'])}"
 data-principle="{escape(row['principle_id'])}" data-status="{status}" data-pair-type="{escape(row['pair_type'])}">
<div class="sides">
<figure>{frame(thumbnail_uri(aligned) if aligned else None, alt="aligned")}
<figcaption><b>aligned</b>: {escape(row['aligned_prompt'])}</figcaption></figure>
<figure>{frame(thumbnail_uri(violating) if violating else None, alt="violating", blur=True, boxes=found)}
<figcaption><b>violating</b>: {escape(row['violating_prompt'])}</figcaption></figure>
</div>
<dl class="meta"><dt>prompt</dt><dd>{escape(row['prompt'])}</dd>
<dt>principle</dt><dd>{escape(row['principle_id'])} ({escape(row['pair_type'])}): {escape(row['principle'])}</dd>
{attr}<dt>seed</dt><dd>{row['seed']}</dd><dt>scores (aligned / violating)</dt><dd></dd>{_scores(row)}</dl>
{why(row, checked)}
</article>"""


def cards(df: pd.DataFrame, status: str, checked: Sequence[str], boxes: BoxFinder | None) -> list[str]:
    return [card(row, status, checked, boxes) for _, row in df.iterrows()]
