"""GAN losses on discriminator logits: non-saturating BCE, hinge, Wasserstein (with a gradient penalty)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The loss D minimises, from its outputs on real and on generated images."""
    if kind == "bce":  # -log sigmoid(real) - log(1 - sigmoid(fake)), written stably
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "wgan_gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The loss G minimises from D's outputs on its images (non-saturating for BCE)."""
    if kind == "bce":
        return F.softplus(-fake).mean()
    if kind in ("hinge", "wgan_gp"):
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def interpolates(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random points on the lines between real and fake images, as leaves that require a gradient."""
    alpha = torch.rand(len(real), 1, 1, 1, device=real.device, generator=generator)
    return (alpha * real.float() + (1 - alpha) * fake.float()).requires_grad_(True)


def penalty(out: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] from the critic's outputs on x_hat."""
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Gulrajani et al. 2017: E[(||grad_x D(x_hat)||_2 - 1)^2] on random points between real and fake."""
    x_hat = interpolates(real, fake, generator)
    return penalty(critic(x_hat, labels).float(), x_hat)


def critic_scores(critic, real: torch.Tensor, fake: torch.Tensor,
                  labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """D(real), D(fake) and the gradient penalty from one critic call on the three batches stacked.

    One call per backward is what DDP's gradient reducer expects; three calls (real, fake, the
    penalty's points) before one backward made 2-process runs abort now and then. Stacking changes
    nothing else because a WGAN-GP critic scores each image on its own (layer norm or none, never batch norm).
    """
    n = len(real)
    x_hat = interpolates(real, fake)
    out = critic(torch.cat([real.float(), fake.float(), x_hat]), None if labels is None else labels.repeat(3))
    out = out.float()
    return out[:n], out[n:2 * n], penalty(out[2 * n:], x_hat)
