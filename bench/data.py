"""Your own images: xai's decode-once path vs the loader a user writes today, same process, same CPU.

    python bench/data.py [--images 20000] [--size 64] [--batch 256] [--workers 2] [--root DIR] [--budget-mb 512]

The data: --images PNG files at --size x --size pixels in 8 class folders, each a random crop of one
of scikit-image's sample photographs (written once under --root, default a temporary folder).
Reference: torchvision ImageFolder + DataLoader(num_workers=--workers, shuffle, drop_last) with
Resize + CenterCrop + RandomHorizontalFlip + ToTensor + Normalize, batch --batch: every epoch decodes
every file. Ours: `data.name: folder` with the same size, flip, normalisation, batch and workers; the
first epoch decodes every file into the cache (data.workers threads) and then runs the epoch, later
epochs read the cache (resident in memory, and streamed from the cache file, data.device_resident=false).
Both deliver normalised float batches; the reference's epochs are timed as a script runs them
(workers started per epoch) and with persistent workers, and the faster is the one compared.
Memory: a cache twice --budget-mb streamed with data.memory_mb=--budget-mb; the process's resident
memory is sampled after every batch. Prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.io  # noqa: F401  both loaders decode with torchvision: imported before any timing
import torchvision.transforms.v2  # noqa: F401
from common import device_and_name, emit

from xaicli import config as cfgmod
from xaicli.data.loader import Normalizer, make_train_stream
from xaicli.data.registry import load_dataset

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat", "hubble_deep_field", "retina")


def write_pngs(root: Path, n: int, size: int, seed: int = 0) -> Path:
    """n PNG files in 8 class folders: random crops (a quarter to all of the shorter side) of the photos."""
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = []
    for name in PHOTOS:  # each photo at most 4 x size on its shorter side, so that writing is quick
        im = Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB")
        scale = min(1.0, 4 * size / min(im.size))
        photos.append(np.asarray(im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)))
    for i in range(n):
        label = i % len(PHOTOS)
        photo = photos[label]
        side = int(rng.integers(min(photo.shape[:2]) // 4, min(photo.shape[:2]) + 1))
        top, left = (int(rng.integers(0, d - side + 1)) for d in photo.shape[:2])
        crop = Image.fromarray(photo[top:top + side, left:left + side]).convert("RGB").resize((size, size),
                                                                                           Image.BILINEAR)
        folder = root / "train" / PHOTOS[label]
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"{i:06d}.png")
    return root


def reference_epoch(root: Path, size: int, batch: int, workers: int, mean, std, persistent: bool):
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize(mean, std)])
    loader = DataLoader(ImageFolder(str(root / "train"), transform=tf), batch_size=batch, shuffle=True,
                        drop_last=True, num_workers=workers, persistent_workers=persistent and workers > 0)

    def epoch() -> tuple[int, float]:
        t0, n = time.perf_counter(), 0
        for x, _ in loader:
            n += len(x)
        return n, time.perf_counter() - t0

    return epoch


def our_epoch(stream, normalize):
    def epoch(index: int) -> tuple[int, float]:
        t0, n = time.perf_counter(), 0
        for xb, _ in stream.epoch(index):
            normalize(xb)
            n += len(xb)
        return n, time.perf_counter() - t0

    return epoch


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_figure(folder: Path, budget_mb: int, size: int, batch: int) -> dict:
    """Stream a cache file of twice the budget; the process's peak resident memory while streaming."""
    from xaicli.data.augment import Augment
    from xaicli.data.streaming import CacheStream

    row = 3 * size * size
    n = 2 * budget_mb * 2**20 // row
    path = folder / "big.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 3, size, size))
    rng = np.random.default_rng(0)
    chunk = rng.integers(0, 256, (1024, 3, size, size), dtype=np.uint8)
    for i in range(0, n, 1024):
        out[i:i + 1024] = chunk[:min(1024, n - i)]
    out.flush()
    del out
    before = rss_mb()
    stream = CacheStream(path, torch.zeros(n, dtype=torch.long), batch, torch.device("cpu"), memory_mb=budget_mb,
                         augment=Augment(hflip=True))
    peak, t0, seen = before, time.perf_counter(), 0
    for xb, _ in stream.epoch(0):
        seen += len(xb)
        peak = max(peak, rss_mb())
    seconds = time.perf_counter() - t0
    path.unlink()
    return {"budget_mb": budget_mb, "cache_mb": round(n * row / 2**20), "images": seen,
            "rss_before_mb": round(before), "peak_rss_mb": round(peak), "limit_mb": budget_mb + 1024,
            "under_limit": peak < budget_mb + 1024, "images_per_s": round(seen / seconds)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--root", default=None, help="folder for the PNGs (kept; default: a temporary folder)")
    ap.add_argument("--budget-mb", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=3, help="epochs timed after the first, per loader")
    args = ap.parse_args()
    device, name = device_and_name("cpu")
    tmp = Path(tempfile.mkdtemp(prefix="xai-bench-data-"))
    root = Path(args.root) if args.root else tmp / "pngs"
    if not (root / "train").is_dir():
        t0 = time.perf_counter()
        write_pngs(root, args.images, args.size)
        emit(bench="data", figure="dataset", images=args.images, size=args.size, root=str(root),
             seconds_to_write=round(time.perf_counter() - t0, 1))
    common = dict(bench="data", device=name, images=args.images, size=args.size, batch=args.batch,
                  workers=args.workers)
    try:
        cfg = cfgmod.load(None, ["data.name=folder", f"data.root={root}", f"data.cache_dir={tmp / 'cache'}",
                                 f"data.image_size={args.size}", "data.channels=3", "data.val_split=0",
                                 "data.test_split=0", f"data.batch_size={args.batch}", "data.hflip=true",
                                 f"data.workers={args.workers}"]).data
        # ours, first epoch: listing, decoding every file into the cache, then the epoch itself
        t0 = time.perf_counter()
        data = load_dataset(cfg, validation=False)
        decode_s = time.perf_counter() - t0
        normalize = Normalizer(data.mean, data.std)
        stream = make_train_stream(data, cfg, device, seed=0)
        n, s = our_epoch(stream, normalize)(0)
        first_ours = (n, decode_s + s)
        mean, std = data.mean, data.std
        ref = {p: reference_epoch(root, args.size, args.batch, args.workers, mean, std, p) for p in (False, True)}
        ref_times = {p: [ref[p]() for _ in range(args.epochs)] for p in (False, True)}
        first_ref = ref_times[False][0]
        best_ref = max(n / s for p in ref_times for n, s in ref_times[p])
        ours_rate = first_ours[0] / first_ours[1]
        emit(**common, figure="first_epoch", reference_images_per_s=round(first_ref[0] / first_ref[1], 1),
             xai_images_per_s=round(ours_rate, 1), xai_decode_s=round(decode_s, 2),
             ratio=round(ours_rate / (first_ref[0] / first_ref[1]), 3),
             reference_fastest_epoch_images_per_s=round(best_ref, 1), ratio_to_fastest=round(ours_rate / best_ref, 3))
        resident = our_epoch(stream, normalize)
        streamed_cfg = cfgmod.load(None, ["data.device_resident=false", f"data.batch_size={args.batch}",
                                          "data.hflip=true"]).data
        streamed = our_epoch(make_train_stream(data, streamed_cfg, device, seed=0), normalize)
        for label, fn in (("resident", resident), ("streamed", streamed)):
            runs = [fn(e) for e in range(1, args.epochs + 1)]
            rate = max(n / s for n, s in runs)
            emit(**common, figure=f"steady_epoch_{label}", reference_images_per_s=round(best_ref, 1),
                 xai_images_per_s=round(rate, 1), ratio=round(rate / best_ref, 2))
        emit(bench="data", device=name, figure="streaming_memory",
             **memory_figure(tmp, args.budget_mb, args.size, args.batch))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
