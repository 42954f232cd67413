"""End-to-end training throughput of `ccrefine train`: tokens/s, MFU and peak memory of the real trainer
(DeepSpeed engine, data loader, spike guard, logging), not just the model's forward and backward.

On a GPU (the measurement; not yet measured): the 125M llama, bf16, a few hundred steps, e.g.
    python bench/train_speed.py --steps 300
    torchrun --nproc_per_node 8 bench/train_speed.py --steps 300 --zero-stage 1
On CPU it runs the tiny llama in fp32 as a smoke check (no MFU: there is no peak to compare with).

Without --manifest it writes shards of random tokens (a few epochs' worth is enough: the loader's cost does
not depend on the content). The first --skip-steps are left out of the figures (compilation, warm-up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from ccrefine.model.flops import count_parameters  # noqa: E402
from ccrefine.trainer.config import config_from_dict  # noqa: E402
from ccrefine.trainer.engine import launch_placement  # noqa: E402
from ccrefine.trainer.run import Trainer  # noqa: E402
from ccrefine.transforms.tokens.shards import build_manifest, write_token_shard  # noqa: E402

EOD = 2


def parse_args() -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="llama-125m" if cuda else "llama-tiny")
    parser.add_argument("--steps", type=int, default=300 if cuda else 30)
    parser.add_argument("--skip-steps", type=int, default=50 if cuda else 10)
    parser.add_argument("--seq-len", type=int, default=2048 if cuda else 128)
    parser.add_argument("--micro-batch", type=int, default=8 if cuda else 4)
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--zero-stage", type=int, default=1 if cuda else 0)
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    parser.add_argument("--optimizer", choices=["auto", "torch", "deepspeed"], default="auto")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--activation-checkpointing", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--document-mask", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--manifest", help="train on these token shards instead of random tokens")
    parser.add_argument("--output", help="run folder (default: a temporary one)")
    return parser.parse_args()


def random_shards(folder: Path, tokens: int, vocab_size: int, rank: int) -> Path:
    """Documents of random tokens (lengths 100-4000), written like `ccrefine tokenize` would. Every rank writes the
    same bytes into a folder of its own, so nothing has to wait for rank 0."""
    folder = folder / f"data-rank{rank}"
    (folder / "train/random").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    documents, total = [], 0
    while total < tokens:
        document = rng.integers(4, vocab_size, int(rng.integers(100, 4000)), dtype=np.uint16)
        documents.append(np.append(document, np.uint16(EOD)))
        total += len(documents[-1])
    with open(folder / "train/random/part-00000-000.bin", "wb") as bin_file, \
            open(folder / "train/random/part-00000-000.idx", "wb") as idx_file:
        stats = write_token_shard(bin_file, idx_file, documents, np.dtype("<u2"))
    shard = {"path": "train/random/part-00000-000.bin", "split": "train", "source": "random",
             "documents": stats.documents, "tokens": stats.tokens, "sha256": stats.sha256}
    settings = {"tokenizer": {"path": "-", "sha256": "-", "vocab_size": vocab_size, "special_ids": {}},
                "dtype": "uint16", "eod_id": EOD}
    manifest = build_manifest([shard], {"random": {"patterns": [], "files": 1, "weight": 1.0}}, {}, settings)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder / "manifest.json"


def main() -> None:
    args = parse_args()
    rank, world = launch_placement()
    output = Path(args.output or tempfile.mkdtemp(prefix="train-speed-"))
    global_batch = args.micro_batch * args.accumulation * world
    manifest = args.manifest or random_shards(output, min(global_batch * args.seq_len * 200, 400_000_000),
                                              args.vocab_size, rank)
    config = config_from_dict({
        "output": str(output / "run"),
        "model": {"preset": args.preset, "overrides": {"max_seq_len": max(args.seq_len, 256)}},
        "data": {"manifest": str(manifest), "seq_len": args.seq_len, "document_mask": args.document_mask},
        "train": {"steps": args.steps, "micro_batch_size": args.micro_batch, "global_batch_size": global_batch,
                  "precision": args.precision, "zero_stage": args.zero_stage, "compile": args.compile,
                  "activation_checkpointing": args.activation_checkpointing},
        "optimizer": {"lr": 6e-4, "impl": args.optimizer},
        "schedule": {"warmup_steps": min(100, args.steps // 3)},
        "checkpoint": {"interval": args.steps, "keep": 1},
        "eval": {"interval": 0},
        "log": {"interval": 10, "tensorboard": False, "progress": False},
    })
    trainer = Trainer(config)
    trainer.run()
    if rank != 0:
        return
    lines = [json.loads(line) for line in (output / "run/metrics.jsonl").read_text().splitlines()]
    timed = [line for line in lines if line["kind"] == "train" and line["step"] > args.skip_steps]
    tokens_per_s = statistics.median(line["tokens_per_s"] for line in timed)
    mfus = [line["mfu"] for line in timed if line["mfu"] is not None]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    summary = {
        "device": device, "ranks": world, "preset": args.preset,
        "parameters": count_parameters(trainer.model_config), "precision": trainer.precision,
        "zero_stage": args.zero_stage, "seq_len": args.seq_len, "global_batch": global_batch,
        "compile": args.compile, "activation_checkpointing": args.activation_checkpointing,
        "tokens_per_s": round(tokens_per_s), "tokens_per_s_per_device": round(tokens_per_s / world),
        "mfu": round(statistics.median(mfus), 4) if mfus else None,
        "step_time_s": round(statistics.median(line["step_time_s"] for line in timed), 4),
        "peak_memory_gib": round(max(line["memory_gib"] for line in timed), 2),
        "final_loss": timed[-1]["loss"],
    }
    print(json.dumps(summary, indent=2))
    print(f"| {device} x{world} | {args.preset} | {summary['precision']} | ZeRO {args.zero_stage} | {args.seq_len} | "
          f"{global_batch} | {summary['tokens_per_s']:,} | {summary['mfu']} | {summary['peak_memory_gib']} GiB |")


if __name__ == "__main__":
    main()
