"""`captum:<Name>`: any Captum attribution class behind our contract (Captum is an optional extra).

Primary methods take the model; layer methods (`Layer*`, `GuidedGradCam`) get the layer that our
class activation maps use (layers.cam_layer) and are upsampled to the input. Keyword arguments that
the class's `attribute` accepts are passed on: baselines from our baseline names, n_steps, n_samples,
a 4 x 4 superpixel feature mask for the perturbation methods (Lime, KernelShap, ...), window and
stride for Occlusion.
"""

from __future__ import annotations

import inspect

import torch

from xaicli.errors import ConfigError
from xaicli.explain.baselines import make_baseline
from xaicli.explain.core import check_target, eval_mode, expand_target, parameters_frozen, upsample
from xaicli.explain.layers import cam_layer
from xaicli.explain.registry import Method, register_prefix
from xaicli.registry import did_you_mean

SIGNED_BY_DEFAULT = True
HOOKED = ("DeepLift", "DeepLiftShap", "GuidedBackprop", "Deconvolution", "GuidedGradCam", "LRP")  # module hooks


def _captum_attr():
    try:
        import captum.attr as ca
    except ImportError:
        raise ConfigError("captum:* methods need Captum, an optional extra: pip install 'xai[captum]'") from None
    return ca


def captum_names() -> list[str]:
    ca = _captum_attr()
    return sorted(n for n in dir(ca) if isinstance(getattr(ca, n), type) and hasattr(getattr(ca, n), "attribute"))


def superpixel_mask(inputs: torch.Tensor, size: int = 4) -> torch.Tensor:
    """(1, C, H, W) long mask numbering size x size blocks (shared across channels)."""
    _, c, h, w = inputs.shape
    rows = torch.arange(h, device=inputs.device) // size
    cols = torch.arange(w, device=inputs.device) // size
    ids = rows.view(-1, 1) * ((w + size - 1) // size) + cols.view(1, -1)
    return ids.view(1, 1, h, w).expand(1, c, h, w).contiguous()


def captum_method(name: str) -> Method:
    ca = _captum_attr()
    cls = getattr(ca, name, None)
    if not (isinstance(cls, type) and hasattr(cls, "attribute")):
        raise ConfigError(f"captum:{name} is not a Captum attribution method"
                          f"{did_you_mean(name, captum_names())}")
    if name == "NoiseTunnel":
        raise ConfigError("captum:NoiseTunnel wraps another method: use smoothgrad:<method> instead")

    takes_layer = "layer" in inspect.signature(cls.__init__).parameters
    accepted = inspect.signature(cls.attribute).parameters

    def run(model, inputs, target=None, **params):
        algo = cls(model, cam_layer(model, inputs, params.get("layer"), params.get("allow_reused_layer", False))[1]) \
            if takes_layer else cls(model)
        kwargs = {}
        if "baselines" in accepted:
            kwargs["baselines"] = make_baseline(inputs, params.get("baseline", "zero"), params.get("input_range"),
                                                params.get("mean_image"), params.get("blur_sigma", 4.0),
                                                params.get("seed", 0))
        kwargs.update({k: params[k] for k in ("n_steps", "n_samples") if k in params})
        if "feature_mask" in accepted:
            kwargs["feature_mask"] = superpixel_mask(inputs)
        if "sliding_window_shapes" in accepted:
            w, s = int(params.get("window", 4)), int(params.get("stride", 2))
            kwargs["sliding_window_shapes"] = (inputs.shape[1], w, w)
            kwargs["strides"] = (1, s, s)
        tgt = expand_target(target, len(inputs), inputs.device)
        if tgt is not None:  # Captum would index out of range: one probe pass gives the number of classes
            with eval_mode(model), torch.no_grad():
                check_target(tgt, model(inputs[:1]).shape[1])
        with parameters_frozen(model):
            out = algo.attribute(inputs.detach().clone(), target=tgt, **kwargs)
        out = out[0] if isinstance(out, tuple) else out
        out = out.detach()
        if out.shape != inputs.shape:
            if out.ndim == 4:
                out = upsample(out.sum(1, keepdim=True), inputs)
            else:
                raise ConfigError(f"captum:{name} returned shape {tuple(out.shape)}, not the input's")
        return out.to(inputs.dtype)

    return Method(f"captum:{name}", run, signed=SIGNED_BY_DEFAULT, accepted=captum_parameters(takes_layer, accepted),
                  hooks=takes_layer or name in HOOKED)


def captum_parameters(takes_layer: bool, accepted) -> tuple[str, ...]:
    """Our params that reach a Captum class: those its constructor and `attribute` can use."""
    names = []
    if takes_layer:
        names += ["layer", "allow_reused_layer"]
    if "baselines" in accepted:
        names += ["baseline", "input_range", "mean_image", "blur_sigma", "seed"]
    names += [k for k in ("n_steps", "n_samples") if k in accepted]
    if "sliding_window_shapes" in accepted:
        names += ["window", "stride"]
    return tuple(names)


register_prefix("captum", captum_method)
