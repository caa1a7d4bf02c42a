"""Small models and inputs shared by the explanation tests."""

from __future__ import annotations

import functools

import torch
from torch import nn


class TinyCNN(nn.Module):
    """conv-relu-conv-relu-pool-linear on 1 x 12 x 12 inputs: every kind of layer the methods touch."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(6 * 4 * 4, classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))))


class OutOfMemoryAbove(nn.Module):
    """Raises CUDA's out-of-memory error for batches above `limit`, as a real device would."""

    def __init__(self, inner: nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.sizes = inner, limit, []

    def forward(self, x):
        self.sizes.append(len(x))
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (simulated, batch {len(x)})")
        return self.inner(x)


def tiny_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return TinyCNN().eval()


def tiny_inputs(n: int = 3, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 12, 12, generator=g)


def assert_close_to_scale(ours: torch.Tensor, ref: torch.Tensor, rel: float = 1e-4) -> None:
    """Equal within rel x the largest absolute reference attribution (the issue's parity bar)."""
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    scale = ref.abs().max().item()
    assert scale > 0, "the reference map is all zero: the comparison would prove nothing"
    err = (ours - ref).abs().max().item()
    assert err <= rel * scale, f"max error {err:.3g} > {rel} x {scale:.3g}"


@functools.lru_cache(maxsize=1)
def trained_digits() -> tuple[nn.Module, torch.Tensor]:
    """A small CNN trained for a few hundred steps on 1,000 real embedded MNIST digits (about 2 s),
    and 16 normalised test digits; trained once per test process."""
    from xaicli.data.embedded import load_embedded

    arrays = load_embedded()
    x = (torch.from_numpy(arrays["x_train"][:1000]).float().unsqueeze(1) / 255 - 0.1307) / 0.3081
    y = torch.from_numpy(arrays["y_train"][:1000]).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randint(0, len(x), (64,), generator=g)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xt = (torch.from_numpy(arrays["x_test"][:16]).float().unsqueeze(1) / 255 - 0.1307) / 0.3081
    with torch.no_grad():
        acc = (model(xt).argmax(1) == torch.from_numpy(arrays["y_test"][:16])).float().mean()
    assert acc >= 0.75, f"the fixture model did not learn (accuracy {acc:.2f})"
    return model, xt
