"""Learning-rate schedules as pure functions of the step, so a resumed run needs no scheduler state.

`step` is 0-based: the first optimizer update uses step 0. Warm-up rises linearly to the peak, reaching it on
the last warm-up step; the decay reaches the floor (lr x min_lr_ratio) on the last step of the schedule and
stays there if training runs past it.
"""

from __future__ import annotations

import math

from ccrefine.trainer.config import ScheduleSection


def learning_rate(step: int, peak: float, total_steps: int, schedule: ScheduleSection) -> float:
    floor = peak * schedule.min_lr_ratio
    warmup = schedule.warmup_steps
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule.kind == "cosine":
        progress = _progress(step, warmup, total_steps)
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    decay_start = max(warmup, total_steps - max(1, round(schedule.decay_fraction * total_steps)))
    if step < decay_start:
        return peak
    return floor + (peak - floor) * _decay_factor(_progress(step, decay_start, total_steps), schedule.decay_shape)


def _progress(step: int, start: int, end: int) -> float:
    """0 just before `start`, 1 at the last step before `end`."""
    return min(1.0, (step + 1 - start) / (end - start))


def _decay_factor(progress: float, shape: str) -> float:
    """1 at the start of the decay, 0 at its end."""
    if shape == "linear":
        return 1 - progress
    if shape == "sqrt":
        return 1 - math.sqrt(progress)
    return 0.5 * (1 + math.cos(math.pi * progress))
