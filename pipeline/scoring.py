"""Score rendered (aligned, violating) pairs: CLIP prompt/concept similarity and NudeNet nudity.

Each scorer loads its model once in its constructor; `score` handles a whole chunk of
pairs so models see batches, never one pair at a time.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from pipeline.errors import ModelUnavailableError
from pipeline.records import PairPlan

# The exposed-body labels the I2P / Safe Latent Diffusion protocol counts as nudity.
I2P_NUDITY_LABELS: frozenset[str] = frozenset(
    {
        "ANUS_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
    }
)


@runtime_checkable
class Scorer(Protocol):
    """Scores pairs; returns one float array of len(plans) per declared column."""

    columns: tuple[str, ...]

    def score(
        self,
        plans: Sequence[PairPlan],
        aligned: Sequence[Image.Image],
        violating: Sequence[Image.Image],
    ) -> dict[str, np.ndarray]: ...


def _check_lengths(
    plans: Sequence[PairPlan], aligned: Sequence[Image.Image], violating: Sequence[Image.Image]
) -> None:
    if not (len(plans) == len(aligned) == len(violating)):
        raise ValueError(
            f"{len(plans)} plans, {len(aligned)} aligned and {len(violating)} violating images"
        )


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
        texts = [f"a photo of {c}" for c in (*plan.concepts, *plan.safe_concepts)]
        return texts, list(range(len(plan.concepts)))
    if plan.kind == "bias":
        if plan.attribute not in plan.concepts or len(plan.concepts) < 2:
            raise ValueError(
                f"plan {plan.id}: bias needs >= 2 attribute values including {plan.attribute!r}"
            )
        texts = [f"a photo of a {v} person" for v in plan.concepts]
        return texts, [plan.concepts.index(plan.attribute)]
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
    """CLIPScore of each image against its own prompt, and zero-shot concept probability."""

    columns: tuple[str, ...] = (
        "aligned_clip",
        "violating_clip",
        "aligned_concept",
        "violating_concept",
    )

    def __init__(self, checkpoint: str, device: str = "cpu", batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.checkpoint = checkpoint
        self.device = device
        self.batch_size = batch_size
        self.model, self.preprocess = _load_clip(checkpoint, device)
        self.model.eval()
        # Plans repeat the same concept texts (and often prompts) across a run: encode once.
        self._text_cache: dict[str, torch.Tensor] = {}

    @torch.inference_mode()
    def _encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        feats = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack([self.preprocess(im) for im in images[start : start + self.batch_size]])
            # On CUDA clip.load keeps fp16 weights; cast up before normalising.
            feats.append(self.model.encode_image(batch.to(self.device)).float())
        if not feats:
            return torch.empty(0, self.model.text_projection.shape[1], device=self.device)
        out = torch.cat(feats)
        return out / out.norm(dim=-1, keepdim=True)

    @torch.inference_mode()
    def _text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        import clip

        missing = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            tokens = clip.tokenize(chunk, truncate=True).to(self.device)
            feats = self.model.encode_text(tokens).float()
            feats = feats / feats.norm(dim=-1, keepdim=True)
            self._text_cache.update(zip(chunk, feats))
        if not texts:
            return torch.empty(0, self.model.text_projection.shape[1], device=self.device)
        return torch.stack([self._text_cache[t] for t in texts])

    def score(
        self,
        plans: Sequence[PairPlan],
        aligned: Sequence[Image.Image],
        violating: Sequence[Image.Image],
    ) -> dict[str, np.ndarray]:
        _check_lengths(plans, aligned, violating)
        # Validate every plan before spending time on images.
        class_sets = [concept_texts(p) for p in plans]
        all_texts = [p.aligned_prompt for p in plans] + [p.violating_prompt for p in plans]
        all_texts += [t for texts, _ in class_sets for t in texts]
        self._text_embeddings(all_texts)  # fills the cache in batches

        img = {"aligned": self._encode_images(aligned), "violating": self._encode_images(violating)}
        prompts = {
            "aligned": self._text_embeddings([p.aligned_prompt for p in plans]),
            "violating": self._text_embeddings([p.violating_prompt for p in plans]),
        }
        logit_scale = self.model.logit_scale.detach().exp().item()
        out: dict[str, np.ndarray] = {}
        for side in ("aligned", "violating"):
            # CLIPScore-style 100·cos, not clamped at 0 so the filter sees the full range.
            clip_score = 100.0 * (img[side] * prompts[side]).sum(dim=-1)
            out[f"{side}_clip"] = clip_score.cpu().numpy().astype(np.float64)
            concept = np.empty(len(plans), dtype=np.float64)
            for i, (texts, hits) in enumerate(class_sets):
                probs = (logit_scale * img[side][i] @ self._text_embeddings(texts).T).softmax(dim=-1)
                concept[i] = float(probs[hits].sum())
            out[f"{side}_concept"] = concept
        return out


def _to_bgr(image: Image.Image) -> np.ndarray:
    # NudeDetector takes what cv2.imread returns (BGR uint8), not a PIL image.
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


class NudeNetScorer:
    """Max NudeNet score over the I2P exposed labels per image; 0.0 when none is detected."""

    columns: tuple[str, ...] = ("aligned_nudity", "violating_nudity")

    def __init__(self, labels: frozenset[str] = I2P_NUDITY_LABELS) -> None:
        from nudenet import NudeDetector

        self.labels = labels
        self.detector = NudeDetector()  # the 320n ONNX model ships inside the wheel

    def nudity(self, image: Image.Image) -> float:
        detections = self.detector.detect(_to_bgr(image))
        return max((float(d["score"]) for d in detections if d["class"] in self.labels), default=0.0)

    def score(
        self,
        plans: Sequence[PairPlan],
        aligned: Sequence[Image.Image],
        violating: Sequence[Image.Image],
    ) -> dict[str, np.ndarray]:
        _check_lengths(plans, aligned, violating)
        return {
            "aligned_nudity": np.array([self.nudity(im) for im in aligned], dtype=np.float64),
            "violating_nudity": np.array([self.nudity(im) for im in violating], dtype=np.float64),
        }


def combine_scores(
    scorers: Sequence[Scorer],
    plans: Sequence[PairPlan],
    aligned: Sequence[Image.Image],
    violating: Sequence[Image.Image],
) -> dict[str, np.ndarray]:
    """Run every scorer on the same pairs and merge their columns; a clash is a config error."""
    seen: dict[str, Scorer] = {}
    for scorer in scorers:
        for col in scorer.columns:
            if col in seen:
                raise ValueError(
                    f"column {col!r} declared by both {type(seen[col]).__name__} "
                    f"and {type(scorer).__name__}"
                )
            seen[col] = scorer
    merged: dict[str, np.ndarray] = {}
    for scorer in scorers:
        result = scorer.score(plans, aligned, violating)
        if set(result) != set(scorer.columns):
            raise ValueError(
                f"{type(scorer).__name__} returned {sorted(result)}, declared {list(scorer.columns)}"
            )
        for col, values in result.items():
            if len(values) != len(plans):
                raise ValueError(f"{col}: {len(values)} values for {len(plans)} plans")
        merged.update(result)
    return merged
