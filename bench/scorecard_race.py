"""The default scorecard of `xai explain` against Quantus 0.6 on the same maps (bench/explain.py
--scorecard RUN). Both get the six methods' maps of RUN's test images, computed once; the
randomisation measures re-run the method (ours, wrapped as Quantus's explain_func) on changed
models in both. Quantus is set to the same perturbations: deletion is PixelFlipping with the step
that divides the pixels and comes nearest to ours (28 x 28: 49 pixels, 16 steps; ours: 20 steps);
ROAD MoRF at the same fractions with the same noise, and LeRF as ROAD on the reversed map
(batch_size = all images: with fewer, Quantus reads only the first batch); pixel flipping by
patches is RegionPerturbation with 4 x 4 patches and 20 steps (one patch per step; ours removes 49
patches over 20 steps); MPRT top-down with Spearman of magnitudes; efficient MPRT; random logit with
Spearman of magnitudes; sparseness and complexity. Quantus has no insertion and no SRG: ours
computes them (and the random reference, the intervals and the ranking) inside its time, Quantus's
time leaves them out."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import torch
from model_passes import counted

METHODS = ("saliency", "input_x_gradient", "guided_backprop", "gradcam", "integrated_gradients", "smoothgrad")


def _batch(run: str, images: int):
    from xaicli.explain.classifier import classifier_batch
    from xaicli.explain.selection import resolve_methods, settings_from
    from xaicli.runs.restore import restore

    restored = restore(run, "last")
    ecfg = restored.cfg.explain
    ecfg.n = images
    batch = classifier_batch(restored, ecfg)
    methods, _ = resolve_methods(list(METHODS), True, batch)
    return batch, methods, settings_from(ecfg)


def ours(batch, method, maps: torch.Tensor, settings) -> tuple[dict, dict, dict]:
    """Every default measure of the scorecard for one method: its metrics, and each measure's
    seconds and model passes."""
    from xaicli.explain import measures
    from xaicli.explain.measures.base import Context

    ctx = Context(method, batch.model, batch.inputs, maps, batch.target, batch.fill, batch.score,
                  method.accepts({**batch.params, "seed": settings.seed}), settings, 0.0)
    metrics: dict = {}
    seconds, passes = {}, {}
    for each in measures.active(settings):
        with counted(batch.model) as passes[each.name]:
            t0 = time.perf_counter()
            found = each(ctx)
            seconds[each.name] = time.perf_counter() - t0
        metrics.setdefault("per_image", {}).update(found.pop("per_image", {}))
        metrics.update(found)
    return metrics, seconds, passes


def quantus_measures(batch, method, a: np.ndarray, settings) -> tuple[dict, dict]:
    """Quantus's time and model passes for each measure it has, on the same maps."""
    import quantus

    x, y = batch.inputs.cpu().numpy(), batch.target.cpu().numpy()
    params = method.accepts({**batch.params, "seed": settings.seed})

    def explain_func(model, inputs, targets, **_):
        return method(model, torch.as_tensor(inputs), torch.as_tensor(targets), **params).detach().numpy()

    pct = [round(100 * f) for f in settings.road_fractions]
    spearman = quantus.similarity_func.correlation_spearman
    n = len(x)
    a = a + 0.0
    reversed_a = a.max() - a + 1e-6
    pixels = int(np.prod(x.shape[1:]))  # Quantus wants a step that divides the features: the nearest to ours
    step = min((d for d in range(1, pixels + 1) if pixels % d == 0),
               key=lambda d: (abs(pixels / d - settings.curve_steps), -d))
    jobs = {
        "deletion": (quantus.PixelFlipping(features_in_step=step, perturb_baseline=batch.fill, normalise=False,
                                           disable_warnings=True), a, {}),  # its AUC calls np.trapz, gone in numpy 2.4
        "road_morf": (quantus.ROAD(percentages=pct, noise=settings.road_noise, normalise=False,
                                   disable_warnings=True), a, {}),
        "road_lerf": (quantus.ROAD(percentages=pct, noise=settings.road_noise, normalise=False,
                                   disable_warnings=True), reversed_a, {}),
        "pixel_flipping": (quantus.RegionPerturbation(patch_size=settings.patch, regions_evaluation=20,
                                                      perturb_baseline=batch.fill, normalise=False,
                                                      disable_warnings=True), a, {}),
        "mprt": (quantus.MPRT(layer_order="top_down", similarity_func=spearman, abs=True, seed=settings.seed,
                              return_last_correlation=True, disable_warnings=True), a, {"explain_func": explain_func}),
        "efficient_mprt": (quantus.EfficientMPRT(seed=settings.seed, disable_warnings=True), a,
                           {"explain_func": explain_func}),
        "random_logit": (quantus.RandomLogit(num_classes=int(batch.model(batch.inputs[:1]).shape[1]),
                                             similarity_func=spearman, abs=True, seed=settings.seed,
                                             disable_warnings=True), a, {"explain_func": explain_func}),
        "sparseness": (quantus.Sparseness(disable_warnings=True), np.abs(a), {}),
        "complexity": (quantus.Complexity(disable_warnings=True), np.abs(a), {}),
    }
    seconds, passes = {}, {}
    for name, (metric, maps, extra) in jobs.items():
        with counted(batch.model) as passes[name], warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            metric(model=batch.model, x_batch=x, y_batch=y, a_batch=maps, device="cpu", batch_size=n, **extra)
            seconds[name] = round(time.perf_counter() - t0, 3)
    return seconds, passes


def _passes(tallies) -> dict:
    return {"grad": sum(t["grad"] for t in tallies), "no_grad": sum(t["no_grad"] for t in tallies)}


