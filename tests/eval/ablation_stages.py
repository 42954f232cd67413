"""The toy data-quality ablation's inputs, shared by tests/eval/test_eval_ablation.py and bench/eval_ablation.py:
four corpus stages made from the same archives by the project's own commands, and the `ccrefine ablate` command
line over them."""

from __future__ import annotations

from pathlib import Path

from ccrefine.pipelines.cli import main as ccrefine

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]
STAGES = ["raw", "language", "quality", "dedup"]
CORPUS_RECIPES = {"raw": "raw", "language": "multilingual", "quality": "refinedweb"}


def build_stages(root: Path, archives: list[str]) -> dict[str, Path]:
    """`ccrefine corpus` with the raw, multilingual and refinedweb recipes, then `ccrefine dedup` of the
    refinedweb output: ROOT/<stage> for every stage in STAGES."""
    inputs = [flag for archive in archives for flag in ("--input", archive)]
    for name, recipe in CORPUS_RECIPES.items():
        assert ccrefine(["corpus", *inputs, "--output", str(root / name), "--recipe", recipe, *IN_MEMORY]) == 0
    assert ccrefine(["dedup", "--input", str(root / "quality"), "--output", str(root / "dedup"), "--shards", "1",
                     *IN_MEMORY]) == 0
    return {name: root / name for name in STAGES}


def ablate_argv(stages: dict[str, Path], references: list[str], output: Path, vocab_size: int = 1000,
                config: str | None = None) -> list[str]:
    """`ccrefine ablate` over every stage (all steps; add --step to run one) with the word-order task."""
    return ["ablate", *(flag for name in STAGES for flag in ("--stage", f"{name}={stages[name]}")),
            *(flag for reference in references for flag in ("--reference", reference)),
            "--output", str(output), "--vocab-size", str(vocab_size), "--val-fraction", "0.05",
            "--tasks", "ccrefine_wordorder", *(["--config", config] if config else []), *IN_MEMORY]
