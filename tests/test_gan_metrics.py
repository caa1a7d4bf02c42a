"""Sample-quality metrics against hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from xaicli.evaluation import gan_metrics as gm
from xaicli.tasks.gan_losses import discriminator_loss, generator_loss, gradient_penalty


def test_fid_of_identical_sets_is_zero():
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    assert gm.fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_the_diagonal_closed_form():
    mu1, var1 = [0.0, 1.0, -2.0], [1.0, 4.0, 0.25]
    mu2, var2 = [1.0, 1.0, 0.0], [9.0, 1.0, 0.25]
    # by hand: |dmu|^2 = 1 + 0 + 4 = 5; sum (sqrt v1 - sqrt v2)^2 = 4 + 1 + 0 = 5
    assert gm.gaussian_fid_closed_form(mu1, var1, mu2, var2) == pytest.approx(10.0)
    got = gm.frechet_distance(torch.tensor(mu1), torch.diag(torch.tensor(var1)),
                              torch.tensor(mu2), torch.diag(torch.tensor(var2)))
    assert got == pytest.approx(10.0, abs=1e-9)


def test_frechet_distance_with_rotated_commuting_covariances():
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    a = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    b = torch.tensor([4.0, 2.0, 1.0, 0.5], dtype=torch.float64)
    s1, s2 = q @ torch.diag(a) @ q.T, q @ torch.diag(b) @ q.T
    mu = torch.zeros(4)
    expected = float(((a.sqrt() - b.sqrt()) ** 2).sum())
    assert gm.frechet_distance(mu, s1, mu, s2) == pytest.approx(expected, abs=1e-9)


def test_fid_from_samples_approaches_the_gaussian_closed_form():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(40000, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0])
    b = torch.randn(40000, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1.0]) + torch.tensor([2.0, 0.0])
    expected = gm.gaussian_fid_closed_form([0, 0], [1, 4], [2, 0], [9, 1])  # 4 + 4 + 1 = 9
    assert expected == pytest.approx(9.0)
    assert gm.fid(a, b) == pytest.approx(expected, rel=0.03)


def test_mmd_matches_a_hand_computed_case():
    # d = 1, k(x, y) = (x y + 1)^3; a = {0, 1}, b = {2, 3}
    # within a: k(0,1) = 1 -> 1; within b: k(2,3) = 343 -> 343; across: (1 + 1 + 27 + 64) / 4 = 23.25
    a, b = torch.tensor([[0.0], [1.0]]), torch.tensor([[2.0], [3.0]])
    assert gm.mmd2_unbiased(a, b) == pytest.approx(1 + 343 - 2 * 23.25)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g)
    same, _ = gm.kid(a, b, subsets=5, subset_size=200)
    shifted, std = gm.kid(a, b + 1.0, subsets=5, subset_size=200)
    assert abs(same) < 0.05
    assert shifted > 0.5 and std >= 0


def test_precision_and_recall_on_constructed_points():
    # real: 0..9 on a line (k=1 radius 1); fake: 0.5..4.5 near the real ones, 100..104 far away
    real = torch.stack([torch.arange(10.0), torch.zeros(10)], 1)
    fake = torch.stack([torch.cat([torch.arange(5.0) + 0.5, torch.arange(5.0) + 100]), torch.zeros(10)], 1)
    precision, recall = gm.precision_recall(real, fake, k=1)
    assert precision == pytest.approx(0.5)  # half of the fakes fall in real balls
    assert recall == pytest.approx(0.6)  # reals 0..5 lie within 1 of a near fake (fake radius 1)
    p_same, r_same = gm.precision_recall(real, real.clone(), k=1)
    assert p_same == 1.0 and r_same == 1.0


def test_class_statistics():
    uniform = torch.arange(100) % 10
    assert gm.class_entropy(uniform, 10) == pytest.approx(math.log(10))
    assert gm.classes_covered(uniform, 10) == 10
    collapsed = torch.full((100,), 4)
    assert gm.class_entropy(collapsed, 10) == pytest.approx(0.0)
    assert gm.classes_covered(collapsed, 10) == 1
    stray = torch.cat([torch.full((999,), 2), torch.tensor([7])])  # one image in 1000 is below 1%
    assert gm.classes_covered(stray, 10) == 1
    assert gm.class_histogram(torch.tensor([0, 0, 1, 3]), 4).tolist() == [0.5, 0.25, 0.0, 0.25]


def test_pixel_diversity():
    assert gm.pixel_diversity(torch.zeros(10, 1, 4, 4)) == 0.0
    two = torch.stack([-torch.ones(1, 4, 4), torch.ones(1, 4, 4)])
    assert gm.pixel_diversity(two) == pytest.approx(2.0)


def test_losses_on_known_logits():
    real, fake = torch.tensor([0.0, 0.0]), torch.tensor([0.0, 0.0])
    assert float(discriminator_loss("bce", real, fake)) == pytest.approx(2 * math.log(2))
    assert float(generator_loss("bce", fake)) == pytest.approx(math.log(2))
    assert float(discriminator_loss("hinge", torch.tensor([2.0]), torch.tensor([-0.5]))) == pytest.approx(0.5)
    assert float(discriminator_loss("wgan_gp", torch.tensor([3.0]), torch.tensor([1.0]))) == pytest.approx(-2.0)
    assert float(generator_loss("hinge", torch.tensor([1.5]))) == pytest.approx(-1.5)


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_one_for_a_flat_one():
    w = torch.zeros(1, 2, 2)
    w[0, 0, 0] = 1.0  # D(x) = x[0, 0, 0]: gradient norm exactly 1 everywhere
    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2)
    assert float(gradient_penalty(lambda x, _: (x * w).flatten(1).sum(1), real, fake, None)) == pytest.approx(0.0)
    flat = gradient_penalty(lambda x, _: (x * 0).flatten(1).sum(1), real, fake, None)
    assert float(flat) == pytest.approx(1.0)


def test_critic_scores_in_one_call_equal_three_separate_calls():
    """One stacked critic call (what DDP needs) scores real, fake and the penalty's points as three calls would."""
    from xaicli.models import build_model
    from xaicli.tasks.gan_losses import critic_scores

    torch.manual_seed(0)
    critic = build_model("wgan_gp", (1, 28, 28), 10, {"width": 8}).discriminator
    real, fake = torch.rand(6, 1, 28, 28) * 2 - 1, torch.rand(6, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    d_real, d_fake, gp = critic_scores(critic, real, fake, None)
    torch.manual_seed(1)
    expected_gp = gradient_penalty(critic, real, fake, None)
    torch.testing.assert_close(d_real, critic(real, None).float())
    torch.testing.assert_close(d_fake, critic(fake, None).float())
    torch.testing.assert_close(gp, expected_gp)
    assert float(gp.detach()) > 0


def test_a_collapsed_generator_has_entropy_zero_not_negative_zero():
    collapsed = torch.full((100,), 3)
    assert math.copysign(1.0, gm.class_entropy(collapsed, 10)) == 1.0


def test_mode_collapse_warning_names_what_is_low():
    from xaicli.evaluation.gan import mode_collapse_warning

    assert mode_collapse_warning(10, 10, 0.97) is None
    low_entropy = mode_collapse_warning(10, 10, 0.62)
    assert "entropy" in low_entropy and "0.62" in low_entropy and "covers 10 of 10" not in low_entropy
    few = mode_collapse_warning(3, 10, 0.95)
    assert "3 of 10 classes" in few and "entropy" not in few
    both = mode_collapse_warning(2, 10, 0.3)
    assert "2 of 10 classes" in both and "entropy" in both
