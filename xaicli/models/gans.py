"""GANs: the founding article's MLP GAN (made correct), DCGAN, a class-conditional GAN and WGAN-GP.

Every builder is registered with kind "gan" and returns a `GAN`: a plain nn.Module holding `generator` and
`discriminator`, plus the training choices that belong to the model (loss, critic steps, penalty
weight, EMA decay), all set through `model.args` so no new config section is needed.

Contract (relied on by the explanation code):
  generator(z (N, latent_dim), labels (N,) long or None) -> images in [-1, 1], shape (N, C, H, W)
  discriminator(images in [-1, 1], labels or None) -> logits (N,)
Conditional models need labels; unconditional ones ignore them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xaicli.models import MODELS

LOSSES = ("bce", "hinge", "wgan_gp")


class GAN(nn.Module):
    """The two networks and the training choices that go with them."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, latent_dim: int, num_classes: int,
                 conditional: bool, loss: str, n_critic: int, gp_weight: float, ema: float,
                 allowed_losses: tuple[str, ...] = LOSSES) -> None:
        super().__init__()
        if loss not in allowed_losses:
            raise ValueError(f"loss must be one of {', '.join(allowed_losses)}, found {loss!r}")
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be >= 1, found {n_critic!r}")
        if not 0.0 <= float(ema) < 1.0:
            raise ValueError(f"ema must be a decay in [0, 1) (0: off), found {ema!r}")
        if float(gp_weight) < 0:
            raise ValueError(f"gp_weight must be >= 0, found {gp_weight!r}")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.num_classes, self.conditional = int(latent_dim), int(num_classes), bool(conditional)
        self.loss, self.n_critic, self.gp_weight, self.ema = loss, int(n_critic), float(gp_weight), float(ema)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z, labels)


def _check_labels(labels: torch.Tensor | None, conditional: bool) -> None:
    if conditional and labels is None:
        raise ValueError("this GAN is class-conditional: pass labels (N,) as well")


class MLPGenerator(nn.Module):
    """z (+ label embedding) -> hidden layers (LeakyReLU, optional batch norm) -> tanh image."""

    def __init__(self, latent_dim: int, hidden: list, out_shape: tuple[int, int, int], num_classes: int = 0,
                 embed_dim: int = 0, batch_norm: bool = False) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.embed = nn.Embedding(num_classes, embed_dim) if embed_dim else None
        layers: list[nn.Module] = []
        width = latent_dim + embed_dim
        for units in hidden:
            layers += [nn.Linear(width, int(units))]
            if batch_norm:
                layers.append(nn.BatchNorm1d(int(units)))
            layers.append(nn.LeakyReLU(0.2))
            width = int(units)
        layers += [nn.Linear(width, math.prod(out_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        _check_labels(labels, self.embed is not None)
        h = torch.cat([z, self.embed(labels)], 1) if self.embed is not None else z
        return self.net(h).view(len(z), *self.out_shape)


class MLPDiscriminator(nn.Module):
    """Flattened image -> hidden layers (LeakyReLU, dropout) -> one logit, optionally class-conditional.

    conditioning "concat": a label embedding joins the pixels at the input (Mirza & Osindero 2014);
    "projection": the logit gains <embed(label), last hidden features> (Miyato & Koyama 2018).
    """

    def __init__(self, in_shape: tuple[int, int, int], hidden: list, num_classes: int = 0, embed_dim: int = 0,
                 dropout: float = 0.0, conditioning: str = "none") -> None:
        super().__init__()
        if conditioning not in ("none", "concat", "projection"):
            raise ValueError(f"conditioning must be concat or projection, found {conditioning!r}")
        self.conditioning = conditioning
        width = math.prod(in_shape) + (embed_dim if conditioning == "concat" else 0)
        self.embed = nn.Embedding(num_classes, embed_dim) if conditioning == "concat" else None
        layers: list[nn.Module] = []
        for units in hidden:
            layers += [nn.Linear(width, int(units)), nn.LeakyReLU(0.2)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = int(units)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        self.project = nn.Embedding(num_classes, width) if conditioning == "projection" else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        _check_labels(labels, self.conditioning != "none")
        h = x.flatten(1)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], 1)
        h = self.features(h)
        out = self.head(h).squeeze(1)
        if self.project is not None:
            out = out + (self.project(labels) * h).sum(1)
        return out


def _spatial(in_shape: tuple[int, int, int]) -> tuple[int, int]:
    _, h, w = in_shape
    if h % 4 or w % 4:
        raise ValueError(f"convolutional GANs need an image size divisible by 4, found {h}x{w}")
    return h // 4, w // 4


class ConvGenerator(nn.Module):
    """DCGAN generator: project z to (4w, H/4, W/4), two stride-2 transposed convs; BN + ReLU, tanh out."""

    def __init__(self, latent_dim: int, width: int, out_shape: tuple[int, int, int]) -> None:
        super().__init__()
        c = out_shape[0]
        h, w = _spatial(out_shape)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 4 * width, (h, w), 1, 0, bias=False),
            nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, c, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z.view(len(z), -1, 1, 1))


