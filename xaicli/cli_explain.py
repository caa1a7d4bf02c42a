"""`xai explain`'s choice between a run, a run with image files and a model without a run (--model):
what the options mean together, checked before any work. Imports no torch (the API does, when called)."""

from __future__ import annotations

from xaicli.errors import ConfigError

HELP = {
    "images": "Explain these image files (files, folders, globs; any size) instead of the run's data: with RUN, "
              "or with --model.",
    "model": "One-shot, no run: torchvision:NAME, timm:NAME or module.path:callable, with --images; the folder is "
             "--out, else runs/explain/NNN.",
    "weights": "With --model: none, an enum name (IMAGENET1K_V1, DEFAULT; from the torch hub cache) or a "
               ".pt/.pth/.safetensors state dict.",
    "no_sanity": "Skip the randomisation measures (explain.sanity: false): they recompute every map once per "
                 "layer, minutes for large models on a CPU.",
    "allow_download": "With --model: enum weights missing from the hub cache may download.",
    "n": "Images to explain (default: explain.n, 8); with --images, the files measured and shown in the report "
         "(every file is explained).",
}


def dispatch(o: dict) -> None:
    """Run the explain command for the CLI's options `o`; prints the output folder."""
    from xaicli import api

    paths, images = list(o["run"] or []), o["images"]
    if o["model"] is not None:
        files = list(images or []) + paths
        if not files:
            raise ConfigError("--model: give the images to explain with --images PATH...")
        print(api.explain_images(o["model"], files, weights=o["weights"], methods=o["method"], target=o["target"],
                                 out=o["out"], layer=o["layer"], allow_download=o["allow_download"],
                                 sanity=not o["no_sanity"], n=o["n"]))
        return
    if o["weights"] is not None or o["allow_download"]:
        raise ConfigError("--weights and --allow-download go with --model (a run has its own weights)")
    if not paths:
        raise ConfigError("explain: give a RUN directory, or --model SPEC --images PATH... for a model without a run")
    if len(paths) > 1 and not images:
        raise ConfigError(f"explain: one RUN at a time; found {len(paths)} ({', '.join(paths[:3])}...)")
    if o["compare"] is not None:
        print(api.compare_explanations(o["compare"], paths[0], out=o["out"]))
        return
    print(api.explain(paths[0], methods=o["method"], n=o["n"], target=o["target"], inputs=o["inputs"],
                      split=o["split"], out=o["out"], checkpoint=o["checkpoint"], classifier=o["classifier"],
                      layer=o["layer"], data_source=o["data_source"],
                      images=list(images) + paths[1:] if images else None, sanity=False if o["no_sanity"] else None))
