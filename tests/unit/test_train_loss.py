"""LiVO and Diffusion-DPO losses against their closed forms on fixed numbers."""

import math

import pytest
import torch

from livo_train.loss import dpo_loss, livo_loss

MODEL_W = torch.tensor([0.1000, 0.2000, 0.3000])
MODEL_L = torch.tensor([0.4000, 0.5000, 0.6000])
REF_W = torch.tensor([0.1020, 0.1995, 0.3000])
REF_L = torch.tensor([0.4000, 0.4980, 0.6020])
OFFICIAL = {"beta": 1000.0, "alpha": 500.0, "gamma1": 1.0, "gamma2": 0.5}


def test_livo_loss_equals_its_closed_form():
    loss, m = livo_loss(MODEL_W, MODEL_L, REF_W, REF_L, **OFFICIAL)
    # pair 0: max(0, 1 + 1000(0.1 - 0.102)) = 0        max(0, 0.5 - 500(0.4 - 0.4)) = 0.5
    # pair 1: max(0, 1 + 1000(0.2 - 0.1995)) = 1.5     max(0, 0.5 - 500(0.5 - 0.498)) = 0
    # pair 2: max(0, 1 + 1000(0.3 - 0.3)) = 1          max(0, 0.5 - 500(0.6 - 0.602)) = 1.5
    hinge_w = [0.0, 1.5, 1.0]
    hinge_l = [0.5, 0.0, 1.5]
    expected = sum(w + l for w, l in zip(hinge_w, hinge_l)) / 3
    assert loss.item() == pytest.approx(expected, abs=1e-4)
    assert m["hinge_w"].item() == pytest.approx(sum(hinge_w) / 3, abs=1e-4)
    assert m["hinge_l"].item() == pytest.approx(sum(hinge_l) / 3, abs=1e-4)
    # margins (ref_w - model_w) - (ref_l - model_l): 0.002, 0.0015, -0.002 -> two of three right
    assert m["implicit_acc"].item() == pytest.approx(2 / 3)
    assert m["reward_margin"].item() == pytest.approx((0.002 + 0.0015 - 0.002) / 3, abs=1e-6)
    assert m["reward_w"].item() == pytest.approx((0.002 - 0.0005 + 0.0) / 3, abs=1e-6)
    assert m["reward_l"].item() == pytest.approx((0.0 - 0.002 + 0.002) / 3, abs=1e-6)


def _reference_livo(model_w, model_l, ref_w, ref_l, beta, alpha, gamma1, gamma2):
    """LiVO's loss as its official code computes it (Wang et al. 2024, "Embedding an Ethical Mind", arXiv:2410.12700):
    mean(max(0, γ1 + β(ℓθ(y_w) − ℓref(y_w))) + max(0, γ2 − α(ℓθ(y_l) − ℓref(y_l))))."""
    zero = torch.zeros_like(model_w)
    return (torch.maximum(zero, gamma1 + beta * (model_w - ref_w))
            + torch.maximum(zero, gamma2 - alpha * (model_l - ref_l))).mean()


def test_livo_loss_and_gradient_match_the_reference_on_random_errors():
    gen = torch.Generator().manual_seed(3)
    errs = [torch.rand(16, generator=gen) * 0.004 + 0.1 for _ in range(4)]  # hinges both active and not
    ours_in = [e.clone().requires_grad_(True) for e in errs[:2]]
    ref_in = [e.clone().requires_grad_(True) for e in errs[:2]]
    loss, _ = livo_loss(*ours_in, *errs[2:], **OFFICIAL)
    ref = _reference_livo(*ref_in, *errs[2:], **OFFICIAL)
    loss.backward()
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    for ours, theirs in zip(ours_in, ref_in):
        assert ours.grad.tolist() == pytest.approx(theirs.grad.tolist(), rel=1e-6, abs=1e-9)
    assert any(g == 0 for g in ours_in[0].grad.tolist()) and any(g != 0 for g in ours_in[0].grad.tolist())


