"""What every task shares: optimiser and schedule construction, precision, state for checkpoints."""

from __future__ import annotations

import contextlib
from typing import Iterable

import torch
from torch import nn

IMPLEMENTATION_KEYS = ("capturable", "fused", "foreach", "differentiable")


def make_optimizer(params: Iterable[nn.Parameter], optim_cfg, device: torch.device,
                   lr: float | None = None, betas: tuple[float, float] | None = None,
                   graph_safe: bool = False) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD from the `optim` section; fused kernels on CUDA (and Adam/AdamW on a CPU).

    `graph_safe` (Adam/AdamW on CUDA): the learning rate lives in a device tensor that the
    schedule fills in place and the step counters stay on the device, so a captured step
    replays with the current learning rate and never waits for the host."""
    lr = optim_cfg.lr if lr is None else lr
    betas = tuple(optim_cfg.betas) if betas is None else betas
    # fused: one kernel for the whole update; on a CPU (Adam/AdamW) about 4x faster than foreach
    fused = device.type == "cuda" or (device.type == "cpu" and optim_cfg.name != "sgd")
    extra = {"fused": True} if fused else {}
    if graph_safe and optim_cfg.name != "sgd":
        lr = torch.tensor(float(lr), device=device)
        extra = {"fused": True, "capturable": True}
    if optim_cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=optim_cfg.weight_decay, **extra)
    if optim_cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=optim_cfg.weight_decay, **extra)
    return torch.optim.SGD(params, lr=lr, momentum=optim_cfg.momentum, weight_decay=optim_cfg.weight_decay,
                           nesterov=optim_cfg.momentum > 0, **extra)


def make_scheduler(opt: torch.optim.Optimizer, optim_cfg, total_steps: int):
    """Per-step schedule over the whole run: none, cosine to zero, or one-cycle with warm-up."""
    if optim_cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps))
    if optim_cfg.schedule == "onecycle":
        steps = max(2, total_steps)
        # each phase needs a positive length in steps (OneCycleLR divides by it): a run of a few
        # steps gets a warm-up of at least one step and an anneal of at least half a step
        pct = min(max(optim_cfg.warmup, 1.5 / steps), 1.0 - 0.5 / steps)
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[float(g["lr"]) for g in opt.param_groups], total_steps=steps,
            pct_start=pct, cycle_momentum=optim_cfg.name == "sgd")
    return None


def autocast(device: torch.device, precision: str):
    """The autocast context for `train.precision` (a no-op for 32). Its weight-cast cache is off,
    as a captured CUDA graph needs, on every path, so that both paths compute the same thing."""
    if precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=False)


def optimizer_state(opt: torch.optim.Optimizer) -> dict:
    """The optimizer's state for a checkpoint, with a tensor learning rate written as a float."""
    state = opt.state_dict()
    state["param_groups"] = [{**g, "lr": float(g["lr"])} for g in state["param_groups"]]
    return state


