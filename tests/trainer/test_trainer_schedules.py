"""Learning-rate schedules: warm-up, cosine and warmup-stable-decay, as pure functions of the step."""

from __future__ import annotations

import math

import pytest
from ccrefine.trainer.config import ScheduleSection
from ccrefine.trainer.schedules import learning_rate

PEAK = 1e-3


def lrs(schedule: ScheduleSection, total: int) -> list[float]:
    return [learning_rate(step, PEAK, total, schedule) for step in range(total)]


def test_warmup_rises_linearly_to_the_peak():
    values = lrs(ScheduleSection(warmup_steps=4, min_lr_ratio=0.1), 20)
    assert values[:4] == pytest.approx([PEAK / 4, PEAK / 2, 3 * PEAK / 4, PEAK])


def test_cosine_falls_monotonically_to_the_floor_on_the_last_step():
    values = lrs(ScheduleSection(kind="cosine", warmup_steps=10, min_lr_ratio=0.1), 110)
    decay = values[9:]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))
    assert values[-1] == pytest.approx(0.1 * PEAK)
    halfway = 10 + 50 - 1  # progress 0.5: halfway between peak and floor
    assert values[halfway] == pytest.approx(0.1 * PEAK + 0.9 * PEAK / 2)
    assert learning_rate(500, PEAK, 110, ScheduleSection(warmup_steps=10)) == pytest.approx(0.1 * PEAK)


@pytest.mark.parametrize("shape", ["linear", "sqrt", "cosine"])
def test_wsd_is_flat_then_decays_over_the_last_fraction(shape):
    schedule = ScheduleSection(kind="wsd", warmup_steps=5, min_lr_ratio=0.0, decay_fraction=0.2, decay_shape=shape)
    values = lrs(schedule, 100)
    assert values[4:80] == [PEAK] * 76
    decay = values[80:]
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))
    assert values[-1] == pytest.approx(0.0, abs=1e-12)
    midpoint = {"linear": 0.5, "sqrt": 1 - math.sqrt(0.5), "cosine": 0.5}[shape]
    assert values[89] == pytest.approx(PEAK * midpoint)  # progress (89 + 1 - 80) / 20 = 0.5


def test_schedules_are_pure_functions_of_the_step():
    schedule = ScheduleSection(kind="wsd", warmup_steps=3, decay_fraction=0.5)
    first = lrs(schedule, 40)
    # Any order of evaluation, e.g. a run resumed at step 17, gives the same values.
    assert [learning_rate(step, PEAK, 40, schedule) for step in reversed(range(40))][::-1] == first
