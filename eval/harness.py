"""The lm-evaluation-harness adapter: our checkpoints and tokenizer as lm-eval model "ccrefine".

Importing this module registers the model, so `lm_eval.simple_evaluate(model="ccrefine",
model_args="checkpoint=RUN/checkpoints/step-N")` works, as does passing a `CcrefineLM` instance.

Conventions, chosen to match how the model was trained (documents packed after an end-of-document token):
- every context starts with the end-of-document token, so an empty context is a document start;
- a (context, continuation) pair is encoded as lm-eval encodes it for causal models: trailing spaces move from
  the context to the continuation, and the continuation is what encoding the whole adds after the context;
- inputs longer than `max_length` lose context from the left;
- rolling log-likelihoods use eval.windows with `rolling_stride` (default `max_length`: disjoint windows).
One process evaluates; on a GPU pass device=cuda.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from ccrefine.eval.checkpoints import LoadedModel, load_for_eval
from ccrefine.eval.perplexity import document_pieces
from ccrefine.eval.scoring import Piece, score_pieces
from ccrefine.model import generate
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from ccrefine.errors import UsageError

LOCAL_TASKS = Path(__file__).resolve().parent / "tasks"
DEFAULT_BATCH_SIZE = 16
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@register_model("ccrefine")
class CcrefineLM(LM):
    def __init__(self, checkpoint: str | LoadedModel, tokenizer: str | None = None, device: str | None = None,
                 batch_size: int | str | None = DEFAULT_BATCH_SIZE, max_batch_size: int | None = None,
                 dtype: str | None = None, max_length: int | None = None, rolling_stride: int | None = None,
                 max_gen_toks: int = 256) -> None:
        super().__init__()
        if dtype is not None and dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_for_eval(
            checkpoint, tokenizer, device, DTYPES.get(dtype))
        self.model, self.tokenizer = self.loaded.model, self.loaded.tokenizer
        self._device = next(self.model.parameters()).device
        # lm-eval passes "auto" or a number as text; "auto" takes max_batch_size, else our default.
        self.batch_size = (int(max_batch_size or DEFAULT_BATCH_SIZE) if batch_size in (None, "auto")
                           else int(batch_size))
        self.max_length = int(max_length or self.loaded.seq_len)
        self.rolling_stride = int(rolling_stride or self.max_length)
        self.max_gen_toks = int(max_gen_toks)
        self.eod = self.tokenizer.eod_id

    @property
    def tokenizer_name(self) -> str:
        return f"ccrefine-sentencepiece-{self.tokenizer.vocab_size}"

    # ---- log-likelihoods -----------------------------------------------------------------------------------------

    def pair_piece(self, context: str, continuation: str) -> Piece:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = self.tokenizer.encode(context + continuation)
        split = len(self.tokenizer.encode(context))
        context_ids, continuation_ids = whole[:split], whole[split:]
        if not continuation_ids:  # the context's last token swallowed the continuation: encode them apart
            context_ids, continuation_ids = self.tokenizer.encode(context), self.tokenizer.encode(continuation)
        if len(continuation_ids) > self.max_length:
            raise ValueError(f"a continuation of {len(continuation_ids)} tokens does not fit max_length "
                             f"{self.max_length}; raise max_length")
        tokens = ([self.eod] + context_ids + continuation_ids)[-(self.max_length + 1):]
        return Piece(tokens, len(tokens) - 1 - len(continuation_ids))

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        pieces = [self.pair_piece(*request.args) for request in requests]
        results = [(score.logprob, score.greedy) for score in score_pieces(self.model, pieces, self.batch_size)]
        for request, result in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood", request.args, result)
        return results

    def loglikelihood_rolling(self, requests) -> list[float]:
        counts, pieces = [], []
        for request in requests:
            own = document_pieces(self.tokenizer.encode(request.args[0]), self.eod, self.max_length,
                                  self.rolling_stride)
            counts.append(len(own))
            pieces.extend(own)
        scores = iter(score_pieces(self.model, pieces, self.batch_size))
        results = [sum(next(scores).logprob for _ in range(count)) for count in counts]
        for request, result in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, result)
        return results

    # ---- generation ----------------------------------------------------------------------------------------------

    def generate_until(self, requests) -> list[str]:
        """Requests with the same generation settings run together, `batch_size` prompts at a time."""
        results: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(json.dumps(request.args[1], sort_keys=True, default=str), []).append(index)
        for indices in groups.values():
            settings = requests[indices[0]].args[1]
            for begin in range(0, len(indices), self.batch_size):
                chunk = indices[begin : begin + self.batch_size]
                texts = self._generate([requests[i].args[0] for i in chunk], settings)
                for index, text in zip(chunk, texts, strict=True):
                    results[index] = text
                    self.cache_hook.add_partial("generate_until", requests[index].args, text)
        return results

    def _generate(self, contexts: Sequence[str], settings: dict) -> list[str]:
        until = settings.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        max_new = int(settings.get("max_gen_toks", self.max_gen_toks))
        keep = max(1, self.max_length - max_new)
        prompts = [([self.eod] + self.tokenizer.encode(context))[-keep:] for context in contexts]
        sample = bool(settings.get("do_sample", False))
        outputs = generate(self.model, prompts, max_new, temperature=float(settings.get("temperature", 1.0))
                           if sample else 0.0, top_k=settings.get("top_k"), top_p=settings.get("top_p"),
                           eos_id=self.eod, pad_id=self.eod)
        return [cut_at_stop(self.tokenizer.decode([t for t in tokens if t != self.eod]), until)
                for tokens in outputs]


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to the earliest stop string."""
    cut = min((found for stop in stops if stop and (found := text.find(stop)) >= 0), default=len(text))
    return text[:cut]


