"""`ccrefine eval perplexity|harness|prompts`, `ccrefine ablate` and `ccrefine report`: the command lines of eval/.

Imports nothing heavy at module level (torch, lm-eval and Beam load in the handlers), so adding the commands to
`ccrefine` costs the other commands nothing.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

from ccrefine.errors import UsageError


def register(commands) -> None:
    """Add `eval` (perplexity, harness, prompts) and `ablate` to the ccrefine command line."""
    evaluate = commands.add_parser(
        "eval", help="evaluate a checkpoint: perplexity / bits-per-byte, lm-evaluation-harness tasks, prompt "
        "sensitivity",
        description="Evaluate trained checkpoints. CHECKPOINT is a trainer run folder (its latest checkpoint), "
        "OUTPUT/checkpoints/step-N (DeepSpeed, any ZeRO stage) or a Decoder.save folder; the tokenizer is found "
        "beside the run's manifest unless --tokenizer is given.")
    kinds = evaluate.add_subparsers(dest="eval_command", required=True)

    perplexity = kinds.add_parser(
        "perplexity", help="loss, perplexity and bits-per-byte per source and language",
        description="Score held-out documents with sliding windows and report loss per token, perplexity and "
        "bits-per-byte (NLL / (ln 2 x UTF-8 bytes), comparable across tokenizers) per source, per language (fastText "
        "LID) and in total.")
    _model_flags(perplexity)
    perplexity.add_argument("--manifest", help="a tokenize manifest.json: score its --split shards as stored")
    perplexity.add_argument("--split", default="val", choices=["val", "train"], help="default: val")
    perplexity.add_argument("--max-documents", type=int, help="at most this many documents per source")
    perplexity.add_argument("--text", action="append", default=[], metavar="[NAME=]GLOB",
                            help="text files, one document each, source NAME (default: the file name); repeatable")
    perplexity.add_argument("--seq-len", type=int, help="window length (default: the trained seq_len)")
    perplexity.add_argument("--stride", type=int,
                            help="window start every STRIDE tokens; each token keeps >= seq-len - stride tokens of "
                            "context (default: seq-len / 2; seq-len gives disjoint windows)")
    perplexity.add_argument("--output", help="also write the results as JSON to this file")
    perplexity.set_defaults(handler=perplexity_command)

    harness = kinds.add_parser(
        "harness", help="run lm-evaluation-harness tasks on a checkpoint",
        description="Run lm-evaluation-harness tasks with the checkpoint as lm-eval model 'ccrefine'. ccrefine's "
        "offline tasks (eval/tasks: ccrefine_wordorder, ccrefine_prose, ccrefine_continue) are always available; "
        "standard tasks run when their data is in the Hugging Face cache or can be downloaded (set "
        "HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 to forbid downloads).")
    _model_flags(harness)
    _task_flags(harness)
    harness.add_argument("--tasks", required=True, nargs="+", help="task names (or YAML files), space or comma "
                         "separated")
    harness.add_argument("--num-fewshot", type=int, help="override every task's few-shot count")
    harness.add_argument("--bootstrap-iters", type=int, default=1000,
                         help="bootstrap samples for stderrs of non-mean metrics (default: 1000; 0 skips them)")
    harness.add_argument("--output", help="also write lm-eval's results as JSON to this file")
    harness.set_defaults(handler=harness_command)

    prompts = kinds.add_parser(
        "prompts", help="one task under several prompt templates: metric spread and checkpoint-ranking stability",
        description="Evaluate a task with each --template as its doc_to_text (a Jinja template over the task's "
        "document fields) for every --checkpoint; report min/max/mean/std of the metric per checkpoint and whether "
        "the checkpoints keep their order under every template.")
    prompts.add_argument("--checkpoint", required=True, action="append", metavar="[NAME=]PATH",
                         help="a checkpoint to compare (repeatable)")
    prompts.add_argument("--tokenizer", help="tokenizer.model for checkpoints whose tokenizer cannot be found")
    prompts.add_argument("--task", required=True, help="the task, e.g. ccrefine_wordorder")
    prompts.add_argument("--template", required=True, action="append",
                         help="a doc_to_text template, e.g. 'Sentence: {{prefix}}' (at least two; repeatable)")
    prompts.add_argument("--metric", default="acc", help="the metric to compare (default: acc)")
    _task_flags(prompts)
    prompts.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    prompts.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass (default: 16)")
    prompts.add_argument("--max-length", type=int, help="context length (default: the trained seq_len)")
    prompts.add_argument("--output", help="also write the comparison as JSON to this file")
    prompts.set_defaults(handler=prompts_command)

    ablate = commands.add_parser(
        "ablate", help="train the same model on each corpus stage and compare them on a common reference set",
        description="Data-quality ablation: one shared tokenizer, each --stage tokenized, the same model trained "
        "from the same seed on an equal token budget from each (the trainer), then loss and bits-per-byte on the "
        "--reference files (per language) and any --tasks, as OUTPUT/ablation.md, .json and .svg. --step splits "
        "the work: prepare (Beam flags apply), train (run it under torchrun/srun on a cluster), report. Unlisted "
        "flags go to Beam.")
    ablate.add_argument("--stage", required=True, action="append", metavar="NAME=DIR",
                        help="a corpus stage: a ccrefine corpus or dedup output folder, in pipeline order; "
                        "repeatable")
    ablate.add_argument("--reference", action="append", default=[], metavar="[NAME=]GLOB",
                        help="held-out reference text files, one document each (repeatable)")
    ablate.add_argument("--output", required=True, help="the ablation folder (a filesystem every step can read)")
    ablate.add_argument("--token-budget", type=int,
                        help="training tokens per stage (default: the smallest stage's training tokens)")
    ablate.add_argument("--config", help="train config (model, batch, optimizer, schedule); output, data.manifest "
                        "and train.steps are set per stage (default: a tiny CPU model)")
    ablate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a train config value, e.g. --set optimizer.lr=1e-3 (repeatable)")
    ablate.add_argument("--tokenizer", help="use this tokenizer.model instead of training a shared one")
    ablate.add_argument("--vocab-size", type=int, default=32000, help="shared tokenizer size (default: 32000)")
    ablate.add_argument("--sample-chars", type=int, default=100_000_000,
                        help="characters sampled for the tokenizer, split equally between stages (default: 1e8)")
    ablate.add_argument("--val-fraction", type=float, default=0.01, help="held out per stage (default: 0.01)")
    ablate.add_argument("--tasks", nargs="+", default=[], help="lm-eval tasks to run on every stage's model")
    ablate.add_argument("--include-path", action="append", default=[], help="folder of lm-eval task YAMLs")
    ablate.add_argument("--batch-size", type=int, default=16, help="evaluation batch size (default: 16)")
    ablate.add_argument("--step", choices=["all", "prepare", "train", "report"], default="all",
                        help="default: all")
    ablate.add_argument("--only", action="append", default=[], metavar="STAGE",
                        help="with --step train: train only this stage (repeatable), e.g. one Slurm job per stage")
    ablate.set_defaults(handler=ablate_command)

    report = commands.add_parser(
        "report", help="write report.html for a corpus run (funnel, languages, lengths, scores, domains, examples)",
        description="Write one static HTML file (no external assets) describing a `ccrefine corpus` output folder.")
    report.add_argument("run_dir", help="the --output folder of ccrefine corpus")
    report.add_argument("--dedup", help="the --output folder of ccrefine dedup, for cluster sizes")
    report.add_argument("--output", help="where to write the HTML (default: RUN_DIR/report.html)")
    report.set_defaults(handler=report_command)


def _model_flags(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="run folder, checkpoint folder or Decoder.save folder")
    parser.add_argument("--tokenizer", help="tokenizer.model (default: the one the checkpoint was trained with)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                        help="default: bfloat16 on GPUs that have it, else float32")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass (default: 16)")


def _task_flags(parser) -> None:
    parser.add_argument("--include-path", action="append", default=[], help="folder of task YAMLs (repeatable)")
    parser.add_argument("--limit", type=float, help="documents per task (a fraction below 1); for quick checks")


def _no_beam_flags(beam_args: list[str], command: str) -> None:
    if beam_args:
        raise UsageError(f"unknown flag(s) {' '.join(beam_args)}; see ccrefine {command} --help")


def _write_json(path: str | None, value) -> None:
    if path:
        Path(path).write_text(json.dumps(value, indent=2, default=str))
        print(f"results: {path}")


def _torch_dtype(name: str | None):
    import torch

    return getattr(torch, name) if name else None


def perplexity_command(args, beam_args: list[str]) -> int:
    _no_beam_flags(beam_args, "eval perplexity")
    from ccrefine.eval.checkpoints import load_for_eval
    from ccrefine.eval.perplexity import (
        manifest_documents,
        score_documents,
        shard_documents,
        text_documents,
        text_file_sources,
    )
    from ccrefine.eval.tables import perplexity_table

    if not args.manifest and not args.text:
        raise UsageError("give --manifest (token shards) and/or --text (text files) to score")
    if args.manifest:
        from ccrefine.files import require_complete

        require_complete(str(Path(args.manifest).parent), "--manifest")
    loaded = load_for_eval(args.checkpoint, args.tokenizer, args.device, _torch_dtype(args.dtype))
    seq_len = args.seq_len or loaded.seq_len
    stride = args.stride or max(1, seq_len // 2)
    tokenizer, vocab_size = loaded.tokenizer, loaded.model.config.vocab_size
    texts = text_documents(text_file_sources(args.text), tokenizer) if args.text else []
    shards = (shard_documents(manifest_documents(args.manifest, vocab_size, args.split, args.max_documents), tokenizer)
              if args.manifest else [])
    documents = itertools.chain(texts, shards)  # shards stream: a validation split can be large
    report = score_documents(loaded, documents, seq_len, stride, args.batch_size).to_dict()
    print(f"ccrefine eval perplexity: {loaded.name}, windows of {seq_len} tokens every {stride}")
    print(perplexity_table(report))
    _write_json(args.output, {"checkpoint": loaded.name, "seq_len": seq_len, "stride": stride, **report})
    return 0


def _harness_module():
    try:
        import ccrefine.eval.harness as harness
    except ImportError as exc:
        raise UsageError(f"this command needs lm-evaluation-harness ({exc}); pip install 'ccrefine[eval]'") from None
    return harness


def harness_command(args, beam_args: list[str]) -> int:
    _no_beam_flags(beam_args, "eval harness")
    harness = _harness_module()
    from lm_eval.utils import make_table

    tasks = [task for spec in args.tasks for task in spec.split(",") if task]
    manager = harness.task_manager(tasks, args.include_path)  # unknown task names fail before the model loads
    lm = harness.CcrefineLM(args.checkpoint, tokenizer=args.tokenizer, device=args.device, dtype=args.dtype,
                            batch_size=args.batch_size)
    results = harness.evaluate_tasks(lm, tasks, manager, args.num_fewshot, args.limit, args.bootstrap_iters)
    print(f"ccrefine eval harness: {lm.loaded.name}")
    print(make_table(results))
    _write_json(args.output, {key: results[key] for key in ("results", "versions", "n-shot", "higher_is_better")})
    return 0


def prompts_command(args, beam_args: list[str]) -> int:
    _no_beam_flags(beam_args, "eval prompts")
    _harness_module()
    from ccrefine.eval.prompts import named_checkpoints, run_prompt_sensitivity, sensitivity_table

    with tempfile.TemporaryDirectory(prefix="ccrefine-prompts-") as folder:
        result = run_prompt_sensitivity(named_checkpoints(args.checkpoint), args.task, args.template, args.metric,
                                        Path(folder), args.include_path, args.limit, tokenizer=args.tokenizer,
                                        device=args.device, batch_size=args.batch_size, max_length=args.max_length)
    print(f"ccrefine eval prompts: {args.task}, {len(args.template)} templates")
    print(sensitivity_table(result, args.metric))
    _write_json(args.output, result)
    return 0


def ablate_command(args, beam_args: list[str]) -> int:
    from ccrefine.eval.ablation import AblationSettings, parse_stage, run_ablation

    if args.tasks:
        _harness_module()
    settings = AblationSettings(
        stages=[parse_stage(spec) for spec in args.stage], references=args.reference, output=Path(args.output),
        token_budget=args.token_budget, config=args.config, overrides=tuple(args.overrides),
        tokenizer=args.tokenizer, vocab_size=args.vocab_size, sample_chars=args.sample_chars,
        val_fraction=args.val_fraction, tasks=tuple(t for spec in args.tasks for t in spec.split(",") if t),
        include_paths=tuple(args.include_path), batch_size=args.batch_size, only=tuple(args.only))
    budget, result = run_ablation(settings, args.step, beam_args)
    if budget is not None:
        print(f"ccrefine ablate: {len(settings.stages)} stage(s) prepared, {budget:,} training tokens each; "
              f"train configs in {settings.output}/<stage>/train.yaml")
    if result is not None:
        print((settings.output / "ablation.md").read_text())
        print(f"table: {settings.output / 'ablation.md'}\njson:  {settings.output / 'ablation.json'}\n"
              f"plot:  {settings.output / 'ablation.svg'}")
    return 0


def report_command(args, _beam_args: list[str]) -> int:
    from ccrefine.eval.report import write_report

    try:
        path = write_report(args.run_dir, args.output, args.dedup)
    except FileNotFoundError as exc:  # not a corpus output folder
        raise UsageError(str(exc)) from None
    print(f"report: {path}")
    return 0
