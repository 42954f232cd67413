"""Checkpoints: DeepSpeed checkpoints in OUTPUT/checkpoints/step-NNNNNNNN, a `latest` pointer, the last K kept.

A checkpoint is complete when its trainer_state.json exists: rank 0 writes it after every rank has written its
DeepSpeed files, and only then moves `latest` to it (write-and-rename, so `latest` is never half written). A
run killed while saving leaves a folder without trainer_state.json, which resuming ignores; if `latest` names
an incomplete folder (it was being rewritten), the newest complete checkpoint is used instead.

trainer_state.json is the checkpoint's manifest: it records the size and sha256 of every other file in the
folder. `--resume auto` verifies the checkpoint it picks and falls back to the previous complete one when a
file is missing, truncated or altered (a disk that filled up, a copy cut short), saying which and why.

The trainer's own state (data cursor, RNG states of every rank, step, tokens, spike-guard history, resolved
config) is DeepSpeed's client state, saved inside the checkpoint; trainer_state.json repeats what must be
known before DeepSpeed starts (ranks, ZeRO stage, model shape).

Resuming with another number of ranks or ZeRO stage: ZeRO partitions the fp32 weights and AdamW moments by
rank, so the checkpoint is first converted into a DeepSpeed universal checkpoint (step-N-universal, once, by
deepspeed.checkpoint.ds_to_universal) and loaded with `load_universal`: weights and moments carry over exactly.
A ZeRO stage 0 checkpoint holds the whole optimizer and loads with any number of ranks at stage 0.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.distributed as dist
from ccrefine.transforms.tokens.shards import file_sha256

from ccrefine.errors import UsageError

logger = logging.getLogger(__name__)

LATEST = "latest"  # the name DeepSpeed's own tools (zero_to_fp32.py) read
STATE_FILE = "trainer_state.json"
UNIVERSAL_SUFFIX = "-universal"
TAG = re.compile(r"^step-(\d{8})$")


def tag_of(step: int) -> str:
    return f"step-{step:08d}"


@dataclass(frozen=True)
class Checkpoint:
    folder: Path  # the checkpoints folder
    tag: str
    state: dict[str, Any]  # trainer_state.json

    @property
    def path(self) -> Path:
        return self.folder / self.tag


def read_checkpoint(folder: Path, tag: str) -> Checkpoint | None:
    """The checkpoint `tag` in `folder` when it is complete (an unreadable manifest counts as incomplete)."""
    state = folder / tag / STATE_FILE
    if not state.is_file():
        return None
    try:
        return Checkpoint(folder, tag, json.loads(state.read_text()))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("%s is unreadable (%s); the checkpoint counts as incomplete", state, exc)
        return None


def complete_checkpoints(folder: Path) -> list[Checkpoint]:
    """Complete checkpoints, oldest first."""
    found = [read_checkpoint(folder, path.name) for path in sorted(folder.glob("step-*")) if TAG.match(path.name)]
    return [checkpoint for checkpoint in found if checkpoint is not None]


def newest_first(folder: Path) -> list[Checkpoint]:
    """Complete checkpoints, the one `latest` names first (when complete), then the others newest first."""
    complete = complete_checkpoints(folder)[::-1]
    pointer = folder / LATEST
    if pointer.is_file():
        named = pointer.read_text().strip()
        if any(checkpoint.tag == named for checkpoint in complete):
            complete.sort(key=lambda checkpoint: checkpoint.tag != named)  # stable: the rest stay newest first
        else:
            logger.warning("%s names an incomplete checkpoint; using the newest complete one", pointer)
    return complete


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    candidates = newest_first(folder)
    return candidates[0] if candidates else None


def file_records(path: Path) -> dict[str, list]:
    """{relative path: [size, sha256]} of every file of a checkpoint folder but the manifest itself."""
    records = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != STATE_FILE):
        records[file.relative_to(path).as_posix()] = [file.stat().st_size, file_sha256(file)]
    return records


def damage(checkpoint: Checkpoint) -> str | None:
    """What is wrong with a complete checkpoint's files against its manifest, or None when they all match."""
    recorded = checkpoint.state.get("files")
    if recorded is None:
        logger.warning("%s was written before checkpoints recorded their files; it is not verified", checkpoint.path)
        return None
    for name, (size, digest) in recorded.items():
        file = checkpoint.path / name
        if not file.is_file():
            return f"{name} is missing"
        if file.stat().st_size != size:
            return f"{name} is {file.stat().st_size} bytes, {size} were written"
        if file_sha256(file) != digest:
            return f"{name} does not match the sha256 recorded when it was written"
    return None


def find_resume(resume: str | None, folder: Path) -> Checkpoint | None:
    """What `--resume` names: None (a new run, refused when the run folder holds checkpoints), `auto` (the latest
    intact checkpoint, or a new run when there is none), or a checkpoint folder (OUTPUT/checkpoints/step-N)."""
    if resume is None or resume == "none":
        existing = latest_checkpoint(folder) if folder.is_dir() else None
        if existing is not None:
            raise UsageError(f"{folder} already holds checkpoints (latest {existing.tag}); pass --resume auto to "
                             "continue that run, or choose another output folder")
        return None
    if resume == "auto":
        return _newest_intact(folder) if folder.is_dir() else None
    path = Path(resume)
    checkpoint = read_checkpoint(path.parent, path.name) if path.is_dir() else None
    if checkpoint is None:
        raise UsageError(f"--resume {resume!r} is not a complete checkpoint folder (one with {STATE_FILE}, like "
                         "OUTPUT/checkpoints/step-00001000); use --resume auto for the latest")
    problem = damage(checkpoint)
    if problem:
        raise UsageError(f"--resume {resume}: the checkpoint is damaged ({problem}); resume from an older one, or "
                         "use --resume auto, which takes the newest intact checkpoint")
    return checkpoint


