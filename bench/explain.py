"""Integrated gradients and SmoothGrad: ours vs Captum, same model, inputs and device, one process;
and, with --scorecard RUN, the default scorecard of `xai explain` vs Quantus 0.6 on the same maps.

    PYTHONPATH=. python bench/explain.py [--device cpu|cuda] [--batch 256] [--steps 50] [--repeats 3]
    PYTHONPATH=. python bench/explain.py --scorecard RUN [--images 256] [--threads 1]
    PYTHONPATH=. python bench/explain.py --road RUN [--images 256] [--device cuda]
    PYTHONPATH=. python bench/explain.py --cam [--cam-batch 16] [--ig-batch N] [--repeats 3]

Prints one JSON line per figure: method, implementation, device name, attributions/s, and the ratio
ours / Captum (above 1: ours is faster). The model is the `cnn` registry model (the 2-conv MNIST net)
with random weights in eval mode on random 1 x 28 x 28 inputs; speed does not depend on the weights.

--scorecard RUN (a run of configs/mnist_cnn.yaml, the demo classifier): RUN's first --images test
images, the maps of six methods computed once, then every default measure of the scorecard on them
(with the random reference and the bootstrap), timed, against Quantus computing the measures it
has on the same maps at the same settings (scorecard_race.py says which), timed, in one process.
One JSON line per method and a total with the ratio Quantus / ours (above 1: ours is faster).
--road RUN: ROAD MoRF and LeRF on RUN's images, ours against pytorch-grad-cam's (grad-cam, a dev peer).
--cam: ResNet-50 at 224 x 224: Grad-CAM against pytorch-grad-cam's GradCAM, IG against Captum (cam_race.py).
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def race(ref_fn, ours_fn, device, repeats: int) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """Best wall time of each after one warm-up run each, the two alternating (so a busy machine
    slows both alike), and the last results."""

    def once(fn):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        return time.perf_counter() - t0, out

    once(ref_fn)
    once(ours_fn)
    best_ref = best_ours = float("inf")
    ref = ours = None
    for _ in range(repeats):
        t, ref = once(ref_fn)
        best_ref = min(best_ref, t)
        t, ours = once(ours_fn)
        best_ours = min(best_ours, t)
    return best_ref, best_ours, ref, ours


def add_cam_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cam", action="store_true", help="ResNet-50 Grad-CAM vs pytorch-grad-cam, IG vs Captum")
    p.add_argument("--cam-batch", type=int, default=16, help="--cam: images per call")
    p.add_argument("--ig-batch", type=int, default=None, help="--cam: images for IG (default: --cam-batch)")
    p.add_argument("--no-ig", action="store_true", help="--cam: Grad-CAM only")


def run_cam(args) -> None:
    from cam_race import race_cam

    race_cam(args.device, args.cam_batch, args.repeats, args.steps, args.ig_batch, args.no_ig)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--samples", type=int, default=10, help="SmoothGrad noise samples")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each, after a warm-up run")
    p.add_argument("--short-repeats", type=int, default=7,
                   help="timed runs for the SmoothGrad figure (seconds long, so load spikes weigh more)")
    p.add_argument("--budget-mb", type=float, default=None, help="our memory budget (default: the config's)")
    p.add_argument("--scorecard", metavar="RUN", help="race the default scorecard against Quantus on RUN's images")
    p.add_argument("--road", metavar="RUN", help="race ROAD against pytorch-grad-cam's on RUN's images")
    p.add_argument("--images", type=int, default=256, help="scorecard, road: test images")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    add_cam_options(p)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.scorecard:
        from scorecard_race import race_scorecard

        race_scorecard(args.scorecard, args.images)
        return
    if args.cam:
        run_cam(args)
        return
    if args.road:
        from scorecard_race import race_road

        race_road(args.road, args.images, args.device)
        return

    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    from xaicli.explain.registry import resolve
    from xaicli.models import build_model
    from xaicli.runs.meta import device_name

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model("cnn", (1, 28, 28), 10, {}).to(device).eval()
    x = torch.randn(args.batch, 1, 28, 28, device=device)
    target = torch.randint(0, 10, (args.batch,), device=device)
    name = device_name(device)
    ig, sg = resolve("integrated_gradients"), resolve("smoothgrad")
    input_range = (float(x.min()), float(x.max()))  # Captum's noise level is set from the same range

    figures = [
        ("integrated_gradients", {"n_steps": args.steps},
         lambda: ig(model, x, target, n_steps=args.steps, rule="gausslegendre", budget_mb=args.budget_mb),
         lambda: IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target,
                                                      n_steps=args.steps, method="gausslegendre")),
        ("smoothgrad", {"n_samples": args.samples},
         lambda: sg(model, x, target, n_samples=args.samples, sigma=0.15, input_range=input_range,
                    budget_mb=args.budget_mb),
         lambda: NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=args.samples,
                                                        stdevs=0.15 * (input_range[1] - input_range[0]),
                                                        target=target)),
    ]
    for method, params, ours_fn, ref_fn in figures:
        repeats = args.repeats if method == "integrated_gradients" else args.short_repeats
        t_ref, t_ours, ref, ours = race(ref_fn, ours_fn, device, repeats)
        row = {"method": method, **params, "batch": args.batch, "device": name, "repeats": repeats,
               "captum_s": round(t_ref, 4), "ours_s": round(t_ours, 4),
               "captum_per_s": round(args.batch / t_ref, 1), "ours_per_s": round(args.batch / t_ours, 1),
               "ratio": round(t_ref / t_ours, 3)}
        if method == "integrated_gradients":  # same rule and baseline: the maps agree too
            row["max_rel_diff"] = float((ours - ref).abs().max() / ref.abs().max())
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
