"""The GAN task: two optimisers, the step order, what is logged, the per-epoch sample grid, EMA.

Step order (one call per data batch):
  1. G makes a batch of fakes from fresh noise (with a graph only when G is updated this step).
  2. D step: loss on D(real) and D(fake.detach()), plus the gradient penalty for wgan_gp (whose critic
     scores real, fake and the penalty's points in one call: gan_losses.critic_scores).
  3. G step, every `n_critic`-th call (every call for n_critic = 1): loss on D(fake) through the
     just-updated D; then the EMA copy of G (if `model.args.ema` > 0) moves toward G, with the decay
     warmed up as min(ema, (1 + t) / (10 + t)) over G updates t so early weights fade quickly.
Each critic step sees a fresh real batch, as in WGAN-GP's algorithm.

Logged means per image: loss_d (adversarial part), loss_g, d_real and d_fake (mean D output, a logit
or critic value), gp (wgan_gp). On critic-only steps loss_g is G's loss on that step's fakes against
the critic before its update, so every step reports one.

Checkpoints: GANs have no validation number that tracks sample quality (FID needs a classifier run
and minutes), so GAN runs keep only last.pt; `--checkpoint best` falls back to it.
"""

from __future__ import annotations

import copy

import torch

from xaicli.models import build_model
from xaicli.tasks import TASKS
from xaicli.tasks.base import Task, autocast, make_optimizer, unwrap
from xaicli.tasks.gan_losses import critic_scores, discriminator_loss, generator_loss

GRID_COLUMNS = 8


