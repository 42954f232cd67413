"""Preemption notices: SIGTERM (what Slurm and Kubernetes send before they kill a job) and SIGUSR1 (Slurm's
`--signal=USR1@SECONDS`) ask the trainer to save a checkpoint at the next step boundary and exit cleanly.

The handler only records the signal; the trainer reads it at the end of every step, in the collective every
rank takes part in, so all ranks stop after the same step even when only some of them got the signal.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopSignals:
    """Within `with`: the number of the last stop signal received (0 when none)."""

    def __init__(self) -> None:
        self.received = 0
        self._previous: dict[int, object] = {}

    def _record(self, number, frame) -> None:
        self.received = number

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # Python handles signals in the main thread only
            self._previous = {number: signal.signal(number, self._record) for number in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def flags(self) -> list[float]:
        """One 0/1 per STOP_SIGNALS entry: summed over ranks, whether any rank got it."""
        return [float(self.received == number) for number in STOP_SIGNALS]


def first_raised(counts: list[float]) -> str | None:
    """The name of the first STOP_SIGNALS entry some rank got, from the summed flags."""
    return next((number.name for number, count in zip(STOP_SIGNALS, counts, strict=True) if count), None)
