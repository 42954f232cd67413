"""The spike guard: non-finite and k-sigma spikes are skipped and counted, the history holds applied steps only,
too many skips in a row stop training, and its state survives a checkpoint."""

from __future__ import annotations

import json
import math

import pytest
import torch
from ccrefine.trainer.config import SpikeGuardSection
from ccrefine.trainer.engine import GuardedAdamW
from ccrefine.trainer.spike_guard import SpikeGuard, TrainingStopped

SETTINGS = SpikeGuardSection(window=8, sigma=3.0, min_history=4, max_consecutive_skips=3)


def step(guard: SpikeGuard, loss: float, grad_norm: float, number: int = 1):
    guard.arm(loss)
    guard.permits_update(lambda: grad_norm)
    return guard.finish(number)


def warmed(settings: SpikeGuardSection = SETTINGS) -> SpikeGuard:
    guard = SpikeGuard(settings)
    for i in range(8):
        assert step(guard, 3.0 + 0.01 * (i % 2), 1.0 + 0.01 * (i % 3)).applied
    return guard


@pytest.mark.parametrize(("loss", "grad_norm", "reason"), [
    (math.nan, 1.0, "non-finite loss"),
    (math.inf, 1.0, "non-finite loss"),
    (3.0, math.nan, "non-finite gradient norm"),
    (3.5, 1.0, "loss spike"),
    (3.0, 5.0, "gradient norm spike"),
])
def test_anomalous_steps_are_skipped_and_counted(loss, grad_norm, reason):
    guard = warmed()
    outcome = step(guard, loss, grad_norm)
    assert not outcome.applied and outcome.reason.startswith(reason)
    assert guard.skipped == 1 and len(guard.losses) == 8
    assert step(guard, 3.0, 1.0).applied and guard.consecutive == 0


def test_no_spike_judgement_before_min_history_or_when_disabled():
    guard = SpikeGuard(SETTINGS)
    for loss in (10.0, 3.0, 50.0):  # early losses swing freely
        assert step(guard, loss, 1.0).applied
    disabled = warmed(SpikeGuardSection(enabled=False, window=8, min_history=4))
    assert step(disabled, 100.0, 100.0).applied
    assert not step(disabled, math.nan, 1.0).applied  # non-finite values are always skipped


def test_falling_loss_is_never_a_spike():
    guard = warmed()
    assert all(step(guard, 3.0 - 0.2 * i, 1.0).applied for i in range(10))


def test_too_many_consecutive_skips_stop_with_a_clear_message():
    guard = warmed()
    step(guard, math.nan, 1.0, 9)
    step(guard, math.nan, 1.0, 10)
    with pytest.raises(TrainingStopped, match=r"stopped at step 11: the last 3 updates were all skipped"):
        step(guard, math.nan, 1.0, 11)


def test_a_step_deepspeed_skipped_itself_counts():
    guard = warmed()
    guard.arm(3.0)  # the optimizer was never asked: DeepSpeed found an overflow
    assert guard.finish(9).reason == "DeepSpeed skipped the update (non-finite gradients)"


def test_state_round_trips_through_json():
    guard = warmed()
    step(guard, math.nan, 1.0)
    restored = SpikeGuard(SETTINGS)
    restored.load_state_dict(json.loads(json.dumps(guard.state_dict())))
    assert restored.state_dict() == guard.state_dict()
    assert not step(restored, 3.5, 1.0).applied


def test_a_vetoed_optimizer_step_changes_neither_weights_nor_moments():
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = GuardedAdamW([weight], lr=0.1)
    weight.grad = torch.ones(3)
    optimizer.step()
    before = (weight.detach().clone(), optimizer.state[weight]["exp_avg"].clone())
    optimizer.permit = lambda: False
    optimizer.step()
    assert torch.equal(weight, before[0]) and torch.equal(optimizer.state[weight]["exp_avg"], before[1])
    assert optimizer.state[weight]["step"] == 1
