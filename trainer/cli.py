"""`ccrefine train --config train.yaml`: the command line of the trainer.

Imports nothing heavy at module level (torch and DeepSpeed load in the handler), so adding the subcommand to
`ccrefine` costs the other commands nothing. Launch it as one process, under `torchrun --nproc_per_node N`,
or under the `deepspeed` launcher (which adds --local_rank); `python -m ccrefine.trainer.cli train ...` works too.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ccrefine.errors import UsageError


def register(subparsers) -> None:
    """Add `train` to the ccrefine command line."""
    train = subparsers.add_parser(
        "train",
        help="pretrain the model on token shards with DeepSpeed",
        description="Train the decoder (model/) on the token shards of a `ccrefine tokenize` manifest with DeepSpeed "
        "(ZeRO 0-3, bf16 on GPU / fp32 on CPU, accumulation, clipping, AdamW), writing checkpoints, "
        "metrics.jsonl and TensorBoard events into the config's output folder. One process, or several under "
        "torchrun / the deepspeed launcher / srun.",
    )
    train.add_argument("--config", required=True, help="the train config (YAML); see deploy/slurm/llama-125m.yaml")
    train.add_argument("--resume", metavar="auto|PATH",
                       help="auto: continue from the output folder's latest complete checkpoint (a new run when "
                       "there is none); PATH: from that checkpoint folder (OUTPUT/checkpoints/step-N). Without it a "
                       "run refuses an output folder that holds checkpoints")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set train.steps=100 --set optimizer.lr=1e-3; repeatable")
    train.set_defaults(handler=train_command)


def train_command(args, beam_args: list[str]) -> int:
    unknown = without_local_rank(beam_args)
    if unknown:
        raise UsageError(f"unknown flag(s) {' '.join(unknown)}; see ccrefine train --help")
    from ccrefine.trainer.config import load_train_config

    config = load_train_config(args.config, args.overrides)
    try:
        from ccrefine.trainer.run import train
    except ImportError as exc:
        raise UsageError(f"ccrefine train needs the training dependencies ({exc}); pip install 'ccrefine[train]'") \
            from None
    result = train(config, args.resume)
    if result.world > 1:  # one line per rank: each finished, and all agree on the loss
        print(f"ccrefine train: rank {result.rank} of {result.world} finished step {result.steps}: loss "
              f"{result.last_loss!r} (all ranks), {result.rank_loss!r} (this rank's micro-batches)", flush=True)
    if result.rank == 0:
        val = "n/a" if result.val_loss is None else f"{result.val_loss:.4f}"
        last = "n/a" if result.last_loss is None else f"{result.last_loss:.4f}"
        done = (f"stopped by {result.stopped_by} after step {result.steps}" if result.stopped_by else
                f"{result.steps} steps")
        saved = (f"checkpoint {result.checkpoint}" if result.checkpoint else "no checkpoint")
        resume = "; continue with --resume auto" if result.stopped_by else ""
        print(f"ccrefine train: {done}, {result.tokens} tokens, last loss {last}, validation loss {val}, "
              f"{result.skipped_steps} update(s) skipped; {saved}, metrics in {result.output / 'metrics.jsonl'}"
              f"{resume}", flush=True)
    return 0


def without_local_rank(flags: list[str]) -> list[str]:
    """Drop the --local_rank=N the deepspeed launcher inserts (before the subcommand, so the main parser passes
    it on); the trainer reads LOCAL_RANK from the environment, which the launcher sets as well."""
    kept, skip_value = [], False
    for flag in flags:
        if skip_value:
            skip_value = False
        elif flag in ("--local_rank", "--local-rank"):
            skip_value = True
        elif not flag.startswith(("--local_rank=", "--local-rank=")):
            kept.append(flag)
    return kept


def main(argv: list[str] | None = None) -> int:
    """`python -m ccrefine.trainer.cli train ...`: the train command alone (what `ccrefine train` runs)."""
    parser = argparse.ArgumentParser(prog="ccrefine")
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default: WARNING)")
    register(parser.add_subparsers(dest="command", required=True))
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args, rest)
    except UsageError as exc:
        print(f"ccrefine {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
