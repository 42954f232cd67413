"""The GPT-3-style quality classifier, trained for real on reference text against crawl text."""

from __future__ import annotations

import pytest
from ccrefine.pipelines.cli import main
from ccrefine.transforms.filters.quality_classifier import ClassifierOptions, ClassifierStep, keep_by_pareto
from ccrefine.transforms.records import Document

CRAWL_DEBRIS = [
    "\n".join(f"Home | Shop | Cart ({i} items) | Sign in | Best deals {i} FREE shipping click here" for i in range(40)),
    "\n".join(f"casino bonus {i} free spins win big now jackpot slots online best odds" for i in range(40)),
    "\n".join(f"Posted by admin {i} comments | share | tweet | like | tags: news, deals, cheap" for i in range(40)),
]


@pytest.fixture(scope="module")
def model_path(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "quality.bin"
    positives = str(shared_data / "text" / "en_pud_news_wiki.txt")
    negatives = tmp_path_factory.mktemp("neg")
    for index, text in enumerate(CRAWL_DEBRIS):
        (negatives / f"crawl-{index}.txt").write_text(text)
    assert main(["train-classifier", "--positives", positives, "--negatives", str(negatives / "*.txt"),
                 "--output", str(path)]) == 0
    return str(path)


def test_trains_and_separates(model_path, shared_data):
    step = ClassifierStep(ClassifierOptions(model_path=model_path, threshold=0.5))
    step.setup()
    held_out = "\n".join((shared_data / "text" / "en_ewt_web.test.txt").read_text().splitlines()[:20])
    assert step.score(held_out) > step.score("Cart (3 items) | Sign in | FREE shipping click here casino bonus")
    verdict = step.judge(Document("a", "u", "", "", "free spins casino bonus click here win now", lang="en"))
    assert verdict.reason == "low_quality" and "classifier.reference" in verdict.document.scores


def test_pareto_sampling_is_deterministic_and_favours_high_scores():
    kept_high = sum(keep_by_pareto(0.95, 9.0, f"doc-{i}") for i in range(1000))
    kept_low = sum(keep_by_pareto(0.05, 9.0, f"doc-{i}") for i in range(1000))
    # P(keep) = (2 - score) ** -alpha: about 0.64 at 0.95 and 0.003 at 0.05, so a few low scorers survive.
    assert 600 < kept_high < 720 and 0 < kept_low < 20
    assert keep_by_pareto(0.5, 9.0, "same") == keep_by_pareto(0.5, 9.0, "same")


@pytest.mark.parametrize("options", [{}, {"model_path": "m.bin", "mode": "best"},
                                     {"model_path": "m.bin", "threshold": 2.0}])
def test_options_are_validated(options):
    with pytest.raises(ValueError):
        ClassifierOptions(**options)
