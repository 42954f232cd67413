"""Training in this process (a one-rank gloo group, fp32 on CPU): falling validation loss on the sample corpus'
shards, metrics, every ZeRO stage, the spike guard inside DeepSpeed's step, and checkpoints that a NaN never
replaces."""

from __future__ import annotations

import math

import ccrefine.trainer.run as run_module
import pytest
import torch
from ccrefine.trainer.checkpoints import STATE_FILE, complete_checkpoints, latest_checkpoint
from ccrefine.trainer.config import config_from_dict
from ccrefine.trainer.run import Trainer, train
from ccrefine.trainer.spike_guard import TrainingStopped

from ccrefine.errors import UsageError


def test_validation_loss_falls_on_the_sample_shards(sample_manifest, tmp_path, make_config, metrics):
    output = tmp_path / "run"
    config = make_config(sample_manifest, output, train={"steps": 30, "micro_batch_size": 4, "global_batch_size": 8},
                         schedule={"warmup_steps": 5}, eval={"interval": 10, "batches": 8},
                         checkpoint={"interval": 30}, log={"interval": 5, "tensorboard": True, "progress": True})
    result = train(config_from_dict(config))
    val = [line["val_loss"] for line in metrics(output, "eval")]
    training = [line["loss"] for line in metrics(output)]
    assert len(val) == 3 and val[0] > val[1] > val[2]
    assert val[-1] < math.log(1000) - 0.5  # well below a uniform guess over the 1000-id vocabulary
    assert training[-1] < training[0] - 1.0
    assert result.steps == 30 and result.tokens == 30 * 8 * 32 and result.val_loss == val[-1]
    line = metrics(output)[-1]
    assert line["tokens_per_s"] > 0 and line["memory_gib"] > 0 and line["mfu"] is None  # no MFU on a CPU
    assert 0 < line["grad_norm"] and line["lr"] == pytest.approx(3e-3 * 0.1)
    assert list((output / "tensorboard").glob("events.out.tfevents.*"))
    assert (output / "config.yaml").is_file() and latest_checkpoint(output / "checkpoints").tag == "step-00000030"


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_every_zero_stage_trains_alike(synthetic_manifest, tmp_path, make_config, metrics, stage):
    """One rank: ZeRO stages differ only in bookkeeping, so losses match stage 0 and the guard sees
    DeepSpeed's gradient norm (clipped at 1.0 after it is read)."""
    losses = {}
    for zero_stage in (0, stage):
        output = tmp_path / f"stage{zero_stage}"
        config = make_config(synthetic_manifest, output, train={"steps": 6, "zero_stage": zero_stage,
                                                                "micro_batch_size": 2, "global_batch_size": 4},
                             data={"manifest": str(synthetic_manifest), "seq_len": 32, "document_mask": True})
        train(config_from_dict(config))
        losses[zero_stage] = [value for line in metrics(output) for value in (line["loss"], line["grad_norm"])]
    assert losses[stage] == pytest.approx(losses[0], rel=1e-4)
    assert max(losses[0][1::2]) > 1.0  # clipping had work to do


def test_activation_checkpointing_gives_the_same_losses(synthetic_manifest, tmp_path, make_config, metrics):
    losses = []
    for checkpointing in (False, True):
        output = tmp_path / f"checkpointing-{checkpointing}"
        config = make_config(synthetic_manifest, output, train={"steps": 4, "activation_checkpointing": checkpointing})
        train(config_from_dict(config))
        losses.append([line["loss"] for line in metrics(output)])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def poison_steps(monkeypatch, steps: set[int], accumulation: int) -> None:
    """Make the loss NaN on the first micro-batch of the given (1-based) optimizer steps."""
    original = run_module.batch_loss
    calls = []

    def poisoned(engine, batch, device, document_mask):
        loss = original(engine, batch, device, document_mask)
        if not torch.is_grad_enabled():  # the checkpoint's check of the updated weights, not a training step
            return loss
        calls.append(None)
        step = (len(calls) - 1) // accumulation + 1
        first_micro = (len(calls) - 1) % accumulation == 0
        return loss * float("nan") if step in steps and first_micro else loss

    monkeypatch.setattr(run_module, "batch_loss", poisoned)


