"""The steps of build_external: the source's model and metadata, weights, head, output wrapper, eval mode."""

from __future__ import annotations

from pathlib import Path

from xaicli.errors import ConfigError, XaiError
from xaicli.models.external.result import ExternalModel
from xaicli.models.external.spec import Spec
from xaicli.models.external.weights_file import load_into, looks_like_file, read_state_dict

GENERIC_PREPROCESS = {"resize": None, "crop": None, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                      "interpolation": "bilinear"}


def build(spec: Spec, text: str, weights: str | None, *, allow_download: bool, num_classes: int | None,
          args: dict, code_dir, input_shape) -> ExternalModel:
    weights = None if weights is None or str(weights).strip().lower() in ("", "none") else str(weights)
    if num_classes is not None and num_classes < 1:
        raise ConfigError(f"num_classes: {num_classes}; expected at least 1")
    if args and spec.source != "module":
        raise ConfigError(f"model.args: {text} takes no arguments (model.args is for module.path:callable); "
                          f"found {sorted(args)}")
    source = {"torchvision": _torchvision, "timm": _timm, "module": _module}[spec.source]
    ext = source(spec, weights, allow_download, num_classes, args, code_dir)
    if num_classes is not None:
        _fit_head(ext, spec, num_classes)
    if spec.source == "module":
        _wrap_outputs(ext, input_shape)
    ext.model.eval()
    return ext


def _load_file(ext: ExternalModel, weights: str, head_reset=None) -> None:
    """Load a state-dict file; a head of another class count in the file is resized to fit it first."""
    state = read_state_dict(weights)
    head = ext.head
    if head and f"{head}.weight" in state:
        from xaicli.models.external.heads import head_outputs, replace_head

        wanted = int(state[f"{head}.weight"].shape[0])
        if wanted != head_outputs(ext.model, head):
            (head_reset or (lambda m, n: replace_head(m, head, n)))(ext.model, wanted)
    load_into(ext.model, state, f"weights file {Path(weights).name}")
    ext.pretrained = True


def _torchvision(spec, weights, allow_download, num_classes, args, code_dir) -> ExternalModel:
    from xaicli.models.external import torchvision_source as tv
    from xaicli.models.external.heads import find_head, head_outputs

    tv.check_name(spec.name)
    if weights is not None and not looks_like_file(weights):
        model, names, pre = tv.build_pretrained(spec.name, weights, allow_download)
        return ExternalModel(model, names, pre, head=find_head(model), pretrained=True)
    model = tv.build_bare(spec.name)
    ext = ExternalModel(model, None, tv.default_preprocess(spec.name), head=find_head(model))
    if weights is not None:
        _load_file(ext, weights)
        names = tv.default_categories(spec.name)
        if ext.head and names and len(names) == head_outputs(ext.model, ext.head):
            ext.class_names = names
            ext.notes.append(f"class names: the {len(names)} categories of torchvision's {spec.name} weights")
    return ext


def _timm(spec, weights, allow_download, num_classes, args, code_dir) -> ExternalModel:
    from xaicli.models.external import timm_source as tm

    file = weights is not None and looks_like_file(weights)
    model = tm.create(spec.name, "none" if file or weights is None else weights, allow_download)
    ext = ExternalModel(model, None, tm.preprocess_of(model), head=tm.head_name(model),
                        pretrained=weights is not None and not file)
    if file:
        _load_file(ext, weights, head_reset=tm.reset_head)
    ext.class_names = tm.class_names_of(model, ext.pretrained and not file)
    return ext


def _module(spec, weights, allow_download, num_classes, args, code_dir) -> ExternalModel:
    from xaicli.models.external import user_source as us
    from xaicli.models.external.heads import find_head

    if weights is not None and not looks_like_file(weights):
        raise ConfigError(f"model.weights: '{weights}' for {spec.module}:{spec.name}; a user module takes none "
                          "or a weights file (.pt, .pth, .safetensors)")
    mod = us.import_module(spec.module, code_dir)
    model = us.call_factory(mod, spec.name, f"{spec.module}:{spec.name}", args, num_classes)
    path = us.module_file(mod)
    ext = ExternalModel(model, None, dict(GENERIC_PREPROCESS), head=find_head(model),
                        source_file=str(path) if path else None,
                        source_sha256=us.file_sha256(path) if path and path.is_file() else None)
    if weights is not None:
        _load_file(ext, weights)
    return ext


def _fit_head(ext: ExternalModel, spec: Spec, num_classes: int) -> None:
    """Replace the classifier head when it has another class count than the data (fine-tuning)."""
    from xaicli.models.external.heads import head_outputs, replace_head

    if ext.head is None:
        return
    old = head_outputs(ext.model, ext.head)
    if old == num_classes:
        return
    if spec.source == "timm":
        from xaicli.models.external.timm_source import head_name, reset_head

        reset_head(ext.model, num_classes)
        ext.head = head_name(ext.model) or ext.head
    else:
        replace_head(ext.model, ext.head, num_classes)
    ext.class_names = None  # the weights' names describe the old classes
    ext.notes.append(f"head {ext.head} replaced: {old} -> {num_classes} classes")


def _wrap_outputs(ext: ExternalModel, input_shape) -> None:
    """Wrap a model whose forward returns an object or dict with logits; the head moves under `inner.`."""
    from xaicli.models.external.outputs import LogitsOutput, output_kind, probe

    try:
        out = probe(ext.model, tuple(input_shape or (3, 224, 224)))
    except Exception:  # the probe's shape does not suit the model: its outputs are checked when it runs
        return
    try:
        kind = output_kind(out)
    except TypeError as exc:
        raise XaiError(f"model.name: {exc}") from None
    if kind == "tensor":
        return
    ext.model = LogitsOutput(ext.model)
    ext.head = f"inner.{ext.head}" if ext.head else None
    ext.notes.append("outputs: using .logits" if kind == "attribute" else "outputs: using ['logits']")
