"""Shell completion: config keys and values, runs, methods; bash's split words; no torch; a real bash TAB;
Rich help with option groups."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, cli
from fake_runs import make_run

from xaicli.completion import bash_request, complete_method, complete_overrides, complete_run, glue


class Ctx:
    def __init__(self, config=None):
        self.params = {"config": config}


def values(items):
    return [i[0] if isinstance(i, tuple) else i for i in items]


def test_keys_of_a_section_end_with_equals():
    got = values(complete_overrides(Ctx(), [], "train."))
    assert "train.epochs=" in got and "train.loggers=" in got and all(v.startswith("train.") for v in got)


def test_a_unique_key_also_offers_its_value_so_no_space_follows():
    assert values(complete_overrides(Ctx(str(ROOT / "configs" / "smoke_cnn.yaml")), [], "train.epo")) == \
        ["train.epochs=", "train.epochs=2"]  # the config's value, not the default
    assert values(complete_overrides(Ctx(), [], "train.epo")) == ["train.epochs=", "train.epochs=10"]
    assert values(complete_overrides(Ctx(), [], "optim.sched")) == [
        "optim.schedule=", "optim.schedule=none", "optim.schedule=cosine", "optim.schedule=onecycle"]


@pytest.mark.parametrize("typed, expected", [
    ("model.name=fa", ["model.name=fast_cnn"]),
    ("model.name=", ["model.name=cgan", "model.name=cnn", "model.name=dcgan", "model.name=fast_cnn",
                     "model.name=mlp", "model.name=mlp_gan", "model.name=wgan_gp"]),
    ("data.name=s", ["data.name=synthetic"]),
    ("train.loggers=[t", ["train.loggers=[tensorboard]", "train.loggers=[tensorboard,mlflow]"]),
    ("train.compile=", ["train.compile=true", "train.compile=false"]),
])
def test_values_of_a_key(typed, expected):
    assert complete_overrides(Ctx(), [], typed) == expected


def test_methods_and_prefixes():
    assert complete_method("smoothgrad:sa") == ["smoothgrad:saliency"]
    assert "smoothgrad:" in complete_method("smooth") and "integrated_gradients" in complete_method("int")


def test_runs_are_offered_under_the_typed_folder(tmp_path, monkeypatch):
    make_run(tmp_path / "runs" / "a-001")
    make_run(tmp_path / "runs" / "sweep" / "000-lr_1")
    os.symlink("a-001", tmp_path / "runs" / "latest")
    monkeypatch.chdir(tmp_path)
    assert complete_run("") == ["runs/a-001", "runs/latest", "runs/sweep/000-lr_1"]
    assert complete_run("runs/s") == ["runs/sweep/000-lr_1"]
    assert complete_run(f"{tmp_path}/runs/a") == [f"{tmp_path}/runs/a-001"]


def test_bash_words_are_glued_back():
    assert glue(["train", "c.yaml", "model.name", "=", "fa"]) == ["train", "c.yaml", "model.name=fa"]
    # the word after `=`: bash replaces only what follows it, so the glued prefix is kept
    assert bash_request(["train", "c.yaml", "model.name", "="], 3) == (["train", "c.yaml"], "model.name=", 11)
    assert bash_request(["train", "c.yaml", "model.name", "=", "fa"], 4) == (["train", "c.yaml"], "model.name=fa",
                                                                             11)
    assert bash_request(["explain", "r", "--method", "smoothgrad", ":", "sa"], 5) == \
        (["explain", "r", "--method"], "smoothgrad:sa", 11)
    assert bash_request(["train", "c.yaml"], 2) == (["train", "c.yaml"], "", 0)


def complete_in_subprocess(words: str, cword: int, shell: str = "bash") -> tuple[list[str], bool]:
    """What a TAB prints, and whether it imported torch."""
    code = ("import sys\nfrom xaicli.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TORCH', 'torch' in sys.modules)")
    env = {**os.environ, "_XAI_COMPLETE": f"complete_{shell}", "COMP_WORDS": words, "COMP_CWORD": str(cword),
           "_TYPER_COMPLETE_ARGS": words}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60).stdout.splitlines()
    return out[:-1], out[-1] == "TORCH True"


def test_a_tab_answers_without_torch():
    lines, torch_loaded = complete_in_subprocess("xai train configs/mnist_cnn.yaml model.name = f", 5)
    assert lines == ["fast_cnn"] and not torch_loaded
    lines, torch_loaded = complete_in_subprocess("xai train configs/mnist_cnn.yaml train.", 3)
    assert "train.epochs=" in lines and not torch_loaded
    lines, _ = complete_in_subprocess("xai ru", 1)
    assert lines == ["runs"]
    lines, _ = complete_in_subprocess("xai train configs/mnist_cnn.yaml train.epo", 0, shell="zsh")
    assert lines[0].startswith("_arguments") and '"train.epochs=10"' in "\n".join(lines)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_real_bash_tab_completes_a_config_value(tmp_path):
    """Source `xai completion bash` in an interactive bash and press TAB after `model.name=fa`."""
    wrapper = tmp_path / "bin" / "xai"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\ncd {ROOT} && exec {sys.executable} -m xaicli \"$@\"\n")
    wrapper.chmod(0o755)
    script = tmp_path / "xai.bash"
    script.write_text(cli("completion", "bash").output)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"],
                   {**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}", "PS1": "$ "})

    def read(seconds: float) -> bytes:
        out, end = b"", time.time() + seconds
        while time.time() < end:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return out

    try:
        read(1.0)
        os.write(fd, f"source {script}\n".encode())
        read(1.0)
        os.write(fd, b"xai train configs/smoke_cnn.yaml model.name=fa\t")
        shown = read(8.0)
    finally:
        os.kill(pid, signal.SIGKILL)  # an interactive bash ignores SIGTERM
        os.waitpid(pid, 0)
        os.close(fd)
    assert b"model.name=fast_cnn " in shown


def test_completion_scripts_and_help_groups():
    for shell in ("bash", "zsh", "fish"):
        result = cli("completion", shell)
        assert result.exit_code == 0 and "_XAI_COMPLETE" in result.output
    assert cli("completion", "tcsh").exit_code == 2
    top = cli("--help").output
    assert "--install-completion" in top
    assert all(panel in top for panel in ("Train and inspect a run", "Runs at scale", "Setup"))
    sweep = cli("sweep", "--help").output
    assert "Where the points run" in sweep and "--max-parallel" in sweep and "seed=0:5" in sweep
    assert "Filters" in cli("runs", "--help").output