def test_livo_loss_at_policy_equal_reference_is_gamma1_plus_gamma2():
    errs_w, errs_l = torch.rand(5), torch.rand(5)
    loss, m = livo_loss(errs_w, errs_l, errs_w, errs_l, beta=1000.0, alpha=500.0, gamma1=1.0, gamma2=0.5)
    assert loss.item() == pytest.approx(1.5)
    assert m["hinge_w"].item() == pytest.approx(1.0) and m["hinge_l"].item() == pytest.approx(0.5)
    assert m["implicit_acc"].item() == 0.0  # a margin of exactly 0 is not "right"
    loss, _ = livo_loss(errs_w, errs_l, errs_w, errs_l, beta=3.0, alpha=7.0, gamma1=0.25, gamma2=2.0)
    assert loss.item() == pytest.approx(2.25)


def test_livo_gradient_pushes_aligned_error_down_and_violating_error_up():
    model_w = MODEL_W.clone().requires_grad_(True)
    model_l = MODEL_L.clone().requires_grad_(True)
    loss, _ = livo_loss(model_w, model_l, REF_W, REF_L, **OFFICIAL)
    loss.backward()
    # active hinges only: aligned pairs 1 and 2 (d/dmodel_w = beta / B), violating pairs 0 and 2 (-alpha / B)
    assert model_w.grad.tolist() == pytest.approx([0.0, 1000 / 3, 1000 / 3])
    assert model_l.grad.tolist() == pytest.approx([-500 / 3, 0.0, -500 / 3])


def _reference_dpo(model_w, model_l, ref_w, ref_l, beta_dpo):
    """The reference's lines, as written in SalesforceAIResearch/DiffusionDPO and diffusers'
    examples/research_projects/diffusion_dpo/train_diffusion_dpo.py."""
    model_diff = model_w - model_l
    ref_diff = ref_w - ref_l
    scale_term = -0.5 * beta_dpo
    inside_term = scale_term * (model_diff - ref_diff)
    implicit_acc = (inside_term > 0).sum().float() / inside_term.size(0)
    loss = -1 * torch.nn.functional.logsigmoid(inside_term).mean()
    return loss, implicit_acc


def test_dpo_loss_matches_the_reference_expression():
    loss, m = dpo_loss(MODEL_W, MODEL_L, REF_W, REF_L, beta=2500.0)
    # inside = -0.5 * 2500 * ((model_w - model_l) - (ref_w - ref_l)) = 1250 * margin,
    # margins (ref_w - model_w) - (ref_l - model_l) = 0.002, 0.0015, -0.002 -> inside 2.5, 1.875, -2.5
    by_hand = sum(math.log1p(math.exp(-x)) for x in (2.5, 1.875, -2.5)) / 3  # -log sigmoid
    assert by_hand == pytest.approx(0.93348, abs=1e-4)  # 0.07889 + 0.14268 + 2.57889, over 3
    assert loss.item() == pytest.approx(by_hand, rel=1e-4)
    ref_loss, ref_acc = _reference_dpo(MODEL_W, MODEL_L, REF_W, REF_L, 2500.0)
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    assert m["implicit_acc"].item() == pytest.approx(ref_acc.item()) == pytest.approx(2 / 3)
    errs = torch.rand(4)
    at_ref, _ = dpo_loss(errs, errs, errs, errs, beta=2500.0)
    assert at_ref.item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("beta", [1.0, 500.0, 2500.0, 5000.0])
def test_dpo_loss_and_gradient_match_the_reference_on_random_errors(beta):
    gen = torch.Generator().manual_seed(7)
    errs = [torch.rand(8, generator=gen) * 0.01 + 0.1 for _ in range(4)]
    ours_in = [e.clone().requires_grad_(True) for e in errs[:2]]
    ref_in = [e.clone().requires_grad_(True) for e in errs[:2]]
    loss, m = dpo_loss(*ours_in, *errs[2:], beta=beta)
    ref_loss, ref_acc = _reference_dpo(*ref_in, *errs[2:], beta)
    loss.backward()
    ref_loss.backward()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    assert m["implicit_acc"].item() == pytest.approx(ref_acc.item())
    for ours, theirs in zip(ours_in, ref_in):
        assert ours.grad.tolist() == pytest.approx(theirs.grad.tolist(), rel=1e-4, abs=1e-9)


def test_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="B,"):
        livo_loss(MODEL_W, MODEL_L[:2], REF_W, REF_L, **OFFICIAL)
    with pytest.raises(ValueError):
        dpo_loss(MODEL_W[None], MODEL_L[None], REF_W[None], REF_L[None], beta=1.0)
