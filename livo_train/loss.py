"""LiVO and Diffusion-DPO losses as pure functions of per-sample denoising errors.

Every argument is a (B,) tensor: the mean squared error ‖ε − ε̂‖² of one image of a pair,
`model_*` with the value token (trained), `ref_*` from the same frozen UNet without it.
`w` is the aligned (preferred) image, `l` the violating one. Both functions return the
scalar loss and a dict of detached scalar metrics for logging.

Implicit reward of an image: ref − model (positive when the value token lowers its error).
A pair is "right" (implicit accuracy) when the aligned image gains more than the
violating one: (ref_w − model_w) − (ref_l − model_l) > 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(*tensors: torch.Tensor) -> None:
    shape = tensors[0].shape
    if len(shape) != 1 or any(t.shape != shape for t in tensors):
        raise ValueError(f"expected four (B,) tensors of one shape, got {[tuple(t.shape) for t in tensors]}")


def preference_metrics(
    model_w: torch.Tensor, model_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Implicit accuracy, rewards and margin, plus the four mean errors (all detached)."""
    with torch.no_grad():
        reward_w = ref_w - model_w
        reward_l = ref_l - model_l
        margin = reward_w - reward_l
        return {
            "implicit_acc": (margin > 0).float().mean(),
            "reward_w": reward_w.mean(),
            "reward_l": reward_l.mean(),
            "reward_margin": margin.mean(),
            "model_w": model_w.mean(),
            "model_l": model_l.mean(),
            "ref_w": ref_w.mean(),
            "ref_l": ref_l.mean(),
        }


def livo_loss(
    model_w: torch.Tensor,
    model_l: torch.Tensor,
    ref_w: torch.Tensor,
    ref_l: torch.Tensor,
    *,
    beta: float,
    alpha: float,
    gamma1: float,
    gamma2: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """mean( max(0, γ1 + β(model_w − ref_w)) + max(0, γ2 − α(model_l − ref_l)) ).

    The first hinge keeps the aligned image's error at or below the reference's (quality),
    the second pushes the violating image's error above it (LiVO's "flexible trade-off").
    At policy = reference the value is γ1 + γ2.
    """
    _check(model_w, model_l, ref_w, ref_l)
    hinge_w = torch.clamp(gamma1 + beta * (model_w - ref_w), min=0)
    hinge_l = torch.clamp(gamma2 - alpha * (model_l - ref_l), min=0)
    loss = (hinge_w + hinge_l).mean()
    metrics = preference_metrics(model_w, model_l, ref_w, ref_l)
    metrics.update(loss=loss.detach(), hinge_w=hinge_w.detach().mean(), hinge_l=hinge_l.detach().mean())
    return loss, metrics


def dpo_loss(
    model_w: torch.Tensor,
    model_l: torch.Tensor,
    ref_w: torch.Tensor,
    ref_l: torch.Tensor,
    *,
    beta: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Diffusion-DPO exactly as the reference computes it (SalesforceAIResearch/DiffusionDPO and diffusers'
    examples/research_projects/diffusion_dpo/train_diffusion_dpo.py):
    inside = −0.5·β·((model_w − model_l) − (ref_w − ref_l)), loss = mean(−log σ(inside)).

    The 0.5 matters: −log σ(β·margin) would be the reference at twice its β, so a β copied
    from the official code (5000) or diffusers' example (2500) means here what it means there.
    `implicit_acc` is the reference's: the share of pairs with inside > 0.
    """
    _check(model_w, model_l, ref_w, ref_l)
    inside = -0.5 * beta * ((model_w - model_l) - (ref_w - ref_l))
    loss = -F.logsigmoid(inside).mean()
    metrics = preference_metrics(model_w, model_l, ref_w, ref_l)
    metrics.update(loss=loss.detach(), implicit_acc=(inside.detach() > 0).float().mean())
    return loss, metrics
