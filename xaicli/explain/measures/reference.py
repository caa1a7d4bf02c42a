"""The random-attribution reference: a map of uniform noise per pixel, drawn from the seed alone,
run through every measure exactly like a method. It knows nothing of the model, so it is what
"no better than chance" scores on each measure, and it fails every randomisation test."""

from __future__ import annotations

import torch

from xaicli.explain.core import generator_for
from xaicli.explain.registry import Method

NAME = "random"


def random_maps(inputs: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(N, C, H, W) uniform noise in [0, 1), one value per pixel repeated over the channels; the same
    for the same seed and shape whatever the weights, the target or the device."""
    n, c, h, w = inputs.shape
    noise = torch.rand((n, 1, h, w), generator=generator_for(torch.device("cpu"), seed))
    return noise.to(inputs.device, inputs.dtype).expand(-1, c, -1, -1).contiguous()


def random_attribution(model, inputs, target=None, seed: int = 0) -> torch.Tensor:
    """The contract's signature; model and target are ignored on purpose."""
    return random_maps(inputs, seed)


RANDOM = Method(NAME, random_attribution, signed=False)
