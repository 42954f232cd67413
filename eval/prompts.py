"""Prompt sensitivity: one task under several prompt templates, for one or more checkpoints.

Each template replaces the task's `doc_to_text` (a Jinja template over the document's fields) in a task file of
its own that includes the original, so everything else (choices, metric, data) stays the task's. The report says
how far a metric moves with the wording alone (min / max / mean / sample std per checkpoint) and whether the
checkpoints keep their order under every template: if a comparison flips with the prompt, it was not measured.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from ccrefine.eval.tables import markdown_table

from ccrefine.errors import UsageError


@dataclass(frozen=True)
class Spread:
    min: float
    max: float
    mean: float
    std: float  # sample standard deviation (n - 1); 0 for a single template


def spread(values: Sequence[float]) -> Spread:
    return Spread(min(values), max(values), statistics.fmean(values),
                  statistics.stdev(values) if len(values) > 1 else 0.0)


def sensitivity(scores: dict[str, list[float]], templates: Sequence[str], higher_is_better: bool = True) -> dict:
    """`scores[checkpoint][i]` is the metric under template i. Returns each checkpoint's spread, the order of the
    checkpoints under each template (best first), for each pair how many templates each one wins, and whether
    the order is stable: every pair has the same strict winner under every template."""
    sign = 1 if higher_is_better else -1
    names = list(scores)
    rankings = [sorted(names, key=lambda name, i=i: -sign * scores[name][i]) for i in range(len(templates))]
    pairs = []
    for first, second in itertools.combinations(names, 2):
        wins = [sign * (a - b) for a, b in zip(scores[first], scores[second], strict=True)]
        pairs.append({"pair": [first, second], "first_wins": sum(w > 0 for w in wins),
                      "second_wins": sum(w < 0 for w in wins), "ties": sum(w == 0 for w in wins)})
    stable = all(p["first_wins"] == len(templates) or p["second_wins"] == len(templates) for p in pairs)
    return {"templates": list(templates), "scores": scores,
            "spread": {name: vars(spread(values)) for name, values in scores.items()},
            "rankings": rankings, "pairs": pairs, "stable": stable}


def ordering(names: Sequence[str], values: Sequence[float]) -> str:
    """'a > b = c': names already sorted best first, '=' between equal values."""
    text = names[0]
    for index in range(1, len(names)):
        text += f" {'=' if values[index] == values[index - 1] else '>'} {names[index]}"
    return text


def sensitivity_table(result: dict, metric: str) -> str:
    names = list(result["scores"])
    rows = [[f"template {i}: {template!r}", *(result["scores"][name][i] for name in names)]
            for i, template in enumerate(result["templates"])]
    for statistic in ("min", "max", "mean", "std"):
        rows.append([statistic, *(result["spread"][name][statistic] for name in names)])
    text = markdown_table([metric, *names], rows)
    stderrs = [value for values in result.get("stderrs", {}).values() for value in values if value is not None]
    if stderrs:
        text += (f"\n\nlm-eval's stderr of {metric} per template: up to {max(stderrs):.4f}; differences within about "
                 "two stderrs are noise.")
    if len(names) > 1:
        orders = "\n".join(
            f"- template {i}: {ordering(ranking, [result['scores'][name][i] for name in ranking])}"
            for i, ranking in enumerate(result["rankings"]))
        verdict = ("stable: every template orders the checkpoints alike" if result["stable"] else
                   "NOT stable: the order of the checkpoints depends on the template")
        text += f"\n\nOrder under each template (best first):\n{orders}\n\nRanking {verdict}."
    return text


def write_template_tasks(base_yaml: Path, task: str, templates: Sequence[str], folder: Path) -> list[Path]:
    """One task file per template in `folder`, each including `base_yaml` with doc_to_text replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, template in enumerate(templates):
        path = folder / f"{task}__prompt{number}.yaml"
        path.write_text(yaml.safe_dump({"include": str(base_yaml), "task": f"{task}__prompt{number}",
                                        "doc_to_text": template}, sort_keys=False))
        paths.append(path)
    return paths


def task_file(manager, task: str) -> Path:
    """The YAML file that defines `task` in an lm-eval TaskManager's index."""
    entry = manager.task_index.get(task)
    if entry is None or entry.yaml_path is None:
        raise UsageError(f"task {task!r} is not a task defined by one YAML file (give its name as lm-eval lists it, "
                         "and --include-path for your own folders)")
    return Path(entry.yaml_path)


def metric_of(results: dict, task: str, metric: str) -> tuple[float, float | None]:
    """(value, stderr or None) of one task's metric in lm-eval's results (keys look like 'acc,none')."""
    values = {name.split(",")[0]: value for name, value in results["results"][task].items()}
    if metric not in values:
        raise UsageError(f"task {task} reports no metric {metric!r}; it has {sorted(values)}")
    stderr = values.get(f"{metric}_stderr")
    return float(values[metric]), float(stderr) if isinstance(stderr, int | float) else None


def named_checkpoints(specs: Sequence[str]) -> dict[str, str]:
    """`[NAME=]PATH` specs -> {name: path}; without a NAME the path is the name."""
    named = {}
    for spec in specs:
        name, equals, path = spec.partition("=")
        name, path = (name, path) if equals else (spec, spec)
        if name in named:
            raise UsageError(f"checkpoint name {name!r} is given twice; name them, e.g. --checkpoint early=PATH")
        named[name] = path
    return named


def run_prompt_sensitivity(checkpoints: dict[str, str], task: str, templates: Sequence[str], metric: str,
                           folder: Path, include_paths: Sequence[str] = (), limit: float | None = None,
                           **model_args) -> dict:
    """Evaluate every checkpoint on `task` under every template (one lm-eval run per checkpoint) and compare."""
    from ccrefine.eval.harness import CcrefineLM, evaluate_tasks, task_manager

    if len(templates) < 2:
        raise UsageError("give at least two --template to compare prompts")
    paths = [str(path) for path in write_template_tasks(task_file(task_manager([task], include_paths), task), task,
                                                        templates, folder)]
    manager = task_manager(paths, include_paths)
    variants = [Path(path).stem for path in paths]
    scores, stderrs, higher_is_better = {}, {}, True
    for name, path in checkpoints.items():
        results = evaluate_tasks(CcrefineLM(path, **model_args), paths, manager, limit=limit)
        measured = [metric_of(results, variant, metric) for variant in variants]
        scores[name], stderrs[name] = [value for value, _ in measured], [stderr for _, stderr in measured]
        higher_is_better = results["higher_is_better"][variants[0]].get(metric, True)
    return {**sensitivity(scores, templates, higher_is_better), "stderrs": stderrs}