@pytest.mark.parametrize("stage", [0, 2])
def test_a_nan_step_is_skipped_and_never_checkpointed(synthetic_manifest, tmp_path, make_config, metrics,
                                                      monkeypatch, stage):
    output = tmp_path / "run"
    poison_steps(monkeypatch, {10}, accumulation=2)
    config = make_config(synthetic_manifest, output, train={"steps": 20, "zero_stage": stage})
    result = train(config_from_dict(config))
    assert result.skipped_steps == 1
    lines = {line["step"]: line for line in metrics(output)}
    assert lines[9]["skipped_steps"] == 0 and lines[10]["skipped_steps"] == 1 and lines[10]["loss"] is None
    # The checkpoint due at step 10 waits for the next applied update.
    tags = [checkpoint.tag for checkpoint in complete_checkpoints(output / "checkpoints")]
    assert tags == ["step-00000011", "step-00000020"]
    states = torch.load(next((output / "checkpoints/step-00000011").glob("*model_states.pt")), weights_only=False)
    if stage == 0:
        assert all(torch.isfinite(tensor).all() for tensor in states["module"].values())
    assert lines[20]["loss"] < lines[1]["loss"]  # training went on normally


def test_consecutive_skips_stop_training_and_keep_the_good_checkpoint(synthetic_manifest, tmp_path, make_config,
                                                                       monkeypatch):
    output = tmp_path / "run"
    poison_steps(monkeypatch, {12, 13, 14}, accumulation=2)
    config = make_config(synthetic_manifest, output, train={"steps": 20},
                         spike_guard={"max_consecutive_skips": 3})
    with pytest.raises(TrainingStopped, match="stopped at step 14: the last 3 updates were all skipped .*non-finite "
                                              "loss.*Lower optimizer.lr.*The newest checkpoint is .*step-00000010 "
                                              r"\(step 10\); nothing after it was saved: continue from it with "
                                              "--resume auto"):
        train(config_from_dict(config))
    latest = latest_checkpoint(output / "checkpoints")
    assert latest.tag == "step-00000010" and (latest.path / STATE_FILE).is_file()
    assert [c.tag for c in complete_checkpoints(output / "checkpoints")] == ["step-00000010"]


def test_a_run_folder_with_checkpoints_needs_resume(synthetic_manifest, tmp_path, make_config, metrics):
    output = tmp_path / "run"
    config = config_from_dict(make_config(synthetic_manifest, output, train={"steps": 10}))
    train(config)
    with pytest.raises(UsageError, match="already holds checkpoints .*pass --resume auto"):
        train(config)
    bigger = config_from_dict(make_config(synthetic_manifest, output, train={"steps": 10},
                                          model={"preset": "llama-tiny", "overrides": {"n_layers": 3}}))
    with pytest.raises(UsageError, match=r"another shape \(differs in \['n_layers'\]\)"):
        train(bigger, "auto")
    with pytest.raises(UsageError, match="is not a complete checkpoint folder"):
        train(config, str(output / "checkpoints" / "step-00000005"))


def test_the_guard_vetoes_spikes_inside_zero3_steps(synthetic_manifest, tmp_path, make_config):
    """With a hair-trigger threshold most steps are 'spikes'; ZeRO-3 asks the optimizer once per parameter
    sub-group and every vetoed step leaves AdamW's step count where it was."""
    config = make_config(synthetic_manifest, tmp_path / "run", train={"steps": 12, "zero_stage": 3},
                         spike_guard={"window": 2, "min_history": 2, "sigma": 1e-6, "max_consecutive_skips": 12})
    trainer = Trainer(config_from_dict(config))
    result = trainer.run()
    assert 0 < result.skipped_steps < 12
    adam_steps = {int(state["step"]) for state in trainer.engine.basic_optimizer.state.values()}
    assert adam_steps == {12 - result.skipped_steps}


def test_bf16_runs_through_deepspeeds_optimizer_wrapper(synthetic_manifest, tmp_path, make_config, metrics):
    """bf16 (the GPU setting) also runs on CPU: DeepSpeed wraps the optimizer and reports the gradient norm."""
    output = tmp_path / "run"
    train(config_from_dict(make_config(synthetic_manifest, output, train={"steps": 4, "precision": "bf16",
                                                                          "zero_stage": 1})))
    lines = metrics(output)
    assert all(line["grad_norm"] > 0 for line in lines) and lines[-1]["loss"] < lines[0]["loss"]
