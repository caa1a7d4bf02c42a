"""The checkpoint policy: what a checkpoint holds, when last.pt and best.pt are written, and the checks
before one is written (finite weights) or loaded (same run type, model, shapes and config).

In the spirit of timm's CheckpointSaver: the loop says "this epoch ended (and was the best)" or "stop
here", the checkpointer decides the files. Only rank 0 writes.
"""

from __future__ import annotations

from pathlib import Path

from xaicli import config as cfgmod
from xaicli.errors import ConfigError, XaiError
from xaicli.runs.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from xaicli.runs.files import clean_stale_temporaries
from xaicli.runs.layout import safe_child
from xaicli.training.device import rng_state, set_rng_state
from xaicli.training.state import TrainState

RESUME_MAY_CHANGE = ("train.device", "train.log_every", "train.threads", "train.cuda_graphs", "train.loggers")


class Checkpointer:
    def __init__(self, folder: Path, cfg, task, device, write: bool = True) -> None:
        self.folder, self.cfg, self.task, self.device, self.write = folder, cfg, task, device, write

    def payload(self, state: TrainState) -> dict:
        return {"format_version": CHECKPOINT_FORMAT, "kind": self.task.kind, "model_name": self.cfg.model.name,
                "config": cfgmod.to_dict(self.cfg), **state.to_checkpoint(), "rng": rng_state(self.device),
                **self.task.state_dict()}

    def save(self, name: str, state: TrainState) -> None:
        if not self.write:
            return None
        payload = self.payload(state)
        ensure_finite(payload, self.folder / name)
        save_checkpoint(safe_child(self.folder.parent, f"{self.folder.name}/{name}"), payload)

    def end_of_epoch(self, state: TrainState, improved: bool) -> None:
        """last.pt after every epoch; best.pt too when the epoch reached a new best, and first: a run
        killed between the two resumes from the older last.pt and writes this best.pt again."""
        if improved:
            self.save("best.pt", state)
        self.save("last.pt", state)

    def resume(self, state: TrainState, run_dir: Path) -> dict | None:
        """Load last.pt into the task, the RNGs and `state`, after checking it belongs to this run.
        A run killed before its first checkpoint has none: it starts from the beginning. A larger
        train.epochs on a finished run extends it: returns {"from": epochs, "to": epochs} (else None)."""
        from xaicli.runs.metrics_log import truncate_after
        from xaicli.training.checkpoint_checks import check_training_state
        from xaicli.viz import console

        clean_stale_temporaries(run_dir, self.folder, run_dir / "plots", run_dir / "samples")
        legacy = run_dir / "metrics.csv.tmp"  # the fixed-name temporary older versions wrote the CSV to
        if legacy.is_file() and not legacy.is_symlink():
            legacy.unlink()
        path = self.folder / "last.pt"
        if not path.exists() and not path.is_symlink():
            if self.write:
                console.info(f"{path}: no checkpoint yet (the run stopped in its first epoch); "
                             f"starting from the beginning")
                truncate_after(run_dir, 0, 0)
            return None
        saved = load_checkpoint(path, map_location=self.device)
        check_compatible(saved, self.cfg, self.task, path)
        check_training_state(saved, self.task, state.steps_per_epoch, self.device,
                             refusal(saved, self.cfg, self.task, path))
        saved_cfg = cfgmod.upgrade(saved.get("config") or {})
        check_unedited(saved_cfg, cfgmod.to_dict(cfgmod.load_run(run_dir)), run_dir, path)
        check_resume_config(saved_cfg, cfgmod.to_dict(self.cfg), run_dir)
        self.task.load_state_dict(saved)
        set_rng_state(saved["rng"], self.device)
        state.load(saved)
        if self.write:
            truncate_after(run_dir, state.global_step, state.epoch)
            if state.epoch and not state.step_in_epoch and not all(
                    (run_dir / f).exists() for f in self.task.epoch_files(state.epoch - 1)):
                self.task.on_epoch_end(state.epoch - 1, run_dir)  # the weights are that epoch's end
        return self.extension(saved_cfg, state, run_dir)

    def extension(self, saved_cfg: dict, state: TrainState, run_dir: Path) -> dict | None:
        """A finished run resumed with a larger train.epochs: a warm restart of the schedules over the added
        epochs; {"from": epochs, "to": epochs}, or None when the length did not change."""
        planned = int((saved_cfg.get("train") or {}).get("epochs", self.cfg.train.epochs))
        if self.cfg.train.epochs == planned:
            return None
        if state.epoch < planned:
            raise ConfigError(f"--resume {run_dir}: the run stopped at epoch {state.epoch} of {planned}; finish it "
                              f"first (xai train --resume {run_dir}), then extend it with train.epochs="
                              f"{self.cfg.train.epochs}")
        self.task.restart_schedules((self.cfg.train.epochs - state.epoch) * state.steps_per_epoch)
        return {"from": planned, "to": self.cfg.train.epochs}


def check_resume_config(saved: dict, new: dict, run_dir: Path) -> None:
    """Only RESUME_MAY_CHANGE may differ, and train.epochs may grow (extending a finished run)."""
    changed = [k for k in cfgmod.diff(saved, new) if k not in RESUME_MAY_CHANGE]
    if changed == ["train.epochs"] and new["train"]["epochs"] > saved["train"]["epochs"]:
        return
    if changed:
        raise ConfigError(f"--resume {run_dir}: the config differs from the run's in {', '.join(changed)}; "
                          f"only {', '.join(RESUME_MAY_CHANGE)} may change on resume, and train.epochs may grow "
                          f"to extend a finished run")


