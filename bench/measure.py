"""What every side-by-side bench measures the same way: CPU time with children, the load, min / median / max."""

from __future__ import annotations

import os
import statistics


def cpu_seconds() -> float:
    """User + system CPU time of this process and its children, live (the trafilatura extraction process) or
    finished."""
    import psutil

    process = psutil.Process()
    own = process.cpu_times()
    total = own.user + own.system + own.children_user + own.children_system
    for child in process.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def spread(values: list[float], digits: int = 1) -> str:
    """min / median / max."""
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))
