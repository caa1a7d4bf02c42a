"""TrainState: the one owner of where a run is and of its best validation score."""

import math

from xaicli.training.state import TrainState


def test_best_is_kept_and_only_a_better_epoch_replaces_it():
    state = TrainState(steps_per_epoch=10, monitor="val_acc", mode="max")
    assert state.end_epoch(0, {"val_acc": 0.8}) and (state.best, state.best_epoch) == (0.8, 1)
    assert not state.end_epoch(1, {"val_acc": 0.7}) and (state.best, state.best_epoch) == (0.8, 1)
    assert not state.end_epoch(2, {"val_acc": 0.8})  # a tie keeps the earlier epoch
    assert state.end_epoch(3, {"val_acc": 0.9}) and state.best_epoch == 4
    assert (state.epoch, state.step_in_epoch, state.global_step) == (4, 0, 40)


def test_a_resumed_state_compares_against_the_saved_best():
    saved = TrainState(steps_per_epoch=5, monitor="val_loss", mode="min")
    saved.end_epoch(0, {"val_loss": 0.3})
    saved.at_step(1, 2)
    resumed = TrainState(steps_per_epoch=5, monitor="val_loss", mode="min")
    resumed.load(saved.to_checkpoint())
    assert (resumed.epoch, resumed.step_in_epoch, resumed.best, resumed.best_epoch) == (1, 2, 0.3, 1)
    assert not resumed.end_epoch(1, {"val_loss": 0.5})  # worse than the saved best: best.pt stays
    assert resumed.end_epoch(2, {"val_loss": 0.1}) and resumed.best_epoch == 3


def test_missing_or_non_finite_metrics_never_become_best():
    state = TrainState(steps_per_epoch=1, monitor="val_acc", mode="max")
    assert not state.end_epoch(0, {})
    assert not state.end_epoch(1, {"val_acc": math.nan})
    assert state.best is None and state.summary() == {"best": None, "best_epoch": None, "monitor": "val_acc"}
