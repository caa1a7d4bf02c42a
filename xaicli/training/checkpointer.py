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
            return
        payload = self.payload(state)
        ensure_finite(payload, self.folder / name)
        save_checkpoint(self.folder / name, payload)

    def end_of_epoch(self, state: TrainState, improved: bool) -> None:
        """last.pt after every epoch; best.pt too when the epoch reached a new best."""
        self.save("last.pt", state)
        if improved:
            self.save("best.pt", state)

    def resume(self, state: TrainState, run_dir: Path) -> dict | None:
        """Load last.pt into the task, the RNGs and `state`, after checking it belongs to this run. A larger
        train.epochs on a finished run extends it: returns {"from": epochs, "to": epochs} (else None)."""
        clean_stale_temporaries(self.folder)
        path = self.folder / "last.pt"
        saved = load_checkpoint(path, map_location=self.device)
        check_compatible(saved, self.cfg, self.task, path)
        saved_cfg = cfgmod.upgrade(saved.get("config") or {})
        check_resume_config(saved_cfg, cfgmod.to_dict(self.cfg), run_dir)
        self.task.load_state_dict(saved)
        set_rng_state(saved["rng"], self.device)
        state.load(saved)
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


def check_compatible(state: dict, cfg, task, path: Path) -> None:
    """Refuse a checkpoint of another run type, model or shape before load_state_dict sees it."""
    from xaicli.tasks.base import unwrap

    kind, name = state.get("kind"), state.get("model_name")
    saved_args = (state.get("config") or {}).get("model", {}).get("args", {})
    held = f"a {kind} '{name}'" + (f" with args {saved_args}" if saved_args else "")
    built = f"a {task.kind} '{cfg.model.name}'" + (f" with args {cfg.model.args}" if cfg.model.args else "")
    if kind != task.kind or name != cfg.model.name:
        raise XaiError(f"{path}: checkpoint holds {held}, but the run builds {built}")
    models = state.get("models")
    if not isinstance(models, dict):
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete (no model weights)")
    for key, module in task.modules.items():
        saved = models.get(key)
        if not isinstance(saved, dict):
            raise XaiError(f"{path}: checkpoint is corrupt or incomplete (no weights for '{key}')")
        own = unwrap(module).state_dict()
        missing, extra = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
        if missing or extra:
            raise XaiError(f"{path}: checkpoint holds {held}, but the run builds {built}: "
                           f"parameters {'missing ' + ', '.join(missing[:3]) if missing else ''}"
                           f"{' unexpected ' + ', '.join(extra[:3]) if extra else ''}")
        for k, t in own.items():
            if getattr(saved[k], "shape", None) != t.shape:
                raise XaiError(f"{path}: checkpoint holds {held}, but the run builds {built}: "
                               f"{key}.{k} has shape {list(getattr(saved[k], 'shape', []))} in the "
                               f"checkpoint and {list(t.shape)} in the model")


def ensure_finite(state: dict, path: Path) -> None:
    import torch

    for group, modules in state["models"].items():
        for key, t in modules.items():
            if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all():
                raise XaiError(f"refusing to save {path}: {group}.{key} holds NaN or Inf; "
                               f"the previous checkpoint is kept")
