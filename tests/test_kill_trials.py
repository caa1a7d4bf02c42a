"""A few random SIGKILLs of a classifier and a GAN run, each continued as a requeued batch job would: every
run finishes and equals the uninterrupted one (scripts/kill_trials.py runs 30 per kind)."""

import importlib.util

import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e


def load_script():
    spec = importlib.util.spec_from_file_location("kill_trials", ROOT / "scripts" / "kill_trials.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind, seed", [("classifier", 0), ("gan", 1)])
def test_randomly_killed_runs_continue_to_the_uninterrupted_result(tmp_path, kind, seed):
    script = load_script()
    results = script.trials(kind, kills=2, seed=seed, workdir=tmp_path, log=lambda _: None)
    assert sum(r["killed"] for r in results) == 2
    for r in results:
        assert r["continued"] and r["equal"], r


def test_a_run_killed_before_its_config_or_checkpoint_is_continued_by_the_batch_job_rule(tmp_path):
    """The two early phases that random kills rarely hit, made on purpose."""
    script = load_script()
    reference = tmp_path / "reference"
    assert script.run_to_end("classifier", reference).returncode == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".lock").write_text("")  # killed between taking the lock and writing config.yaml
    assert script.command("classifier", empty)[-2] == "--run-dir"
    assert script.run_to_end("classifier", empty).returncode == 0
    assert script.compare("classifier", empty, reference) == []
