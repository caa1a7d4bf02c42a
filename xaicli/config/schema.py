"""The config's sections: one dataclass each, every field with its one-line meaning and accepted values."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any


def opt(default: Any, help: str, *, choices: tuple | None = None, min: float | None = None,
        max: float | None = None, exclusive_min: bool = False) -> Any:
    """A config field with its one-line meaning and the values it accepts."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "exclusive_min": exclusive_min}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    name: str = opt("mnist", "dataset registry name (xai list datasets)")
    source: str = opt("auto", "where images come from", choices=("auto", "local", "download", "embedded"))
    root: str = opt("data", "folder with the dataset's files (IDX files for MNIST-family data)")
    batch_size: int = opt(128, "training images per optimizer step (global, over all processes)", min=1)
    eval_batch_size: int = opt(1000, "images per forward pass in evaluation", min=1)
    shift: int = opt(0, "random translation augmentation for training, in pixels (0: off)", min=0, max=8)
    hflip: bool = opt(False, "random horizontal flips for training (not for digits)")
    num_train: int = opt(0, "use only the first N training images (0: all; synthetic: 0 means 1024)", min=0)
    num_test: int = opt(0, "use only the first N test images (0: all; synthetic: 0 means 256)", min=0)
    device_resident: str = opt("auto", "keep the whole dataset on the device as uint8",
                               choices=("auto", "true", "false"))
    drop_last: bool = opt(True, "drop the last partial training batch of each epoch (static shapes)")
    val_split: float = opt(0.1, "share of the training images held out, stratified, to validate on and choose "
                           "best.pt (datasets without a validation split of their own; 0: no validation)",
                           min=0.0, max=0.5)
    split_seed: int = opt(0, "seed of the validation split (fixed apart from `seed`, so runs that differ only "
                          "in seed validate on the same images)", min=0)


@dataclass
class ModelConfig:
    name: str = opt("fast_cnn", "model registry name (xai list models)")
    args: dict = opt({}, "keyword arguments for the model builder (for example width: 64)")


@dataclass
class OptimConfig:
    name: str = opt("adamw", "optimizer", choices=("adam", "adamw", "sgd"))
    lr: float = opt(1e-3, "peak learning rate", min=0.0, exclusive_min=True)
    weight_decay: float = opt(0.0, "decoupled weight decay (adamw) or L2 penalty (adam, sgd)", min=0.0)
    momentum: float = opt(0.9, "SGD momentum", min=0.0, max=1.0)
    betas: list = opt([0.9, 0.999], "Adam beta1, beta2")
    schedule: str = opt("onecycle", "learning-rate schedule over the whole run",
                        choices=("none", "cosine", "onecycle"))
    warmup: float = opt(0.2, "fraction of the run spent warming up (onecycle)", min=0.0, max=1.0)
    clip_grad_norm: float = opt(0.0, "clip the gradient norm to this value (0: off)", min=0.0)
    label_smoothing: float = opt(0.0, "label smoothing for the classification loss", min=0.0, max=1.0)


@dataclass
class TrainConfig:
    epochs: int = opt(10, "passes over the training set", min=1)
    device: str = opt("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: str = opt("32", "numeric precision", choices=("32", "bf16-mixed", "16-mixed"))
    compile: bool = opt(False, "wrap the model in torch.compile")
    cuda_graphs: str = opt("auto", "replay each training step from a CUDA graph (CUDA only; auto: where "
                           "the run allows it, with a one-line notice where it does not)",
                           choices=("auto", "true", "false"))
    log_every: int = opt(50, "steps between progress lines and metrics.jsonl step rows", min=1)
    runs_dir: str = opt("runs", "parent folder of new run directories")
    threads: int = opt(0, "CPU threads for torch (0: torch's default)", min=0)
    loggers: list = opt([], "mirrors of metrics.jsonl written as the run goes: tensorboard (RUN/tb/), mlflow "
                        "(MLFLOW_TRACKING_URI, else a SQLite store next to train.runs_dir); extras [tensorboard], "
                        "[mlflow]")


@dataclass
class EvalConfig:
    split: str = opt("test", "split evaluated by xai eval (test: never seen in training or model selection)",
                     choices=("train", "val", "test"))
    ece_bins: int = opt(15, "bins of the expected calibration error", min=1)
    classifier: str = opt("", "classifier run whose features score GAN samples (FID, KID)")
    num_samples: int = opt(10000, "GAN runs: generated and real images compared (capped at the held-out "
                                  "set size)", min=2)


@dataclass
class ExplainConfig:
    methods: list = opt(["saliency", "integrated_gradients", "gradcam"], "attribution methods")
    n: int = opt(8, "images to explain", min=1)
    target: str = opt("pred", "pred, label, or a class index")
    inputs: str = opt("real", "real or generated images (GAN runs)", choices=("real", "generated"))
    split: str = opt("test", "split the images come from", choices=("train", "val", "test"))
    baseline: str = opt("black", "IG / GradientSHAP / occlusion reference: zero (in model input units), black "
                        "(lowest pixel value), mean (training mean image), blur, uniform",
                        choices=("zero", "black", "mean", "blur", "uniform"))
    n_steps: int = opt(50, "integrated gradients: points on the path", min=2)
    rule: str = opt("gausslegendre", "integrated gradients: integration rule",
                    choices=("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"))
    n_samples: int = opt(20, "SmoothGrad / GradientSHAP: noisy samples per image", min=1)
    sigma: float = opt(0.15, "SmoothGrad: noise std as a fraction of the input range", min=0.0)
    window: int = opt(4, "occlusion: window side, in pixels", min=1)
    stride: int = opt(2, "occlusion: window step, in pixels", min=1)
    memory_mb: float = opt(1024.0, "memory budget of one multi-pass chunk, in MiB (halved on out-of-memory)",
                           min=0.0, exclusive_min=True)
    sanity: bool = opt(True, "run the model-parameter randomization test for each method")
    sanity_threshold: float = opt(0.5, "randomization test: pass below this Spearman correlation",
                                  min=-1.0, max=1.0)
    seed: int = opt(0, "seed of noise draws, random baselines, random pixel orders and generated inputs", min=0)
    classifier: str = opt("", "GAN runs: classifier run that explains generated digits and the generator "
                          "(empty: eval.classifier)")
    layer: str = opt("", "Grad-CAM family: dotted module name of the layer (empty: the last block whose output "
                     "is the final spatial feature map and that runs once per forward)")


@dataclass
class Config:
    name: str = opt("run", "run name: runs/<name>-NNN")
    seed: int = opt(0, "random seed for weights, data order and augmentation", min=0)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)


LOGGERS = ("tensorboard", "mlflow")  # train.loggers accepts these (xaicli/tracking)

SECTIONS = {name: tp for name, tp in typing.get_type_hints(Config).items() if dataclasses.is_dataclass(tp)}


def all_keys() -> list[str]:
    """Every valid dotted key, for "did you mean" suggestions."""
    keys = []
    for f in dataclasses.fields(Config):
        if f.name in SECTIONS:
            keys += [f"{f.name}.{g.name}" for g in dataclasses.fields(SECTIONS[f.name])]
        else:
            keys.append(f.name)
    return keys
