"""`ccrefine ablate`: what each corpus stage buys, measured by training the same model on each stage's output.

Every stage (a `ccrefine corpus` or `ccrefine dedup` output) is tokenized with ONE shared tokenizer (trained on
equal shares of every stage, or given), and the same model is trained from the same seed on the same number of
tokens from each (by calling the trainer). Every model is then scored on a common held-out reference set:
loss per token (comparable: one tokenizer), bits-per-byte per reference language and in total, plus any
lm-eval tasks. Larger stages are sub-sampled, smaller ones repeated: the table shows each stage's epochs.

Steps, so each can run where it belongs (OUTPUT must be a filesystem every step can read, e.g. NFS):
    prepare   shared tokenizer, token shards of every stage (Beam: any runner flag), OUTPUT/<stage>/train.yaml
    train     the trainer on every stage's train.yaml, resuming; under torchrun / srun every rank runs it
    report    score every stage's last checkpoint; OUTPUT/ablation.{md,json,svg}
`all` runs the three in one process (toy scale, or one GPU).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from ccrefine.eval.checkpoints import load_for_eval
from ccrefine.eval.perplexity import EvalDocument, score_documents, text_documents, text_file_sources
from ccrefine.eval.svg_chart import grouped_bar_chart
from ccrefine.eval.tables import markdown_table
from ccrefine.pipelines.config_files import read_yaml
from ccrefine.trainer.checkpoints import latest_checkpoint
from ccrefine.trainer.config import apply_overrides, config_from_dict
from ccrefine.transforms.tokens.encoding import DocumentTokenizer
from ccrefine.transforms.tokens.training import LanguageSample, TrainerOptions

from ccrefine.errors import UsageError

logger = logging.getLogger(__name__)

STAGE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
TOKENIZER_FILE = "tokenizer.model"
# Without --config: a tiny LLaMA that trains in seconds on a CPU (the tests' scale). Real ablations pass
# --config with their model, batch and optimizer (e.g. deploy/slurm/llama-125m.yaml).
TOY_CONFIG = {
    "model": {"preset": "llama-tiny"},
    "data": {"seq_len": 64},
    "train": {"micro_batch_size": 16, "global_batch_size": 16},
    "optimizer": {"lr": 3e-3},
    "checkpoint": {"keep": 1},
    "eval": {"interval": 0},
    "log": {"interval": 10, "tensorboard": False, "progress": False},
    # A few dozen steps of a tiny model have too little gradient-norm history for a 6-sigma spike rule.
    "spike_guard": {"enabled": False},
}


@dataclass(frozen=True)
class Stage:
    name: str
    corpus: str  # corpus or dedup output folder, or a Parquet glob


@dataclass(frozen=True)
class AblationSettings:
    stages: list[Stage]
    references: list[str]  # [NAME=]GLOB of text files
    output: Path
    token_budget: int | None = None  # default: the smallest stage's training tokens (no stage repeats data)
    config: str | None = None
    overrides: tuple[str, ...] = ()
    tokenizer: str | None = None
    vocab_size: int = 32000
    sample_chars: int = 100_000_000
    val_fraction: float = 0.01
    tasks: tuple[str, ...] = ()
    include_paths: tuple[str, ...] = ()
    batch_size: int = 16
    only: tuple[str, ...] = ()  # stages the train step trains (default all)


def parse_stage(spec: str) -> Stage:
    name, equals, corpus = spec.partition("=")
    if not equals or not corpus or not STAGE_NAME.match(name):
        raise UsageError(f"--stage {spec!r}: expected NAME=DIR with NAME of letters, digits, _ . -")
    return Stage(name, corpus)


def stage_folder(settings: AblationSettings, stage: Stage) -> Path:
    return settings.output / stage.name


def tokenizer_path(settings: AblationSettings) -> Path:
    if settings.tokenizer:
        given = Path(settings.tokenizer)
        return given / TOKENIZER_FILE if given.is_dir() else given
    return settings.output / "tokenizer" / TOKENIZER_FILE


# ---- prepare -----------------------------------------------------------------------------------------------------


def train_shared_tokenizer(settings: AblationSettings, threads: int) -> Path:
    """A tokenizer trained on an equal share of characters drawn from every stage, by the steps of
    `ccrefine train-tokenizer`; a given one is used as it is, and one this command trained before is kept."""
    from ccrefine.pipelines.outputs import OutputFolder
    from ccrefine.pipelines.train_tokenizer import sample_documents, train_model, write_tokenizer

    from ccrefine.files import match_files, success_problem

    path = tokenizer_path(settings)
    if settings.tokenizer or success_problem(str(path.parent)) is None:
        return path
    texts, described = [], {}
    share = max(1, settings.sample_chars // len(settings.stages))
    for stage in settings.stages:
        sample = sample_documents(match_files([stage.corpus], f"--stage {stage.name}:"),
                                  LanguageSample(share, "characters"))
        texts += sample.texts()
        described[stage.name] = sample.describe()
    model = train_model(texts, TrainerOptions(vocab_size=settings.vocab_size, threads=threads),
                        "--vocab-size, --sample-chars, or give --tokenizer")
    # overwrite: a folder a killed prepare step left unfinished is trained again
    write_tokenizer(OutputFolder(str(path.parent), overwrite=True), model, DocumentTokenizer(model),
                    {"vocab_size": settings.vocab_size, "sample_chars_per_stage": share, "stages": described})
    return path


def tokenize_stages(settings: AblationSettings, tokenizer: Path, beam_args: list[str]) -> dict[str, dict]:
    """Each stage's token shards (kept when its manifest exists); returns the manifests by stage."""
    from ccrefine.pipelines.options import beam_options
    from ccrefine.pipelines.tokenize import Source, TokenizeSettings, run_tokenize

    manifests = {}
    for stage in settings.stages:
        folder = stage_folder(settings, stage) / "tokens"
        if not (folder / "manifest.json").is_file():
            run_tokenize(beam_options(beam_args), [Source(stage.name, (stage.corpus,))], str(folder), str(tokenizer),
                         TokenizeSettings(val_fraction=settings.val_fraction))
        manifests[stage.name] = json.loads((folder / "manifest.json").read_text())
    return manifests


