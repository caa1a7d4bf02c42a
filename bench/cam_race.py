"""`bench/explain.py --cam`: Grad-CAM against pytorch-grad-cam's GradCAM (target layer layer4) and integrated
gradients against Captum, on ResNet-50 with random weights at 224 x 224, in one process, interleaved.

Both Grad-CAMs return maps at the input's size (pytorch-grad-cam also scales each to [0, 1] on the CPU,
part of its cost as a user pays it). Captum's IG runs with internal_batch_size equal to the batch (all
(image, step) pairs at once would need tens of GiB); ours sizes its chunks from its memory budget.
Prints one JSON line per method with the median images/s of each and the ratio ours / reference."""

from __future__ import annotations

import json
import statistics
import time

import torch


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def interleaved(ref_fn, ours_fn, device, repeats: int) -> tuple[list[float], list[float]]:
    """One warm-up of each, then `repeats` timings of each, alternating (a busy machine slows both alike)."""
    ref_fn()
    ours_fn()
    ref, ours = [], []
    for _ in range(repeats):
        ref.append(timed(ref_fn, device))
        ours.append(timed(ours_fn, device))
    return ref, ours


def row(method: str, batch: int, device_label: str, ref: list[float], ours: list[float], **extra) -> dict:
    r, o = statistics.median(ref), statistics.median(ours)
    return {"method": method, "model": "resnet50", "size": 224, "batch": batch, "device": device_label,
            "repeats": len(ref), "reference_s": [round(t, 3) for t in ref], "ours_s": [round(t, 3) for t in ours],
            "reference_per_s": round(batch / r, 2), "ours_per_s": round(batch / o, 2), "ratio": round(r / o, 3),
            **extra}


def race_cam(device_name_: str, batch: int = 16, repeats: int = 3, steps: int = 50, ig_batch: int | None = None,
             skip_ig: bool = False) -> None:
    import torchvision
    from captum.attr import IntegratedGradients
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from xaicli.explain.registry import resolve
    from xaicli.runs.meta import device_name

    device = torch.device(device_name_)
    label = device_name(device)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).to(device).eval()
    x = torch.randn(batch, 3, 224, 224, device=device)
    target = torch.randint(0, 1000, (batch,), device=device)
    cam = GradCAM(model=model, target_layers=[model.layer4])
    targets = [ClassifierOutputTarget(int(t)) for t in target]
    gradcam = resolve("gradcam")
    ref, ours = interleaved(lambda: cam(input_tensor=x, targets=targets),
                            lambda: gradcam(model, x, target, layer="layer4"), device, repeats)  # both told layer4
    print(json.dumps(row("gradcam", batch, label, ref, ours, reference="pytorch-grad-cam GradCAM")), flush=True)
    if skip_ig:
        return
    n = ig_batch or batch
    xi, ti = x[:n], target[:n]
    ig = resolve("integrated_gradients")
    ref, ours = interleaved(
        lambda: IntegratedGradients(model).attribute(xi, baselines=torch.zeros_like(xi), target=ti, n_steps=steps,
                                                     method="gausslegendre", internal_batch_size=n),
        lambda: ig(model, xi, ti, n_steps=steps, rule="gausslegendre", baseline="zero"), device, repeats)
    print(json.dumps(row("integrated_gradients", n, label, ref, ours, n_steps=steps, reference="captum")), flush=True)
