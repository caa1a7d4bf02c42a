"""Training throughput: the widely used MNIST example loop vs xai's path, same model, device, batch.

Reference: a Dataset returning PIL images, per-sample ToTensor + Normalize, a DataLoader, an eager
step with `loss.item()` every 10 batches (as the MNIST example logs). Ours: what `xai train` runs per
step: device-resident uint8 batches normalised on the device, the task's step (replayed from a CUDA
graph on a GPU, train.cuda_graphs=auto) and the loop's device-side metric sums, read once at the end;
on a CPU, with the allocator settings `xai train` applies there (xaicli/cpu_alloc.py), so all reference
loops are timed first, as a plain script runs them, and ours after.
Both use Adam and the embedded MNIST subset. Prints one JSON line per model.

    python bench/train.py [--device cuda] [--batch 64] [--ref-batch N] [--steps 120] [--models cnn,fast_cnn,mlp_gan]

--precision bf16-mixed runs ours (only) under bf16 autocast: a different arithmetic, reported as such.

    python bench/train.py --trackers [--repeats 3] [--log-every 10]

times the real training loop (`xai train`'s) with train.loggers=[] and [tensorboard], alternately,
`--repeats` runs each, and prints the median time per step of each and their ratio (the cost of the
TensorBoard mirror; step rows every --log-every steps, 5x denser than the default); also the process's
CPU time per step (all threads, TensorBoard's writer thread included), which a shared machine's load
disturbs less than wall time, and the time the loop spends inside the tracker's calls.
--ref-batch (default: --batch) lets ours run at a larger batch than the reference's batch 64, as
the GPU bars compare them ("cnn at batch 512 vs the batch-64 reference loop").
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
from common import device_and_name, emit, timed
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from xaicli import config as cfgmod
from xaicli.data.loader import BatchStream
from xaicli.data.registry import load_run_data
from xaicli.models import MODELS, build_model, model_kind
from xaicli.tasks import build_task
from xaicli.training.cpu_alloc import tune_allocator
from xaicli.training.cuda_graphs import graph_plan, make_step
from xaicli.training.meters import DeviceMeters


class PilDigits(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        self.x, self.y, self.transform = x.squeeze(1).numpy(), y.numpy(), transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i], mode="L")), int(self.y[i])


def reference_loader(data, batch: int) -> DataLoader:
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    return DataLoader(PilDigits(data.x_train, data.y_train, tf), batch_size=batch, shuffle=True, drop_last=True)


def reference_classifier(model, loader, device, steps: int) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    done = 0
    while done < steps:
        for i, (x, y) in enumerate(loader):
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if i % 10 == 0:
                loss.item()
            done += 1
            if done == steps:
                return


def reference_gan(gan, loader, device, steps: int, latent: int) -> None:
    """The plain eager GAN loop: D step on real and fake, then G step, BCE with logits."""
    g, d = gan.generator, gan.discriminator
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    done = 0
    while done < steps:
        for i, (x, _) in enumerate(loader):
            x = x.to(device) * 0.3081 + 0.1307  # undo Normalize: back to [0, 1], then [-1, 1]
            x = x * 2 - 1
            n = len(x)
            z = torch.randn(n, latent, device=device)
            fake = g(z)
            opt_d.zero_grad()
            d_loss = F.binary_cross_entropy_with_logits(d(x).view(-1), torch.ones(n, device=device)) + \
                F.binary_cross_entropy_with_logits(d(fake.detach()).view(-1), torch.zeros(n, device=device))
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = F.binary_cross_entropy_with_logits(d(fake).view(-1), torch.ones(n, device=device))
            g_loss.backward()
            opt_g.step()
            if i % 10 == 0:
                d_loss.item(), g_loss.item()
            done += 1
            if done == steps:
                return


def ours(step, stream, steps: int, device) -> None:
    meters = DeviceMeters(device, 0)
    done, epoch = 0, 0
    while done < steps:
        for x, y in stream.epoch(epoch):
            meters.add(step(x, y))
            done += 1
            if done == steps:
                break
        epoch += 1
    meters.window_means()  # the host reads the sums once: this drains the queued work


def tracker_overhead(args) -> None:
    """Median seconds per training step (epoch times, validation included, summed over the run) with no
    tracker and with TensorBoard, runs alternating so that both see the same machine."""
    import statistics
    import tempfile
    import time

    from xaicli.runs.metrics_log import read_epochs
    from xaicli.tracking import Trackers
    from xaicli.training.loop import train
    from xaicli.viz import console

    console.set_quiet(True)
    device, name = device_and_name(args.device)
    times: dict[str, list[float]] = {"off": [], "tensorboard": []}
    in_tracker = {"seconds": 0.0, "steps": 0}  # time the loop spends inside the tracker's calls
    original = Trackers.on_row

    def timed_on_row(self, record):
        t0 = time.perf_counter()
        original(self, record)
        in_tracker["seconds"] += time.perf_counter() - t0

    Trackers.on_row = timed_on_row
    import xaicli.training.loop as loop

    epoch_cpu = {"seconds": 0.0}  # CPU time of the process (all threads: TensorBoard's writer too) in epochs
    run_epoch = loop.run_epoch

    def cpu_timed_epoch(*a, **k):
        t0 = time.process_time()
        run_epoch(*a, **k)
        epoch_cpu["seconds"] += time.process_time() - t0

    loop.run_epoch = cpu_timed_epoch
    cpu: dict[str, list[float]] = {"off": [], "tensorboard": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for label, loggers in (("off", "[]"), ("tensorboard", "[tensorboard]")):
                cfg = cfgmod.load(None, ["data.source=embedded", "model.name=fast_cnn", f"data.batch_size={args.batch}",
                                         "train.epochs=2", f"train.log_every={args.log_every}",
                                         f"train.device={device}", f"train.loggers={loggers}", f"train.runs_dir={tmp}"])
                epoch_cpu["seconds"] = 0.0
                run = train(cfg, run_dir=f"{tmp}/{label}-{i}")
                epochs = read_epochs(run / "metrics.jsonl")
                steps = json.loads((run / "meta.json").read_text())["steps_per_epoch"] * len(epochs)
                times[label].append(sum(r["seconds"] for r in epochs) / steps)
                cpu[label].append(epoch_cpu["seconds"] / steps)
                in_tracker["steps"] += steps if label == "tensorboard" else 0
    off, on = statistics.median(times["off"]), statistics.median(times["tensorboard"])
    emit(bench="train_trackers", device=name, model="fast_cnn", batch=args.batch, log_every=args.log_every,
         repeats=args.repeats, off_ms_per_step=round(off * 1000, 3), tensorboard_ms_per_step=round(on * 1000, 3),
         ratio=round(on / off, 4),
         tracker_calls_ms_per_step=round(in_tracker["seconds"] / in_tracker["steps"] * 1000, 4),
         cpu_ratio=round(statistics.median(cpu["tensorboard"]) / statistics.median(cpu["off"]), 4),
         cpu_off_ms_per_step=round(statistics.median(cpu["off"]) * 1000, 3),
         cpu_tensorboard_ms_per_step=round(statistics.median(cpu["tensorboard"]) * 1000, 3),
         runs_off=[round(t * 1000, 3) for t in times["off"]],
         runs_tensorboard=[round(t * 1000, 3) for t in times["tensorboard"]])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--ref-batch", type=int, default=None)
    ap.add_argument("--precision", default="32", choices=("32", "bf16-mixed"),
                    help="ours only (the reference stays float32): then the ratio is not like for like")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--models", default="cnn,fast_cnn,mlp_gan")
    ap.add_argument("--trackers", action="store_true", help="TensorBoard on vs off in the real loop (see above)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--log-every", type=int, default=10)
    args = ap.parse_args()
    if args.trackers:
        tracker_overhead(args)
        return
    device, name = device_and_name(args.device)
    ref_batch = args.ref_batch or args.batch
    cfg = cfgmod.load(None, ["data.source=embedded", f"data.batch_size={args.batch}", "optim.name=adam",
                             "optim.schedule=none", f"train.device={device}", f"train.precision={args.precision}"])
    data = load_run_data(cfg)
    cases = []
    for model_name in args.models.split(","):
        if model_name not in MODELS:
            continue
        cfg.model.name = model_name
        torch.manual_seed(0)
        loader = reference_loader(data, ref_batch)
        if model_kind(model_name) == "gan":
            cfg.optim.lr, cfg.optim.betas = 2e-4, [0.5, 0.999]
            ref_gan = build_model(model_name, data.shape, data.num_classes, {}).to(device)
            latent = ref_gan.latent_dim

            def ref_fn(steps, ref_gan=ref_gan, loader=loader, latent=latent):
                return reference_gan(ref_gan, loader, device, steps, latent)
        else:
            ref_model = build_model(model_name, data.shape, data.num_classes, {}).to(device)

            def ref_fn(steps, ref_model=ref_model, loader=loader):
                return reference_classifier(ref_model, loader, device, steps)
        ref_fn(10)  # warm-up
        t_ref = timed(lambda ref_fn=ref_fn: ref_fn(args.steps), device)
        captured, _ = graph_plan(cfg, device, distributed=False)
        task = build_task(cfg, data, device, total_steps=10**6, graph_safe=captured)
        cases.append((model_name, t_ref, make_step(task, captured), captured))
    # every reference loop ran as a hand-written loop runs; now what `xai train` does first on a CPU
    allocator = tune_allocator() if device.type == "cpu" else None
    for model_name, t_ref, step, captured in cases:
        stream = BatchStream(data.x_train, data.y_train, args.batch, device, seed=0)
        ours(step, stream, 10, device)  # warm-up (and capture: a GAN's two optimizers, twice)
        t_ours = timed(lambda step=step, stream=stream: ours(step, stream, args.steps, device), device)
        ref_rate, our_rate = args.steps * ref_batch / t_ref, args.steps * args.batch / t_ours
        emit(bench="train", model=model_name, device=name, batch=args.batch, reference_batch=ref_batch,
             steps=args.steps, step_path="cuda_graph" if captured else "eager", precision=args.precision,
             **({"cpu_allocator": allocator} if allocator else {}),
             reference_images_per_s=round(ref_rate, 1), xai_images_per_s=round(our_rate, 1),
             ratio=round(our_rate / ref_rate, 3))


if __name__ == "__main__":
    main()
