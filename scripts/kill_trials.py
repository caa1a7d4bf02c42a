"""Kill-and-resume trials: SIGKILL `xai train` at random moments and continue it as a batch job would.

Each trial starts a run, waits until its run folder exists, and kills it with SIGKILL after a delay drawn
uniformly from the time the uninterrupted run spent from that moment to its end (so kills land before
config.yaml, before the first checkpoint, inside epochs and during saves; the seconds of importing torch
before any file exists are left out: nothing on disk to test there). Then it continues the run the way
scripts/slurm/train.sbatch does on a requeue: `--resume RUN` when RUN holds a config.yaml, else
`--run-dir RUN` again. The run must then finish with exit 0 and end equal to an uninterrupted run of
the same config: best.pt for a classifier (last.pt for a GAN, which keeps no best.pt) equal in every
tensor and field, metrics.csv equal but for the seconds column, a GAN's per-epoch grids equal byte for
byte, its training curves drawn and its end recorded in meta.json (exit code 0). One JSON line per
trial and one summary line per kind.

    python scripts/kill_trials.py --kills 30                # 30 kills of each kind, about 10 minutes
    python scripts/kill_trials.py --kills 3 --kinds gan     # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = {
    "classifier": (ROOT / "configs" / "smoke_cnn.yaml",
                   ["data.num_train=1024", "data.batch_size=16", "data.shift=1", "train.epochs=3",
                    "train.log_every=8"], "best.pt"),
    "gan": (ROOT / "configs" / "smoke_gan.yaml",
            ["data.num_train=1024", "data.batch_size=16", "train.epochs=3", "train.log_every=8"], "last.pt"),
}


def env() -> dict:
    out = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        out.pop(key, None)
    return out


def command(kind: str, run: Path) -> list[str]:
    """What a requeued batch job runs: continue a run that has a config, else start it in RUN."""
    config, args, _ = KINDS[kind]
    target = ["--resume", str(run)] if (run / "config.yaml").is_file() else [str(config), *args, "--run-dir", str(run)]
    return [sys.executable, "-m", "xaicli", "train", *target]


def run_to_end(kind: str, run: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command(kind, run), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600)


def phase(run: Path) -> str:
    """Where a killed run stood, from what it left on disk."""
    import torch

    if not run.exists():
        return "before the run folder"
    if not (run / "config.yaml").exists():
        return "before config.yaml"
    last = run / "checkpoints" / "last.pt"
    if not last.exists():
        return "before the first checkpoint"
    state = torch.load(last, weights_only=True)
    return f"after epoch {state['epoch']}" + (f" step {state['step_in_epoch']}" if state["step_in_epoch"] else "")


def differences(a, b, prefix: str = "") -> list[str]:
    """Keys whose values differ between two checkpoints (tensors compared exactly)."""
    import torch

    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{prefix}{k}" for k in set(a) ^ set(b)]
        for k in set(a) & set(b):
            out += differences(a[k], b[k], f"{prefix}{k}.")
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{prefix}{i}.")]
    if torch.is_tensor(a) and torch.is_tensor(b):
        return [] if a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b) else [prefix.rstrip(".")]
    return [] if a == b else [prefix.rstrip(".")]


def csv_without_seconds(run: Path) -> list[list[str]]:
    import csv

    with open(run / "metrics.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    drop = rows[0].index("seconds")
    return [[v for i, v in enumerate(r) if i != drop] for r in rows]


def compare(kind: str, run: Path, reference: Path) -> list[str]:
    """What differs from the uninterrupted run (empty: equal)."""
    import torch

    name = KINDS[kind][2]
    problems = [f"{name}: {d}" for d in differences(torch.load(run / "checkpoints" / name, weights_only=True),
                                                     torch.load(reference / "checkpoints" / name, weights_only=True))]
    if csv_without_seconds(run) != csv_without_seconds(reference):
        problems.append("metrics.csv")
    if json.loads((run / "meta.json").read_text()).get("exit_code") != 0:
        problems.append("meta.json does not record the end")
    if not (run / "plots" / "training.png").is_file():
        problems.append("plots/training.png")
    for grid in sorted((reference / "samples").glob("epoch_*.png")) if kind == "gan" else []:
        mine = run / "samples" / grid.name
        if not mine.exists() or mine.read_bytes() != grid.read_bytes():
            problems.append(f"samples/{grid.name}")
    return problems


def start_and_wait_for_folder(kind: str, run: Path) -> tuple[subprocess.Popen, float]:
    """Start a run; return once its folder exists (or the process ended), with the seconds that took."""
    start = time.perf_counter()
    proc = subprocess.Popen(command(kind, run), cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while not run.exists() and proc.poll() is None:
        time.sleep(0.002)
    return proc, time.perf_counter() - start


def trial(kind: str, run: Path, reference: Path, seconds: float, rng: random.Random) -> dict:
    delay = rng.uniform(0.0, seconds)
    proc, _ = start_and_wait_for_folder(kind, run)
    start = time.perf_counter()
    try:
        proc.wait(timeout=delay)
        killed = False  # it finished first
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = True
    ran = time.perf_counter() - start
    where = phase(run) if killed else "finished before the kill"
    attempts, done = 0, None
    while attempts < 3:
        attempts += 1
        done = run_to_end(kind, run)
        if done.returncode == 0:
            break
    ok = done is not None and done.returncode == 0
    problems = compare(kind, run, reference) if ok else [f"exit {done.returncode if done else '?'}: "
                                                         f"{(done.stderr if done else '').strip()[-300:]}"]
    return {"kind": kind, "run": run.name, "kill_after_folder_s": round(delay, 2), "killed": killed, "phase": where,
            "continued": ok, "continue_attempts": attempts, "equal": ok and not problems, "problems": problems,
            "ran_s": round(ran, 2)}


def trials(kind: str, kills: int, seed: int, workdir: Path, log=print) -> list[dict]:
    """Runs of one kind killed and continued until `kills` of them were killed (a run that ends before
    its kill moment is continued and compared too, but not counted), each compared with one
    uninterrupted run."""
    reference = workdir / kind / "reference"
    proc, _ = start_and_wait_for_folder(kind, reference)
    start = time.perf_counter()
    if proc.wait(timeout=600) != 0:
        raise RuntimeError(f"the uninterrupted {kind} run failed; see {reference / 'log.txt'}")
    seconds = time.perf_counter() - start  # from the run folder's creation to the end
    rng = random.Random(seed)
    results: list[dict] = []
    while sum(r["killed"] for r in results) < kills and len(results) < 3 * kills:  # a run may end first
        result = trial(kind, workdir / kind / f"trial-{len(results):03d}", reference, seconds, rng)
        if not result["killed"]:  # the machine is faster now than for the reference: draw from what it takes
            seconds = min(seconds, result["ran_s"])
        results.append(result)
        log(json.dumps(result))
    return results


def summary(kind: str, results: list[dict]) -> dict:
    phases: dict[str, int] = {}
    for r in results:
        key = r["phase"].split(" step ")[0] + (" (inside the epoch)" if " step " in r["phase"] else "")
        phases[key] = phases.get(key, 0) + 1
    return {"kind": kind, "trials": len(results), "killed": sum(r["killed"] for r in results),
            "continued": sum(r["continued"] for r in results), "equal": sum(r["equal"] for r in results),
            "phases": phases}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30, help="trials (one SIGKILL each) per kind")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--workdir", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="xai-kill-trials-"))
    failed = 0
    for kind in args.kinds:
        results = trials(kind, args.kills, args.seed, workdir)
        line = summary(kind, results)
        print(json.dumps(line), flush=True)
        failed += line["trials"] - line["equal"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
