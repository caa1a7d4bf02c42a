"""Image classifiers: an MLP, the 2-conv MNIST example net, and our default small fast CNN."""

from __future__ import annotations

from torch import nn

from xaicli.models import MODELS


@MODELS.register("mlp", kind="classifier")
def mlp(in_shape: tuple[int, int, int], num_classes: int, hidden: list | tuple = (256, 128),
        dropout: float = 0.0) -> nn.Module:
    """Flatten -> [Linear -> ReLU (-> Dropout)] per hidden width -> Linear."""
    c, h, w = in_shape
    layers: list[nn.Module] = [nn.Flatten()]
    width = c * h * w
    for units in hidden:
        layers += [nn.Linear(width, int(units)), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(units)
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def head_grid(h: int, w: int, most: int) -> tuple[int, int]:
    """The feature map's side that the dense head reads: as computed, but at most `most` x `most`
    (larger images are average-pooled to it, so the head does not grow with the image)."""
    return min(h, most), min(w, most)


class ExampleNet(nn.Module):
    """The well-known 2-conv MNIST example network (returns logits instead of log-probabilities). On
    images above 32 x 32 its 64 feature maps are average-pooled to at most 14 x 14 before the head."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        c, h, w = in_shape
        if h < 6 or w < 6:
            raise ValueError(f"cnn needs images of at least 6 x 6 pixels, got {h} x {w}")
        self.conv1 = nn.Conv2d(c, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        grid = head_grid((h - 4) // 2, (w - 4) // 2, 14)
        self.fit = nn.AdaptiveAvgPool2d(grid) if grid != ((h - 4) // 2, (w - 4) // 2) else nn.Identity()
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * grid[0] * grid[1], 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        x = self.dropout1(self.fit(self.pool(x)))
        x = self.dropout2(self.relu3(self.fc1(self.flatten(x))))
        return self.fc2(x)


@MODELS.register("cnn", kind="classifier")
def cnn(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return ExampleNet(in_shape, num_classes)


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


@MODELS.register("fast_cnn", kind="classifier")
def fast_cnn(in_shape: tuple[int, int, int], num_classes: int, width: int = 32, hidden: int = 128,
             dropout: float = 0.25) -> nn.Module:
    """Our default: two blocks of two 3x3 conv + batch norm + ReLU, max pooling, a small MLP head. On
    images above 32 x 32 the last feature maps are average-pooled to 8 x 8 before the head (28 x 28
    and 32 x 32 images keep the layer list they always had, so their checkpoints still load)."""
    c, h, w = in_shape
    if h < 4 or w < 4:
        raise ValueError(f"fast_cnn needs images of at least 4 x 4 pixels, got {h} x {w}")
    grid = head_grid(h // 4, w // 4, 8)
    fit = [nn.AdaptiveAvgPool2d(grid)] if grid != (h // 4, w // 4) else []
    return nn.Sequential(
        *_conv_bn(c, width), *_conv_bn(width, width), nn.MaxPool2d(2),
        *_conv_bn(width, 2 * width), *_conv_bn(2 * width, 2 * width), nn.MaxPool2d(2), *fit,
        nn.Flatten(),
        nn.Linear(2 * width * grid[0] * grid[1], hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )
