"""CLI latency: `xai --help` and `xai config` (neither may import torch), median of several runs.

Reference: `python -c "import torch"`, the cost that keeping torch out of these paths avoids.

    python bench/cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import emit

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    xai = [sys.executable, "-m", "xaicli"]
    torch_import = median_seconds([sys.executable, "-c", "import torch"], args.runs)
    for name, cmd in (("xai --help", [*xai, "--help"]),
                      ("xai config", [*xai, "config", "configs/mnist_cnn.yaml", "train.epochs=1"])):
        t = median_seconds(cmd, args.runs)
        emit(bench="cli", command=name, median_s=round(t, 4), import_torch_s=round(torch_import, 4),
             ratio=round(torch_import / t, 2), runs=args.runs)


if __name__ == "__main__":
    main()
