"""Skip an optimizer update whose loss or gradient norm is non-finite or a spike (OLMo-style).

DeepSpeed computes the global gradient norm inside its step, after the gradients are reduced and before the
update; the guard's decision is taken there, from the optimizer (see `trainer.engine.SkipUnlessPermitted`), so
a skipped update leaves the weights and the AdamW moments untouched. Every rank sees the same all-reduced
loss and norm and the same history, so every rank decides alike without talking.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccrefine.trainer.config import SpikeGuardSection

from ccrefine.errors import UsageError


class TrainingStopped(UsageError):
    """Training cannot go on (a fault, not a bad flag): the message says what was seen at which step, what was
    saved (`saved`, added by the trainer, which knows its checkpoints) and what to do."""

    def __init__(self, step: int, what: str, fix: str, saved: str = ""):
        self.step, self.what, self.fix, self.saved = step, what, fix, saved
        super().__init__(f"stopped at step {step}: {what}. {fix}." + (f" {saved}." if saved else ""))

    def with_saved(self, saved: str) -> TrainingStopped:
        return TrainingStopped(self.step, self.what, self.fix, saved)


@dataclass(frozen=True)
class StepOutcome:
    applied: bool
    loss: float
    grad_norm: float | None
    reason: str | None = None  # why the update was skipped


class SpikeGuard:
    def __init__(self, settings: SpikeGuardSection):
        self.settings = settings
        self.losses: deque[float] = deque(maxlen=settings.window)  # of applied steps only
        self.grad_norms: deque[float] = deque(maxlen=settings.window)
        self.skipped = 0
        self.consecutive = 0
        self._loss: float | None = None
        self._grad_norm: float | None = None
        self._reason: str | None = None
        self._decided = False

    def arm(self, loss: float, grad_norm: float | None = None) -> None:
        """Before the step: the step's global mean loss, and its gradient norm when it is known already."""
        self._loss, self._grad_norm, self._reason, self._decided = loss, grad_norm, None, False

    def permits_update(self, read_grad_norm: Callable[[], float]) -> bool:
        """Called by the optimizer's step (under ZeRO-3 once per parameter sub-group): the first call decides."""
        if not self._decided:
            if self._grad_norm is None:
                self._grad_norm = read_grad_norm()
            self._reason = self._judge(self._loss, self._grad_norm)
            self._decided = True
        return self._reason is None

    def _judge(self, loss: float, grad_norm: float) -> str | None:
        if not math.isfinite(loss):
            return "non-finite loss"
        if not math.isfinite(grad_norm):
            return "non-finite gradient norm"
        return self.spike("loss", loss) or self.spike("gradient norm", grad_norm, self.grad_norms)

    def spike(self, name: str, value: float, history: deque[float] | None = None) -> str | None:
        """Why `value` is a spike against the history of applied steps (the losses by default), or None."""
        history = self.losses if history is None else history
        limit = _spike_limit(history, self.settings.sigma, self.settings.min_history)
        if self.settings.enabled and value > limit:
            return f"{name} spike ({value:.4g} > {limit:.4g}, mean + {self.settings.sigma:g} std of the last " \
                   f"{len(history)} steps)"
        return None

    def finish(self, step: int) -> StepOutcome:
        """After the step. A step whose optimizer never asked (DeepSpeed found an overflow and skipped the
        update itself) counts as skipped. Raises TrainingStopped after too many skips in a row."""
        if not self._decided:
            finite = math.isfinite(self._loss)
            self._reason = "non-finite loss" if not finite else "DeepSpeed skipped the update (non-finite gradients)"
        outcome = StepOutcome(self._reason is None, self._loss, self._grad_norm, self._reason)
        if outcome.applied:
            self.losses.append(outcome.loss)
            self.grad_norms.append(outcome.grad_norm)
            self.consecutive = 0
            return outcome
        self.skipped += 1
        self.consecutive += 1
        if self.consecutive >= self.settings.max_consecutive_skips:
            raise TrainingStopped(
                step, f"the last {self.consecutive} updates were all skipped (latest: {outcome.reason}, loss "
                f"{outcome.loss:.4g}, gradient norm {outcome.grad_norm})",
                "Lower optimizer.lr or raise schedule.warmup_steps, check the data, or raise "
                "spike_guard.max_consecutive_skips")
        return outcome

    def state_dict(self) -> dict[str, Any]:
        return {"losses": list(self.losses), "grad_norms": list(self.grad_norms), "skipped": self.skipped,
                "consecutive": self.consecutive}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses.clear()
        self.grad_norms.clear()
        self.losses.extend(state["losses"])
        self.grad_norms.extend(state["grad_norms"])
        self.skipped, self.consecutive = state["skipped"], state["consecutive"]


def _spike_limit(history: deque[float], sigma: float, min_history: int) -> float:
    if len(history) < min_history:
        return math.inf
    mean = sum(history) / len(history)
    std = math.sqrt(sum((value - mean) ** 2 for value in history) / len(history))
    return mean + sigma * std
