"""train.cuda_graphs on a machine without CUDA: the option's notices, and the captured-step driver
(warm-up, one graph per variant and shape, static inputs, fallback) run against a stand-in for the
CUDA capture that replays the recorded step body. The real capture runs in bench/gpu_check.sh."""

import json

import pytest
import torch
from conftest import ROOT, SMOKE, xai

from xaicli import config as cfgmod
from xaicli.data.loader import BatchStream
from xaicli.data.registry import load_run_data
from xaicli.tasks import build_task
from xaicli.training.cuda_graphs import GraphedStep, graph_plan

GAN = ROOT / "configs" / "smoke_gan.yaml"


class StandInCapture:
    """Records instead of capturing: replay runs the recorded body (on the static inputs it closed
    over) and refreshes the same output dict in place, as a replayed graph refreshes its outputs."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.warms, self.captures, self.replays = fail, 0, 0, 0

    def warm(self, fn):
        self.warms += 1
        return fn()

    def capture(self, fn):
        self.captures += 1
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing\nmore detail")
        out: dict = {}

        def replay():
            self.replays += 1
            out.clear()
            out.update(fn())
        return replay, out


def build(config, overrides):
    cfg = cfgmod.load(config, overrides)
    data = load_run_data(cfg)
    stream = BatchStream(data.x_train, data.y_train, cfg.data.batch_size, torch.device("cpu"), shuffle=True,
                         shift=cfg.data.shift, seed=cfg.seed, resident=True)
    torch.manual_seed(cfg.seed)
    return build_task(cfg, data, torch.device("cpu"), len(stream) * cfg.train.epochs), stream


def train(step, stream, epochs=2):
    torch.manual_seed(123)  # the same noise and dropout masks for both paths
    outs = []
    for epoch in range(epochs):
        for xb, yb in stream.epoch(epoch):
            outs.append({k: float(v) for k, v in step(xb, yb).items()})
    return outs


def assert_same_training(config, overrides, capture, freeze_check=None):
    eager, stream = build(config, overrides)
    graphed, _ = build(config, overrides)
    step = GraphedStep(graphed, capture=capture, warmup=2)
    assert train(step, stream) == train(eager.train_step, stream)
    pairs = zip(eager.state_dict()["models"].items(), graphed.state_dict()["models"].values(), strict=True)
    for (name, a), b in pairs:
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k}"
    return step, graphed


def test_classifier_steps_replayed_from_the_capture_train_exactly_like_eager():
    capture = StandInCapture()
    step, _ = assert_same_training(SMOKE, ["data.shift=1"], capture)  # 230 images: 7 steps an epoch, 14 in all
    assert (capture.warms, capture.captures, capture.replays) == (2, 1, 12)
    assert step.captured == 1


def test_gan_with_two_step_variants_gets_one_graph_each():
    """wgan_gp with n_critic 2 alternates critic-only ("d") and critic+generator ("dg") steps; EMA on."""
    capture = StandInCapture()
    step, task = assert_same_training(GAN, ["model.name=wgan_gp", "model.args={n_critic: 2, width: 8, ema: 0.9}",
                                            "optim.schedule=cosine"], capture)
    assert capture.captures == 2 and step.captured == 2
    assert (capture.warms, capture.replays) == (4, 4)  # 8 steps: per variant 2 warm-up, 2 replayed
    assert task.steps == 8


def test_a_failed_capture_falls_back_to_eager_with_one_notice(capsys):
    capture = StandInCapture(fail=True)
    step, task = assert_same_training(GAN, [], capture)
    assert step.failed and step.captured == 0 and capture.captures == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if "cuda_graphs" in line]) == 1
    assert "operation not permitted" in err[0] and "more detail" not in err[0] and "eager" in err[0]
    assert all(p.requires_grad for p in task.gan.parameters())


def test_a_body_that_fails_half_way_through_capture_leaves_no_network_frozen():
    eager, stream = build(GAN, [])
    task, _ = build(GAN, [])

    class HalfWay(StandInCapture):
        def capture(self, fn):
            task.gan.discriminator.requires_grad_(False)  # as the G step does, then the capture breaks
            raise RuntimeError("capture broke")
    step = GraphedStep(task, capture=HalfWay(), warmup=1)
    assert train(step, stream) == train(eager.train_step, stream)
    assert all(p.requires_grad for p in task.gan.parameters())


@pytest.mark.parametrize("overrides, notice", [
    ([], None),
    (["train.cuda_graphs=false"], None),
    (["train.cuda_graphs=true"], "because the device is cpu"),
    (["train.cuda_graphs=true", "optim.name=sgd", "train.precision=16-mixed"], "sgd has no capturable"),
])
def test_plan_on_this_cpu(overrides, notice):
    cfg = cfgmod.load(SMOKE, overrides)
    captured, line = graph_plan(cfg, torch.device("cpu"), distributed=False)
    assert not captured
    assert (line is None) if notice is None else (notice in line and "\n" not in line)


def test_plan_on_a_gpu_captures_unless_something_rules_it_out():
    cuda = torch.device("cuda")  # only a device object: nothing runs on it
    assert graph_plan(cfgmod.load(SMOKE, []), cuda, distributed=False) == (True, None)
    assert graph_plan(cfgmod.load(SMOKE, ["train.cuda_graphs=false"]), cuda, distributed=False) == (False, None)
    captured, line = graph_plan(cfgmod.load(SMOKE, ["train.compile=true"]), cuda, distributed=True)
    assert not captured and line.startswith("train.cuda_graphs=auto: running eager, because DDP")
    assert "train.compile is on" in line


@pytest.mark.e2e
def test_cli_true_on_cpu_trains_eager_and_says_so_once(tmp_path):
    run = tmp_path / "run"
    proc = xai("train", SMOKE, "train.epochs=1", "train.cuda_graphs=true", "--run-dir", run)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "cuda_graphs" in line]
    assert len(lines) == 1 and "running eager, because the device is cpu" in lines[0]
    assert json.loads((run / "meta.json").read_text())["step"] == "eager"
    quiet = xai("train", SMOKE, "train.epochs=1", "--run-dir", tmp_path / "auto")
    assert quiet.returncode == 0 and "cuda_graphs" not in quiet.stderr


@pytest.mark.e2e
def test_cli_rejects_an_unknown_mode(tmp_path):
    proc = xai("train", SMOKE, "train.cuda_graphs=maybe", "--run-dir", tmp_path / "r")
    assert proc.returncode == 2
    assert "train.cuda_graphs" in proc.stderr and "auto, true, false" in proc.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.e2e
def test_yaml_booleans_are_read_as_the_mode(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(SMOKE.read_text() + "  cuda_graphs: false\n")  # train is the last section
    assert cfgmod.load(path, []).train.cuda_graphs == "false"
    assert cfgmod.load(SMOKE, ["data.device_resident=true"]).data.device_resident == "true"


def test_optimizer_state_moves_between_a_tensor_lr_and_a_float_lr_optimizer():
    """A checkpoint written by the captured path (fused, learning rate in a tensor) resumes on the eager
    path and back; each optimizer keeps its own implementation and the captured step's lr tensor."""
    import io

    from xaicli.tasks.base import load_optimizer_state, optimizer_state

    def through_a_file(state):  # as a checkpoint carries it: no tensor shared with the saver
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        return torch.load(buf, weights_only=True)

    def make(tensor_lr):
        torch.manual_seed(0)
        p = torch.nn.Parameter(torch.randn(5))
        lr = torch.tensor(0.1) if tensor_lr else 0.1
        opt = torch.optim.AdamW([p], lr=lr, fused=tensor_lr or None)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        return p, opt, sched

    def steps(p, opt, sched, n):
        for i in range(n):
            p.grad = torch.full_like(p, 0.5 + i)
            opt.step()
            sched.step()

    p_t, opt_t, sched_t = make(True)
    lr_tensor = opt_t.param_groups[0]["lr"]
    steps(p_t, opt_t, sched_t, 3)
    saved = through_a_file(optimizer_state(opt_t))
    assert isinstance(saved["param_groups"][0]["lr"], float)

    p_f, opt_f, sched_f = make(False)
    p_f.data.copy_(p_t.data)
    load_optimizer_state(opt_f, saved)
    sched_f.load_state_dict(through_a_file(sched_t.state_dict()))
    group = opt_f.param_groups[0]
    assert isinstance(group["lr"], float) and group["lr"] == pytest.approx(float(lr_tensor))
    assert not group["fused"] and not torch.is_tensor(group["lr"])

    back = through_a_file(optimizer_state(opt_f))
    p_t2, opt_t2, sched_t2 = make(True)
    tensor2 = opt_t2.param_groups[0]["lr"]
    load_optimizer_state(opt_t2, back)
    assert opt_t2.param_groups[0]["lr"] is tensor2 and opt_t2.param_groups[0]["fused"]
    assert float(tensor2) == pytest.approx(group["lr"])

    steps(p_t, opt_t, sched_t, 2)  # both continue the same run
    steps(p_f, opt_f, sched_f, 2)
    torch.testing.assert_close(p_f.data, p_t.data)
