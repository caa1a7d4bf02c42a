"""CLI latency: `xai --help` and `xai config` (neither may import torch), median of several runs.

Reference: `python -c "import torch"`, the cost that keeping torch out of these paths avoids.
Also against the bars of issue 16: a TAB completion of `xai train configs/mnist_cnn.yaml train.` (what
bash runs on TAB; bar 0.3 s) and `xai runs` on a folder of 200 runs (fake run folders as xai writes
them, built in a temporary folder; bar 1 s).

    python bench/cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit

ROOT = Path(__file__).resolve().parent.parent


def median_cpu_seconds(cmd: list[str], runs: int, env: dict | None = None) -> float:
    """The command's own CPU time (user + system), which the load of a shared machine barely changes."""
    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True, env={**os.environ, **(env or {})})
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times)


def median_seconds(cmd: list[str], runs: int, env: dict | None = None) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True, env={**os.environ, **(env or {})})
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
    words = "xai train configs/mnist_cnn.yaml train."
    tab = {"_XAI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "3"}
    t = median_seconds(xai, args.runs, env=tab)
    emit(bench="cli", command=f"TAB: {words}", median_s=round(t, 4), bar_s=0.3, within_bar=t < 0.3,
         cpu_s=round(median_cpu_seconds(xai, args.runs, env=tab), 4), import_torch_s=round(torch_import, 4),
         runs=args.runs)
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_runs import make_many

    with tempfile.TemporaryDirectory() as tmp:
        make_many(Path(tmp), 200)
        for extra in ([], ["--json"]):
            cmd = [*xai, "runs", tmp, *extra]
            t = median_seconds(cmd, args.runs)
            emit(bench="cli", command=" ".join(["xai runs DIR", *extra]), runs_in_dir=200, median_s=round(t, 4),
                 bar_s=1.0, within_bar=t < 1.0, cpu_s=round(median_cpu_seconds(cmd, args.runs), 4), runs=args.runs)


if __name__ == "__main__":
    main()
