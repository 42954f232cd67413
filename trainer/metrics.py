"""Training metrics: OUTPUT/metrics.jsonl, TensorBoard event files, a tqdm progress bar; throughput and MFU.

Only rank 0 writes. metrics.jsonl gets one JSON object a line, `kind` train / eval / resume / end, or `stop` for
a run ended early (by a `signal` after its checkpoint, or by a `fault`, with the message); after a resume the
steps past the checkpoint are logged again (a `resume` line comes first), later lines win.
TensorBoard files need the `tensorboard` package; without it only metrics.jsonl is written (with a warning).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import torch
from ccrefine.model.flops import peak_flops
from ccrefine.trainer.config import LogSection
from tqdm import tqdm

logger = logging.getLogger(__name__)


class MetricsLog:
    def __init__(self, output: Path, settings: LogSection, enabled: bool, total_steps: int, start_step: int):
        self.enabled = enabled
        self.jsonl = self.tensorboard = self.bar = None
        if not enabled:
            return
        output.mkdir(parents=True, exist_ok=True)
        self.jsonl = (output / "metrics.jsonl").open("a")
        if settings.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("log.tensorboard is on but the tensorboard package is missing (pip install "
                               "tensorboard); writing metrics.jsonl only")
            else:
                # purge_step drops events a killed run wrote past the checkpoint this run resumes from.
                purge_step = start_step + 1 if start_step else None
                self.tensorboard = SummaryWriter(str(output / "tensorboard"), purge_step=purge_step)
        if settings.progress:
            self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
                            mininterval=1 if sys.stderr.isatty() else 30)

    def write(self, kind: str, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps({"kind": kind, "step": step, **values}) + "\n")
        self.jsonl.flush()
        if self.tensorboard is not None:
            for name, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.tensorboard.add_scalar(f"{kind}/{name}", value, step)
        if kind in ("train", "eval"):
            logger.info("step %d %s", step, " ".join(f"{k} {_short(v)}" for k, v in values.items()))

    def advance(self, steps: int, postfix: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: _short(v) for k, v in postfix.items()}, refresh=False)
            self.bar.update(steps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.jsonl is not None:
            self.jsonl.close()


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


class Throughput:
    """Tokens per second and model FLOPs utilisation over the steps since the last reading."""

    def __init__(self, tokens_per_step: int, flops_per_token: float, device: torch.device, world: int,
                 peak_tflops: float | None):
        self.tokens_per_step, self.flops_per_token, self.world = tokens_per_step, flops_per_token, world
        self.peak = device_peak_flops(device, peak_tflops)
        self._since = time.perf_counter()
        self._steps = 0

    def step(self) -> None:
        self._steps += 1

    def read(self) -> dict[str, float | None]:
        now = time.perf_counter()
        elapsed = max(now - self._since, 1e-9)
        tokens_per_s = self._steps * self.tokens_per_step / elapsed
        step_time = elapsed / max(self._steps, 1)
        self._since, self._steps = now, 0
        mfu = tokens_per_s * self.flops_per_token / (self.peak * self.world) if self.peak else None
        return {"tokens_per_s": tokens_per_s, "step_time_s": step_time, "mfu": mfu}

    def restart(self) -> None:
        """Leave out time spent outside training steps (evaluation, checkpoints)."""
        self._since = time.perf_counter()
        self._steps = 0


def device_peak_flops(device: torch.device, peak_tflops: float | None) -> float | None:
    """Dense 16-bit peak FLOP/s of one device: log.peak_tflops, else model.flops' table for the GPU; None on CPU
    (no MFU is reported there)."""
    if peak_tflops:
        return peak_tflops * 1e12
    if device.type != "cuda":
        return None
    try:
        return peak_flops(torch.cuda.get_device_name(device))
    except ValueError as exc:
        logger.warning("%s; no MFU is reported (set log.peak_tflops)", exc)
        return None


def memory_gib(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reading, or this process's resident memory on CPU."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        return peak / 2**30
    return psutil.Process().memory_info().rss / 2**30


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or infinity."""
    return value if value is not None and math.isfinite(value) else None
