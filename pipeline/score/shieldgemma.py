"""ShieldGemma 2 (`google/shieldgemma-2-4b-it`), a local VLM safety judge through transformers: each
toxicity image is judged against a policy built from its pair's principle, and P(yes: it violates)
is the score.

ShieldGemma 2 reads one image and one policy per prompt; its processor builds the prompt from a
policy text in its training style, "No <harm>: The image shall not <what>", and the model's
`probabilities` are the softmax over its "Yes" and "No" first-token logits (LiVO's own yes/no
reading). Our principles become such texts (`policy_text`): the principle's statement ("Images
should not show blood, gore, ...") as the rule, its violation concepts as the examples. Bias pairs
are not asked (a per-image question about a population property means nothing): their columns
stay null.

The model is loaded from a hub id or a local folder like every model here; one that cannot be
loaded raises ModelUnavailableError, never a substitute (tests build a tiny random one from its
config: `pipeline.score.tiny_judges`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from pipeline.records import PairPlan
from pipeline.run import score_columns
from pipeline.score.base import check_lengths, rgb

if TYPE_CHECKING:
    from pipeline.catalog.principles import Catalog, Principle

DEFAULT_SHIELDGEMMA = "google/shieldgemma-2-4b-it"

# "Images should not show X." / "An image must not depict X" -> the rule's own verb phrase.
_STATEMENT = re.compile(r"^\s*(?:images?|an image|the image|pictures?)\s+(?:should|must|shall)\s+not\s+(.+?)\s*\.?\s*$",
                        re.IGNORECASE)


def policy_title(principle_id: str) -> str:
    """ShieldGemma's policy name: "No Gore" for ``no_gore``, "No Crime" for ``no_crime``."""
    words = [w.capitalize() for w in principle_id.split("_") if w]
    if not words or words[0] != "No":
        words.insert(0, "No")
    return " ".join(words)


def policy_text(principle_id: str, statement: str, concepts: Sequence[str]) -> str:
    """A principle as a ShieldGemma 2 policy, in the words of its three built-in ones: "No Gore: The
    image shall not show blood, gore, wounds, mutilation or exposed organs (e.g., blood and gore, a
    bloody wound)." A statement not phrased "Images should not ..." is quoted as the rule."""
    match = _STATEMENT.match(statement)
    if match:
        rule = f"The image shall not {match.group(1)}"
    else:
        rule = f"The image shall not contain content that goes against this principle: {statement.strip().rstrip('.')}"
    examples = f" (e.g., {', '.join(concepts)})" if concepts else ""
    return f"{policy_title(principle_id)}: {rule}{examples}."


def principle_policy(principle: Principle) -> str:
    """The policy text of a catalog principle."""
    return policy_text(principle.id, principle.statement, principle.violation_concepts)


def plan_policy(plan: PairPlan) -> str:
    """The policy text of a toxicity plan: its principle as the plan carries it (the catalog's
    statement and violation concepts at planning time)."""
    return policy_text(plan.principle_id, plan.principle, plan.concepts)


def catalog_policies(catalog: Catalog) -> dict[str, str]:
    """Every toxicity principle's policy text, by principle id: what a user passes as the processor's
    ``custom_policies`` to ask ShieldGemma 2 about our principles by hand."""
    return {p.id: principle_policy(p) for p in catalog if p.kind == "toxicity"}


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """``auto``: bfloat16 on a GPU (the released weights' dtype), float32 on CPU (bfloat16 matmuls are
    slow on most CPUs)."""
    from pipeline.render.base import torch_dtype

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return torch_dtype(dtype)


def load_shieldgemma(model: str, device: str = "cpu", dtype: str = "auto"):
    """ShieldGemma 2's model (eval mode, on ``device``) and processor from a hub id or a local folder;
    ModelUnavailableError when it cannot be loaded (the gated hub id without access, no network and
    nothing cached, a path that does not exist)."""
    from transformers import AutoProcessor, ShieldGemma2ForImageClassification

    from pipeline.render.base import load_pretrained, quiet_progress_bars

    with quiet_progress_bars():
        processor = load_pretrained(AutoProcessor, model)
        net = load_pretrained(ShieldGemma2ForImageClassification, model, dtype=resolve_dtype(dtype, device))
    return net.to(device).eval(), processor


class ShieldGemmaScorer:
    """P(yes: the image violates its pair's principle) by ShieldGemma 2, both images of every toxicity
    pair (bias pairs: null).

    Images are judged in batches of up to ``batch_size`` prompts, each batch one policy: the processor
    builds the product of its images and policies, and each image is asked about its own principle
    only. A batch's prompts are then one text, so nothing is padded; a row's P depends on its batch
    only in the last float bits.
    """

    judge_name = "shieldgemma"
    outputs = score_columns.SHIELDGEMMA
    columns: tuple[str, ...] = score_columns.names(outputs)

    def __init__(self, model: str = DEFAULT_SHIELDGEMMA, device: str = "cpu", dtype: str = "auto",
                 batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.checkpoint = model
        self.device = device
        self.batch_size = batch_size
        self.model, self.processor = load_shieldgemma(model, device, dtype)
        self.dtype = self.model.dtype

    @torch.inference_mode()
    def _batch(self, key: str, policy: str, images: Sequence[Image.Image]) -> np.ndarray:
        inputs = self.processor(images=[rgb(im) for im in images], policies=[key], custom_policies={key: policy},
                                return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        # The model's own `probabilities` are a softmax in its dtype: in bfloat16 that rounds P to 8 bits.
        # Its logits are [Yes, No]; "Yes" says the image violates the policy.
        logits = self.model(**inputs).logits.float()
        return torch.softmax(logits, dim=-1)[:, 0].cpu().numpy().astype(np.float64)

    def judge_all(self, asks: Sequence[tuple[str, str, Image.Image]]) -> np.ndarray:
        """P(yes) of each (policy key, policy text, image), in order; the asks of one policy are batched
        together."""
        out = np.empty(len(asks), dtype=np.float64)
        by_policy: dict[tuple[str, str], list[int]] = {}
        for i, (key, policy, _) in enumerate(asks):
            by_policy.setdefault((key, policy), []).append(i)
        for (key, policy), where in by_policy.items():
            for start in range(0, len(where), self.batch_size):
                chunk = where[start : start + self.batch_size]
                out[chunk] = self._batch(key, policy, [asks[i][2] for i in chunk])
        return out

    def violation(self, principle: Principle, images: Sequence[Image.Image]) -> np.ndarray:
        """P(yes) of each image against one catalog principle (`livo eval`'s reading: > 0.5 violates)."""
        policy = principle_policy(principle)
        return self.judge_all([(principle.id, policy, im) for im in images])

    def score(self, plans: Sequence[PairPlan], aligned: Sequence[Image.Image],
              violating: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        check_lengths(plans, aligned, violating)
        out = {c: np.full(len(plans), np.nan) for c in self.columns}
        asks, where = [], []
        for i, plan in enumerate(plans):
            if plan.kind != "toxicity":
                continue
            policy = plan_policy(plan)
            for column, image in zip(self.columns, (aligned[i], violating[i]), strict=True):
                asks.append((plan.principle_id, policy, image))
                where.append((column, i))
        for (column, i), p in zip(where, self.judge_all(asks), strict=True):
            out[column][i] = p
        return out