def _rounded(seconds: dict) -> dict:
    return {k: round(v, 3) for k, v in seconds.items()}


def race_scorecard(run: str, images: int, names: tuple[str, ...] = METHODS) -> None:
    """Per method, ours then Quantus (so a change in the machine's load hits both alike); then the
    random reference and the scorecard, counted in our total. Beside the times, the images each
    side put through the model (with gradients: a method's map; without: a perturbed image scored)
    and the least time those passes take on this device (model_passes.py): `ratio_bound` is
    Quantus's time over our passes' floor, the most any implementation of our scorecard that does
    the passes its measures define could reach against this Quantus time."""
    from model_passes import counted, floor_seconds, seconds_per_image

    from xaicli.explain.chunks import chunk_size
    from xaicli.explain.pipeline import scorecard
    from xaicli.runs.meta import device_name

    batch, methods, settings = _batch(run, images)
    methods = [m for m in methods if m.name in names]
    maps = {m.name: m(batch.model, batch.inputs, batch.target, **m.accepts({**batch.params, "seed": 0})).detach()
            for m in methods}
    name = device_name(batch.inputs.device)
    chunk = chunk_size(batch.model, batch.inputs, settings.budget_mb)
    speed = seconds_per_image(batch.model, batch.inputs, batch.target, chunk)
    results, total_ours, total_q, ours_tallies, q_tallies = {}, 0.0, 0.0, [], []
    for m in methods:
        results[m.name], seconds, passes = ours(batch, m, maps[m.name], settings)
        q, q_passes = quantus_measures(batch, m, maps[m.name].float().cpu().numpy(), settings)
        total_ours += sum(seconds.values())
        total_q += sum(q.values())
        ours_tallies += passes.values()
        q_tallies += q_passes.values()
        print(json.dumps({"figure": "scorecard", "method": m.name, "images": len(batch.inputs), "device": name,
                          "threads": torch.get_num_threads(), "ours_s": round(sum(seconds.values()), 3),
                          "quantus_s": round(sum(q.values()), 3), "ours_by_measure": _rounded(seconds),
                          "quantus_by_measure": q, "ours_passes": passes, "quantus_passes": q_passes,
                          "ratio": round(sum(q.values()) / sum(seconds.values()), 2)}), flush=True)
    with counted(batch.model) as reference_passes:
        t0 = time.perf_counter()
        scorecard(results, batch, settings)
        card_s = time.perf_counter() - t0
    total_ours += card_s
    ours_tallies.append(reference_passes)
    later = seconds_per_image(batch.model, batch.inputs, batch.target, chunk)  # the fastest of two: a floor
    speed = {k: min(speed[k], later[k]) for k in speed}
    ours_passes, q_passes = _passes(ours_tallies), _passes(q_tallies)
    ours_floor, q_floor = floor_seconds(ours_passes, speed), floor_seconds(q_passes, speed)
    print(json.dumps({"figure": "scorecard", "method": "all", "methods": [m.name for m in methods],
                      "images": len(batch.inputs), "device": name, "threads": torch.get_num_threads(),
                      "ours_s": round(total_ours, 3), "ours_reference_and_card_s": round(card_s, 3),
                      "quantus_s": round(total_q, 3), "ratio": round(total_q / total_ours, 2),
                      "ours_passes": ours_passes, "quantus_passes": q_passes,
                      "ms_per_image": {k: round(1000 * v, 4) for k, v in speed.items()}, "chunk": chunk,
                      "ours_floor_s": round(ours_floor, 3), "quantus_floor_s": round(q_floor, 3),
                      "ratio_bound": round(total_q / ours_floor, 2)}), flush=True)


def race_road(run: str, images: int, device: str | None = None) -> None:
    """ROAD MoRF and LeRF at the nine fractions, ours (every image, fraction and order at once on the
    device) against pytorch-grad-cam's ROADMost/LeastRelevantFirstAverage (a CPU sparse solve per
    image and fraction, the model on the device), the saliency maps of RUN's test images."""
    from pytorch_grad_cam.metrics.road import ROADLeastRelevantFirstAverage, ROADMostRelevantFirstAverage
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    from xaicli.explain.measures.road import road_curves
    from xaicli.runs.meta import device_name

    batch, methods, settings = _batch(run, images)
    dev = torch.device(device) if device else batch.inputs.device
    model, x, target = batch.model.to(dev), batch.inputs.to(dev), batch.target.to(dev)
    maps = methods[0](model, x, target).detach()  # saliency
    cams = maps.sum(1).cpu().numpy()
    targets = [ClassifierOutputSoftmaxTarget(int(t)) for t in target]

    def theirs():
        ROADMostRelevantFirstAverage()(x, cams, targets, model)
        ROADLeastRelevantFirstAverage()(x, cams, targets, model)

    def ours_road():
        road_curves(model, x, maps, target, settings.road_fractions, settings.road_noise, settings.seed, batch.score)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    ours_road()  # warm-up
    timings = {}
    for name, fn in (("grad_cam", theirs), ("ours", ours_road)):
        t0 = time.perf_counter()
        fn()
        timings[name] = time.perf_counter() - t0
    print(json.dumps({"figure": "road", "images": len(x), "fractions": len(settings.road_fractions),
                      "device": device_name(dev), "threads": torch.get_num_threads(),
                      "grad_cam_s": round(timings["grad_cam"], 3), "ours_s": round(timings["ours"], 3),
                      "ratio": round(timings["grad_cam"] / timings["ours"], 2)}), flush=True)
