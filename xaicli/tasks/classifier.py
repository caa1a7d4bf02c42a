"""The classifier task: cross-entropy on normalised images; validation on the held-out split."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xaicli.data.loader import Normalizer, eval_batches
from xaicli.models import build_model, has_conv2d
from xaicli.models.external.spec import is_external
from xaicli.tasks import TASKS
from xaicli.tasks.base import Task, autocast, make_optimizer, unwrap


@TASKS.register("classifier")
class ClassifierTask(Task):
    kind = "classifier"
    monitor = ("val_acc", "max")
    classifies = True
    validates = True

    def __init__(self, cfg, data, device: torch.device, total_steps: int, graph_safe: bool = False) -> None:
        super().__init__(cfg, data, device, total_steps, graph_safe)
        self.external = None  # an ExternalModel (xaicli/models/external) for torchvision:, timm:, module:callable
        if is_external(cfg.model.name):
            from xaicli.models.external.for_task import build_for_run

            self.external = build_for_run(cfg, data)
            model = self.external.model.to(device)
        else:
            model = build_model(cfg.model.name, data.shape, data.num_classes, cfg.model.args).to(device)
        # on a CPU, oneDNN's convolutions are faster on channels-last tensors: about 20% per step for
        # fast_cnn and 5% for cnn at batch 64 on the CI machine; GPUs keep PyTorch's default layout
        self.memory_format = torch.contiguous_format
        if device.type == "cpu" and has_conv2d(model):
            self.memory_format = torch.channels_last
            model = model.to(memory_format=self.memory_format)
        self.normalize = Normalizer(data.mean, data.std).to(device)
        self.modules = {"model": model}
        self.optimizers = {"model": make_optimizer(model.parameters(), cfg.optim, device,
                                                     graph_safe=self.graph_safe)}
        self.build_schedules(total_steps)
        self.forward = torch.compile(model) if cfg.train.compile else model

    def model_provenance(self) -> dict:
        if self.external is None:
            return {}
        from xaicli.models.external.for_task import provenance

        return {"external_model": provenance(self.external, self.cfg.model)}

    @property
    def model(self) -> torch.nn.Module:
        return unwrap(self.modules["model"])

    def model_input(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """Normalised float images in the model's memory layout."""
        return self.normalize(x_uint8).contiguous(memory_format=self.memory_format)

    def wrap_ddp(self, ddp_fn) -> None:
        self.modules["model"] = ddp_fn(self.modules["model"])
        self.forward = self.modules["model"]

    def step_body(self, x: torch.Tensor, y: torch.Tensor, variant: str) -> dict[str, torch.Tensor]:
        opt = self.optimizers["model"]
        with autocast(self.device, self.cfg.train.precision):
            logits = self.forward(self.model_input(x))
            loss = F.cross_entropy(logits.float(), y, label_smoothing=self.cfg.optim.label_smoothing)
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.optim.clip_grad_norm:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.clip_grad_norm)
        self.scaler.step(opt)
        n = torch.full((), float(len(y)), device=y.device)  # a fill, not a host copy: capturable
        return {"loss": loss.detach() * n, "correct": (logits.argmax(1) == y).sum().float(), "count": n}

    def finish_step(self, variant: str) -> None:
        self.scaler.update()
        if self.schedulers["model"] is not None:
            self.schedulers["model"].step()

    @torch.no_grad()
    def predict(self, x_uint8: torch.Tensor, y: torch.Tensor, batch_size: int):
        """Logits over a whole split, batched, in eval mode."""
        model = self.model
        was_training = model.training
        model.eval()
        out = []
        for xb, _ in eval_batches(x_uint8, y, batch_size, self.device):
            with autocast(self.device, self.cfg.train.precision):
                out.append(model(self.model_input(xb)).float())
        model.train(was_training)
        return torch.cat(out) if out else torch.empty(0, self.data.num_classes, device=self.device)

    def validate(self) -> dict[str, float]:
        """Loss and accuracy on the validation split (none: nothing to report, and no best.pt)."""
        x, y = self.data.split("val")
        if len(y) == 0:
            return {}
        logits = self.predict(x, y, self.cfg.data.eval_batch_size)
        y = y.to(self.device)
        return {"val_loss": F.cross_entropy(logits, y).item(),
                "val_acc": (logits.argmax(1) == y).float().mean().item()}

    def evaluate(self, restored, split: str | None = None, classifier: str | None = None) -> dict:
        from xaicli.evaluation.classifier import evaluate_classifier

        return evaluate_classifier(restored, split)

    def explain(self, restored, ecfg, new_folder, explicit: bool, log) -> dict[str, dict]:
        from xaicli.explain.classifier import explain_classifier

        return explain_classifier(restored, ecfg, new_folder, explicit, log)
