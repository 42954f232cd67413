"""Faults inside a training run (in this process, one gloo rank): an update that breaks the weights stops the run
before anything is saved, no checkpoint with non-finite state is ever published, every stop message says what
was saved, and SIGUSR1 / SIGTERM end the run after a checkpoint at the next step boundary."""

from __future__ import annotations

import os
import signal

import ccrefine.trainer.run as run_module
import pytest
import torch
from ccrefine.trainer.checkpoints import complete_checkpoints
from ccrefine.trainer.config import config_from_dict
from ccrefine.trainer.engine import master_weights
from ccrefine.trainer.run import Trainer, train
from ccrefine.trainer.spike_guard import TrainingStopped
from ccrefine.trainer.stop_signals import StopSignals

NO_CHECKPOINT = "No checkpoint was saved \\(the run had written none\\), so run it again from the start"


def tags(output) -> list[str]:
    folder = output / "checkpoints"
    return [checkpoint.tag for checkpoint in complete_checkpoints(folder)] if folder.is_dir() else []


@pytest.mark.parametrize(("lr", "fault"), [
    (1e30, "the update of step 1 made the weights non-finite or too large for float32 .*far too large"),
    # Weights near 1e15 still have a finite norm; the loss they give does not.
    (1e15, "the state after step 1 was not checkpointed: with the updated weights the loss of the last micro-batch "
           "is (nan|inf)"),
])
def test_an_update_that_breaks_the_weights_stops_before_any_checkpoint(synthetic_manifest, tmp_path, make_config,
                                                                         metrics, lr, fault):
    output = tmp_path / "run"
    config = make_config(synthetic_manifest, output, train={"steps": 2}, optimizer={"lr": lr},
                         schedule={"warmup_steps": 0}, checkpoint={"interval": 1})
    with pytest.raises(TrainingStopped, match=f"stopped at step 1: {fault}. Lower optimizer.lr.*{NO_CHECKPOINT}"):
        train(config_from_dict(config))
    assert tags(output) == []
    assert metrics(output, "stop")[-1]["step"] == 1 and not metrics(output, "end")


def test_a_bad_lr_after_a_good_checkpoint_names_it(synthetic_manifest, tmp_path, make_config):
    output = tmp_path / "run"
    good = make_config(synthetic_manifest, output, train={"steps": 4}, checkpoint={"interval": 4})
    train(config_from_dict(good))
    bad = make_config(synthetic_manifest, output, train={"steps": 8}, optimizer={"lr": 1e30},
                      checkpoint={"interval": 1})
    with pytest.raises(TrainingStopped, match=r"stopped at step 5: .*The newest checkpoint is \S+/step-00000004 "
                                              r"\(step 4\); nothing after it was saved"):
        train(config_from_dict(bad), "auto")
    assert tags(output) == ["step-00000004"]


def test_non_finite_state_is_never_published(synthetic_manifest, tmp_path, make_config):
    """Whatever put a NaN into the weights (here: written directly), the checkpoint check refuses it."""
    output = tmp_path / "run"
    trainer = Trainer(config_from_dict(make_config(synthetic_manifest, output, train={"steps": 3})))
    trainer.run()
    assert tags(output) == ["step-00000003"]
    with torch.no_grad():
        master_weights(trainer.engine)[0].view(-1)[0] = float("nan")
    trainer.step += 1
    with pytest.raises(TrainingStopped, match="the state after step 4 was not checkpointed: 1 of its weights and "
                                              "AdamW moments are NaN or infinite"):
        trainer.save()
    assert tags(output) == ["step-00000003"]


def test_a_stop_signal_saves_at_the_next_step_boundary(synthetic_manifest, tmp_path, make_config, metrics,
                                                       monkeypatch):
    """SIGUSR1 arrives while step 4 is computed: step 4 ends, is checkpointed, and the run returns normally."""
    output = tmp_path / "run"
    original = run_module.learning_rate

    def signal_during_step_4(step, *args):
        if step == 3:
            os.kill(os.getpid(), signal.SIGUSR1)
        return original(step, *args)

    monkeypatch.setattr(run_module, "learning_rate", signal_during_step_4)
    handler = signal.getsignal(signal.SIGUSR1)
    config = make_config(synthetic_manifest, output, train={"steps": 20}, checkpoint={"interval": 10})
    result = train(config_from_dict(config))
    assert (result.stopped_by, result.steps, result.checkpoint.name) == ("SIGUSR1", 4, "step-00000004")
    assert tags(output) == ["step-00000004"]
    assert metrics(output, "stop") == [{"kind": "stop", "step": 4, "tokens": 4 * 4 * 32, "skipped_steps": 0,
                                        "val_loss": None, "signal": "SIGUSR1"}]
    assert signal.getsignal(signal.SIGUSR1) is handler  # the trainer's handlers are in place only while it runs


def test_stop_signals_are_recorded_not_acted_on():
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.received == signal.SIGTERM and signals.flags() == [1.0, 0.0]
