"""README.md stays true: the quick start and the first training run work exactly as written (minus `pip install`,
already done here), and the preset table names the stages each shipped recipe runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import HANG_GUARD_S, subprocess_env

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
RECIPES = REPO / "pipelines" / "recipes"


def section(title: str) -> str:
    """The text of the `## title` section, up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def shell_commands(text: str) -> list[str]:
    """The commands of the first ```bash block in `text`: one per line or `&&` link, `pip install` left out."""
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert block, "no ```bash block"
    commands = [part.strip() for line in block.group(1).splitlines() for part in line.split("&&")]
    return [command for command in commands if command and not command.startswith("pip install")]


def test_readme_blocks_hold_the_newcomer_commands():
    quick_start = shell_commands(section("Quick start"))
    first_run = shell_commands(section("A first training run"))
    assert [command.split()[1] for command in quick_start] == ["sample", "corpus"]
    assert [command.split()[1] for command in first_run] == ["train-tokenizer", "tokenize", "train"]
    assert "deploy/configs/tiny.yaml" in first_run[-1]


@pytest.mark.slow
def test_quick_start_and_first_training_run_work_as_written(tmp_path):
    """From a folder laid out like a checkout (deploy/ beside the outputs), with the installed `ccrefine`."""
    (tmp_path / "deploy").symlink_to(REPO / "deploy")
    env = subprocess_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for command in shell_commands(section("Quick start")) + shell_commands(section("A first training run")):
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=HANG_GUARD_S)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    config = yaml.safe_load((REPO / "deploy" / "configs" / "tiny.yaml").read_text())
    run = tmp_path / config["output"]
    assert f"ccrefine train: {config['train']['steps']} steps" in done.stdout
    assert "validation loss" in done.stdout
    assert (run / "checkpoints" / "latest").is_file()
    losses = [line["loss"] for line in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
              if line["kind"] == "train"]
    assert losses[-1] < losses[0] - 1.0  # the tiny model learns the sample (from ~6.1 to ~3.4 nats)


# What the preset table calls each stage that only some presets run.
STAGE_WORDS = {"filter_urls": "URL filter", "prefilter_language": "pre-extraction language skip",
               "score_spam": "spam", "correct_lines": "line corrections", "redact_pii": "PII",
               "score_perplexity": "KenLM"}


def preset_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([\w-]+)`(?: \(default\))? \|([^\n]*)$", section("The corpus pipeline"), re.MULTILINE)
    return {name: text for name, text in rows if (RECIPES / f"{name}.yaml").exists()}


def test_preset_table_names_every_preset():
    assert sorted(preset_rows()) == sorted(path.stem for path in RECIPES.glob("*.yaml"))


@pytest.mark.parametrize("preset", sorted(path.stem for path in RECIPES.glob("*.yaml")))
def test_preset_table_row_matches_the_recipe(preset):
    stages = {name for stage in yaml.safe_load((RECIPES / f"{preset}.yaml").read_text())["stages"]
              for name in (stage if isinstance(stage, dict) else {stage: None})}
    row = preset_rows()[preset]
    for stage, words in STAGE_WORDS.items():
        assert (words in row) == (stage in stages), f"{preset}: {words!r} in the README row, {stage} in the recipe"
