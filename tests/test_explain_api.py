"""The Python API: `attribute(model, inputs, target, method, **params)` and calling a Method directly
check their parameters and targets; a model in training mode with batch norm or dropout is warned
about and its batch-norm statistics are left as they were."""

from __future__ import annotations

import warnings

import pytest
import torch
from explain_helpers import tiny_cnn, tiny_inputs
from torch import nn

from xaicli.errors import ConfigError
from xaicli.explain.registry import METHODS, resolve

TARGET = torch.tensor([0, 3, 1])


def test_attribute_resolves_names_like_method():
    from xaicli.explain.attribute import attribute

    model, x = tiny_cnn(), tiny_inputs()
    torch.testing.assert_close(attribute(model, x, TARGET), resolve("saliency")(model, x, TARGET))
    ours = attribute(model, x, TARGET, method="smoothgrad:integrated_gradients", n_steps=4, n_samples=2)
    torch.testing.assert_close(ours, resolve("smoothgrad:integrated_gradients")(model, x, TARGET, n_steps=4,
                                                                                 n_samples=2))
    with pytest.raises(ConfigError, match="did you mean 'saliency'"):
        attribute(model, x, TARGET, method="salency")


@pytest.mark.parametrize("method, wrong, right", [
    ("integrated_gradients", "n_step", "n_steps"),
    ("smoothgrad:integrated_gradients", "n_step", "n_steps"),
    ("occlusion", "windw", "window"),
    ("gradcam", "layers", "layer"),
    ("saliency", "budget", "budget_mb"),
])
def test_an_unknown_parameter_is_an_error_naming_it_the_method_and_the_accepted_ones(method, wrong, right):
    from xaicli.explain.attribute import attribute

    model, x = tiny_cnn(), tiny_inputs()
    for call in (lambda: attribute(model, x, TARGET, method=method, **{wrong: 4}),
                 lambda: resolve(method)(model, x, TARGET, **{wrong: 4})):
        with pytest.raises(ConfigError) as err:
            call()
        text = str(err.value)
        assert "\n" not in text and f"'{wrong}'" in text and method in text and f"did you mean '{right}'" in text
        assert "accepts: " in text and right in text.split("accepts: ")[1]


def test_captum_methods_check_their_parameters_too():
    pytest.importorskip("captum")
    model, x = tiny_cnn(), tiny_inputs()
    with pytest.raises(ConfigError, match="captum:Saliency: unknown parameter 'n_steps'"):
        resolve("captum:Saliency")(model, x, TARGET, n_steps=4)
    out = resolve("captum:IntegratedGradients")(model, x, TARGET, n_steps=4, baseline="zero")
    assert out.shape == x.shape


def test_every_method_declares_the_parameters_it_takes():
    for name in METHODS.names():
        method = resolve(name)
        assert "budget_mb" in method.parameters and "chunk" in method.parameters, name
        assert not {"model", "inputs", "target"} & set(method.parameters), name


@pytest.mark.parametrize("name", [*METHODS.names(), "smoothgrad:occlusion", "captum:Saliency", "captum:LayerGradCam"])
@pytest.mark.parametrize("target", [5, -1, torch.tensor([0, 7, 1])])
def test_a_target_out_of_range_names_the_number_of_classes(name, target):
    if name.startswith("captum:"):
        pytest.importorskip("captum")
    model, x = tiny_cnn(), tiny_inputs()
    method = resolve(name)
    with pytest.raises(ConfigError, match=r"out of range: the model gives 5 classes \(0\.\.4\)"):
        method(model, x, target, **method.accepts({"n_steps": 2, "n_samples": 2}))


class Normed(nn.Module):
    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * 10 * 10, 5)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.bn(self.conv(x)))).flatten(1))


@pytest.mark.parametrize("name", ["saliency", "integrated_gradients", "smoothgrad", "gradcam", "occlusion"])
def test_a_model_in_training_mode_with_batch_norm_is_warned_about_once_and_its_statistics_kept(name):
    torch.manual_seed(0)
    model, x = Normed().train(), tiny_inputs()
    before = {k: v.clone() for k, v in model.bn.state_dict().items()}
    method = resolve(name)
    with pytest.warns(UserWarning) as record:
        method(model, x, TARGET, **method.accepts({"n_steps": 2, "n_samples": 2}))
    messages = [str(w.message) for w in record if "training mode" in str(w.message)]
    assert len(messages) == 1 and "\n" not in messages[0] and "model.eval()" in messages[0] and name in messages[0]
    assert model.training and model.bn.training  # the mode is the caller's: not switched
    assert all(torch.equal(before[k], v) for k, v in model.bn.state_dict().items())


def test_dropout_in_training_mode_is_warned_about_and_eval_mode_or_plain_models_are_not():
    model, x = Normed(dropout=0.5), tiny_inputs()
    model.bn.eval()  # only the dropout is in training mode
    with pytest.warns(UserWarning, match="training mode"):
        resolve("saliency")(model, x, TARGET)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve("saliency")(model.eval(), x, TARGET)
        resolve("saliency")(tiny_cnn().train(), x, TARGET)  # no batch norm, no dropout: nothing to say
