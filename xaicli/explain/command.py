"""`xai explain RUN`: pick images and targets, run the methods, measure them, write RUN/explain/NNN/."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from xaicli.config import to_dict
from xaicli.config.validate import check_target
from xaicli.errors import ConfigError
from xaicli.explain.registry import resolve
from xaicli.explain.report import manifest_fields, write_report
from xaicli.explain.targets import parse_target
from xaicli.runs.files import write_json
from xaicli.runs.staging import StagedOutput
from xaicli.tracking.results import log_explanation
from xaicli.viz import console


def log(message: str) -> None:
    console.info(message)


def apply_options(cfg, methods, n, target, inputs, split, classifier=None, layer=None) -> None:
    """Command-line options override the run's explain section."""
    e = cfg.explain
    if methods:
        e.methods = list(methods)
    if n is not None:
        e.n = n
    if target is not None:
        check_target(str(target), "--target")
        e.target = str(target)
    if inputs is not None:
        if inputs not in ("real", "generated"):
            raise ConfigError(f"--inputs: expected real or generated, found {inputs!r}")
        e.inputs = inputs
    if split is not None:
        if split not in ("train", "val", "test"):
            raise ConfigError(f"--split: expected train, val or test, found {split!r}")
        e.split = split
    if classifier is not None:
        e.classifier = classifier
    if layer is not None:
        e.layer = layer


def check_explain_request(run: str, methods: list[str] | None, target: str | None, classifier: str | None) -> None:
    """Refuse what the run's files can tell is wrong (a misspelt method, a malformed or out-of-range target,
    a classifier run that is not one) before its data is loaded."""
    from xaicli.runs.layout import is_run
    from xaicli.runs.preflight import check_classifier_run, run_classes, run_config

    if not is_run(Path(run)) and not Path(run).is_file():
        return  # restore() says what is wrong with RUN
    run_dir, cfg = run_config(run)
    for name in methods or cfg.explain.methods:
        resolve(name)
    classes = run_classes(run_dir)
    parse_target(target if target is not None else cfg.explain.target, len(classes) if classes else None, classes)
    source = classifier or cfg.explain.classifier
    if source:
        check_classifier_run(source, "--classifier" if classifier else "explain.classifier")


def explain_run_images(restored, images: list[str], ecfg, explicit: bool, new_folder) -> dict[str, dict]:
    """`xai explain RUN --images PATH...`: the run's classifier on the user's image files."""
    from xaicli.explain.oneshot import explain_files, run_viewer

    if not restored.task.classifies:
        raise ConfigError(f"--images: explains a classifier on image files; {restored.run_dir} is a "
                          f"{restored.task.kind} run")
    names = [str(n) for n in restored.data.class_names]
    return explain_files(restored.task.model, names, run_viewer(restored), images, ecfg, explicit, new_folder, log,
                         f"{restored.cfg.model.name} on image files")


def run_explain(run: str, methods: list[str] | None = None, n: int | None = None, target: str | None = None,
                inputs: str | None = None, split: str | None = None, out: str | None = None,
                checkpoint: str = "last", classifier: str | None = None, layer: str | None = None,
                data_source: str | None = None, images: list[str] | None = None, sanity: bool | None = None) -> Path:
    """Explain a run; returns the output folder (the CLI prints it). The run's task picks the sections
    (`task.explain`, which calls explain_classifier or explain_gan); the folder is made only once the
    request has been checked, so a refused one leaves nothing behind; it is built hidden and put in place
    complete (xaicli/runs/staging.py), so a killed command leaves no folder that looks finished."""
    from xaicli.runs.restore import restore  # looked up at call time: tests stand in a GAN run here

    check_explain_request(run, methods, target, classifier)
    restored = restore(run, checkpoint, data_source=data_source)
    cfg = restored.cfg
    apply_options(cfg, methods, n, target, inputs, split, classifier, layer)
    ecfg = cfg.explain
    if sanity is not None:
        ecfg.sanity = sanity
    started = time.perf_counter()
    torch.manual_seed(ecfg.seed)
    made: list[StagedOutput] = []

    def new_folder() -> Path:
        made.append(StagedOutput(restored.run_dir, "explain", out))
        return made[-1].path

    if images:
        sections = explain_run_images(restored, images, ecfg, bool(methods), new_folder)
    else:
        sections = restored.task.explain(restored, ecfg, new_folder, bool(methods), log)
    folder = made[-1].path
    device = restored.task.device
    manifest = {
        "run": str(restored.run_dir), "kind": restored.task.kind, "model": cfg.model.name,
        "checkpoint": str(restored.checkpoint), "checkpoint_sha256": restored.sha256,
        "seeds": {"explain": ecfg.seed, "run": cfg.seed}, "config": to_dict(cfg),
        **manifest_fields(ecfg, device, started, sections),
    }
    write_json(folder / "manifest.json", manifest)
    report = write_report(folder, manifest, sections)
    final = made[-1].commit()
    log_explanation(restored.run_dir, final)  # the grids into train.loggers' trackers, when the run has any
    log(f"explain: report {final / report.name}")
    return final
