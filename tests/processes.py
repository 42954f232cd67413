"""What every test that starts a process shares: how long to wait before calling it a hang, and a clean
environment for the child."""

from __future__ import annotations

import os

# Timeouts in tests only catch hangs: under load a run may take many times its usual time, and no test asserts
# how long something took.
HANG_GUARD_S = 3600

# Set in this process by the in-process one-rank gloo group (tests/trainer); a child must not inherit them.
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                    "CROSS_RANK", "CROSS_SIZE", "LOCAL_SIZE")


def subprocess_env() -> dict[str, str]:
    """This environment without the in-process group's launch variables; one thread per process (tiny models on
    a shared machine: a second OpenMP thread only waits for the other processes' cores)."""
    env = {key: value for key, value in os.environ.items() if key not in LAUNCH_VARIABLES}
    env.update(OMP_NUM_THREADS="1")
    return env
