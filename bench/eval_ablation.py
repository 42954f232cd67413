"""The data-quality ablation end to end at toy scale, and prompt sensitivity across its four models.

Builds four corpus stages from the same archives (`ccrefine corpus --recipe raw`, `--recipe multilingual`,
`--recipe refinedweb`, then `ccrefine dedup`), runs `ccrefine ablate` on them (one shared tokenizer, the tiny
default model trained on the smallest stage's token count from each, same seed) against held-out English and
Chinese reference text and the word-order task, then `ccrefine eval prompts` with three templates over the four
stage models. Prints the tables and the time of each step.

    python bench/eval_ablation.py                     # the sample WARC + ../shared/data WARCs, references
    python bench/eval_ablation.py --output /tmp/ablation --warc 'crawl/*.warc.gz' --config train.yaml

At real scale run the same `ccrefine ablate` command with --config (a real model), --vocab-size 32000 and
--step prepare / train / report on the machines each step belongs to (README: data-quality ablations).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: the stages the tests build

from ccrefine.pipelines.cli import run_command  # noqa: E402
from ccrefine.pipelines.sample import write_sample_warc  # noqa: E402

from tests.eval.ablation_stages import STAGES, ablate_argv, build_stages  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TEMPLATES = ["{{prefix}}", "Sentence: {{prefix}}", "Here is a well-formed English sentence. {{prefix}}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", help="folder for the stages and the ablation (default: a temporary folder)")
    parser.add_argument("--warc", action="append", help="archives (default: the sample + shared dolma WARCs)")
    parser.add_argument("--reference", action="append",
                        help="reference text (default: shared en_ewt_web.dev.txt and zh_gsdsimp_wikipedia.dev.txt)")
    parser.add_argument("--config", help="train config for ablate (default: its tiny CPU model)")
    parser.add_argument("--vocab-size", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny models on a shared machine: see bench/RESULTS.md, training
    root = Path(args.output or tempfile.mkdtemp(prefix="ccrefine-ablation-"))
    root.mkdir(parents=True, exist_ok=True)
    warcs = args.warc
    if not warcs:
        write_sample_warc(str(root / "sample.warc.gz"))
        warcs = [str(root / "sample.warc.gz"), str(SHARED / "warc" / "dolma_sample-*.warc.gz")]
    references = args.reference or [str(SHARED / "text" / "en_ewt_web.dev.txt"),
                                    str(SHARED / "text" / "zh_gsdsimp_wikipedia.dev.txt")]
    timings = {}
    start = time.perf_counter()
    stages = build_stages(root, warcs)
    timings["corpus stages"] = time.perf_counter() - start
    ablate = ablate_argv(stages, references, root / "ablation", args.vocab_size, args.config)
    for step in ("prepare", "train", "report"):
        start = time.perf_counter()
        assert run_command([*ablate, "--step", step]) == 0
        timings[f"ablate --step {step}"] = time.perf_counter() - start
    start = time.perf_counter()
    prompts = ["eval", "prompts", "--task", "ccrefine_wordorder", "--device", "cpu",
               *(flag for name in STAGES for flag in ("--checkpoint", f"{name}={root / 'ablation' / name}/run")),
               *(flag for template in TEMPLATES for flag in ("--template", template))]
    assert run_command(prompts) == 0
    timings["eval prompts (4 models x 3 templates)"] = time.perf_counter() - start
    print("\n".join(f"{name}: {seconds:.1f} s" for name, seconds in timings.items()))
    print(f"outputs: {root}")


if __name__ == "__main__":
    main()
