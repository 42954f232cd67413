"""The retention funnel: per stage, records in, kept, and dropped by reason.

Counters are {stage: {"kept": n, "dropped.<reason>": n}}. The corpus stage sums them from what it wrote (see
pipelines/corpus.py); dedup takes them from Beam metrics. A stage's input is its kept plus its dropped, and it
must equal the previous stage's kept; `check_funnel` says where that does not hold. Where a runner has metrics,
`cross_check` compares them with the written counts (a runner without a metrics API is not an error).
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict

from apache_beam.metrics.metric import MetricsFilter

DROPPED_PREFIX = "dropped."

logger = logging.getLogger(__name__)


def counters_by_stage(result) -> dict[str, dict[str, int]]:
    """{stage: {counter name: committed value}} summed over the steps that count under that stage."""
    counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for metric in result.metrics().query(MetricsFilter())["counters"]:
        value = metric.committed if metric.committed is not None else metric.attempted
        counters[metric.key.metric.namespace][metric.key.metric.name] += int(value or 0)
    return {stage: dict(names) for stage, names in counters.items()}


def metrics_or_none(result) -> dict[str, dict[str, int]] | None:
    """Beam's counters where the runner reports them; None where it has no metrics API or reports none."""
    try:
        counters = counters_by_stage(result)
    except (NotImplementedError, AttributeError) as exc:
        logger.info("the runner reports no metrics (%s); the funnel comes from the written files alone", exc)
        return None
    return counters or None


def cross_check(written: dict[str, dict[str, int]], metrics: dict[str, dict[str, int]], stages: list[str]) -> list[str]:
    """Where Beam's counters disagree with the counts of what was written."""
    problems = []
    for stage in stages:
        ours, theirs = written.get(stage, {}), metrics.get(stage, {})
        for name in sorted(set(ours) | set(theirs)):
            if ours.get(name, 0) != theirs.get(name, 0):
                problems.append(f"{stage}.{name}: {ours.get(name, 0)} written but Beam counted {theirs.get(name, 0)}")
    return problems


def build_funnel(counters: dict[str, dict[str, int]], stages: list[str]) -> dict:
    """The stats.json body: one row per stage in pipeline order, totals, and a consistency check."""
    rows = []
    for stage in stages:
        names = counters.get(stage, {})
        dropped = {n[len(DROPPED_PREFIX) :]: v for n, v in sorted(names.items()) if n.startswith(DROPPED_PREFIX)}
        kept = names.get("kept", 0)
        extra = {n: v for n, v in names.items() if n != "kept" and not n.startswith(DROPPED_PREFIX)}
        rows.append({"stage": stage, "in": kept + sum(dropped.values()), "kept": kept, "dropped": dropped, **extra})
    funnel = {
        "stages": rows,
        "records_in": rows[0]["in"] if rows else 0,
        "documents_out": rows[-1]["kept"] if rows else 0,
        "dropped_total": sum(sum(r["dropped"].values()) for r in rows),
    }
    funnel["problems"] = check_funnel(funnel)
    return funnel


def check_funnel(funnel: dict) -> list[str]:
    """Where the numbers do not add up (an empty list means they do)."""
    problems = []
    rows = funnel["stages"]
    for before, after in itertools.pairwise(rows):
        if before["kept"] != after["in"]:
            problems.append(f"{before['stage']} kept {before['kept']} but {after['stage']} received {after['in']}")
    if funnel["records_in"] != funnel["documents_out"] + funnel["dropped_total"]:
        problems.append("records in != documents out + dropped")
    return problems


def funnel_lines(funnel: dict, empty: str = "none dropped") -> list[str]:
    """The funnel as terminal lines: one per stage with its reasons, then any problems."""
    width = max((len(row["stage"]) for row in funnel["stages"]), default=5) + 1
    lines = []
    for row in funnel["stages"]:
        reasons = ", ".join(f"{reason} {count}" for reason, count in row["dropped"].items()) or empty
        lines.append(f"  {row['stage']:<{width}} in {row['in']:>8}  kept {row['kept']:>8}  ({reasons})")
    if funnel["problems"]:
        lines.append("WARNING: " + "; ".join(funnel["problems"]))
    return lines
