"""Fashion-MNIST written out as 70,000 PNG files trains with `data.name: folder` to the accuracy of the
IDX route: the same config (configs/fashion_mnist_cnn.yaml, shortened with --epochs), the same seeds.

    python scripts/fashion_folder_parity.py [--idx /usr/share/datasets/fashion-mnist] [--out DIR] [--epochs 3]
                                            [--seeds 0,1]

Writes OUT/pngs/{train,test}/<k>-<class>/<index>.png once (class folders sorted in label order, files
named by their index in the IDX files, so the folder's validation split holds the same images as the
IDX route's), trains both routes per seed, evaluates last.pt on the test split and prints one JSON line
per run, then one with the mean test accuracy of each route and the difference in points.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xaicli import api  # noqa: E402
from xaicli.data.idx import find_idx_folder, read_idx_folder  # noqa: E402
from xaicli.data.mnist_family import FASHION  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "fashion_mnist_cnn.yaml"


def write_pngs(idx_root: Path, out: Path) -> Path:
    from PIL import Image

    if (out / "test").is_dir():
        return out
    folder = find_idx_folder(idx_root, "FashionMNIST")
    if folder is None:
        raise SystemExit(f"no Fashion-MNIST IDX files under {idx_root} (apt-get install dataset-fashion-mnist)")
    arrays = read_idx_folder(folder)
    names = [f"{k}-{name.replace('/', '-')}" for k, name in enumerate(FASHION)]
    tmp = out.with_name(out.name + ".partial")
    for split in ("train", "test"):
        for i, (x, y) in enumerate(zip(arrays[f"x_{split}"], arrays[f"y_{split}"], strict=True)):
            folder_y = tmp / split / names[int(y)]
            folder_y.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x).save(folder_y / f"{i:05d}.png")
    tmp.rename(out)
    return out


def run(route: str, data_args: list[str], seed: int, epochs: int, runs: Path) -> dict:
    overrides = [*data_args, f"seed={seed}", f"train.epochs={epochs}", f"train.runs_dir={runs}",
                 f"name=fmnist-{route}-s{seed}"]
    t0 = time.perf_counter()
    run_dir = api.train(CONFIG, overrides, configure_process=True)
    seconds = time.perf_counter() - t0
    metrics = api.evaluate(run_dir)
    row = {"script": "fashion_folder_parity", "route": route, "seed": seed, "epochs": epochs,
           "test_accuracy": round(metrics["accuracy"], 4), "train_seconds": round(seconds, 1), "run": str(run_dir)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idx", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default="fmnist_parity")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", default="0")
    args = ap.parse_args()
    out = Path(args.out)
    t0 = time.perf_counter()
    pngs = write_pngs(Path(args.idx), out / "pngs")
    print(json.dumps({"script": "fashion_folder_parity", "pngs": str(pngs),
                      "seconds_to_write": round(time.perf_counter() - t0, 1)}), flush=True)
    routes = {"idx": ["data.name=fashion_mnist", f"data.root={args.idx}"],
              "folder": ["data.name=folder", f"data.root={pngs}", f"data.cache_dir={out / 'cache'}"]}
    rows = [run(route, data_args, int(seed), args.epochs, out / "runs")
            for seed in args.seeds.split(",") for route, data_args in routes.items()]
    mean = {route: sum(r["test_accuracy"] for r in rows if r["route"] == route) /
            sum(r["route"] == route for r in rows) for route in routes}
    print(json.dumps({"script": "fashion_folder_parity", "config": f"{CONFIG.name}, train.epochs={args.epochs}",
                      "seeds": args.seeds, "idx_accuracy": round(mean["idx"], 4),
                      "folder_accuracy": round(mean["folder"], 4),
                      "difference_points": round(100 * (mean["folder"] - mean["idx"]), 2)}), flush=True)


if __name__ == "__main__":
    main()