def load_optimizer_state(opt: torch.optim.Optimizer, saved: dict) -> None:
    """Load a checkpoint's optimizer state into `opt` and keep `opt`'s own implementation (fused,
    capturable, a tensor learning rate): a run saved by a captured step resumes eager and back."""
    own = opt.param_groups
    # a setting the checkpoint lacks (an older torch) keeps the built value; one this torch does not
    # know is dropped (xaicli/training/checkpoint_checks.py has checked the rest against `opt`)
    groups = [{**mine, **{k: v for k, v in g.items() if k in mine},
               **{k: mine[k] for k in IMPLEMENTATION_KEYS if k in mine}, "lr": float(g.get("lr", mine["lr"]))}
              for g, mine in zip(saved["param_groups"], own, strict=True)]
    lrs = [g["lr"] for g in own]
    opt.load_state_dict({**saved, "param_groups": groups})
    for group, lr in zip(opt.param_groups, lrs, strict=True):
        if torch.is_tensor(lr):  # the same tensor the captured step reads, refilled in place
            lr.fill_(group["lr"])
            group["lr"] = lr


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module under DDP (`module.`) or torch.compile (`_orig_mod.`) wrappers."""
    while True:
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        else:
            return module


class Task:
    """Base: subclasses fill `modules`, `optimizers`, `schedulers` and implement the step, and say how
    their runs are evaluated and explained. Capabilities are class attributes, readable before a task
    is built (tasks.task_class), so a command can refuse a run in a second."""

    kind = "base"
    monitor: tuple[str, str] = ("val_loss", "min")  # metric deciding best.pt, and its direction
    validates = False  # validate() scores a held-out split (data.val_split is carved for it)
    sampleable = False  # `xai sample` draws images from its runs (it has a generator)
    classifies = False  # it scores images by class: it can judge a GAN's images (eval/explain --classifier)
    judged_by_classifier = False  # eval/explain take a classifier run that scores its images (GANs)

    def __init__(self, cfg, data, device: torch.device, total_steps: int, graph_safe: bool = False) -> None:
        self.cfg, self.data, self.device, self.total_steps = cfg, data, device, total_steps
        self.graph_safe = graph_safe  # optimizers built so that the step can be captured in a CUDA graph
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict = {}
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.precision == "16-mixed"
                                           and device.type == "cuda")

    def train(self, mode: bool = True) -> None:
        for m in self.modules.values():
            m.train(mode)

    def state_dict(self) -> dict:
        return {
            "models": {k: unwrap(m).state_dict() for k, m in self.modules.items()},
            "optimizers": {k: optimizer_state(o) for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items() if s is not None},
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        for k, m in self.modules.items():
            unwrap(m).load_state_dict(state["models"][k])
        if weights_only:
            return
        for k, o in self.optimizers.items():
            load_optimizer_state(o, state["optimizers"][k])
        for k, s in self.schedulers.items():
            if s is not None and k in state.get("schedulers", {}):
                s.load_state_dict(state["schedulers"][k])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    # -- the training step, in three parts so that the middle one can be captured in a CUDA graph ----
    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """One eager step: host bookkeeping, the device work, host bookkeeping."""
        variant = self.prepare_step()
        out = self.step_body(x, y, variant)
        self.finish_step(variant)
        return out

    def prepare_step(self) -> str:
        """Host-side work before a step (it may fill device tensors the step reads); returns the
        step's variant, a name for one fixed sequence of device work (one CUDA graph each)."""
        return "step"

    def step_body(self, x: torch.Tensor, y: torch.Tensor, variant: str) -> dict[str, torch.Tensor]:
        """Forward, backward and optimizer steps; device work only: no host sync, no Python-side
        state that changes from step to step. Returns per-step metric sums (device tensors)."""
        raise NotImplementedError

    def finish_step(self, variant: str) -> None:
        """Host-side work after a step: learning-rate schedules, counters."""

    def validate(self) -> dict[str, float]:
        return {}

    def health(self, values: dict[str, float]) -> str | None:
        """A warning about the training dynamics seen in one log window, or None."""
        return None

    def on_epoch_end(self, epoch: int, run_dir) -> None:
        """Per-epoch extras (a GAN's sample grid); nothing for classifiers."""

    def schedule_steps(self, total_steps: int) -> dict[str, int]:
        """How many times each optimizer's schedule steps in `total_steps` training steps."""
        return {name: total_steps for name in self.optimizers}

    def build_schedules(self, total_steps: int) -> None:
        """A schedule of the configured kind per optimizer over `total_steps` training steps."""
        steps = self.schedule_steps(total_steps)
        self.schedulers = {name: make_scheduler(opt, self.cfg.optim, steps[name])
                           for name, opt in self.optimizers.items()}

    def restart_schedules(self, total_steps: int) -> None:
        """Extending a finished run: the learning rate back at optim.lr and a fresh schedule of the configured
        kind over the added steps (a warm restart); weights and optimizer moments carry on."""
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                for key in ("initial_lr", "max_lr", "min_lr"):
                    group.pop(key, None)
                if torch.is_tensor(group["lr"]):
                    group["lr"].fill_(self.cfg.optim.lr)
                else:
                    group["lr"] = self.cfg.optim.lr
        self.build_schedules(total_steps)

    def model_provenance(self) -> dict:
        """What meta.json's run section records about where the model came from (external models)."""
        return {}

    def epoch_files(self, epoch: int) -> list[str]:
        """The files on_epoch_end writes for `epoch` (0-based), relative to the run directory: a resume
        at the end of that epoch writes those a stopped run could not."""
        return []

    # -- what the other commands do with a run of this kind ---------------------------------------------
    def next_commands(self, run_dir) -> list[str]:
        """What a person runs next on a finished run of this kind (printed when training ends)."""
        return [f"xai eval {run_dir}", f"xai explain {run_dir}"]

    def evaluate(self, restored, split: str | None = None, classifier: str | None = None) -> dict:
        """`xai eval`: the metrics of a restored run of this kind."""
        raise NotImplementedError

    def explain(self, restored, ecfg, new_folder, explicit: bool, log) -> dict[str, dict]:
        """`xai explain`: the report's sections; `new_folder()` makes the output folder once all is checked."""
        raise NotImplementedError

    def lr(self) -> float:
        return float(next(iter(self.optimizers.values())).param_groups[0]["lr"])
