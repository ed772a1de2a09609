"""CLIP (clip-anytorch) scores: CLIPScore of each image against its own prompt, and zero-shot
probability of the plan's violation concepts (toxicity) or requested attribute (bias)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from pipeline.errors import ModelUnavailableError
from pipeline.records import PairPlan
from pipeline.run import score_columns
from pipeline.score.base import ImageMemo, check_lengths


def toxicity_class_texts(concepts: Sequence[str], safe_concepts: Sequence[str]) -> tuple[list[str], list[int]]:
    """Zero-shot class texts of violation concepts against harmless ones, and the violation indices."""
    return [f"a photo of {c}" for c in (*concepts, *safe_concepts)], list(range(len(concepts)))


def attribute_texts(values: Sequence[str]) -> list[str]:
    return [f"a photo of a {v} person" for v in values]


def concept_texts(plan: PairPlan) -> tuple[list[str], list[int]]:
    """The zero-shot class texts for a plan and the indices whose probability mass counts.

    toxicity: the violation concepts against contrasting harmless ones; the score is the
    mass on the violation side. bias: one text per attribute value; the score is the mass
    on the value the aligned prompt asked for.
    """
    if plan.kind == "toxicity":
        if not plan.concepts or not plan.safe_concepts:
            # With one side empty the softmax is trivially 1.0 or 0.0 for every image,
            # which would pass or fail the filter regardless of what was rendered.
            raise ValueError(f"plan {plan.id}: toxicity needs both concepts and safe_concepts")
        return toxicity_class_texts(plan.concepts, plan.safe_concepts)
    if plan.kind == "bias":
        if plan.attribute not in plan.concepts or len(plan.concepts) < 2:
            raise ValueError(
                f"plan {plan.id}: bias needs >= 2 attribute values including {plan.attribute!r}"
            )
        return attribute_texts(plan.concepts), [plan.concepts.index(plan.attribute)]
    raise ValueError(f"plan {plan.id}: unknown kind {plan.kind!r}")


def _clip_load(checkpoint: str, device: str) -> tuple[Any, Any]:
    import clip

    with warnings.catch_warnings():
        # clip.load first tries every file as TorchScript; torch warns that jit.load is
        # deprecated even though the state-dict fallback is what loads it.
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)
        return clip.load(checkpoint, device=device, jit=False)


def _load_clip(checkpoint: str, device: str) -> tuple[Any, Any]:
    import clip

    if checkpoint in clip.available_models():
        try:
            # Works offline only when ~/.cache/clip already holds the released file.
            return _clip_load(checkpoint, device)
        except OSError as exc:  # urllib.error.URLError is an OSError
            raise ModelUnavailableError(checkpoint, f"download failed ({exc})") from exc
    if not os.path.isfile(checkpoint):
        raise ModelUnavailableError(
            checkpoint,
            f"not a file and not one of clip.available_models() {clip.available_models()}",
        )
    return _clip_load(checkpoint, device)


class ClipScorer:
    """CLIPScore of each image against its own prompt, and zero-shot concept probability.

    Text features are not kept between calls: each call encodes its own distinct texts, in their
    order, in batches of ``batch_size``. A batch's composition moves the last float bits of a
    text's features, so a cache filled by earlier calls would make a shard's scores depend on the
    shards this worker scored before it (and grow with the run); encoded per call, they depend on
    the shard's own texts only. The cost is the concept texts encoded again in every call, a
    few texts beside two prompts per pair.
    """

    judge_name = "clip"
    outputs = score_columns.CLIP
    columns: tuple[str, ...] = score_columns.names(outputs)

    def __init__(self, checkpoint: str, device: str = "cpu", batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.checkpoint = checkpoint
        self.device = device
        self.batch_size = batch_size
        self.model, self.preprocess = _load_clip(checkpoint, device)
        self.model.eval()
        # A shard reads its neutral images (bias) before scoring them, and Q16 reuses the embeddings.
        self._image_memo = ImageMemo()

    @property
    def logit_scale(self) -> float:
        return self.model.logit_scale.detach().exp().item()

    @torch.inference_mode()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Unit-norm image embeddings, (N, D); an image already encoded while alive is not encoded again."""
        missing, queued = [], set()
        for im in images:
            if id(im) not in queued and self._image_memo.get(im) is None:
                queued.add(id(im))
                missing.append(im)
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            batch = torch.stack([self.preprocess(im) for im in chunk])
            # On CUDA clip.load keeps fp16 weights; cast up before normalising.
            feats = self.model.encode_image(batch.to(self.device)).float()
            for im, f in zip(chunk, feats / feats.norm(dim=-1, keepdim=True)):
                self._image_memo.put(im, f)
        if not images:
            return torch.empty(0, self.model.text_projection.shape[1], device=self.device)
        return torch.stack([self._image_memo.get(im) for im in images])

    @torch.inference_mode()
    def _text_features(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Unit-norm features of each distinct text, encoded now, in batches of ``batch_size``."""
        import clip

        distinct = list(dict.fromkeys(texts))
        out: dict[str, torch.Tensor] = {}
        for start in range(0, len(distinct), self.batch_size):
            chunk = distinct[start : start + self.batch_size]
            tokens = clip.tokenize(chunk, truncate=True).to(self.device)
            feats = self.model.encode_text(tokens).float()
            out.update(zip(chunk, feats / feats.norm(dim=-1, keepdim=True)))
        return out

    def _stack(self, features: dict[str, torch.Tensor], texts: Sequence[str]) -> torch.Tensor:
        """(N, D): the features of ``texts`` (from `_text_features`), in order."""
        if not texts:
            return torch.empty(0, self.model.text_projection.shape[1], device=self.device)
        return torch.stack([features[t] for t in texts])

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        return self._stack(self._text_features(texts), texts)

    def score(
        self,
        plans: Sequence[PairPlan],
        aligned: Sequence[Image.Image],
        violating: Sequence[Image.Image],
    ) -> dict[str, np.ndarray]:
        check_lengths(plans, aligned, violating)
        # Validate every plan before spending time on images.
        class_sets = [concept_texts(p) for p in plans]
        all_texts = [p.aligned_prompt for p in plans] + [p.violating_prompt for p in plans]
        text = self._text_features(all_texts + [t for texts, _ in class_sets for t in texts])

        img = {"aligned": self.encode_images(aligned), "violating": self.encode_images(violating)}
        prompts = {
            "aligned": self._stack(text, [p.aligned_prompt for p in plans]),
            "violating": self._stack(text, [p.violating_prompt for p in plans]),
        }
        logit_scale = self.logit_scale
        out: dict[str, np.ndarray] = {}
        for side in ("aligned", "violating"):
            # CLIPScore-style 100·cos, not clamped at 0 so the filter sees the full range.
            clip_score = 100.0 * (img[side] * prompts[side]).sum(dim=-1)
            out[f"{side}_clip"] = clip_score.cpu().numpy().astype(np.float64)
            concept = np.empty(len(plans), dtype=np.float64)
            for i, (texts, hits) in enumerate(class_sets):
                probs = (logit_scale * img[side][i] @ self._stack(text, texts).T).softmax(dim=-1)
                concept[i] = float(probs[hits].sum())
            out[f"{side}_concept"] = concept
        return out

    def read_attributes(self, plans: Sequence[PairPlan], images: Sequence[Image.Image]) -> list[np.ndarray]:
        """Per bias plan, the zero-shot probability of each of its attribute values on its image
        (the same class texts as the bias concept score)."""
        emb = self.encode_images(images)
        class_texts = [attribute_texts(plan.concepts) for plan in plans]
        text = self._text_features([t for texts in class_texts for t in texts])
        logit_scale = self.logit_scale
        return [(logit_scale * e @ self._stack(text, texts).T).softmax(dim=-1).cpu().numpy()
                for texts, e in zip(class_texts, emb)]

    def clip_scores(self, images: Sequence[Image.Image], prompt: str) -> np.ndarray:
        """100 x cos(image, prompt) of each image against one prompt."""
        return (100.0 * self.encode_images(images) @ self.text_embeddings([prompt]).T).squeeze(1).cpu().numpy()

    def zero_shot(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        """(N, K) class probabilities of each image over ``texts``."""
        logits = self.logit_scale * self.encode_images(images) @ self.text_embeddings(texts).T
        return logits.softmax(dim=-1).cpu().numpy()
