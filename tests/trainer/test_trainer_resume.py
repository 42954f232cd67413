"""The acceptance tests of checkpoints, against one run of STEPS steps straight through (checkpoints at STEPS/2
and STEPS): a run SIGKILLed after its STEPS/2 checkpoint, a run stopped by SIGTERM between checkpoints, and
runs whose latest checkpoint lost or cut a file all resume with --resume auto and reproduce the straight run's
later steps bitwise (losses, gradient norms, learning rates; CPU, fp32): the weights, AdamW moments, data
cursor, RNG states and spike-guard history all come back exactly."""

from __future__ import annotations

import logging
import os
import shutil
import signal

import pytest
from ccrefine.trainer.checkpoints import STATE_FILE, latest_checkpoint
from ccrefine.trainer.config import config_from_dict
from ccrefine.trainer.run import train

from ccrefine.errors import UsageError

pytestmark = pytest.mark.slow  # trainer subprocesses killed, signalled and resumed

STEPS = 40
HALF = f"step-{STEPS // 2:08d}"
KEYS = ("step", "loss", "grad_norm", "lr", "tokens", "skipped_steps")


def sections(manifest) -> dict:
    return {"train": {"steps": STEPS, "micro_batch_size": 2, "global_batch_size": 4},
            "checkpoint": {"interval": STEPS // 2, "keep": 2},
            "data": {"manifest": str(manifest), "seq_len": 32, "document_mask": True}}


@pytest.fixture(scope="module")
def straight(synthetic_manifest, tmp_path_factory, make_config, write_config, launch, finished):
    """The run every interrupted one must reproduce: its folder."""
    folder = tmp_path_factory.mktemp("straight")
    config = write_config(folder / "straight.yaml", make_config(synthetic_manifest, folder / "run",
                                                                **sections(synthetic_manifest)))
    finished(launch(["--config", str(config)]))
    return folder / "run"


def config_file(synthetic_manifest, tmp_path, make_config, write_config):
    output = tmp_path / "run"
    config = make_config(synthetic_manifest, output, **sections(synthetic_manifest))
    return write_config(tmp_path / "run.yaml", config), output


def resumed_lines(output, metrics) -> list[dict]:
    """The train lines logged after the last resume marker."""
    lines = metrics(output, None)
    marker = max(i for i, line in enumerate(lines) if line["kind"] == "resume")
    return [lines[marker]] + [line for line in lines[marker:] if line["kind"] == "train"]


def assert_matches_straight(output, straight, metrics, from_step: int, checkpoint: str) -> None:
    marker, *resumed = resumed_lines(output, metrics)
    assert (marker["step"], marker["checkpoint"]) == (from_step, checkpoint)
    expected = [line for line in metrics(straight) if line["step"] > from_step]
    assert [[line[k] for k in KEYS] for line in resumed] == [[line[k] for k in KEYS] for line in expected]
    assert [line["step"] for line in resumed] == list(range(from_step + 1, STEPS + 1))
    assert latest_checkpoint(output / "checkpoints").tag == f"step-{STEPS:08d}"


def test_killed_and_resumed_run_matches_a_straight_run(synthetic_manifest, straight, tmp_path, make_config,
                                                       write_config, launch, metrics, finished, waiting):
    config, output = config_file(synthetic_manifest, tmp_path, make_config, write_config)
    process = launch(["--config", str(config)])
    checkpoints = output / "checkpoints"
    assert waiting(process, lambda: checkpoints.is_dir() and latest_checkpoint(checkpoints) is not None)
    os.kill(process.pid, signal.SIGKILL)
    finished(process, -signal.SIGKILL)
    assert latest_checkpoint(checkpoints).tag == HALF
    assert metrics(output)[-1]["step"] < STEPS and not metrics(output, "end")

    finished(launch(["--config", str(config), "--resume", "auto"]))
    assert_matches_straight(output, straight, metrics, STEPS // 2, HALF)


def test_sigterm_saves_a_checkpoint_that_resumes_like_a_straight_run(synthetic_manifest, straight, tmp_path,
                                                                     make_config, write_config, launch, metrics,
                                                                     finished, waiting):
    config, output = config_file(synthetic_manifest, tmp_path, make_config, write_config)
    process = launch(["--config", str(config)])
    assert waiting(process, lambda: any(line["step"] > STEPS // 2 + 2 for line in metrics(output)))
    process.send_signal(signal.SIGTERM)
    output_text = finished(process)
    stop = metrics(output, "stop")[-1]
    stopped_at = stop["step"]
    assert stop["signal"] == "SIGTERM" and STEPS // 2 < stopped_at < STEPS and not metrics(output, "end")
    tag = f"step-{stopped_at:08d}"
    assert latest_checkpoint(output / "checkpoints").tag == tag
    assert f"stopped by SIGTERM after step {stopped_at}" in output_text and f"checkpoint {output}" in output_text
    assert "continue with --resume auto" in output_text

    finished(launch(["--config", str(config), "--resume", "auto"]))
    assert_matches_straight(output, straight, metrics, stopped_at, tag)


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(synthetic_manifest, straight, tmp_path,
                                                                     make_config, metrics, caplog, damage):
    output = tmp_path / "run"
    shutil.copytree(straight, output)
    # ZeRO 0 keeps the weights and AdamW moments in one file
    victim = next((output / "checkpoints" / f"step-{STEPS:08d}").glob("*model_states.pt"))
    size = victim.stat().st_size
    if damage == "truncate":
        os.truncate(victim, size // 2)
    else:
        victim.unlink()
    config = config_from_dict(make_config(synthetic_manifest, output, **sections(synthetic_manifest)))
    with caplog.at_level(logging.WARNING, logger="ccrefine.trainer.checkpoints"):
        train(config, "auto")
    problem = "is missing" if damage == "delete" else f"is {size // 2} bytes, {size} were written"
    assert f"step-{STEPS:08d} is damaged ({victim.name} {problem}" in caplog.text
    assert f"resuming from {output / 'checkpoints' / HALF} (step {STEPS // 2}), the newest intact" in caplog.text
    assert_matches_straight(output, straight, metrics, STEPS // 2, HALF)


def test_damage_everywhere_or_in_a_named_checkpoint_is_one_message(synthetic_manifest, straight, tmp_path,
                                                                   make_config):
    output = tmp_path / "run"
    shutil.copytree(straight, output)
    config = config_from_dict(make_config(synthetic_manifest, output, **sections(synthetic_manifest)))
    half = output / "checkpoints" / HALF
    with next(half.glob("*model_states.pt")).open("r+b") as handle:  # one bit flipped, the size kept
        handle.seek(1000)
        flipped = handle.read(1)[0] ^ 1
        handle.seek(1000)
        handle.write(bytes([flipped]))
    with pytest.raises(UsageError, match=f"--resume {half}: the checkpoint is damaged .*does not match the sha256"):
        train(config, str(half))
    (output / "checkpoints" / f"step-{STEPS:08d}" / STATE_FILE).unlink()  # incomplete: not a candidate at all
    with pytest.raises(UsageError, match=f"every checkpoint in {output / 'checkpoints'} is damaged: {HALF} "):
        train(config, "auto")