class ConvDiscriminator(nn.Module):
    """DCGAN discriminator: stride-2 convs with LeakyReLU, no BN on the first layer; a full conv to one logit.

    `norm`: "batch" (DCGAN), "layer" (per-sample, safe with a gradient penalty) or "none".
    """

    def __init__(self, in_shape: tuple[int, int, int], width: int, norm: str = "batch") -> None:
        super().__init__()
        c = in_shape[0]
        h, w = _spatial(in_shape)
        if norm == "batch":
            normalize: nn.Module = nn.BatchNorm2d(2 * width)
        elif norm == "layer":
            normalize = nn.GroupNorm(1, 2 * width)
        else:
            normalize = nn.Identity()
        self.net = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=norm == "none"), normalize, nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, (h, w), 1, 0),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).flatten(1).squeeze(1)


def dcgan_init(module: nn.Module) -> nn.Module:
    """DCGAN's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


@MODELS.register("mlp_gan", kind="gan")
def mlp_gan(in_shape: tuple[int, int, int], num_classes: int, latent_dim: int = 100,
            g_hidden: list | tuple = (256, 512), d_hidden: list | tuple = (256, 128), dropout: float = 0.0,
            batch_norm: bool = False, loss: str = "bce", n_critic: int = 1, gp_weight: float = 10.0,
            ema: float = 0.0) -> GAN:
    """The article's MLP GAN: G latent -> 256 -> 512 -> C*H*W (tanh); D C*H*W -> 256 -> 128 -> 1 logit.

    `batch_norm` adds batch norm after G's hidden layers; `dropout` follows each hidden layer of D.
    """
    g = MLPGenerator(latent_dim, list(g_hidden), in_shape, batch_norm=batch_norm)
    d = MLPDiscriminator(in_shape, list(d_hidden), dropout=dropout)
    return GAN(g, d, latent_dim=latent_dim, num_classes=num_classes, conditional=False, loss=loss,
               n_critic=n_critic, gp_weight=gp_weight, ema=ema)


@MODELS.register("dcgan", kind="gan")
def dcgan(in_shape: tuple[int, int, int], num_classes: int, latent_dim: int = 100, width: int = 64,
          loss: str = "bce", ema: float = 0.0) -> GAN:
    """DCGAN (Radford et al. 2016) sized for 28x28 or 32x32: BN in G and in D's inner layer.

    Wasserstein-GP is not offered: batch norm in D breaks the per-sample gradient penalty (use wgan_gp).
    """
    g = dcgan_init(ConvGenerator(latent_dim, width, in_shape))
    d = dcgan_init(ConvDiscriminator(in_shape, width, norm="batch"))
    return GAN(g, d, latent_dim=latent_dim, num_classes=num_classes, conditional=False, loss=loss,
               n_critic=1, gp_weight=0.0, ema=ema, allowed_losses=("bce", "hinge"))


@MODELS.register("cgan", kind="gan")
def cgan(in_shape: tuple[int, int, int], num_classes: int, latent_dim: int = 100, embed_dim: int = 10,
         g_hidden: list | tuple = (256, 512), d_hidden: list | tuple = (512, 256), dropout: float = 0.0,
         batch_norm: bool = False, d_conditioning: str = "projection", loss: str = "bce", n_critic: int = 1,
         gp_weight: float = 10.0, ema: float = 0.0) -> GAN:
    """Class-conditional MLP GAN (Mirza & Osindero 2014): a label embedding joins z in G; D sees the label
    through a projection (default) or an embedding joined to the pixels (`d_conditioning: concat`)."""
    if int(embed_dim) < 1:
        raise ValueError(f"embed_dim must be >= 1, found {embed_dim!r}")
    if d_conditioning not in ("concat", "projection"):
        raise ValueError(f"d_conditioning must be concat or projection, found {d_conditioning!r}")
    g = MLPGenerator(latent_dim, list(g_hidden), in_shape, num_classes, int(embed_dim), batch_norm=batch_norm)
    d = MLPDiscriminator(in_shape, list(d_hidden), num_classes, int(embed_dim), dropout=dropout,
                         conditioning=d_conditioning)
    return GAN(g, d, latent_dim=latent_dim, num_classes=num_classes, conditional=True, loss=loss,
               n_critic=n_critic, gp_weight=gp_weight, ema=ema)


@MODELS.register("wgan_gp", kind="gan")
def wgan_gp(in_shape: tuple[int, int, int], num_classes: int, latent_dim: int = 100, width: int = 64,
            n_critic: int = 5, gp_weight: float = 10.0, critic_norm: str = "layer", ema: float = 0.0) -> GAN:
    """WGAN-GP (Gulrajani et al. 2017): DCGAN generator, a critic without batch norm, n_critic steps per G step."""
    if critic_norm not in ("layer", "none"):
        raise ValueError(f"critic_norm must be layer or none (batch norm breaks the penalty), found {critic_norm!r}")
    g = dcgan_init(ConvGenerator(latent_dim, width, in_shape))
    d = dcgan_init(ConvDiscriminator(in_shape, width, norm=critic_norm))
    return GAN(g, d, latent_dim=latent_dim, num_classes=num_classes, conditional=False, loss="wgan_gp",
               n_critic=n_critic, gp_weight=gp_weight, ema=ema, allowed_losses=("wgan_gp",))