@TASKS.register("gan")
class GanTask(Task):
    kind = "gan"
    monitor = ("none", "min")  # validate() returns nothing: best.pt is never written
    sampleable = True
    judged_by_classifier = True

    def __init__(self, cfg, data, device: torch.device, total_steps: int, graph_safe: bool = False) -> None:
        super().__init__(cfg, data, device, total_steps, graph_safe)
        gan = build_model(cfg.model.name, data.shape, data.num_classes, cfg.model.args).to(device)
        self.modules = {"gan": gan}
        if gan.ema:
            self.modules["generator_ema"] = copy.deepcopy(gan.generator).requires_grad_(False).eval()
        self.latent_dim: int = gan.latent_dim
        self.conditional: bool = gan.conditional
        self.num_classes: int = data.num_classes
        self.image_shape = tuple(data.shape)
        self.optimizers = {name: make_optimizer(net.parameters(), cfg.optim, device, graph_safe=self.graph_safe)
                           for name, net in (("generator", gan.generator), ("discriminator", gan.discriminator))}
        self._ema_keep = torch.zeros((), device=device)  # EMA weights of this G update, filled per step
        self._ema_take = torch.zeros((), device=device)
        self.build_schedules(total_steps)
        compile_ = torch.compile if cfg.train.compile else (lambda m: m)
        self._g, self._d = compile_(gan.generator), compile_(gan.discriminator)
        # the G step goes through D with its parameters frozen and never through D's DDP wrapper,
        # so D's gradients are all-reduced once per step (in the D step) and never left unused
        self._d_frozen = self._d
        self.steps = 0  # D steps taken: decides which steps also update G
        self.rank, self.world_size = 0, 1

    # -- the interface other commands use ------------------------------------------------------------
    @property
    def gan(self) -> torch.nn.Module:
        return unwrap(self.modules["gan"])

    @property
    def generator(self) -> torch.nn.Module:
        """The generator used for sampling: the EMA copy when EMA is on."""
        return self.modules["generator_ema"] if "generator_ema" in self.modules else self.gan.generator

    @property
    def discriminator(self) -> torch.nn.Module:
        return self.gan.discriminator

    def to_model_input(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 images -> float in [-1, 1] on the task's device, the scale D sees and G produces."""
        return x_uint8.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)

    def default_labels(self, n: int) -> torch.Tensor:
        """Classes 0, 1, ..., K-1, 0, 1, ... for conditional sampling without requested labels."""
        return torch.arange(n, device=self.device) % self.num_classes

    def noise(self, n: int, seed: int) -> torch.Tensor:
        """Latent points from a CPU generator: the same seed gives the same noise on every device."""
        g = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.latent_dim, generator=g).to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 1000) -> torch.Tensor:
        """Images in [-1, 1] from given latents (and labels), with the sampling generator in eval mode."""
        if self.conditional and labels is None:
            labels = self.default_labels(len(z))
        gen = self.generator
        was_training = gen.training
        gen.eval()
        try:
            out = [gen(z[i:i + batch_size], None if labels is None else labels[i:i + batch_size].to(self.device))
                   .float() for i in range(0, len(z), batch_size)]
        finally:
            gen.train(was_training)
        return torch.cat(out) if out else torch.empty(0, *self.image_shape, device=self.device)

    def generate(self, n: int, seed: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        """n images in [-1, 1] on the task's device; deterministic for a seed."""
        if labels is not None:
            if not self.conditional:
                raise ValueError("labels given, but this GAN is not class-conditional")
            if len(labels) != n:
                raise ValueError(f"expected {n} labels, found {len(labels)}")
        return self.decode(self.noise(n, seed), labels)

    # -- training ------------------------------------------------------------------------------------
    def wrap_ddp(self, ddp_fn) -> None:
        """Under DDP each network is wrapped on its own; the saved weights stay the plain module's."""
        import torch.distributed as td

        self._g, self._d = ddp_fn(self.gan.generator), ddp_fn(self.gan.discriminator)
        self.rank, self.world_size = td.get_rank(), td.get_world_size()

    def train(self, mode: bool = True) -> None:
        self.gan.train(mode)
        if "generator_ema" in self.modules:
            self.modules["generator_ema"].eval()

    def _step(self, opt_name: str, loss: torch.Tensor, params) -> None:
        opt = self.optimizers[opt_name]
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.optim.clip_grad_norm:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.clip_grad_norm)
        self.scaler.step(opt)

    def schedule_steps(self, total_steps: int) -> dict[str, int]:
        """D's schedule steps every step, G's every n_critic-th."""
        return {"generator": max(2, total_steps // self.gan.n_critic), "discriminator": total_steps}

    def prepare_step(self) -> str:
        """"dg" when this step also updates G (every n_critic-th), else "d"; sets the EMA weights."""
        g_step = (self.steps + 1) % self.gan.n_critic == 0
        if g_step and "generator_ema" in self.modules:
            g_updates = self.steps // self.gan.n_critic  # G updates before this one
            decay = min(self.gan.ema, (1 + g_updates) / (10 + g_updates))  # warm-up: early weights fade fast
            self._ema_keep.fill_(decay)
            self._ema_take.fill_(1.0 - decay)
        return "dg" if g_step else "d"

    def step_body(self, x: torch.Tensor, y: torch.Tensor, variant: str) -> dict[str, torch.Tensor]:
        gan, kind = self.gan, self.gan.loss
        labels = y if self.conditional else None
        real = self.to_model_input(x)
        # noise for the whole global batch, then this rank's slice: N processes draw what one would
        z = torch.randn(len(x) * self.world_size, self.latent_dim, device=self.device)[
            self.rank * len(x):(self.rank + 1) * len(x)]
        g_step = variant == "dg"
        precision = self.cfg.train.precision
        with torch.set_grad_enabled(g_step), autocast(self.device, precision):
            fake = self._g(z, labels)
        out = {}
        with autocast(self.device, precision):
            if kind == "wgan_gp":
                d_real, d_fake, gp = critic_scores(self._d, real, fake.detach(), labels)
                out["gp"] = gp.detach() * len(x)
            else:
                d_real = self._d(real, labels).float()
                d_fake = self._d(fake.detach(), labels).float()
            loss_d = discriminator_loss(kind, d_real, d_fake)
        total_d = loss_d + gan.gp_weight * gp if kind == "wgan_gp" else loss_d
        self._step("discriminator", total_d, gan.discriminator.parameters())
        if g_step:
            gan.discriminator.requires_grad_(False)
            with autocast(self.device, precision):
                loss_g = generator_loss(kind, self._d_frozen(fake, labels).float())
            self._step("generator", loss_g, gan.generator.parameters())
            gan.discriminator.requires_grad_(True)
            self._update_ema()
        else:
            loss_g = generator_loss(kind, d_fake.detach())
        n = torch.full((), float(len(x)), device=x.device)  # a fill, not a host copy: capturable
        return {"loss_d": loss_d.detach() * n, "loss_g": loss_g.detach() * n, "d_real": d_real.detach().sum(),
                "d_fake": d_fake.detach().sum(), **out, "count": n}

    def finish_step(self, variant: str) -> None:
        for name in ("discriminator", "generator") if variant == "dg" else ("discriminator",):
            if self.schedulers[name] is not None:
                self.schedulers[name].step()
        self.scaler.update()
        self.steps += 1

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema = keep * ema + take * G, with the weights in device tensors that prepare_step fills."""
        if "generator_ema" not in self.modules:
            return
        ema = list(self.modules["generator_ema"].parameters())
        torch._foreach_mul_(ema, self._ema_keep)
        torch._foreach_add_(ema, torch._foreach_mul(list(self.gan.generator.parameters()), self._ema_take))
        for b_ema, b in zip(self.modules["generator_ema"].buffers(), self.gan.generator.buffers(), strict=True):
            b_ema.copy_(b)

    # -- health --------------------------------------------------------------------------------------
    D_COLLAPSE_LOSS = 0.01  # BCE / hinge discriminator loss under this: D wins every time
    D_COLLAPSE_WINDOWS = 5  # consecutive log windows before warning

    def health(self, values: dict[str, float]) -> str | None:
        """Warn once D's loss has stayed near zero for several log windows: G gets no useful gradient."""
        if self.gan.loss == "wgan_gp" or "loss_d" not in values:
            return None
        low = values["loss_d"] < self.D_COLLAPSE_LOSS
        self._low_windows = getattr(self, "_low_windows", 0) + 1 if low else 0
        if self._low_windows == self.D_COLLAPSE_WINDOWS:
            return (f"the discriminator's loss has stayed below {self.D_COLLAPSE_LOSS} for "
                    f"{self.D_COLLAPSE_WINDOWS} log windows: it wins every time and the generator learns "
                    f"little; try a lower discriminator learning rate, dropout in D, or the hinge loss")
        return None

    # -- checkpoints and per-epoch extras ------------------------------------------------------------
    def state_dict(self) -> dict:
        return {**super().state_dict(), "gan_steps": self.steps}

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        super().load_state_dict(state, weights_only)
        self.steps = int(state.get("gan_steps", 0))

    def fixed_grid_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The noise (from the run's seed) behind every epoch's grid; one row per class for conditional GANs."""
        if self.conditional:
            labels = torch.arange(self.num_classes, device=self.device).repeat_interleave(GRID_COLUMNS)
            return self.noise(len(labels), self.cfg.seed), labels
        return self.noise(GRID_COLUMNS * GRID_COLUMNS, self.cfg.seed), None

    def on_epoch_end(self, epoch: int, run_dir) -> None:
        from pathlib import Path

        from xaicli.runs.layout import safe_child
        from xaicli.viz.images import save_grid, to_uint8

        z, labels = self.fixed_grid_inputs()
        images = to_uint8(self.decode(z, labels))
        save_grid(images, safe_child(Path(run_dir), self.epoch_files(epoch)[0]), ncol=GRID_COLUMNS,
                  caption=f"{self.cfg.name}: epoch {epoch + 1}/{self.cfg.train.epochs}, fixed noise")

    def epoch_files(self, epoch: int) -> list[str]:
        return [f"samples/epoch_{epoch + 1:03d}.png"]

    # -- the other commands --------------------------------------------------------------------------
    def next_commands(self, run_dir) -> list[str]:
        clf = self.cfg.eval.classifier or "CLASSIFIER_RUN"
        return [f"xai sample {run_dir} -n 64", f"xai eval {run_dir} --classifier {clf}",
                f"xai explain {run_dir} --classifier {clf}"]

    def evaluate(self, restored, split: str | None = None, classifier: str | None = None) -> dict:
        from xaicli.evaluation.gan import evaluate_gan

        return evaluate_gan(restored, classifier)

    def explain(self, restored, ecfg, new_folder, explicit: bool, log) -> dict[str, dict]:
        from xaicli.explain.gan import explain_gan

        return explain_gan(restored, ecfg, new_folder, explicit, log)
