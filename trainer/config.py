"""The train config (YAML): sections as frozen dataclasses, validated on load; unknown keys are errors.

Only what can be checked without the data or the process group is checked here; the data-dependent checks
(vocabulary, sequence length against the model) live in `trainer.run.prepare`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ccrefine.model.config import ModelConfig
from ccrefine.model.presets import FAMILIES, SIZES
from ccrefine.pipelines.config_files import parse_yaml, read_yaml, refuse, show
from ccrefine.pipelines.config_schema import build, check_fields

from ccrefine.errors import UsageError

MODEL_FIELDS = {f.name for f in dataclasses.fields(ModelConfig)}


@dataclass(frozen=True)
class ModelSection:
    """`preset` is FAMILY-SIZE (e.g. llama-125m); `overrides` replace any ModelConfig field. The vocabulary
    size comes from the manifest's tokenizer unless set here, and then it must match it."""

    preset: str = "llama-125m"
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        family, _, size = self.preset.partition("-")
        if family not in FAMILIES or size not in SIZES:
            choices = ", ".join(f"{f}-{s}" for f in FAMILIES for s in SIZES)
            raise UsageError(f"preset {show(self.preset)} is not a preset; choose one of {choices}")
        unknown = sorted(map(str, set(self.overrides) - MODEL_FIELDS))
        if unknown:
            raise UsageError(f"overrides: unknown ModelConfig keys {unknown}; valid: {sorted(MODEL_FIELDS)}")

    @property
    def family(self) -> str:
        return self.preset.partition("-")[0]

    @property
    def size(self) -> str:
        return self.preset.partition("-")[2]


@dataclass(frozen=True)
class DataSection:
    """`verify: quick` checks every shard's header and file sizes against the manifest (catches missing and
    truncated shards in milliseconds); `full` also hashes every shard and checks its offsets and EOD tokens."""

    manifest: str = ""
    seq_len: int = 2048
    seed: int = 0
    document_mask: bool = False  # attention stays inside each packed document (model doc_ids)
    verify: Literal["quick", "full"] = "quick"


@dataclass(frozen=True)
class TrainSection:
    """`global_batch_size` (sequences per optimizer step) = micro_batch_size x data-parallel ranks x
    accumulation steps; it defaults to micro_batch_size x ranks (no accumulation)."""

    steps: int = 1000
    micro_batch_size: int = 8
    global_batch_size: int | None = None
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on a GPU that has it, else fp32
    zero_stage: int = 0
    grad_clip: float = 1.0  # 0 disables clipping
    activation_checkpointing: bool = False
    compile: bool = False
    seed: int = 0  # model initialisation


@dataclass(frozen=True)
class OptimizerSection:
    """AdamW. `impl`: torch (torch.optim.AdamW, fused kernel on GPU), deepspeed (DeepSpeed's FusedAdam, GPU
    only; JIT-built with nvcc on first use unless DeepSpeed was installed with DS_BUILD_FUSED_ADAM=1), auto
    (deepspeed on GPU, torch on CPU)."""

    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    impl: Literal["auto", "torch", "deepspeed"] = "auto"


