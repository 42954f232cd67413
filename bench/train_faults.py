"""Trainer fault table (issue 17): each fault reproduced on `python -m ccrefine.trainer.cli train` as a user runs it
(a real process, real DeepSpeed on CPU with gloo, a tiny llama on random-token shards), with what came out: exit code,
the checkpoints left, the state lost and the exact message.

    python bench/train_faults.py [--output /tmp/train_faults] [--only sigterm,truncated]

Prints a markdown table for bench/RESULTS.md. A fault's row is judged against what is expected of it (the
`expected` column); the script exits 1 when a row is not as expected.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
from ccrefine.trainer.checkpoints import complete_checkpoints  # noqa: E402
from ccrefine.trainer.extensions import SHM_COMM_OP, extensions_folder  # noqa: E402

from bench.train_speed import random_shards  # noqa: E402

HANG_GUARD_S = 1800  # a run that hangs is a failed row, not a stuck script


@dataclass
class Row:
    fault: str
    expected: str
    command: str
    exit_code: int
    checkpoints: list[str]
    lost: str
    message: str
    as_expected: bool


def config(folder: Path, manifest: Path, name: str, **sections) -> Path:
    values = {"output": str(folder / name), "model": {"preset": "llama-tiny"},
              "data": {"manifest": str(manifest), "seq_len": 32},
              "train": {"steps": 8, "micro_batch_size": 2, "global_batch_size": 2},
              "optimizer": {"lr": 3e-3}, "checkpoint": {"interval": 4, "keep": 3}, "eval": {"interval": 0},
              "log": {"interval": 1, "tensorboard": False, "progress": False}}
    for section, update in sections.items():
        values[section] = {**values.get(section, {}), **update}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def environment(folder: Path) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(folder / "cache")}
    env.pop("TORCH_EXTENSIONS_DIR", None)
    return env


def start(folder: Path, args: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "ccrefine.trainer.cli", "train", *args]
    return subprocess.Popen(command, cwd=REPO, env=environment(folder), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=HANG_GUARD_S)
    return process.returncode, output


def run(folder: Path, args: list[str]) -> tuple[int, str]:
    return finish(start(folder, args))


def tags(run_folder: Path) -> list[str]:
    folder = run_folder / "checkpoints"
    return [c.tag for c in complete_checkpoints(folder)] if folder.is_dir() else []


def message(output: str, folder: Path) -> str:
    """The lines meant for the user (the CLI's own, the trainer's warnings; not DeepSpeed's), `folder` as OUT."""
    keep = [line for line in output.splitlines() if line.startswith("ccrefine train") or " WARNING trainer." in line]
    text = " / ".join(re.sub(r"^\S+ \S+ WARNING trainer\.\S+: ", "", line) for line in keep)
    return text.replace(str(folder), "OUT")


def logged_steps(run_folder: Path) -> list[int]:
    """Steps of the complete train lines of metrics.jsonl so far (the last line may be half written)."""
    metrics = run_folder / "metrics.jsonl"
    lines = metrics.read_text().split("\n")[:-1] if metrics.is_file() else []
    return [line["step"] for line in map(json.loads, lines) if line["kind"] == "train"]


def signal_when_logged(process: subprocess.Popen, run_folder: Path, step: int, number: int) -> None:
    """Send `number` once metrics.jsonl shows `step` (the run is mid-way, between checkpoints)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while process.poll() is None and time.monotonic() < deadline:
        if step in logged_steps(run_folder):
            process.send_signal(number)
            return
        time.sleep(0.05)


def metric_lines(run_folder: Path) -> list[dict]:
    return [json.loads(line) for line in (run_folder / "metrics.jsonl").read_text().splitlines()]


def lr_faults(folder: Path, manifest: Path) -> list[Row]:
    rows = []
    for lr in ("1.0e+30", ".inf"):
        path = config(folder, manifest, f"lr-{lr}", checkpoint={"interval": 1})
        code, output = run(folder, ["--config", str(path), "--set", f"optimizer.lr={lr}"])
        saved = tags(folder / f"lr-{lr}")
        rows.append(Row(f"optimizer.lr {lr} (checkpoint every step)", "exit 2, no checkpoint, message says none was "
                        "saved", f"--set optimizer.lr={lr} --set checkpoint.interval=1", code, saved,
                        "nothing to lose", message(output, folder),
                        code == 2 and not saved and ("No checkpoint was saved" in output or "train config" in output)))
    path = config(folder, manifest, "lr-late")
    first = run(folder, ["--config", str(path), "--set", "train.steps=4"])
    code, output = run(folder, ["--config", str(path), "--resume", "auto", "--set", "optimizer.lr=1.0e+30"])
    saved = tags(folder / "lr-late")
    rows.append(Row("optimizer.lr 1e30 on resuming a good run at step 4", "exit 2, step-4 checkpoint kept and named",
                    "4 steps, then --resume auto --set optimizer.lr=1e30", code, saved, "none (step 4 is intact)",
                    message(output, folder), first[0] == 0 and code == 2 and saved == ["step-00000004"]
                    and "step-00000004 (step 4)" in output))
    return rows


def signal_faults(folder: Path, manifest: Path) -> list[Row]:
    rows = []
    for number in (signal.SIGTERM, signal.SIGUSR1):
        name = number.name.lower()
        path = config(folder, manifest, name, train={"steps": 40}, checkpoint={"interval": 100})
        process = start(folder, ["--config", str(path)])
        signal_when_logged(process, folder / name, 5, number)
        code, output = finish(process)
        saved = tags(folder / name)
        stop = [line for line in metric_lines(folder / name) if line["kind"] == "stop"]
        resumed = run(folder, ["--config", str(path), "--resume", "auto"])
        rows.append(Row(f"{number.name} mid-run (no checkpoint due)", "checkpoint at the next step boundary, exit 0, "
                        "resumable", f"kill -{number.name.removeprefix('SIG')} PID", code, saved,
                        "none (resumed to step 40)", message(output, folder),
                        code == 0 and len(saved) == 1 and bool(stop) and resumed[0] == 0))
    return rows


def damaged_checkpoint_faults(folder: Path, manifest: Path) -> list[Row]:
    rows = []
    path = config(folder, manifest, "intact")
    assert run(folder, ["--config", str(path)])[0] == 0
    damages: dict[str, Callable[[Path], None]] = {
        "truncated": lambda file: file.write_bytes(file.read_bytes()[: file.stat().st_size // 2]),
        "deleted": lambda file: file.unlink(),
    }
    for name, damage in damages.items():
        run_folder = folder / f"damaged-{name}"
        shutil.copytree(folder / "intact", run_folder)
        latest = run_folder / "checkpoints" / "step-00000008"
        damage(next(latest.glob("*model_states.pt")))  # ZeRO 0: weights and AdamW moments
        copy = config(folder, manifest, f"damaged-{name}")
        code, output = run(folder, ["--config", str(copy), "--resume", "auto"])
        resumed = [line for line in metric_lines(run_folder) if line["kind"] == "resume"]
        rows.append(Row(f"latest checkpoint's state file {name}", "falls back to step 4 with a warning, exit 0",
                        "--resume auto", code, tags(run_folder), "steps 5-8 (retrained)", message(output, folder),
                        code == 0 and resumed[-1]["checkpoint"] == "step-00000004" and "damaged" in output))
    run_folder = folder / "damaged-all"
    shutil.copytree(folder / "intact", run_folder)
    for checkpoint in (run_folder / "checkpoints").glob("step-*"):
        next(checkpoint.glob("*model_states.pt")).unlink()
    code, output = run(folder, ["--config", str(config(folder, manifest, "damaged-all")), "--resume", "auto"])
    rows.append(Row("every checkpoint damaged", "exit 2, names each damage, nothing overwritten", "--resume auto",
                    code, tags(run_folder), "all (restore a copy)", message(output, folder),
                    code == 2 and "every checkpoint" in output))
    return rows


def stale_lock_fault(folder: Path, manifest: Path) -> list[Row]:
    """Locks left by a build killed midway: in torch's default build folder (where DeepSpeed built the CPU comm op
    before) and in this environment's own one."""
    os.environ["XDG_CACHE_HOME"] = str(folder / "cache")  # what environment() gives the run
    os.environ.pop("TORCH_EXTENSIONS_DIR", None)
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    locks = [extensions_folder()[0] / SHM_COMM_OP / "lock",
             folder / "cache" / "torch_extensions" / f"{python}_cpu" / SHM_COMM_OP / "lock"]
    for lock in locks:
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.touch()
    code, output = run(folder, ["--config", str(config(folder, manifest, "lock", train={"steps": 2}))])
    return [Row("stale torch_extensions lock (a build killed midway)", "run does not wait; lock removed with a "
                "warning", f"touch {{~/.cache/torch_extensions/{python}_cpu,BUILD_DIR}}/{SHM_COMM_OP}/lock", code,
                tags(folder / "lock"), "none", message(output, folder), code == 0 and not locks[0].exists())]


FAULTS = {"lr": lr_faults, "signals": signal_faults, "damaged": damaged_checkpoint_faults, "lock": stale_lock_fault}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="/tmp/train_faults")
    parser.add_argument("--only", default=",".join(FAULTS), help=f"comma-separated groups of {', '.join(FAULTS)}")
    args = parser.parse_args()
    folder = Path(args.output)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    manifest = random_shards(folder, 60_000, 512, 0)
    print("| fault | expected | command | exit | checkpoints left | state lost | message | as expected |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for name in args.only.split(","):
        for row in FAULTS[name](folder, manifest):
            rows.append(row)
            print(f"| {row.fault} | {row.expected} | `{row.command}` | {row.exit_code} | "
                  f"{', '.join(row.checkpoints) or '-'} | {row.lost} | {row.message.replace('|', '/')} | "
                  f"{'yes' if row.as_expected else '**no**'} |", flush=True)
    return 0 if all(row.as_expected for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