# ---- running tasks -----------------------------------------------------------------------------------------------


def task_manager(tasks: Sequence[str], include_paths: Sequence[str | Path] = ()):
    """A TaskManager that knows ccrefine's local tasks (eval/tasks) and the user's folders, and lm-eval's own tasks
    only when one of `tasks` is not local: indexing lm-eval's thousands of task files takes seconds. Task names
    may be globs (mmlu_*) or YAML files."""
    from lm_eval.tasks import TaskManager

    paths = [str(LOCAL_TASKS), *map(str, include_paths)]
    manager = TaskManager(include_path=paths, include_defaults=False)
    if unknown_tasks(manager, tasks):
        manager = TaskManager(include_path=paths)
    unknown = unknown_tasks(manager, tasks)
    if unknown:
        hints = {name: difflib.get_close_matches(name, manager.all_tasks, n=3) for name in unknown}
        raise UsageError("unknown task(s): " + "; ".join(f"{name} (close: {', '.join(close) or 'none'})"
                                                         for name, close in hints.items())
                         + ". `lm-eval ls tasks` lists lm-eval's tasks; give your own folders with --include-path")
    return manager


def unknown_tasks(manager, tasks: Sequence[str]) -> list[str]:
    return [task for task in tasks if not Path(task).is_file() and not fnmatch.filter(manager.all_tasks, task)]


def evaluate_tasks(lm: CcrefineLM, tasks: Sequence[str], manager, num_fewshot: int | None = None,
                   limit: float | None = None, bootstrap_iters: int = 1000) -> dict:
    """lm_eval.simple_evaluate on `tasks` (names, or paths of task YAML files); returns its results."""
    import lm_eval

    return lm_eval.simple_evaluate(model=lm, tasks=list(tasks), num_fewshot=num_fewshot, limit=limit,
                                   bootstrap_iters=bootstrap_iters, task_manager=manager, log_samples=False)


def main_metrics(results: dict) -> dict[str, dict[str, float]]:
    """{task: {metric: value}} without stderrs and lm-eval's filter suffix (",none")."""
    table = {}
    for task, metrics in results["results"].items():
        table[task] = {name.split(",")[0]: value for name, value in metrics.items()
                       if isinstance(value, int | float) and "_stderr" not in name}
    return table
