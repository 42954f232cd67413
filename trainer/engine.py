"""The DeepSpeed side: process group, generated DeepSpeed config, AdamW with weight-decay groups and the spike
guard's veto, activation checkpointing and torch.compile switches."""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import deepspeed
import torch
import torch.distributed as dist
from ccrefine.pipelines.config_files import read_json, require_mapping
from ccrefine.trainer.config import OptimizerSection, TrainConfig
from torch import nn
from torch.utils.checkpoint import checkpoint

from ccrefine.errors import UsageError

logger = logging.getLogger(__name__)

# The trainer passes its own optimizer (weight-decay groups, the spike guard's veto) and sets the learning rate
# from trainer.schedules itself, so a DeepSpeed JSON must not bring its own.
RESERVED_DEEPSPEED_KEYS = {
    "optimizer": "set optimizer.* in the train config",
    "scheduler": "set schedule.* in the train config",
}


@dataclass(frozen=True)
class Placement:
    rank: int
    world: int
    local_rank: int
    device: torch.device


def launch_placement() -> tuple[int, int]:
    """(rank, world size) as the launcher (torchrun, deepspeed, srun + torchrun) set them; 0, 1 without one."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed() -> Placement:
    """Join the process group: NCCL on GPUs, gloo on CPU. A process started without a launcher gets a
    one-rank group on a free local port."""
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    # DeepSpeed logs every engine detail at INFO; the trainer reports what matters itself.
    logging.getLogger("DeepSpeed").setLevel(logging.DEBUG if logger.isEnabledFor(logging.DEBUG) else logging.WARNING)
    if not dist.is_initialized():
        deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
    return Placement(dist.get_rank(), dist.get_world_size(), local_rank, device)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resolve_precision(requested: str, device: torch.device) -> str:
    if requested != "auto":
        return requested
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


# ---- the DeepSpeed config ------------------------------------------------------------------------------------


def batch_layout(config: TrainConfig, world: int) -> tuple[int, int]:
    """(micro-batch size, accumulation steps) for `world` data-parallel ranks; an impossible layout is an error."""
    micro = config.train.micro_batch_size
    global_batch = config.train.global_batch_size or micro * world
    if global_batch % (micro * world):
        fits = [m for m in range(1, global_batch + 1) if global_batch % (m * world) == 0]
        raise UsageError(f"train.global_batch_size {global_batch} is not a multiple of micro_batch_size {micro} x "
                         f"{world} data-parallel rank(s); micro_batch_size can be one of {fits}, or set "
                         f"global_batch_size to a multiple of {micro * world}")
    return micro, global_batch // (micro * world)


def user_deepspeed_config(value: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"deepspeed: the DeepSpeed config {value!r} does not exist")
    return require_mapping(read_json(path, "deepspeed: the DeepSpeed config"), f"deepspeed: {value}", {},
                           "write the DeepSpeed keys as one JSON object")


def deepspeed_config(config: TrainConfig, world: int, precision: str, load_universal: bool = False) -> dict[str, Any]:
    """The DeepSpeed config generated from the train config, with the user's DeepSpeed keys merged over it.

    Logging and the learning rate are the trainer's, so DeepSpeed's own reports are switched off."""
    micro, accumulation = batch_layout(config, world)
    generated: dict[str, Any] = {
        "train_batch_size": micro * accumulation * world,
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accumulation,
        "gradient_clipping": config.train.grad_clip,
        "zero_optimization": {"stage": config.train.zero_stage},
        "bf16": {"enabled": precision == "bf16"},
        # The optimizer is an AdamW subclass (the spike guard's veto), which ZeRO does not know by type.
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
    }
    if load_universal:
        generated["checkpoint"] = {"load_universal": True}
    user = user_deepspeed_config(config.deepspeed)
    for key, fix in RESERVED_DEEPSPEED_KEYS.items():
        if key in user:
            raise UsageError(f"deepspeed: {key!r} is set by the trainer; {fix} instead")
    merged = _merge(generated, user)
    layout = (merged["train_micro_batch_size_per_gpu"], merged["gradient_accumulation_steps"])
    if layout[0] * layout[1] * world != merged["train_batch_size"]:
        raise UsageError(f"deepspeed: train_batch_size {merged['train_batch_size']} != micro batch {layout[0]} x "
                         f"accumulation {layout[1]} x {world} rank(s); set train.micro_batch_size and "
                         "train.global_batch_size instead of the DeepSpeed batch keys")
    return merged


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


# ---- optimizer -----------------------------------------------------------------------------------------------


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on the matrices of linear layers only: norms and biases (1-D) and embedding tables are not
    decayed (a tied LM head is the embedding table, so it is not decayed either), as in GPT-3 / LLaMA recipes."""
    embeddings = {id(p) for module in model.modules() if isinstance(module, nn.Embedding) for p in module.parameters()}
    decay, no_decay = [], []
    for parameter in model.parameters():
        (no_decay if parameter.ndim < 2 or id(parameter) in embeddings else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class SkipUnlessPermitted:
    """Optimizer mixin: DeepSpeed calls step() after reducing the gradients and computing their global norm;
    `permit` (the spike guard) can veto the update, which leaves the weights and the moments as they were."""

    permit: Callable[[], bool] | None = None

    def step(self, *args, **kwargs):
        if self.permit is not None and not self.permit():
            return None
        return super().step(*args, **kwargs)


class GuardedAdamW(SkipUnlessPermitted, torch.optim.AdamW):
    pass


def build_optimizer(groups: list[dict[str, Any]], settings: OptimizerSection, device: torch.device):
    impl = settings.impl
    if impl == "auto":
        impl = "deepspeed" if device.type == "cuda" else "torch"
    hyper = {"lr": settings.lr, "betas": settings.betas, "eps": settings.eps, "weight_decay": settings.weight_decay}
    if impl == "deepspeed":
        if device.type != "cuda":
            raise UsageError("optimizer.impl deepspeed (FusedAdam) needs a GPU; use optimizer.impl: torch on CPU")
        from deepspeed.ops.adam import FusedAdam

        guarded = type("GuardedFusedAdam", (SkipUnlessPermitted, FusedAdam), {})
        return guarded(groups, adam_w_mode=True, **hyper)
    return GuardedAdamW(groups, fused=True if device.type == "cuda" else None, **hyper)


def global_grad_norm_reader(engine) -> Callable[[], float] | None:
    """Reads the pre-clipping global gradient norm that DeepSpeed's ZeRO / bf16 optimizer wrappers compute before
    they call the optimizer (what engine.get_global_grad_norm() reports after the step). None when DeepSpeed
    steps the optimizer directly (fp32 without ZeRO): it clips first, so the trainer computes the norm itself."""
    wrapper = engine.optimizer
    if wrapper is engine.basic_optimizer:
        return None
    return lambda: float(wrapper._global_grad_norm)


def master_weights(engine) -> list[torch.Tensor]:
    """The weights the optimizer updates on this rank: the module's parameters, or under ZeRO / bf16 this rank's
    fp32 partitions (ZeRO-3 with offload empties param_groups between steps; the state keeps them)."""
    optimizer = engine.basic_optimizer
    tensors = {id(p): p for group in optimizer.param_groups for p in group["params"]}
    tensors.update((id(p), p) for p in optimizer.state)
    return list(tensors.values())


def weights_norm(engine) -> torch.Tensor:
    """This rank's weight norm: not finite when a weight is NaN or infinite, or so large its square overflows."""
    return torch.nn.utils.get_total_norm(master_weights(engine)).float()


def nonfinite_values(engine) -> int:
    """How many of this rank's weights and AdamW moments are NaN or infinite."""
    state = engine.basic_optimizer.state
    tensors = master_weights(engine) + [value for p in state for value in state[p].values()
                                        if torch.is_tensor(value) and value.is_floating_point() and value.ndim]
    return int(sum((~torch.isfinite(tensor)).sum().cpu() for tensor in tensors))


def full_grad_norm(model: nn.Module) -> float:
    """Global gradient norm when every rank holds the whole all-reduced gradient (no ZeRO, no wrapper)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0


# ---- model switches ------------------------------------------------------------------------------------------


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute each block's activations in the backward pass. The forward is wrapped on the instance, so
    parameter names (and checkpoints) are the same with and without it."""
    for block in model.blocks:
        block.forward = functools.partial(checkpoint, block.forward, use_reentrant=False)


def create_engine(model: nn.Module, config: TrainConfig, ds_config: dict[str, Any], device: torch.device,
                  permit: Callable[[Callable[[], float] | None], bool]):
    """deepspeed.initialize with the guarded AdamW. `permit(read_grad_norm)` is asked before every update."""
    if config.train.activation_checkpointing:
        enable_activation_checkpointing(model)
    optimizer = build_optimizer(parameter_groups(model, config.optimizer.weight_decay), config.optimizer, device)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    read_grad_norm = global_grad_norm_reader(engine)
    optimizer.permit = lambda: permit(read_grad_norm)
    if config.train.compile:
        engine.compile()
    return engine