def _newest_intact(folder: Path) -> Checkpoint | None:
    damaged = []
    for checkpoint in newest_first(folder):
        problem = damage(checkpoint)
        if problem is None:
            if damaged:
                logger.warning("resuming from %s (step %d), the newest intact checkpoint, instead of the damaged %s",
                               checkpoint.path, checkpoint.state["step"], ", ".join(damaged))
            return checkpoint
        logger.warning("checkpoint %s is damaged (%s); trying the previous one", checkpoint.path, problem)
        damaged.append(f"{checkpoint.tag} ({problem})")
    if damaged:
        raise UsageError(f"every checkpoint in {folder} is damaged: {'; '.join(damaged)}; restore one from a copy, "
                         "or start a new run in another output folder")
    return None


def loadable(checkpoint: Checkpoint, world: int, zero_stage: int, rank: int) -> tuple[Path, str, bool]:
    """(folder, tag, universal) to hand to DeepSpeed's load_checkpoint from `world` ranks at `zero_stage`,
    converting the checkpoint into a universal one first when its ZeRO partitioning does not fit."""
    saved_world, saved_stage = checkpoint.state["world_size"], checkpoint.state["zero_stage"]
    if saved_stage == zero_stage and (saved_world == world or zero_stage == 0):
        return checkpoint.folder, checkpoint.tag, False
    if saved_stage == 0 or zero_stage == 0:
        raise UsageError(f"{checkpoint.path} was saved at ZeRO stage {saved_stage} by {saved_world} rank(s); it can "
                         f"resume at ZeRO stage {zero_stage} with {world} only between ZeRO stages 1-3: set "
                         f"train.zero_stage: {saved_stage} or start a new run")
    universal = checkpoint.tag + UNIVERSAL_SUFFIX
    failure = [None]
    if rank == 0:
        converted = read_checkpoint(checkpoint.folder, universal)
        if converted is None or damage(converted):
            failure[0] = _convert_to_universal(checkpoint, universal)
    dist.broadcast_object_list(failure, src=0)  # every rank fails alike instead of waiting for rank 0
    if failure[0]:
        raise UsageError(f"could not convert {checkpoint.path} into a universal checkpoint for {world} rank(s):\n"
                         f"{failure[0]}")
    return checkpoint.folder, universal, True


def _convert_to_universal(checkpoint: Checkpoint, universal: str) -> str | None:
    """Run DeepSpeed's converter; its error output on failure."""
    logger.info("converting %s (%d ranks, ZeRO %d) to a universal checkpoint", checkpoint.path,
                checkpoint.state["world_size"], checkpoint.state["zero_stage"])
    target = checkpoint.folder / universal
    shutil.rmtree(target, ignore_errors=True)
    workers = str(max(1, min(4, os.cpu_count() or 1)))
    done = subprocess.run(
        [sys.executable, "-m", "deepspeed.checkpoint.ds_to_universal", "--input_folder", str(checkpoint.path),
         "--output_folder", str(target), "--inject_missing_state", "--num_extract_workers", workers,
         "--num_merge_workers", workers], capture_output=True, text=True)
    if done.returncode:
        return done.stderr[-2000:]
    _write_atomic(target / STATE_FILE, json.dumps({**checkpoint.state, "files": file_records(target)}, indent=2))
    return None


def save_checkpoint(engine, folder: Path, step: int, client_state: dict[str, Any], trainer_state: dict[str, Any],
                    keep: int) -> Path:
    """Save on every rank, then (rank 0) write the manifest, point `latest` at it and drop the oldest beyond
    `keep`; returns the checkpoint's folder."""
    tag = tag_of(step)
    rank = dist.get_rank()
    if rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
        # A folder of this tag is left over from a run that was killed or resumed from an older checkpoint:
        # unmark it first, so a crash while rewriting it never leaves a complete-looking mixture.
        (folder / tag / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(folder / tag, ignore_errors=True)
    dist.barrier()
    engine.save_checkpoint(str(folder), tag=tag, client_state=client_state, save_latest=False)
    dist.barrier()  # every rank's files are written
    if rank == 0:
        manifest = {**trainer_state, "files": file_records(folder / tag)}
        _write_atomic(folder / tag / STATE_FILE, json.dumps(manifest, indent=2))
        _write_atomic(folder / LATEST, tag)
        _prune(folder, keep)
    dist.barrier()
    return folder / tag


def _prune(folder: Path, keep: int) -> None:
    complete = complete_checkpoints(folder)
    newest = complete[-1].tag if complete else None
    survivors = {checkpoint.tag for checkpoint in complete[-keep:]}
    for path in sorted(folder.glob("step-*")):
        base = path.name.removesuffix(UNIVERSAL_SUFFIX)
        if base in survivors:
            continue
        # Incomplete folders are kept only while newer than the newest complete one (none are being written now).
        if read_checkpoint(folder, base) is not None or (newest is not None and base < newest):
            shutil.rmtree(path, ignore_errors=True)
            logger.info("removed checkpoint %s", path.name)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
