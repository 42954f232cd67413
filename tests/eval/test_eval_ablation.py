"""`ccrefine ablate` at toy scale on CPU: the sample and the shared WARCs through four real corpus stages (raw,
language ID, RefinedWeb quality filters, dedup), one shared tokenizer, the same tiny model trained on an equal
token budget from each, scored on shared reference text in English and Chinese and on a harness task."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml

from ccrefine.errors import UsageError
from tests.eval.ablation_stages import STAGES, ablate_argv, build_stages

pytestmark = pytest.mark.slow  # the whole ablation: four corpus runs, tokenizing and four trainings
REFERENCE_LINES = 300


@pytest.fixture(scope="module")
def stages(sample_warc, shared_data, tmp_path_factory) -> dict[str, Path]:
    return build_stages(tmp_path_factory.mktemp("stages"),
                        [str(sample_warc), str(shared_data / "warc" / "dolma_sample-*.warc.gz")])


@pytest.fixture(scope="module")
def ablation(stages, shared_data, tmp_path_factory, eval_cli, offline_hub) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("ablation")
    references = []
    for name in ("en_ewt_web.dev.txt", "zh_gsdsimp_wikipedia.dev.txt"):  # their first sentences: enough to rank
        lines = (shared_data / "text" / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (root / name).write_text("".join(lines[:REFERENCE_LINES]), encoding="utf-8")
        references.append(str(root / name))
    output = root / "out"
    argv = ablate_argv(stages, references, output)
    assert eval_cli(argv) == 0
    return output, argv


def read(output: Path) -> dict:
    return json.loads((output / "ablation.json").read_text())


def test_every_stage_trains_the_same_model_on_the_same_budget_with_one_tokenizer(ablation):
    output, _ = ablation
    result = read(output)
    rows = {row["stage"]: row for row in result["stages"]}
    assert list(rows) == STAGES and len(result["tokens_trained"]) == 1
    assert len({(row["steps"], row["seed"]) for row in rows.values()}) == 1
    # each filter keeps a subset: fewer documents stage after stage
    documents = [rows[name]["documents"] for name in STAGES]
    assert documents == sorted(documents, reverse=True) and documents[-1] < documents[0]
    # the default budget is the smallest stage's training tokens (rounded up to whole steps of 16 x 64 tokens)
    smallest = min(row["train_tokens"] for row in rows.values())
    assert result["tokens_trained"] == [1024 * math.ceil(smallest / 1024)]
    assert all(row["epochs"] == pytest.approx(result["tokens_trained"][0] / row["train_tokens"])
               for row in rows.values())
    manifests = [json.loads((output / name / "tokens" / "manifest.json").read_text()) for name in STAGES]
    assert len({manifest["tokenizer"]["sha256"] for manifest in manifests}) == 1
    configs = [yaml.safe_load((output / name / "train.yaml").read_text()) for name in STAGES]
    for config in configs:
        config.pop("output"), config["data"].pop("manifest")
    assert all(config == configs[0] for config in configs)


def test_reference_scores_per_language_and_tasks(ablation):
    output, _ = ablation
    rows = {row["stage"]: row for row in read(output)["stages"]}
    for row in rows.values():
        reference = row["reference"]
        assert set(reference["by_language"]) == {"en", "zh"}
        assert reference["total"]["tokens"] == sum(g["tokens"] for g in reference["by_language"].values())
        assert all(0 < group["bits_per_byte"] < 16 and math.isfinite(group["loss"])
                   for group in [reference["total"], *reference["by_language"].values()])
        assert 0 <= row["tasks"]["ccrefine_wordorder"]["acc"] <= 1
    # the RefinedWeb recipe keeps English only: its models know Chinese worse than the language-ID stage's
    def chinese(name):
        return rows[name]["reference"]["by_language"]["zh"]["bits_per_byte"]

    assert chinese("quality") > chinese("language") and chinese("dedup") > chinese("language")


def test_table_and_plot(ablation):
    output, _ = ablation
    table = (output / "ablation.md").read_text().splitlines()
    header = next(line for line in table if line.startswith("| stage"))
    assert "reference bits/byte" in header and "bits/byte zh" in header and "ccrefine_wordorder acc" in header
    assert [line.split("|")[1].strip() for line in table if line.startswith("| ") and line != header] == STAGES
    svg = ElementTree.fromstring((output / "ablation.svg").read_text())
    texts = [element.text for element in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert all(name in texts for name in STAGES) and {"en", "zh", "all references"} <= set(texts)
    assert len([e for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.find("{*}title") is not None]) == 12


def test_steps_rerun_without_retraining(ablation, eval_cli):
    """The report step alone reuses the tokenizer, shards and checkpoints and gives the same numbers; a train step
    finds every stage trained."""
    output, argv = ablation
    weights = sorted((output / "raw" / "run" / "checkpoints").rglob("*.pt"))
    stamps = [path.stat().st_mtime_ns for path in weights]
    before = read(output)
    assert eval_cli([*argv, "--step", "train"]) == 0
    assert eval_cli([flag for flag in argv if flag != "ccrefine_wordorder" and flag != "--tasks"]
                    + ["--step", "report"]) == 0
    after = read(output)
    assert [path.stat().st_mtime_ns for path in weights] == stamps
    for old, new in zip(before["stages"], after["stages"], strict=True):
        assert new["reference"] == old["reference"] and new["tasks"] == {}
    with pytest.raises(UsageError, match="--only \\['nope'\\]: not among the stages"):
        eval_cli([*argv, "--step", "train", "--only", "nope"])
