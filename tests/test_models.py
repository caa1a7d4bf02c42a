import math

import pytest
import torch

from xaicli.errors import ConfigError
from xaicli.evaluation.classifier import classification_metrics, expected_calibration_error
from xaicli.models import MODELS, build_model, model_kind

CLASSIFIERS = [n for n in MODELS.names() if model_kind(n) == "classifier"]


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_classifier_maps_images_to_logits(name, shape):
    torch.manual_seed(0)
    model = build_model(name, shape, 10, {})
    assert isinstance(model, torch.nn.Module)
    out = model(torch.randn(4, *shape))
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifiers_adapt_to_photos_and_keep_their_28_pixel_layout(name):
    """3 x 64 x 64 (and non-square) photos train; the dense head does not grow with the image for the
    convolutional nets; MNIST-sized models keep their parameter names (old checkpoints load)."""
    torch.manual_seed(0)
    model = build_model(name, (3, 64, 64), 5, {})
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 3, 64, 64), torch.arange(8) % 5
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and model(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    assert build_model(name, (3, 48, 80), 5, {})(torch.randn(2, 3, 48, 80)).shape == (2, 5)
    if name != "mlp":
        size = {s: sum(p.numel() for p in build_model(name, (3, s, s), 5, {}).parameters()) for s in (64, 224)}
        assert size[224] == size[64]
    expected = {"fast_cnn": "15.weight", "cnn": "fc1.weight", "mlp": "1.weight"}[name]
    assert expected in build_model(name, (1, 28, 28), 10, {}).state_dict()


def test_unknown_model_argument_is_a_config_error():
    with pytest.raises(ConfigError, match="model.args.depth"):
        build_model("fast_cnn", (1, 28, 28), 10, {"depth": 3})


def test_expected_calibration_error_by_hand():
    # two bins used: confidence 0.9 (2 samples, 1 right) and 0.6 (2 samples, 2 right)
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = torch.tensor([0, 1, 0, 1])
    # bin 0.9: |0.5 - 0.9| * 0.5 = 0.2 ; bin 0.6: |1.0 - 0.6| * 0.5 = 0.2
    assert expected_calibration_error(probs, labels, bins=10) == pytest.approx(0.4)


def test_classification_metrics_confusion_and_per_class():
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0], [0, 0, 5.0]])
    labels = torch.tensor([0, 1, 1, 2])
    m = classification_metrics(logits, labels, ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["per_class_accuracy"] == {"a": 1.0, "b": 0.5, "c": 1.0}


@pytest.mark.parametrize("total_steps", [1, 2, 3, 4, 5, 7, 10, 1000])
@pytest.mark.parametrize("warmup", [0.0, 0.2, 0.25, 0.5, 1.0])
def test_onecycle_schedule_works_for_any_run_length(total_steps, warmup):
    """A short run (5 steps with a 0.2 warm-up made a phase of length zero) must not divide by zero,
    and from 3 steps on the learning rate must come near its configured peak within the run."""
    from types import SimpleNamespace

    from xaicli.tasks.base import make_scheduler

    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([p], lr=0.01)
    sched = make_scheduler(opt, SimpleNamespace(schedule="onecycle", warmup=warmup, name="adamw"), total_steps)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(max(2, total_steps) - 1):
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert all(math.isfinite(x) and 0 <= x <= 0.01 + 1e-12 for x in lrs)
    if total_steps >= 3:  # with 2 steps one-cycle has only its start and end values, no step near the peak
        assert max(lrs) > 0.005