def base_train_config(settings: AblationSettings) -> dict:
    if settings.config is None:
        values = json.loads(json.dumps(TOY_CONFIG))
    else:
        path = Path(settings.config)
        if not path.is_file():
            raise UsageError(f"--config {settings.config!r} does not exist")
        values = read_yaml(path, "train config") or {}
    return apply_overrides(values, list(settings.overrides))


def write_train_configs(settings: AblationSettings, manifests: dict[str, dict]) -> int:
    """OUTPUT/<stage>/train.yaml for every stage: the same config, seed and token budget, its own shards.
    Returns the token budget."""
    train_tokens = {name: manifest["sources"][name]["splits"]["train"]["tokens"]
                    for name, manifest in manifests.items()}
    budget = settings.token_budget or min(train_tokens.values())
    base = base_train_config(settings)
    train = base.setdefault("train", {})
    # The global batch is fixed here, so tokens per step do not change with the number of ranks a step runs on.
    train["global_batch_size"] = train.get("global_batch_size") or train.get("micro_batch_size", 8)
    seq_len = base.setdefault("data", {}).get("seq_len", 2048)
    train["steps"] = max(1, math.ceil(budget / (train["global_batch_size"] * seq_len)))
    for stage in settings.stages:
        folder = stage_folder(settings, stage)
        values = {**base, "output": str((folder / "run").resolve()),
                  "data": {**base["data"], "manifest": str((folder / "tokens" / "manifest.json").resolve())}}
        config_from_dict(json.loads(json.dumps(values)))  # a bad config fails here, before any training
        (folder / "train.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    return budget


def prepare(settings: AblationSettings, beam_args: list[str]) -> int:
    tokenizer = train_shared_tokenizer(settings, os.cpu_count() or 1)
    return write_train_configs(settings, tokenize_stages(settings, tokenizer, beam_args))


# ---- train -------------------------------------------------------------------------------------------------------


def train_stages(settings: AblationSettings) -> None:
    """Train every stage (or the --only ones) that has not reached its steps; an interrupted one resumes."""
    from ccrefine.trainer.config import load_train_config
    from ccrefine.trainer.run import train

    names = settings.only or tuple(stage.name for stage in settings.stages)
    for stage in settings.stages:
        if stage.name not in names:
            continue
        path = stage_folder(settings, stage) / "train.yaml"
        if not path.is_file():
            raise UsageError(f"{path} does not exist: run `ccrefine ablate --step prepare` first")
        config = load_train_config(path)
        done = latest_checkpoint(Path(config.output) / "checkpoints")
        if done is not None and done.state["step"] >= config.train.steps:
            logger.info("stage %s already trained (%s)", stage.name, done.tag)
            continue
        logger.info("training stage %s for %d steps", stage.name, config.train.steps)
        train(config, "auto")


# ---- report ------------------------------------------------------------------------------------------------------


def last_train_loss(run: Path) -> float | None:
    losses = [record["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
              if (record := json.loads(line))["kind"] == "train" and record.get("loss") is not None]
    return losses[-1] if losses else None


def evaluate_stage(settings: AblationSettings, stage: Stage, references: list[EvalDocument], manager) -> dict:
    folder = stage_folder(settings, stage)
    config = yaml.safe_load((folder / "train.yaml").read_text())
    manifest = json.loads((folder / "tokens" / "manifest.json").read_text())
    train_tokens = manifest["sources"][stage.name]["splits"]["train"]
    checkpoint = latest_checkpoint(folder / "run" / "checkpoints")
    if checkpoint is None:
        raise UsageError(f"stage {stage.name} has no checkpoint in {folder / 'run'}: run the train step first")
    loaded = load_for_eval(checkpoint.path, tokenizer_path(settings))
    reference = score_documents(loaded, references, loaded.seq_len, max(1, loaded.seq_len // 2),
                                settings.batch_size).to_dict()
    row = {"stage": stage.name, "corpus": stage.corpus, "documents": train_tokens["documents"],
           "train_tokens": train_tokens["tokens"], "steps": checkpoint.state["step"],
           "tokens_trained": checkpoint.state["tokens"],
           "epochs": checkpoint.state["tokens"] / train_tokens["tokens"] if train_tokens["tokens"] else None,
           "train_loss": last_train_loss(folder / "run"), "seed": config.get("train", {}).get("seed", 0),
           "reference": reference, "tasks": {}}
    if settings.tasks:
        from ccrefine.eval.harness import CcrefineLM, evaluate_tasks, main_metrics

        results = evaluate_tasks(CcrefineLM(loaded, batch_size=settings.batch_size), settings.tasks, manager)
        row["tasks"] = main_metrics(results)
    return row


def report(settings: AblationSettings) -> dict:
    files = text_file_sources(settings.references)
    # One tokenizer for every stage: the reference is tokenized (and its languages identified) once.
    references = text_documents(files, DocumentTokenizer(tokenizer_path(settings).read_bytes()))
    manager = None
    if settings.tasks:
        from ccrefine.eval.harness import task_manager

        manager = task_manager(settings.tasks, settings.include_paths)
    rows = [evaluate_stage(settings, stage, references, manager) for stage in settings.stages]
    result = {"tokens_trained": sorted({row["tokens_trained"] for row in rows}),
              "tokenizer": str(tokenizer_path(settings)), "references": [str(path) for _, path in files],
              "stages": rows}
    settings.output.mkdir(parents=True, exist_ok=True)
    (settings.output / "ablation.json").write_text(json.dumps(result, indent=2))
    (settings.output / "ablation.md").write_text(ablation_markdown(result) + "\n")
    (settings.output / "ablation.svg").write_text(ablation_chart(result))
    return result


def languages_of(result: dict) -> list[str]:
    return sorted({lang for row in result["stages"] for lang in row["reference"]["by_language"]})


def task_columns(result: dict) -> list[tuple[str, str]]:
    columns = []
    for row in result["stages"]:
        for task, metrics in row["tasks"].items():
            columns += [(task, metric) for metric in metrics
                        if metric != "sample_len" and (task, metric) not in columns]
    return columns


def ablation_markdown(result: dict) -> str:
    languages, tasks = languages_of(result), task_columns(result)
    headers = ["stage", "documents", "train tokens", "epochs", "steps", "final train loss",
               "reference loss (nats/token)", "reference bits/byte", *(f"bits/byte {lang}" for lang in languages),
               *(f"{task} {metric}" for task, metric in tasks)]
    rows = []
    for row in result["stages"]:
        reference = row["reference"]
        rows.append([row["stage"], row["documents"], row["train_tokens"], row["epochs"], row["steps"],
                     row["train_loss"], reference["total"]["loss"], reference["total"]["bits_per_byte"],
                     *(reference["by_language"].get(lang, {}).get("bits_per_byte") for lang in languages),
                     *(row["tasks"].get(task, {}).get(metric) for task, metric in tasks)])
    tokens = " / ".join(f"{count:,}" for count in result["tokens_trained"])
    return (f"Every stage trained from the same seed on {tokens} tokens with one tokenizer "
            f"({result['tokenizer']}); reference: {', '.join(result['references'])}.\n\n"
            + markdown_table(headers, rows))


def ablation_chart(result: dict) -> str:
    stages = [row["stage"] for row in result["stages"]]
    series = {"all references": [row["reference"]["total"]["bits_per_byte"] for row in result["stages"]]}
    for lang in languages_of(result):
        series[lang] = [row["reference"]["by_language"].get(lang, {}).get("bits_per_byte")
                        for row in result["stages"]]
    tokens = " / ".join(f"{count:,}" for count in result["tokens_trained"])
    return grouped_bar_chart(stages, series, f"Reference bits per byte after {tokens} training tokens (lower is "
                             "better)", "bits per byte")


def run_ablation(settings: AblationSettings, step: str, beam_args: list[str]) -> tuple[int | None, dict | None]:
    """The asked step(s); (the token budget when prepare ran, the report when it ran)."""
    names = [stage.name for stage in settings.stages]
    if not settings.stages or len(set(names)) != len(names):
        raise UsageError(f"give every --stage once, by a unique name (got {names or 'none'})")
    if settings.token_budget is not None and settings.token_budget < 1:
        raise UsageError(f"--token-budget must be at least 1, got {settings.token_budget}")
    unknown = sorted(set(settings.only) - set(names))
    if unknown:
        raise UsageError(f"--only {unknown}: not among the stages {names}")
    budget = None
    if step in ("all", "prepare"):
        budget = prepare(settings, beam_args)
    if step in ("all", "train"):
        train_stages(settings)
    if step in ("all", "report"):
        if not settings.references:
            raise UsageError("the report needs --reference TEXT_FILES (a common held-out set)")
        return budget, report(settings)
    return budget, None
