"""`xai sample RUN`: images from a GAN run's generator, written so they can be found and reproduced.

Output folder (a new RUN/samples/NNN by default, never overwritten; built hidden and put in place whole):
  grid.png            the first GRID_MAX images in one grid, 8 a row (an interpolation reads row by row)
  images/NNNNNN.png   one PNG per image
  samples.pt          {"images": uint8 (N, C, H, W), "labels": long (N,) or absent}; read it with
                      xaicli.runs.checkpoint.load_checkpoint (a weights-only torch file)
  manifest.json       run, checkpoint, seed, n, label, interpolate, model and the files
"""

from __future__ import annotations

from pathlib import Path

import torch

from xaicli import config as cfgmod
from xaicli.errors import ConfigError
from xaicli.runs.checkpoint import save_checkpoint
from xaicli.runs.files import write_json
from xaicli.runs.layout import resolve_run
from xaicli.runs.staging import StagedOutput

SAMPLE_FORMAT = 1
MAX_SAMPLES = 100_000  # images per command: samples.pt holds them all in memory as uint8
CHUNK = 1000  # images generated, converted and written at a time
GRID_MAX = 256  # images drawn in grid.png (all of them are in images/ and samples.pt)


def check_sampleable(run: str) -> None:
    """Only runs whose task has a generator can be sampled: a usage error (exit 2) for anything else,
    before loading weights."""
    from xaicli.models import MODELS
    from xaicli.tasks import task_class

    run_dir, _ = resolve_run(run)
    cfg = cfgmod.load_run(run_dir)
    task = task_class(cfg.model.name)
    if not task.sampleable:
        able = [name for name in MODELS.names() if task_class(name).sampleable]
        raise ConfigError(f"sample: {run_dir} is a {task.kind} run ('{cfg.model.name}'); "
                          f"only GAN runs can be sampled ({', '.join(able)})")


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` points on the great circle from z0 to z1 (linear when they are parallel)."""
    t = torch.linspace(0, 1, steps, device=z0.device).unsqueeze(1)
    cos = (z0 @ z1 / (z0.norm() * z1.norm()).clamp_min(1e-12)).clamp(-1, 1)
    omega = torch.arccos(cos)
    if float(omega.sin().abs()) < 1e-6:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / omega.sin()


def sample_inputs(task, n: int, seed: int, label: int | None, interpolate: bool):
    """(latents, labels or None) for a sample request."""
    if label is not None:
        if not task.conditional:
            raise ConfigError(f"--label: this GAN ('{task.cfg.model.name}') is not class-conditional; "
                              f"leave --label out (only cgan runs take one)")
        if not 0 <= label < task.num_classes:
            raise ConfigError(f"--label: expected a class in 0..{task.num_classes - 1}, found {label}")
    if interpolate:
        if n < 2:
            raise ConfigError("--interpolate: needs -n of at least 2 (the two end points)")
        ends = task.noise(2, seed)
        z = slerp(ends[0], ends[1], n)
    else:
        z = task.noise(n, seed)
    if not task.conditional:
        return z, None
    if label is not None:
        return z, torch.full((n,), label, dtype=torch.long, device=task.device)
    if interpolate:
        return z, torch.zeros(n, dtype=torch.long, device=task.device)
    return z, task.default_labels(n)


def generate_in_chunks(task, z: torch.Tensor, labels: torch.Tensor | None, folder: Path) -> torch.Tensor:
    """uint8 images for every latent, CHUNK at a time (one float chunk in memory), each chunk's PNGs
    written as it is made."""
    from xaicli.viz.images import save_png, to_uint8

    images = torch.empty(len(z), *task.image_shape, dtype=torch.uint8)
    for start in range(0, len(z), CHUNK):
        stop = min(start + CHUNK, len(z))
        images[start:stop] = to_uint8(task.decode(z[start:stop], None if labels is None else labels[start:stop]))
        for i in range(start, stop):
            save_png(images[i], folder / "images" / f"{i:06d}.png")
    return images


def write_samples(folder: Path, images: torch.Tensor, labels: torch.Tensor | None, manifest: dict,
                  ncol: int) -> None:
    from xaicli.viz.images import save_grid

    save_grid(images[:GRID_MAX], folder / "grid.png", ncol=min(ncol, GRID_MAX))
    payload = {"format_version": SAMPLE_FORMAT, "images": images.contiguous()}
    if labels is not None:
        payload["labels"] = labels.cpu()
    save_checkpoint(folder / "samples.pt", payload)
    write_json(folder / "manifest.json", manifest)


def run_sample(run: str, n: int = 64, seed: int = 0, label: int | None = None, interpolate: bool = False,
               out: str | None = None, checkpoint: str = "last", data_source: str | None = None) -> str:
    """Generate and write the images; return the output folder."""
    from xaicli.runs.restore import restore

    if not 1 <= n <= MAX_SAMPLES:
        raise ConfigError(f"-n: expected from 1 to at most {MAX_SAMPLES:,} images, found {n:,}; "
                          f"for more, run several commands with different --seed")
    check_sampleable(run)
    restored = restore(run, checkpoint, data_source=data_source)
    task = restored.task
    z, labels = sample_inputs(task, n, seed, label, interpolate)
    staged = StagedOutput(restored.run_dir, "samples", out)
    images = generate_in_chunks(task, z, labels, staged.path)
    manifest = {"run": str(restored.run_dir), "checkpoint": str(restored.checkpoint),
                "checkpoint_sha256": restored.sha256, "model": restored.cfg.model.name,
                "seed": seed, "n": n, "label": label, "interpolate": interpolate,
                "labels": None if labels is None else labels.tolist(), "shape": list(images.shape),
                "files": {"grid": "grid.png", "images": "images/", "tensor": "samples.pt"}}
    write_samples(staged.path, images, labels, manifest, ncol=min(8, n))  # an interpolation reads row by row
    return str(staged.commit())