@dataclass(frozen=True)
class ScheduleSection:
    """Linear warm-up, then `cosine` to lr x min_lr_ratio, or `wsd` (warmup-stable-decay): peak lr until the
    last decay_fraction of the steps, then `decay_shape` down to the floor. Both end at the floor on the last
    step of `total_steps` (default: train.steps)."""

    kind: Literal["cosine", "wsd"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    total_steps: int | None = None
    decay_fraction: float = 0.2
    decay_shape: Literal["linear", "sqrt", "cosine"] = "sqrt"  # sqrt: 1 - sqrt(progress), Hägele et al. 2024


@dataclass(frozen=True)
class CheckpointSection:
    interval: int = 1000  # optimizer steps; the last step is always saved
    keep: int = 3  # complete checkpoints kept, newest first


@dataclass(frozen=True)
class EvalSection:
    interval: int = 1000  # validation loss every this many steps and after the last; 0 disables it
    batches: int = 50  # micro-batches per rank per evaluation, at most the whole validation split


@dataclass(frozen=True)
class LogSection:
    interval: int = 10
    tensorboard: bool = True  # needs the `tensorboard` package; skipped with a warning when it is missing
    progress: bool = True  # tqdm bar with ETA on rank 0
    peak_tflops: float | None = None  # per-device peak for MFU on a GPU model.flops does not know


@dataclass(frozen=True)
class SpikeGuardSection:
    """OLMo-style: an update is skipped when the loss or the gradient norm is non-finite (always) or, when
    enabled, above mean + sigma x std of the last `window` applied steps (after `min_history` of them).
    Training stops after `max_consecutive_skips` skipped steps in a row."""

    enabled: bool = True
    window: int = 128
    sigma: float = 6.0
    min_history: int = 20
    max_consecutive_skips: int = 10


@dataclass(frozen=True)
class TrainConfig:
    output: str = ""
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    eval: EvalSection = field(default_factory=EvalSection)
    log: LogSection = field(default_factory=LogSection)
    spike_guard: SpikeGuardSection = field(default_factory=SpikeGuardSection)
    # Keys merged over the generated DeepSpeed config (any key), or the path of a DeepSpeed JSON file.
    deepspeed: dict[str, Any] | str = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(bool(self.output), "output (the run folder) is required")
        _check(bool(self.data.manifest), "data.manifest (the tokenize output's manifest.json) is required")
        train, schedule = self.train, self.schedule
        for name, value in [("train.steps", train.steps), ("train.micro_batch_size", train.micro_batch_size),
                            ("data.seq_len", self.data.seq_len), ("checkpoint.interval", self.checkpoint.interval),
                            ("checkpoint.keep", self.checkpoint.keep), ("eval.batches", self.eval.batches),
                            ("log.interval", self.log.interval), ("spike_guard.window", self.spike_guard.window),
                            ("spike_guard.max_consecutive_skips", self.spike_guard.max_consecutive_skips)]:
            _check(value >= 1, f"{name} must be at least 1, got {value}")
        _check(train.global_batch_size is None or train.global_batch_size >= 1,
               f"train.global_batch_size must be at least 1, got {train.global_batch_size}")
        _check(train.zero_stage in (0, 1, 2, 3), f"train.zero_stage must be 0, 1, 2 or 3, got {train.zero_stage}")
        _check(train.grad_clip >= 0, f"train.grad_clip must be >= 0 (0 disables it), got {train.grad_clip}")
        _check(self.optimizer.lr > 0 and self.optimizer.eps > 0 and self.optimizer.weight_decay >= 0,
               "optimizer.lr and eps must be positive, weight_decay at least 0")
        _check(all(0 <= beta < 1 for beta in self.optimizer.betas), "optimizer.betas must be in [0, 1)")
        _check(0 <= schedule.min_lr_ratio <= 1, f"schedule.min_lr_ratio must be in [0, 1], got "
               f"{schedule.min_lr_ratio}")
        _check(0 < schedule.decay_fraction <= 1, "schedule.decay_fraction must be in (0, 1]")
        _check(0 <= schedule.warmup_steps < self.total_steps, f"schedule.warmup_steps ({schedule.warmup_steps}) "
               f"must be below the schedule's total steps ({self.total_steps})")
        _check(self.eval.interval >= 0, "eval.interval must be >= 0 (0 disables validation)")
        _check(self.spike_guard.sigma > 0 and self.spike_guard.min_history >= 2,
               "spike_guard.sigma must be positive and min_history at least 2")
        _check(schedule.total_steps is None or schedule.total_steps >= 1,
               f"schedule.total_steps must be at least 1, or null for train.steps; got {schedule.total_steps}")
        _check(self.log.peak_tflops is None or self.log.peak_tflops > 0,
               f"log.peak_tflops must be positive, or null; got {self.log.peak_tflops}")

    @property
    def total_steps(self) -> int:
        return self.schedule.total_steps or self.train.steps

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))  # tuples become lists, as YAML writes them


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


def apply_overrides(values: dict[str, Any], overrides: list[str], source: str = "train config") -> dict[str, Any]:
    """`--set section.key=value` pairs (the value is parsed as YAML) applied to the loaded mapping."""
    if not isinstance(values, dict):
        raise refuse(f"{source}: expected a mapping of sections (output, model, data, train, ...), got "
                     f"{type(values).__name__}")
    for spec in overrides:
        dotted, equals, text = spec.partition("=")
        if not equals or not dotted:
            raise refuse(f"--set {show(spec)}: expected KEY=VALUE, e.g. train.steps=100")
        *parents, leaf = dotted.split(".")
        target = values
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise refuse(f"--set {show(spec)}: {show(part)} is not a section")
        target[leaf] = parse_yaml(text, f"--set {dotted}") if text.strip() else None
    return values


def load_train_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read the YAML file (or nothing), apply `--set` overrides, validate."""
    values: Any = {}
    source = "train config"
    if path is not None:
        source = f"train config {path}"
        values = read_yaml(path, "train config")
        if values is None:
            values = {}
    return config_from_dict(apply_overrides(values, list(overrides), source), source)


def config_from_dict(values: dict[str, Any], source: str = "train config") -> TrainConfig:
    config = build(TrainConfig, values, "", source)
    check_fields(ModelConfig, config.model.overrides, "model.overrides", source)  # types and finite numbers
    return config
