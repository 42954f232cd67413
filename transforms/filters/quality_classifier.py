"""A GPT-3-style quality classifier (Brown et al. 2020, Appendix A): fastText trained to tell reference
text (positives) from raw extracted crawl text (negatives), and a step that keeps documents by threshold
or by GPT-3's Pareto sampling (keep when `np.random.pareto(alpha) > 1 - score`, alpha = 9).

Pareto sampling keeps some low-scoring documents, which GPT-3 chose to preserve diversity; the draw is
seeded by the document id so a rerun keeps the same documents.

fastText splits on whitespace, so Chinese (and the character-script languages) is given as the shared text
units' words (`TextUnits.words`: jieba words for zh), with fastText's word bigrams on top; the model is trained
for one language's tokens (`--lang`) and scores each document with the tokens of the document's language.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import numpy as np
from ccrefine.transforms.records import Document
from ccrefine.transforms.step import Step, Verdict
from ccrefine.transforms.text.units import CHARACTER_WORDS, SEGMENTED_BY_JIEBA, units_of

POSITIVE, NEGATIVE = "__label__reference", "__label__crawl"
MODES = ("threshold", "pareto")


def classifier_tokens(text: str, lang: str) -> str:
    """The text as fastText reads it: lower-cased whitespace tokens, or the language's words where it has no
    spaces between them (jieba for zh)."""
    if lang in SEGMENTED_BY_JIEBA or lang in CHARACTER_WORDS:
        return " ".join(units_of(text, lang).words).lower()
    return " ".join(text.lower().split())


def examples_from(texts, label: str, lines_per_example: int = 5, lang: str = "en") -> list[str]:
    """fastText lines: `label tokens`, one per block of lines, newlines folded."""
    examples = []
    for text in texts:
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        for start in range(0, len(lines), lines_per_example):
            block = classifier_tokens(" ".join(lines[start : start + lines_per_example]), lang)
            if len(block.split()) >= 5:
                examples.append(f"{label} {block}")
    return examples


def train_classifier(positives, negatives, output: str, holdout_fraction: float = 0.1, seed: int = 0,
                     epoch: int = 10, lang: str = "en") -> dict[str, float]:
    """Train on balanced classes, save to `output`, return held-out accuracy and example counts."""
    import os
    import tempfile

    import fasttext

    rng = random.Random(seed)
    positive = examples_from(positives, POSITIVE, lang=lang)
    negative = examples_from(negatives, NEGATIVE, lang=lang)
    if not positive or not negative:
        raise ValueError(f"need examples of both classes, got {len(positive)} reference and {len(negative)} crawl")
    size = min(len(positive), len(negative))  # balance, so accuracy is not a base rate
    examples = rng.sample(positive, size) + rng.sample(negative, size)
    rng.shuffle(examples)
    held = max(1, int(len(examples) * holdout_fraction))
    test, train = examples[:held], examples[held:]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
        handle.write("\n".join(train) + "\n")
    try:
        model = fasttext.train_supervised(handle.name, epoch=epoch, wordNgrams=2, lr=0.5, seed=seed, thread=1,
                                          verbose=0)
    finally:
        os.unlink(handle.name)
    model.save_model(output)
    labels, _ = model.predict([line.split(" ", 1)[1] for line in test])
    correct = sum(predicted[0] == line.split(" ", 1)[0] for predicted, line in zip(labels, test, strict=True))
    return {"accuracy": correct / len(test), "train_examples": len(train), "test_examples": len(test)}


@dataclass(frozen=True)
class ClassifierOptions:
    model_path: str = ""
    mode: str = "threshold"  # or "pareto" (GPT-3)
    threshold: float = 0.5  # minimum P(reference) in threshold mode
    pareto_alpha: float = 9.0  # GPT-3

    def __post_init__(self):
        if not self.model_path:
            raise ValueError("model_path is required: train one with `ccrefine train-classifier`")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")
        if self.pareto_alpha <= 0:
            raise ValueError(f"pareto_alpha must be positive, got {self.pareto_alpha}")


def keep_by_pareto(score: float, alpha: float, document_id: str) -> bool:
    seed = int.from_bytes(hashlib.blake2b(document_id.encode(), digest_size=8).digest(), "big")
    return np.random.default_rng(seed).pareto(alpha) > 1 - score


class ClassifierStep(Step):
    stage = "classifier"

    def __init__(self, options: ClassifierOptions):
        self.options = options
        self._model = None

    def setup(self) -> None:
        import fasttext

        self._model = fasttext.load_model(self.options.model_path)

    def score(self, text: str, lang: str = "en") -> float:
        # Always a list: fasttext 0.9.3's single-string path breaks under NumPy 2.
        labels, probabilities = self._model.predict([classifier_tokens(text, lang)], k=2)
        return dict(zip(labels[0], map(float, probabilities[0]), strict=True)).get(POSITIVE, 0.0)

    def judge(self, document: Document) -> Verdict:
        score = self.score(document.text, document.lang)
        scored = document.with_scores({"classifier.reference": score})
        if self.options.mode == "pareto":
            keep = keep_by_pareto(score, self.options.pareto_alpha, document.id)
        else:
            keep = score >= self.options.threshold
        return Verdict(scored, None if keep else "low_quality")
