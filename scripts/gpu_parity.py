"""Captured vs eager training through the real CLI: the same weights up to floating-point reordering,
and a run stopped on one path resumes on the other. Meant for a GPU (train.cuda_graphs=true there
captures the step); on a CPU both runs are eager and the script checks only itself.

    PYTHONPATH=. python scripts/gpu_parity.py [--device cuda] [--out DIR]

Prints one JSON line per check and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CNN, GAN = ROOT / "configs" / "smoke_cnn.yaml", ROOT / "configs" / "smoke_gan.yaml"
# (name, config, overrides, weights group); steps are many enough to stop a run inside epoch 2
CASES = [
    ("fast_cnn", CNN, ["data.num_train=4096", "data.batch_size=16", "data.shift=1", "train.log_every=1"], "model"),
    ("mlp_gan", GAN, [], "gan"),
    ("wgan_gp_ncritic2_ema", GAN, ["model.name=wgan_gp", "model.args={n_critic: 2, width: 16, ema: 0.9}"], "gan"),
]
RTOL, ATOL = 1e-3, 1e-4  # stated tolerance: fused capturable vs fused optimizer kernels, reordered sums


def xai(*args, wait: bool = True):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "xaicli", *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def weights(run: Path, group: str) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")["models"][group]


def compare(a: dict, b: dict) -> dict:
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].is_floating_point())
    ok = all(torch.allclose(a[k].float(), b[k].float(), rtol=RTOL, atol=ATOL) for k in a if a[k].is_floating_point())
    return {"max_abs_diff": worst, "within_tolerance": ok}


def step_path(run: Path) -> str:
    return json.loads((run / "meta.json").read_text()).get("step")


def stop_in_epoch_2(run: Path, args: list, timeout: float = 300) -> int:
    """Start a 2-epoch run, SIGTERM it once a step row of epoch 2 is written; return its exit code."""
    proc = xai(*args, "--run-dir", run, wait=False)
    deadline = time.time() + timeout
    metrics = run / "metrics.jsonl"
    while time.time() < deadline and proc.poll() is None:
        rows = metrics.read_text().splitlines() if metrics.exists() else []
        if any('"kind": "step"' in r and '"epoch": 2' in r for r in rows):
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.02)
    proc.communicate(timeout=timeout)
    return proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    base = Path(args.out or tempfile.mkdtemp(prefix="xai-parity-"))
    failures = 0

    def emit(**fields) -> None:
        nonlocal failures
        failures += not fields.get("ok", True)
        print(json.dumps({"check": "cuda_graph_parity", "device": args.device, **fields}), flush=True)

    for name, config, overrides, group in CASES:
        common = ["train", config, *overrides, f"train.device={args.device}", "train.epochs=2"]
        runs = {}
        for mode in ("false", "true"):
            runs[mode] = base / f"{name}-{mode}"
            proc = xai(*common, f"train.cuda_graphs={mode}", "--run-dir", runs[mode])
            if proc.returncode != 0:
                emit(case=name, mode=mode, ok=False, error=proc.stderr.strip().splitlines()[-1:])
                break
        else:
            result = compare(weights(runs["false"], group), weights(runs["true"], group))
            emit(case=name, paths=[step_path(runs["false"]), step_path(runs["true"])],
                 ok=result["within_tolerance"], **result)
            if name != "fast_cnn":
                continue
            for stop_mode, resume_mode in (("true", "false"), ("false", "true")):
                run = base / f"{name}-stop-{stop_mode}-resume-{resume_mode}"
                code = stop_in_epoch_2(run, [*common, f"train.cuda_graphs={stop_mode}"])
                state = torch.load(run / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")
                resumed = xai("train", "--resume", run, f"train.cuda_graphs={resume_mode}")
                ok = code == 143 and state["epoch"] == 1 and resumed.returncode == 0
                result = compare(weights(runs["false"], group), weights(run, group)) if ok else {}
                emit(case=f"{name} stopped ({stop_mode}) at epoch 2 step {state['step_in_epoch']}, "
                          f"resumed ({resume_mode})", ok=ok and result.get("within_tolerance", False),
                     stop_exit=code, **result)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
