"""Forward + backward throughput (tokens/s) and MFU of a model preset.

On CUDA (the measurement): bf16 weights, torch.compile, e.g.
    python bench/model_speed.py --preset llama --size 125m --seq-len 2048 --batch 8 --compile
    python bench/model_speed.py --preset llama --size 1b --seq-len 2048 --batch 4 --compile
On CPU it runs a tiny fp32 model as a smoke check (no MFU: there is no peak to compare with).

MFU uses model.flops.flops_per_token (6N + 12 * n_layers * d_model * seq_len) and the GPU's dense bf16
peak from model.flops.PEAK_TFLOPS_16BIT. The optimizer step is not timed.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from ccrefine.model.decoder import Decoder, lm_loss  # noqa: E402
from ccrefine.model.flops import count_parameters, flops_per_token, mfu, peak_flops  # noqa: E402
from ccrefine.model.presets import FAMILIES, SIZES, get_preset  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def parse_args() -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=list(FAMILIES), default="llama")
    parser.add_argument("--size", choices=list(SIZES), default="125m" if cuda else "tiny")
    parser.add_argument("--seq-len", type=int, default=2048 if cuda else 128)
    parser.add_argument("--batch", type=int, default=8 if cuda else 2)
    parser.add_argument("--steps", type=int, default=20 if cuda else 3, help="timed steps")
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed steps first (compilation happens here)"
    )
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--dtype", choices=list(DTYPES), default="bf16" if cuda else "fp32")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=cuda)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = get_preset(args.preset, args.size, vocab_size=args.vocab_size, max_seq_len=args.seq_len)
    torch.manual_seed(0)
    model = Decoder(config).to(device=device, dtype=DTYPES[args.dtype])
    step_model = torch.compile(model) if args.compile else model
    tokens = torch.randint(0, config.vocab_size, (args.batch, args.seq_len + 1), device=device)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def step() -> None:
        lm_loss(step_model(inputs), targets).backward()
        for parameter in model.parameters():
            parameter.grad = None

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    synchronize()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronize()
    seconds = (time.perf_counter() - start) / args.steps

    tokens_per_s = args.batch * args.seq_len / seconds
    per_token = flops_per_token(config, args.seq_len)
    result = {
        "preset": args.preset,
        "size": args.size,
        "params": count_parameters(config),
        "seq_len": args.seq_len,
        "batch": args.batch,
        "dtype": args.dtype,
        "compile": args.compile,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "ms_per_step": round(seconds * 1e3, 2),
        "tokens_per_s": round(tokens_per_s),
        "tflops_per_s": round(tokens_per_s * per_token / 1e12, 2),
    }
    if device.type == "cuda":
        result["peak_tflops"] = peak_flops(result["device"]) / 1e12
        result["mfu"] = round(mfu(tokens_per_s, per_token, result["device"]), 4)
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
