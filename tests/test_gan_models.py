"""Every registered GAN: shapes, a few training steps, checkpoint round trip, deterministic sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xaicli import config as cfgmod
from xaicli.data.loader import BatchStream
from xaicli.data.registry import load_run_data
from xaicli.errors import ConfigError
from xaicli.models import MODELS, build_model, model_kind
from xaicli.runs.checkpoint import load_checkpoint, save_checkpoint
from xaicli.tasks import build_task
from xaicli.tasks.gan import GanTask

ROOT = Path(__file__).resolve().parent.parent
GANS = [name for name in MODELS.names() if model_kind(name) == "gan"]
# Small widths keep the tests fast; a GAN registered later runs with its defaults.
SMALL = {"mlp_gan": {"g_hidden": [32, 64], "d_hidden": [64, 32]}, "dcgan": {"width": 8},
         "cgan": {"g_hidden": [32, 64], "d_hidden": [64, 32]}, "wgan_gp": {"width": 8, "n_critic": 2}}
SHAPE = (1, 28, 28)


def test_the_four_gans_of_the_issue_are_registered():
    assert {"mlp_gan", "dcgan", "cgan", "wgan_gp"} <= set(GANS)


def make_task(name: str, extra_args: dict | None = None, seed: int = 0) -> GanTask:
    cfg = cfgmod.load(ROOT / "configs" / "smoke_gan.yaml", [f"model.name={name}", f"seed={seed}"])
    cfg.model.args = {**SMALL.get(name, {}), **(extra_args or {})}
    torch.manual_seed(seed)
    data = load_run_data(cfg)
    task = build_task(cfg, data, torch.device("cpu"), total_steps=8)
    assert isinstance(task, GanTask)
    return task


def batches(task: GanTask, steps: int):
    stream = BatchStream(task.data.x_train, task.data.y_train, task.cfg.data.batch_size, torch.device("cpu"))
    for i, batch in enumerate(stream.epoch(0)):
        if i == steps:
            return
        yield batch


@pytest.mark.parametrize("name", GANS)
def test_generator_and_discriminator_shapes(name):
    gan = build_model(name, SHAPE, 10, SMALL.get(name, {}))
    z = torch.randn(5, gan.latent_dim)
    labels = torch.arange(5) if gan.conditional else None
    images = gan.generator(z, labels)
    assert images.shape == (5, *SHAPE)
    assert images.min() >= -1 and images.max() <= 1
    assert gan.discriminator(images, labels).shape == (5,)


def test_mlp_gan_has_the_article_layer_sizes():
    gan = build_model("mlp_gan", SHAPE, 10, {})
    widths = lambda net: [m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear)]  # noqa: E731
    assert gan.latent_dim == 100
    assert widths(gan.generator) == [256, 512, 784]
    assert widths(gan.discriminator) == [256, 128, 1]
    assert isinstance(list(gan.generator.modules())[-1], torch.nn.Tanh)


@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_cgan_discriminator_depends_on_the_label(conditioning):
    gan = build_model("cgan", SHAPE, 10, {**SMALL["cgan"], "d_conditioning": conditioning})
    torch.nn.init.normal_(next(p for n, p in gan.discriminator.named_parameters() if "embed" in n or "project" in n))
    x = torch.rand(4, *SHAPE) * 2 - 1
    a, b = gan.discriminator(x, torch.zeros(4, dtype=torch.long)), gan.discriminator(x, torch.ones(4, dtype=torch.long))
    assert a.shape == (4,) and not torch.allclose(a, b)


def test_conditional_models_need_labels():
    gan = build_model("cgan", SHAPE, 10, SMALL["cgan"])
    with pytest.raises(ValueError, match="labels"):
        gan.generator(torch.randn(2, gan.latent_dim))


@pytest.mark.parametrize("name,args,match", [("dcgan", {"loss": "wgan_gp"}, "loss"),
                                             ("mlp_gan", {"loss": "wasserstein"}, "loss"),
                                             ("wgan_gp", {"critic_norm": "batch"}, "critic_norm"),
                                             ("mlp_gan", {"n_critc": 5}, "n_critic")])
def test_bad_model_args_are_config_errors(name, args, match):
    with pytest.raises(ConfigError, match=match):
        build_model(name, SHAPE, 10, args)


@pytest.mark.parametrize("name", GANS)
def test_training_steps_give_finite_losses_and_update_both_networks(name):
    task = make_task(name)
    g0 = [p.detach().clone() for p in task.gan.generator.parameters()]
    d0 = [p.detach().clone() for p in task.gan.discriminator.parameters()]
    steps = 2 * task.gan.n_critic
    sums: dict[str, torch.Tensor] = {}
    for xb, yb in batches(task, steps):
        out = task.train_step(xb, yb)
        assert out["count"] == len(xb)
        for k, v in out.items():
            assert v.dim() == 0 and torch.isfinite(v), (k, v)
            sums[k] = sums.get(k, 0) + v
    assert {"loss_d", "loss_g", "d_real", "d_fake", "count"} <= set(sums)
    assert ("gp" in sums) == (task.gan.loss == "wgan_gp")
    assert task.steps == steps
    assert any(not torch.equal(a, b) for a, b in zip(g0, task.gan.generator.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, task.gan.discriminator.parameters(), strict=True))


def test_wgan_gp_updates_the_generator_once_per_n_critic_steps():
    task = make_task("wgan_gp", {"n_critic": 3})
    g0 = [p.detach().clone() for p in task.gan.generator.parameters()]
    stream = batches(task, 3)
    for _ in range(2):
        task.train_step(*next(stream))
    assert all(torch.equal(a, b) for a, b in zip(g0, task.gan.generator.parameters(), strict=True))
    task.train_step(*next(stream))
    assert any(not torch.equal(a, b) for a, b in zip(g0, task.gan.generator.parameters(), strict=True))


@pytest.mark.parametrize("name", GANS)
def test_sampling_is_deterministic_for_a_seed(name):
    task = make_task(name)
    task.train(False)
    a, b, c = task.generate(6, seed=7), task.generate(6, seed=7), task.generate(6, seed=8)
    assert a.shape == (6, *SHAPE) and a.device == task.device
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1


def test_conditional_generate_uses_the_requested_labels():
    task = make_task("cgan")
    z = task.noise(4, seed=1)
    threes = task.generate(4, seed=1, labels=torch.full((4,), 3))
    assert torch.equal(threes, task.decode(z, torch.full((4,), 3)))
    assert not torch.equal(threes, task.generate(4, seed=1, labels=torch.full((4,), 5)))
    with pytest.raises(ValueError):
        make_task("mlp_gan").generate(2, seed=0, labels=torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("name", GANS)
def test_checkpoint_round_trip_restores_weights_and_step_count(name, tmp_path):
    task = make_task(name)
    for xb, yb in batches(task, 2):
        task.train_step(xb, yb)
    task.train(False)
    expected = task.generate(4, seed=3)
    save_checkpoint(tmp_path / "last.pt", {"format_version": 1, **task.state_dict()})
    fresh = make_task(name, seed=1)  # different initial weights
    fresh.train(False)
    assert not torch.equal(fresh.generate(4, seed=3), expected)
    fresh.load_state_dict(load_checkpoint(tmp_path / "last.pt"))
    fresh.train(False)
    assert torch.equal(fresh.generate(4, seed=3), expected)
    assert fresh.steps == task.steps == 2
    for a, b in zip(task.optimizers["generator"].state_dict()["state"].values(),
                    fresh.optimizers["generator"].state_dict()["state"].values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"])


def test_ema_generator_is_what_samples_and_it_lags_the_trained_one():
    task = make_task("mlp_gan", {"ema": 0.9})
    assert task.generator is task.modules["generator_ema"]
    for xb, yb in batches(task, 2):
        task.train_step(xb, yb)
    ema, raw = task.modules["generator_ema"], task.gan.generator
    assert all(not p.requires_grad for p in ema.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(ema.parameters(), raw.parameters(), strict=True))
    assert "generator_ema" in task.state_dict()["models"]


def test_to_model_input_maps_uint8_to_minus_one_one():
    task = make_task("mlp_gan")
    x = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 1, 1, 3)
    out = task.to_model_input(x)
    assert out.dtype == torch.float32
    assert torch.allclose(out.flatten(), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)


def test_interface_attributes_for_explanations():
    task = make_task("cgan")
    assert task.latent_dim == 100 and task.conditional is True and task.num_classes == 10
    plain = make_task("dcgan")
    assert plain.conditional is False
    images = plain.generate(3, seed=0)
    assert plain.discriminator(images).shape == (3,)


def test_interpolation_runs_from_one_latent_point_to_the_other():
    from xaicli.sampling import slerp

    z = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    path = slerp(z[0], z[1], 5)
    assert path.shape == (5, 100)
    assert torch.allclose(path[0], z[0], atol=1e-5) and torch.allclose(path[-1], z[1], atol=1e-5)
    assert torch.allclose(slerp(z[0], z[0], 3), z[0].expand(3, -1), atol=1e-5)  # parallel: no division by 0


def test_grid_places_images_row_major_with_a_gutter():
    from xaicli.viz.images import grid

    images = torch.stack([torch.full((1, 2, 2), v, dtype=torch.uint8) for v in (10, 20, 30)])
    g = grid(images, ncol=2, pad=1)
    assert g.shape == (1, 1 + 2 * 3, 1 + 2 * 3)
    assert g[0, 1, 1] == 10 and g[0, 1, 4] == 20 and g[0, 4, 1] == 30 and g[0, 4, 4] == 0 and g[0, 0, 0] == 0
