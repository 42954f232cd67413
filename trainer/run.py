"""`ccrefine train`: check everything a user can get wrong before the first step, then train.

Every rank runs the same checks on the same files, so a bad input stops all of them with the same message
instead of leaving some waiting in a collective. During training, faults (an update that breaks the weights, too
many skipped updates, state unfit for a checkpoint) raise TrainingStopped with what was saved; a stop signal
ends the run after a checkpoint at the next step boundary.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from ccrefine.model import Decoder, ModelConfig, flops_per_token, get_preset, lm_loss
from ccrefine.trainer.checkpoints import Checkpoint, find_resume, latest_checkpoint, loadable, save_checkpoint
from ccrefine.trainer.config import TrainConfig
from ccrefine.trainer.data import Batch, TrainBatches, TrainData, ValidationData, load_manifest
from ccrefine.trainer.engine import (
    create_engine,
    deepspeed_config,
    full_grad_norm,
    global_grad_norm_reader,
    init_distributed,
    launch_placement,
    nonfinite_values,
    resolve_precision,
    weights_norm,
)
from ccrefine.trainer.extensions import prepare_extension_builds, watching_builds
from ccrefine.trainer.metrics import MetricsLog, Throughput, finite_or_none, memory_gib
from ccrefine.trainer.schedules import learning_rate
from ccrefine.trainer.spike_guard import SpikeGuard, StepOutcome, TrainingStopped
from ccrefine.trainer.stop_signals import StopSignals, first_raised

from ccrefine.errors import UsageError

logger = logging.getLogger(__name__)

CLIENT_STATE_KEY = "ccrefine"
LR_FIX = "Lower optimizer.lr or raise schedule.warmup_steps"


@dataclass(frozen=True)
class RunResult:
    rank: int
    world: int
    steps: int
    tokens: int
    skipped_steps: int
    last_loss: float | None  # mean over every rank's micro-batches of the last step
    rank_loss: float | None  # this rank's share of it
    val_loss: float | None
    output: Path
    checkpoint: Path | None  # the newest checkpoint in the run folder
    stopped_by: str | None = None  # the signal that stopped the run early (after saving a checkpoint)


def model_config_for(config: TrainConfig, manifest: dict) -> ModelConfig:
    """The preset with the user's overrides; the vocabulary comes from the manifest's tokenizer."""
    vocab = manifest["tokenizer"]["vocab_size"]
    overrides = dict(config.model.overrides)
    asked = overrides.pop("vocab_size", vocab)
    if asked != vocab:
        raise UsageError(f"model.overrides.vocab_size is {asked} but the tokenizer of {config.data.manifest} has "
                         f"{vocab} ids; drop vocab_size from the overrides (it is taken from the manifest) or "
                         "train on shards made with the matching tokenizer")
    try:
        model_config = get_preset(config.model.family, config.model.size, vocab_size=vocab, **overrides)
    except ValueError as exc:
        raise UsageError(f"model: {exc}") from None
    if config.data.seq_len > model_config.max_seq_len:
        raise UsageError(f"data.seq_len {config.data.seq_len} exceeds the model's max_seq_len "
                         f"{model_config.max_seq_len} ({config.model.preset}); lower data.seq_len or raise "
                         "model.overrides.max_seq_len")
    return model_config


def _check_resumable(checkpoint: Checkpoint, model_config: ModelConfig, seq_len: int) -> None:
    saved = checkpoint.state
    if saved["model"] != json.loads(json.dumps(model_config.to_dict())):
        changed = sorted(k for k, v in model_config.to_dict().items() if saved["model"].get(k) != v)
        raise UsageError(f"{checkpoint.path} holds a model of another shape (differs in {changed}); resume with the "
                         "same model settings or start a new run")
    if saved["seq_len"] != seq_len:
        raise UsageError(f"{checkpoint.path} was trained with data.seq_len {saved['seq_len']}, the config says "
                         f"{seq_len}; resume with the same seq_len or start a new run")


def batch_loss(engine, batch: Batch, device: torch.device, document_mask: bool) -> torch.Tensor:
    """Mean next-token loss of one micro-batch; with document_mask, attention stays inside each document."""
    doc_ids = batch.doc_ids.to(device) if document_mask else None
    return lm_loss(engine(batch.input_ids.to(device), doc_ids=doc_ids), batch.targets.to(device))


def rng_states() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng_states(states: list[dict[str, Any]], rank: int, world: int, seed: int, step: int) -> None:
    """Each rank's generators as saved; with another number of ranks they are seeded from (seed, rank, step)
    instead (the model has no dropout, so training itself draws no random numbers)."""
    if len(states) != world:
        logger.info("checkpoint saved by %d ranks, resuming with %d: RNGs reseeded", len(states), world)
        random.seed(hash((seed, rank, step)))
        np.random.seed([seed, rank, step])
        torch.manual_seed(seed * 1_000_003 + rank * 7919 + step)
        return
    state = states[rank]
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    def __init__(self, config: TrainConfig, resume: str | None = None):
        self.config = config
        self.output = Path(config.output)
        self.checkpoints = self.output / "checkpoints"
        self._check_inputs(resume)
        load_from = self._start_deepspeed()
        self.step = self.tokens = 0
        self.rank_loss: float | None = None
        self.last_batch: Batch | None = None
        self.signals = StopSignals()
        self.stop_signal: str | None = None
        if load_from is not None:
            self._restore(*load_from)

    def _check_inputs(self, resume: str | None) -> None:
        """Every check a user can fail, before DeepSpeed starts."""
        config = self.config
        _, world = launch_placement()
        self.manifest = load_manifest(config.data.manifest, config.data.verify)
        self.model_config = model_config_for(config, self.manifest)
        self.precision = resolve_precision(config.train.precision,
                                           torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        # The DeepSpeed config has the last word (a user's DeepSpeed JSON may override any key), so the batch
        # layout and the ZeRO stage are read back from it.
        ds_config = deepspeed_config(config, world, self.precision)
        self.micro, self.accumulation = (ds_config["train_micro_batch_size_per_gpu"],
                                         ds_config["gradient_accumulation_steps"])
        self.zero_stage = ds_config["zero_optimization"].get("stage", 0)
        self.train_data = TrainData(config.data.manifest, self.manifest, config.data.seq_len, config.data.seed,
                                    self.model_config.vocab_size)
        self.val_data = ValidationData(config.data.manifest, self.manifest, config.data.seq_len)
        if config.eval.interval and len(self.val_data) < world:
            raise UsageError(f"the validation split of {config.data.manifest} holds {len(self.val_data)} window(s) of "
                             f"data.seq_len + 1 tokens, fewer than the {world} rank(s); tokenize with a larger "
                             "--val-fraction, lower data.seq_len, or set eval.interval: 0")
        self.resume_from = find_resume(resume, self.checkpoints)
        if self.resume_from is not None:
            _check_resumable(self.resume_from, self.model_config, config.data.seq_len)

    def _start_deepspeed(self) -> tuple[Path, str] | None:
        """Join the process group and build the engine; returns where to load the checkpoint from, if any."""
        config = self.config
        builds = prepare_extension_builds(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        with watching_builds(*builds):
            self.placement = placement = init_distributed()
            self.device = placement.device
            load_from, universal = None, False
            if self.resume_from is not None:
                folder, tag, universal = loadable(self.resume_from, placement.world, self.zero_stage, placement.rank)
                load_from = folder, tag
            self.ds_config = deepspeed_config(config, placement.world, self.precision, load_universal=universal)
            torch.manual_seed(config.train.seed)
            self.guard = SpikeGuard(config.spike_guard)
            self.engine = create_engine(Decoder(self.model_config), config, self.ds_config, self.device,
                                        self.guard.permits_update)
        self.own_grad_norm = global_grad_norm_reader(self.engine) is None
        self.loader = TrainBatches(self.train_data, self.micro, self.accumulation, placement.rank, placement.world)
        self.tokens_per_step = self.loader.global_batch * config.data.seq_len
        self.resolved = {"train": config.to_dict(), "model": self.model_config.to_dict(), "deepspeed": self.ds_config,
                         "world_size": placement.world, "precision": self.precision,
                         "accumulation_steps": self.accumulation}
        return load_from

    # ---- checkpoints ----

    def _restore(self, folder: Path, tag: str) -> None:
        groups = self.engine.optimizer.param_groups
        settings = [{key: group[key] for key in ("weight_decay", "betas", "eps")} for group in groups]
        try:
            path, client_state = self.engine.load_checkpoint(str(folder), tag=tag, load_lr_scheduler_states=False)
        except (AssertionError, EOFError, OSError, RuntimeError, pickle.UnpicklingError) as exc:
            # Checkpoints written before manifests existed are not verified; their damage surfaces here.
            raise UsageError(f"DeepSpeed could not load {folder / tag} ({type(exc).__name__}: {exc}); resume from "
                             "an older checkpoint (--resume OUTPUT/checkpoints/step-N) or start a new run") from None
        if path is None:
            raise UsageError(f"DeepSpeed found no checkpoint {tag} in {folder}")
        # Two repairs for DeepSpeed's (0.19) ZeRO-3 universal loader: it gives every parameter group the first
        # group's hyperparameters (norms and embeddings would be decayed), and one shared AdamW `step` tensor,
        # which AdamW then advances once per group and step. Hyperparameters are the config's anyway.
        for group, kept in zip(self.engine.optimizer.param_groups, settings, strict=True):
            group.update(kept)
        for state in self.engine.basic_optimizer.state.values():
            if torch.is_tensor(state.get("step")):
                state["step"] = state["step"].clone()
        state = client_state[CLIENT_STATE_KEY]
        self.step, self.tokens = state["step"], state["tokens"]
        self.loader.load_state_dict(state["data"])
        self.guard.load_state_dict(state["guard"])
        restore_rng_states(state["rng"], self.placement.rank, self.placement.world, self.config.train.seed,
                           self.step)
        logger.info("resumed from %s at step %d", self.resume_from.path, self.step)

    def unfit_for_checkpoint(self) -> tuple[str, bool] | None:
        """Why the state after this step must not become a checkpoint, and whether that ends the run (the weights
        are broken), or None. Every rank checks its own weights and moments (its ZeRO partition) and the loss of
        its last micro-batch under the updated weights; the verdict is the same on every rank."""
        values = torch.zeros(2, device=self.device)
        values[0] = nonfinite_values(self.engine)
        if self.last_batch is not None:
            with torch.no_grad():
                values[1] = batch_loss(self.engine, self.last_batch, self.device, self.config.data.document_mask)
        dist.all_reduce(values)
        broken, probe = int(values[0].item()), values[1].item() / self.placement.world
        if broken:
            return f"{broken} of its weights and AdamW moments are NaN or infinite", True
        if not math.isfinite(probe):
            return f"with the updated weights the loss of the last micro-batch is {probe}", True
        spike = self.guard.spike("loss with the updated weights", probe)
        return (spike, False) if spike else None

    def save(self) -> str | None:
        """Publish a checkpoint of the state after this step when it is fit; otherwise return why not (or raise
        TrainingStopped when the weights are broken: nothing can be saved from here on)."""
        unfit = self.unfit_for_checkpoint()
        if unfit is not None:
            reason, fatal = unfit
            if fatal:
                raise TrainingStopped(self.step, f"the state after step {self.step} was not checkpointed: {reason}",
                                      LR_FIX)
            logger.warning("step %d: checkpoint postponed to the next applied update: %s", self.step, reason)
            return reason
        gathered: list[Any] = [None] * self.placement.world
        dist.all_gather_object(gathered, rng_states())
        client_state = {CLIENT_STATE_KEY: {
            "step": self.step, "tokens": self.tokens, "data": self.loader.state_dict(),
            "guard": self.guard.state_dict(), "rng": gathered, "config": self.resolved}}
        trainer_state = {"step": self.step, "tokens": self.tokens, "world_size": self.placement.world,
                         "zero_stage": self.zero_stage, "seq_len": self.config.data.seq_len,
                         "model": self.model_config.to_dict()}
        save_checkpoint(self.engine, self.checkpoints, self.step, client_state, trainer_state,
                        self.config.checkpoint.keep)
        return None

    def newest_checkpoint(self) -> Checkpoint | None:
        return latest_checkpoint(self.checkpoints) if self.checkpoints.is_dir() else None

    def saved_note(self) -> str:
        """What a stopped run leaves behind, and how to go on from it."""
        newest = self.newest_checkpoint()
        if newest is None:
            return "No checkpoint was saved (the run had written none), so run it again from the start"
        return (f"The newest checkpoint is {newest.path} (step {newest.state['step']}); nothing after it was saved: "
                "continue from it with --resume auto")

    # ---- steps ----

    def train_step(self) -> StepOutcome:
        """One optimizer step over `accumulation` micro-batches; the spike guard may veto the update."""
        config = self.config
        lr = learning_rate(self.step, config.optimizer.lr, config.total_steps, config.schedule)
        for group in self.engine.optimizer.param_groups:
            group["lr"] = lr
        batches = self.loader.next_step()
        total = torch.zeros((), device=self.device)
        for index, batch in enumerate(batches):
            loss = batch_loss(self.engine, batch, self.device, config.data.document_mask)
            self.engine.backward(loss)
            total += loss.detach().float()
            if index < len(batches) - 1:
                self.engine.step()  # not a boundary: DeepSpeed only counts the micro-step
        self.rank_loss = total.item() / len(batches)
        dist.all_reduce(total)
        mean_loss = total.item() / (len(batches) * self.placement.world)
        self.guard.arm(mean_loss, full_grad_norm(self.engine.module) if self.own_grad_norm else None)
        self.engine.step()
        self.step += 1
        self.tokens += self.tokens_per_step
        self.last_batch = batches[-1]
        outcome = self.guard.finish(self.step)
        # One collective after every step: an update that made the weights non-finite is caught before anything
        # is saved, and a stop signal on any rank stops every rank after this same step.
        health = torch.tensor([0.0, *self.signals.flags()], device=self.device)
        health[0] = weights_norm(self.engine).to(self.device)
        dist.all_reduce(health)
        if not math.isfinite(health[0].item()):
            raise TrainingStopped(
                self.step, f"the update of step {self.step} made the weights non-finite or too large for float32 "
                f"(weight norm {health[0].item()}; the loss {mean_loss:.4g} and gradient norm {outcome.grad_norm} "
                f"before it were finite): optimizer.lr {config.optimizer.lr:g} (this step {lr:g}) is far too large",
                LR_FIX)
        self.stop_signal = first_raised(health[1:].tolist())
        return outcome

    def evaluate(self) -> float:
        """Mean loss over the first eval.batches micro-batches per rank of the validation split."""
        batches = self.val_data.batches(self.micro, self.config.eval.batches, self.placement.rank,
                                        self.placement.world)
        self.engine.eval()
        total = torch.zeros((), device=self.device)
        with torch.no_grad():
            for batch in batches:
                total += batch_loss(self.engine, batch, self.device, self.config.data.document_mask).float()
        self.engine.train()
        dist.all_reduce(total)
        return total.item() / (len(batches) * self.placement.world)

    def run(self) -> RunResult:
        config, rank = self.config, self.placement.rank
        steps = config.train.steps
        metrics = MetricsLog(self.output, config.log, rank == 0, steps, self.step)
        if rank == 0:
            self.output.mkdir(parents=True, exist_ok=True)
            (self.output / "config.yaml").write_text(yaml.safe_dump(self.resolved, sort_keys=False))
            if self.resume_from is not None:
                metrics.write("resume", self.step, {"checkpoint": self.resume_from.tag,
                                                    "world_size": self.placement.world})
        throughput = Throughput(self.tokens_per_step, flops_per_token(self.model_config, config.data.seq_len),
                                self.device, self.placement.world, config.log.peak_tflops)
        losses: list[float] = []
        outcome = None
        val_loss = None
        postponed: str | None = None  # why the checkpoint due is not written yet
        try:
            with self.signals:
                while self.step < steps:
                    outcome = self.train_step()
                    throughput.step()
                    if outcome.applied:
                        losses.append(outcome.loss)
                    else:
                        logger.warning("step %d: update skipped (%s)", self.step, outcome.reason)
                    last = self.step == steps
                    lr = self.engine.optimizer.param_groups[0]["lr"]
                    metrics.advance(1, {"loss": outcome.loss, "lr": lr})
                    if self.step % config.log.interval == 0 or last:
                        metrics.write("train", self.step, {
                            "loss": sum(losses) / len(losses) if losses else None, "lr": lr,
                            "grad_norm": finite_or_none(outcome.grad_norm), "tokens": self.tokens,
                            "skipped_steps": self.guard.skipped, **throughput.read(),
                            "memory_gib": memory_gib(self.device)})
                        losses = []
                    if config.eval.interval and (self.step % config.eval.interval == 0 or last):
                        val_loss = self.evaluate()
                        metrics.write("eval", self.step, {"val_loss": val_loss, "tokens": self.tokens})
                        throughput.restart()
                    stopping = self.stop_signal is not None
                    if self.step % config.checkpoint.interval == 0 or last or stopping or postponed:
                        # After a skipped update the checkpoint waits for the next applied one (a skip hints at
                        # trouble), except at the end and on a stop signal; save() judges the state in any case.
                        postponed = "the update was skipped"
                        if outcome.applied or last or stopping:
                            postponed = self.save()
                            throughput.restart()
                    if stopping or (last and postponed):
                        if postponed:
                            event = f"{self.stop_signal} received" if stopping else "the last step is done"
                            raise TrainingStopped(self.step, f"{event}, but its state was not checkpointed: "
                                                  f"{postponed}", LR_FIX)
                        logger.warning("%s received: checkpoint of step %d saved, stopping", self.stop_signal,
                                       self.step)
                        break
            metrics.write("stop" if self.stop_signal else "end", self.step, {
                "tokens": self.tokens, "skipped_steps": self.guard.skipped, "val_loss": val_loss,
                **({"signal": self.stop_signal} if self.stop_signal else {})})
        except TrainingStopped as stop:
            stopped = stop.with_saved(self.saved_note())
            metrics.write("stop", self.step, {"tokens": self.tokens, "skipped_steps": self.guard.skipped,
                                              "fault": str(stopped)})
            raise stopped from None
        finally:
            metrics.close()
        newest = self.newest_checkpoint()
        return RunResult(rank, self.placement.world, self.step, self.tokens, self.guard.skipped,
                         finite_or_none(outcome.loss) if outcome else None, self.rank_loss, val_loss, self.output,
                         newest.path if newest else None, self.stop_signal)


def train(config: TrainConfig, resume: str | None = None) -> RunResult:
    return Trainer(config, resume).run()
