"""Two CPU processes on gloo: under torchrun (ZeRO-3) and under the deepspeed launcher (ZeRO-1) both ranks train
and agree on the loss; a ZeRO-3 checkpoint of two ranks resumes in one process through a universal checkpoint;
a stop signal that reaches one rank only stops both after the same step, with one checkpoint."""

from __future__ import annotations

import re
import signal
import sys

import psutil
import pytest
from ccrefine.trainer.checkpoints import UNIVERSAL_SUFFIX, latest_checkpoint

pytestmark = pytest.mark.slow  # two-rank trainings under torchrun and the deepspeed launcher

RANK_LINE = re.compile(r"rank (\d) of 2 finished step (\d+): loss (\S+) \(all ranks\), (\S+) \(this rank's")
STEPS = 8


def check_both_ranks(output: str, steps: int = STEPS) -> float:
    """Each rank finished the last step; the global loss is the same on both and is the mean of the ranks' own."""
    ranks = {int(rank): (int(step), float(loss), float(own)) for rank, step, loss, own in RANK_LINE.findall(output)}
    assert sorted(ranks) == [0, 1], output
    (step0, loss0, own0), (step1, loss1, own1) = ranks[0], ranks[1]
    assert step0 == step1 == steps and loss0 == loss1
    assert own0 != own1 and (own0 + own1) / 2 == pytest.approx(loss0, rel=1e-6)  # each rank read its own data
    return loss0


def two_rank_config(synthetic_manifest, tmp_path, make_config, write_config, name: str, stage: int,
                    steps: int = STEPS):
    config = make_config(synthetic_manifest, tmp_path / name,
                         train={"steps": steps, "micro_batch_size": 2, "global_batch_size": 4, "zero_stage": stage},
                         checkpoint={"interval": STEPS // 2, "keep": 2})
    return write_config(tmp_path / f"{name}.yaml", config), tmp_path / name


def test_torchrun_two_ranks_then_resume_on_one(synthetic_manifest, tmp_path, make_config, write_config, launch,
                                                metrics, port, finished):
    config, output = two_rank_config(synthetic_manifest, tmp_path, make_config, write_config, "torchrun", stage=3)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                "-m"]
    final_loss = check_both_ranks(finished(launch(["--config", str(config)], launcher=torchrun)))
    checkpoint = latest_checkpoint(output / "checkpoints")
    assert checkpoint.state["world_size"] == 2
    assert {p.name for p in checkpoint.path.glob("zero_pp_rank_*_optim_states.pt")} == {
        "zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"}
    two_ranks = {line["step"]: line for line in metrics(output)}
    assert two_ranks[STEPS]["loss"] == final_loss

    # One process continues the two-rank ZeRO-3 run from its halfway checkpoint: weights and AdamW moments come
    # back exactly through a universal checkpoint; only the order of floating-point sums differs.
    halfway = output / "checkpoints" / f"step-{STEPS // 2:08d}"
    finished(launch(["--config", str(config), "--resume", str(halfway)]))
    assert (output / "checkpoints" / f"step-{STEPS // 2:08d}{UNIVERSAL_SUFFIX}").is_dir()
    lines = metrics(output)
    resumed = {line["step"]: line for line in lines[len(lines) - STEPS // 2:]}
    assert sorted(resumed) == list(range(STEPS // 2 + 1, STEPS + 1))
    for step, line in resumed.items():
        assert line["loss"] == pytest.approx(two_ranks[step]["loss"], rel=1e-6)
        assert line["grad_norm"] == pytest.approx(two_ranks[step]["grad_norm"], rel=1e-6)


def test_deepspeed_launcher_two_ranks_stop_together_on_one_ranks_signal(synthetic_manifest, tmp_path, make_config,
                                                                        write_config, launch, metrics, port,
                                                                        finished, waiting):
    """The launcher counts CPU 'accelerators' as --num_gpus and adds --local_rank=N, which the CLI drops. Slurm's
    --signal may reach only some ranks: SIGUSR1 to rank 1 alone stops both after the same step, checkpointed."""
    steps = 400  # far more than run before the signal lands
    config, output = two_rank_config(synthetic_manifest, tmp_path, make_config, write_config, "deepspeed", stage=1,
                                     steps=steps)
    # The `deepspeed` script run by this interpreter: the one on PATH may belong to another Python.
    launcher = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port", str(port),
                "--module"]
    process = launch(["--config", str(config)], launcher=launcher)
    assert waiting(process, lambda: len(metrics(output)) >= 2)
    workers = [child for child in psutil.Process(process.pid).children(recursive=True)
               if "ccrefine.trainer.cli" in child.cmdline() and child.environ().get("RANK") == "1"]
    assert len(workers) == 1
    workers[0].send_signal(signal.SIGUSR1)
    text = finished(process)
    stopped_at = metrics(output, "stop")[-1]["step"]
    assert 2 <= stopped_at < steps
    check_both_ranks(text, stopped_at)
    checkpoint = latest_checkpoint(output / "checkpoints")
    assert checkpoint.tag == f"step-{stopped_at:08d}" and checkpoint.state["world_size"] == 2
    assert f"stopped by SIGUSR1 after step {stopped_at}" in text