def check_unedited(saved: dict, on_disk: dict, run_dir: Path, path: Path) -> None:
    """The run's config.yaml must say what its checkpoint says: changes go through KEY=VALUE overrides on
    the command line, never through an edited file."""
    edited = [k for k in cfgmod.diff(saved, on_disk) if k not in RESUME_MAY_CHANGE]
    if edited:
        raise ConfigError(f"{run_dir / 'config.yaml'}: differs from the config in {path} in {', '.join(edited)}; "
                          f"the file was edited: put it back, and change values with KEY=VALUE overrides "
                          f"(train.epochs may grow to extend a finished run)")


# what may differ between a run's config.yaml and the config inside its checkpoints for eval, sample and
# explain: what resume may change, the length of the run (a run may be extended) and the sections that
# only hold those commands' defaults
READ_MAY_DIFFER = (*RESUME_MAY_CHANGE, "train.epochs")
READ_SECTIONS_MAY_DIFFER = ("eval.", "explain.")


def check_run_config(state: dict, cfg, ckpt: Path, run_dir: Path) -> None:
    """Refuse a hand-edited config.yaml: for the run's own checkpoints, it must say what the checkpoint's
    config says (a checkpoint from elsewhere, given by path, is the user's deliberate choice)."""
    if ckpt.resolve().parent != (run_dir / "checkpoints").resolve():
        return
    saved = state.get("config")
    if not isinstance(saved, dict):
        raise XaiError(f"{ckpt}: checkpoint is corrupt or incomplete (no config)")
    try:
        held = cfgmod.to_dict(cfgmod.from_dict(cfgmod.upgrade(dict(saved)), f"{ckpt} (its config)"))
    except ConfigError as exc:
        raise XaiError(f"{ckpt}: checkpoint is corrupt or incomplete ({exc})") from None
    changed = [k for k in cfgmod.diff(held, cfgmod.to_dict(cfg))
               if k not in READ_MAY_DIFFER and not k.startswith(READ_SECTIONS_MAY_DIFFER)]
    if changed:
        raise ConfigError(f"{run_dir / 'config.yaml'}: differs from the config saved in {ckpt} in "
                          f"{', '.join(changed)}; a run's config.yaml must stay as training wrote it "
                          f"(undo the edit; commands take their options as flags)")


def check_finite_weights(state: dict, ckpt: Path) -> None:
    """NaN or Inf weights make every metric, sample and map meaningless: refuse them in one line."""
    bad = first_non_finite(state["models"])
    if bad:
        raise XaiError(f"{ckpt}: {bad} holds NaN or Inf; this checkpoint's weights are unusable "
                       f"(xai never saves such weights: the file was made elsewhere)")


def first_non_finite(models: dict) -> str | None:
    """The first floating-point weight (as group.key) holding NaN or Inf, or None."""
    import torch

    for group, modules in models.items():
        for key, t in modules.items():
            if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all():
                return f"{group}.{key}"
    return None


def refusal(state: dict, cfg, task, path: Path):
    """The one-line refusals for this checkpoint, describing what it holds and what the run builds."""
    from xaicli.training.checkpoint_checks import Refusal

    config = state.get("config") if isinstance(state.get("config"), dict) else {}
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    saved_args = model.get("args") or {}
    held = f"a {state.get('kind')} '{state.get('model_name')}'" + (f" with args {saved_args}" if saved_args else "")
    built = f"a {task.kind} '{cfg.model.name}'" + (f" with args {cfg.model.args}" if cfg.model.args else "")
    return Refusal(path, held, built)


def check_compatible(state: dict, cfg, task, path: Path) -> None:
    """Refuse a checkpoint of another run type, model or shape before load_state_dict sees it."""
    from xaicli.tasks.base import unwrap

    no = refusal(state, cfg, task, path)
    if state.get("kind") != task.kind or state.get("model_name") != cfg.model.name:
        raise XaiError(f"{path}: checkpoint holds {no.held}, but the run builds {no.built}")
    models = state.get("models")
    if not isinstance(models, dict):
        no.corrupt("no model weights")
    for key, module in task.modules.items():
        saved = models.get(key)
        if not isinstance(saved, dict):
            no.corrupt(f"no weights for '{key}'")
        own = unwrap(module).state_dict()
        missing, extra = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
        if missing or extra:
            no.mismatch(f"parameters {'missing ' + ', '.join(missing[:3]) if missing else ''}"
                        f"{' unexpected ' + ', '.join(map(str, extra[:3])) if extra else ''}")
        for k, t in own.items():
            if not torch_tensor(saved[k]) or saved[k].shape != t.shape:
                no.mismatch(f"{key}.{k} has {describe(saved[k])} in the checkpoint and {describe(t)} in the model")


def torch_tensor(value) -> bool:
    import torch

    return torch.is_tensor(value)


def describe(value) -> str:
    from xaicli.training.checkpoint_checks import shape_text

    return shape_text(value) if torch_tensor(value) else f"a {type(value).__name__}"


def ensure_finite(state: dict, path: Path) -> None:
    bad = first_non_finite(state["models"])
    if bad:
        raise XaiError(f"refusing to save {path}: {bad} holds NaN or Inf; the previous checkpoint is kept")
