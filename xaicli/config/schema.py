"""The config's sections: one dataclass each, every field with its one-line meaning and accepted values."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

MAX_SEED = 2**32 - 1
MAX_NAME = 100  # a run folder's name is the name and -NNN; file systems allow 255 bytes
MAX_INT = 2**63 - 1  # any integer setting: what a 64-bit integer holds


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
    root: str = opt("data", "folder with the dataset's files (IDX files for MNIST-family data; folder: "
                    "ROOT/train/<class>/ or ROOT/<class>/; csv: the CSV file)")
    batch_size: int = opt(128, "training images per optimizer step (global, over all processes)", min=1)
    eval_batch_size: int = opt(1000, "images per forward pass in evaluation", min=1)
    shift: int = opt(0, "random translation augmentation for training, in pixels (0: off)", min=0, max=8)
    hflip: bool = opt(False, "random horizontal flips for training (not for digits)")
    num_train: int = opt(0, "use only the first N training images (0: all; synthetic: 0 means 1024; "
                         "folder/csv: N of the shuffled training files)", min=0)
    num_test: int = opt(0, "use only the first N test images (0: all; synthetic: 0 means 256; folder/csv: "
                        "N test files drawn with split_seed)", min=0)
    device_resident: str = opt("auto", "keep the whole dataset on the device as uint8",
                               choices=("auto", "true", "false"))
    drop_last: bool = opt(True, "drop the last partial training batch of each epoch (static shapes)")
    val_split: float = opt(0.1, "share of the training images held out, stratified, to validate on and choose "
                           "best.pt (datasets without a validation split of their own; 0: no validation)",
                           min=0.0, max=0.5)
    split_seed: int = opt(0, "seed of the validation split (fixed apart from `seed`, so runs that differ only "
                          "in seed validate on the same images)", min=0, max=MAX_SEED)
    test_split: float = opt(0.1, "folder/csv data without a test folder or test rows: share of each class held "
                            "out (seeded by split_seed) as the test split", min=0.0, max=0.5)
    image_size: int = opt(0, "side of the square images in pixels: the shorter side resized (bilinear, "
                          "antialiased), then a centre crop (0: the dataset's own; folder/csv: the first "
                          "training image's shorter side, at most 256)", min=0, max=4096)
    resize: int = opt(0, "shorter side the images are resized to before the centre crop to data.image_size "
                      "(0: image_size itself, no border cropped; ImageNet weights: 256 for a 224 crop)", min=0,
                      max=4096)
    channels: int = opt(0, "1 (grayscale) or 3 (RGB) (0: the dataset's own; folder/csv: 1 when the first "
                        "training image is grayscale, else 3)", choices=(0, 1, 3))
    mean: list = opt([], "per-channel normalisation mean, in [0, 1] units (empty: computed once from the "
                     "training split; the values used are recorded in meta.json)")
    std: list = opt([], "per-channel normalisation standard deviation, in [0, 1] units (empty: computed)")
    random_resized_crop: float = opt(0.0, "random resized crop for training: the smallest share of the area a "
                                     "crop keeps, aspect 3/4 to 4/3, resized back to the image size (0: off; "
                                     "torchvision's default is 0.08)", min=0.0, max=1.0)
    cache_dir: str = opt("", "folder/csv: where decoded images are cached (empty: $XDG_CACHE_HOME/xai, else "
                         "~/.cache/xai)")
    skip_bad: bool = opt(False, "folder/csv: leave out files that cannot be decoded (and bad CSV rows), listed "
                         "in meta.json, instead of stopping at the first")
    workers: int = opt(0, "folder/csv: threads that decode the images on first use (0: one per CPU core)", min=0)
    memory_mb: int = opt(0, "runs on a CPU: MiB the training images may take in memory; a larger decoded "
                         "cache streams from disk in shuffled blocks (0: half of the available memory)", min=0)


@dataclass
class ModelConfig:
    name: str = opt("fast_cnn", "model registry name (xai list models), or a model from elsewhere: "
                    "torchvision:NAME, timm:NAME, module.path:callable or file.py:callable (naming code runs it)")
    args: dict = opt({}, "keyword arguments for the model builder (for example width: 64)")
    weights: str = opt("none", "external models: none (random), an enum name such as IMAGENET1K_V1 or DEFAULT "
                       "(from the local torch hub cache), or a .pt/.pth/.safetensors state-dict file")
    allow_download: bool = opt(False, "external models: fetch enum weights missing from the local cache")
    code_dir: str = opt("", "module.path:callable: the folder its module is imported from first (empty: the "
                        "config file's folder, written here when the config is read)")


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
    epochs: int = opt(10, "passes over the training set (0: no training; the run holds the model as built, "
                      "for example an external model with its weights)", min=0)
    freeze: bool = opt(False, "external models: train only the classifier head, the rest frozen")
    device: str = opt("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: str = opt("32", "numeric precision", choices=("32", "bf16-mixed", "16-mixed"))
    compile: bool = opt(False, "wrap the model in torch.compile")
    cuda_graphs: str = opt("auto", "replay each training step from a CUDA graph (CUDA only; auto: where "
                           "the run allows it, with a one-line notice where it does not)",
                           choices=("auto", "true", "false"))
    log_every: int = opt(50, "steps between progress lines and metrics.jsonl step rows", min=1)
    runs_dir: str = opt("runs", "parent folder of new run directories")
    threads: int = opt(0, "CPU threads for torch (0: torch's default)", min=0, max=1024)
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


# the scorecard's measures by default (xaicli/explain/measures); smooth_mprt is left out because it
# re-runs every method 2 x explain.smooth_samples times
DEFAULT_MEASURES = ["deletion_insertion", "road", "pixel_flipping", "mprt", "efficient_mprt", "random_logit",
                    "sparseness", "complexity"]


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
    measures: list = opt(DEFAULT_MEASURES, "scorecard measures, from: deletion_insertion, road, pixel_flipping, mprt, "
                         "smooth_mprt, efficient_mprt, random_logit, sparseness, complexity")
    curve_steps: int = opt(20, "deletion, insertion and pixel flipping: points on each curve after the start", min=1)
    road_fractions: list = opt([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                               "ROAD: fractions of the pixels imputed, each in (0, 1)")
    road_noise: float = opt(0.01, "ROAD: std of the noise added to imputed pixels, in model input units", min=0.0)
    patch: int = opt(4, "pixel flipping: side of the square patches set to black, in pixels", min=1)
    smooth_samples: int = opt(10, "smooth MPRT: noisy copies of each image whose maps are averaged", min=1)
    smooth_noise: float = opt(0.1, "smooth MPRT: noise std as a fraction of each image's value range", min=0.0)
    entropy_bins: int = opt(100, "efficient MPRT: histogram bins of the maps' discrete entropy", min=2)
    bootstrap: int = opt(1000, "bootstrap resamples of the images behind every interval and the ranking", min=10)
    sanity: bool = opt(True, "run the randomisation measures (mprt, smooth_mprt, efficient_mprt, random_logit)")
    sanity_threshold: float = opt(0.5, "randomization test: pass below this Spearman correlation",
                                  min=-1.0, max=1.0)
    seed: int = opt(0, "seed of noise draws, random baselines and maps, bootstrap resamples and generated inputs",
                    min=0, max=MAX_SEED)
    classifier: str = opt("", "GAN runs: classifier run that explains generated digits and the generator "
                          "(empty: eval.classifier)")
    layer: str = opt("", "Grad-CAM family: dotted module name of the layer (empty: the last block whose output "
                     "is the final spatial feature map and that runs once per forward)")


@dataclass
class Config:
    name: str = opt("run", f"run name: runs/<name>-NNN (at most {MAX_NAME} characters)")
    seed: int = opt(0, "random seed for weights, data order and augmentation", min=0, max=MAX_SEED)
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
