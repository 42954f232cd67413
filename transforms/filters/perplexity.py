"""KenLM perplexity scoring and CCNet buckets (Wenzek et al. 2020).

Text is normalised the way the model was trained (lower case, digits to 0, punctuation unified, accents
kept), split into words with the project's tokeniser (jieba for Chinese), and scored line by line; the
document's perplexity is 10 ** (-total log10 probability / total tokens, `</s>` included), as CCNet
computes it over paragraphs. Buckets follow CCNet: head / middle / tail by per-language cut-offs
(CCNet used the 33rd and 66th percentiles of each language's crawl perplexities).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field

from ccrefine.transforms.records import Document
from ccrefine.transforms.step import Step, Verdict
from ccrefine.transforms.text.units import TextUnits

UNKNOWN = "<unk>"
BUCKETS = ("head", "middle", "tail")
_DIGITS = re.compile(r"\d")
_PUNCTUATION_MAP = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "´": "'",
                                  "–": "-", "—": "-", "―": "-", "…": "...", "，": ",", "。": ".", "！": "!",
                                  "？": "?", "：": ":", "；": ";", "（": "(", "）": ")"})


def normalise_for_lm(text: str) -> str:
    """CCNet-style normalisation: NFKC, lower case, digits -> 0, unified punctuation."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCTUATION_MAP)
    return _DIGITS.sub("0", text)


def lm_tokens(line: str, lang: str) -> list[str]:
    """The words a line is scored (and the model trained) on, space-joinable."""
    return TextUnits(normalise_for_lm(line), lang).words


def training_lines(texts, lang: str, min_count: int = 2) -> list[str]:
    """Tokenised lines for KenLM training; words seen fewer than `min_count` times become `<unk>`, so the
    model learns a real probability for unknown words instead of KenLM's -100 fallback."""
    from collections import Counter

    tokenised = [lm_tokens(line, lang) for text in texts for line in text.split("\n") if line.strip()]
    counts = Counter(word for tokens in tokenised for word in tokens)
    return [" ".join(w if counts[w] >= min_count else UNKNOWN for w in tokens) for tokens in tokenised if tokens]


def document_perplexity(model, text: str, lang: str) -> float:
    log10_total, tokens = 0.0, 0
    for line in text.split("\n"):
        words = lm_tokens(line, lang)
        if not words:
            continue
        log10_total += model.score(" ".join(words), bos=True, eos=True)
        tokens += len(words) + 1  # + </s>
    return 10 ** (-log10_total / tokens) if tokens else float("inf")


def bucket_of(perplexity: float, cutoffs: list[float]) -> str:
    head_max, middle_max = cutoffs
    return "head" if perplexity <= head_max else "middle" if perplexity <= middle_max else "tail"


@dataclass(frozen=True)
class PerplexityOptions:
    models: dict[str, str] = field(default_factory=dict)  # lang -> KenLM model (ARPA or binary)
    bucket_cutoffs: dict[str, list[float]] = field(default_factory=dict)  # lang -> [head max, middle max]
    keep_buckets: tuple[str, ...] = BUCKETS
    max_perplexity: float | None = None
    skip_unmodelled_languages: bool = True  # documents in a language without a model pass unscored

    def __post_init__(self):
        unknown = set(self.keep_buckets) - set(BUCKETS)
        if unknown:
            raise ValueError(f"keep_buckets: unknown bucket(s) {sorted(unknown)}; use {list(BUCKETS)}")
        for lang, cutoffs in self.bucket_cutoffs.items():
            if len(cutoffs) != 2 or cutoffs[0] > cutoffs[1]:
                raise ValueError(f"bucket_cutoffs[{lang}] must be [head max, middle max] ascending, got {cutoffs}")
        if self.max_perplexity is not None and self.max_perplexity <= 0:
            raise ValueError(f"max_perplexity must be positive, got {self.max_perplexity}")
        for lang, path in self.models.items():
            if "://" not in path and not os.path.exists(path):
                raise ValueError(f"the {lang} model {path} does not exist; train it with "
                                 f"`ccrefine train-kenlm --lang {lang} --input REFERENCE_TEXT --output {path}`")


class PerplexityStep(Step):
    stage = "perplexity"

    def __init__(self, options: PerplexityOptions):
        self.options = options
        self._models: dict = {}

    def setup(self) -> None:
        import kenlm

        self._models = {lang: kenlm.Model(path) for lang, path in self.options.models.items()}

    def judge(self, document: Document) -> Verdict:
        model = self._models.get(document.lang)
        if model is None:
            return Verdict(document) if self.options.skip_unmodelled_languages else Verdict(document, "no_model")
        perplexity = document_perplexity(model, document.text, document.lang)
        scored = document.with_scores({"ccnet.perplexity": perplexity})
        cutoffs = self.options.bucket_cutoffs.get(document.lang)
        if cutoffs is not None:
            bucket = bucket_of(perplexity, cutoffs)
            scored = scored.with_scores({f"ccnet.bucket_{name}": float(name == bucket) for name in BUCKETS})
            if bucket not in self.options.keep_buckets:
                return Verdict(scored, f"bucket_{bucket}")
        if self.options.max_perplexity is not None and perplexity > self.options.max_perplexity:
            return Verdict(scored, "high_perplexity")
        return Verdict(scored)


def train_kenlm(texts, lang: str, output: str, order: int = 4, min_count: int = 2) -> int:
    """Train a Kneser-Ney ARPA model that `kenlm.Model` loads, offline; returns the number of lines used.

    kaldingram is a pure-Python trainer (SRILM-compatible unmodified Kneser-Ney), so no KenLM binaries
    or Boost build are needed.
    """
    import contextlib
    import io
    import tempfile

    from kaldingram import train

    lines = training_lines(texts, lang, min_count)
    if not lines:
        raise ValueError("no training text: the inputs hold no non-empty line")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as corpus:
        corpus.write("\n".join(lines) + "\n")
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # it draws progress bars on stderr
            train.main(["--ngram-order", str(order), "--text", corpus.name, "--lm", output])
    finally:
        os.unlink(corpus.name)
    return len(lines)
