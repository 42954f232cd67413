"""KenLM perplexity: a real model trained offline, CCNet-style scoring and buckets."""

from __future__ import annotations

import gzip
import json

import kenlm
import numpy as np
import pytest
from ccrefine.transforms.filters.perplexity import (
    PerplexityOptions,
    PerplexityStep,
    bucket_of,
    document_perplexity,
    normalise_for_lm,
    train_kenlm,
)
from ccrefine.transforms.records import Document


@pytest.fixture(scope="module")
def english_model(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "en.arpa"
    texts = [(shared_data / "text" / name).read_text(encoding="utf-8")
             for name in ("en_ewt_web.dev.txt", "en_pud_news_wiki.txt")]
    assert train_kenlm(texts, "en", str(path), order=3) > 1000
    return str(path)


def test_normalisation_matches_ccnet():
    assert normalise_for_lm("In 2024, “Prices” rose—ＡＢＣ…") == 'in 0000, "prices" rose-abc...'


def test_model_loads_and_prefers_fluent_text(english_model, shared_data):
    model = kenlm.Model(english_model)
    fluent = "The government said on Tuesday that the new law would come into force next year."
    scrambled = "law Tuesday next the would force said come year into government new the on that."
    assert document_perplexity(model, fluent, "en") < document_perplexity(model, scrambled, "en")
    held_out = (shared_data / "text" / "en_ewt_web.test.txt").read_text(encoding="utf-8").splitlines()[:200]
    spam = "\n".join(["cheap pills casino bonus free spins click here win $$$ now"] * 20)
    assert document_perplexity(model, "\n".join(held_out), "en") < document_perplexity(model, spam, "en")


def test_ccnet_documents_are_scored_and_correlation_is_reported(english_model, shared_data):
    model = kenlm.Model(english_model)
    documents = [json.loads(line) for path in sorted((shared_data / "ccnet").glob("*.jsonl.gz"))
                 for line in gzip.open(path, "rt", encoding="utf-8")]
    ours = [document_perplexity(model, d["text"], "en") for d in documents]
    theirs = [d["metadata"]["perplexity"] for d in documents]
    assert len(ours) == 20 and all(np.isfinite(ours))
    rho = np.corrcoef(np.argsort(np.argsort(ours)), np.argsort(np.argsort(theirs)))[0, 1]
    assert -1.0 <= rho <= 1.0  # informative only: a different model (bench/RESULTS.md reports it)


def test_buckets_and_filtering(english_model):
    assert [bucket_of(p, [100.0, 300.0]) for p in (50, 100, 200, 301)] == ["head", "head", "middle", "tail"]
    options = PerplexityOptions(models={"en": english_model}, bucket_cutoffs={"en": [1.0, 2.0]},
                                keep_buckets=("head", "middle"))
    step = PerplexityStep(options)
    step.setup()
    verdict = step.judge(Document("a", "u", "", "", "The weather was fine on Sunday.", lang="en"))
    assert verdict.reason == "bucket_tail" and verdict.document.scores["ccnet.bucket_tail"] == 1.0
    unmodelled = step.judge(Document("b", "u", "", "", "今天天气很好。", lang="zh"))
    assert unmodelled.reason is None and "ccnet.perplexity" not in unmodelled.document.scores


@pytest.mark.parametrize("options", [{"keep_buckets": ("top",)}, {"bucket_cutoffs": {"en": [3.0, 1.0]}},
                                     {"max_perplexity": 0}])
def test_options_are_validated(options):
    with pytest.raises(ValueError):
        PerplexityOptions(**options)


def test_train_kenlm_command(shared_data, tmp_path, capsys):
    from ccrefine.pipelines.cli import main

    output = tmp_path / "zh.arpa"
    code = main(["train-kenlm", "--input", str(shared_data / "text" / "zh_gsdsimp_wikipedia.dev.txt"),
                 "--lang", "zh", "--order", "3", "--output", str(output)])
    assert code == 0 and output.exists() and "trained a 3-gram model" in capsys.readouterr().out
    model = kenlm.Model(str(output))
    assert document_perplexity(model, "中国的经济在近年来快速发展。", "zh") < float("inf")
