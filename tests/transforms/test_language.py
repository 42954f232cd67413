"""Language identification with the real lid.176 model."""

from __future__ import annotations

import csv

import pytest
from ccrefine.transforms.filters.language import LanguageIdentifier, LanguageOptions, LanguageStep
from ccrefine.transforms.records import Document


@pytest.fixture(scope="module")
def identifier():
    return LanguageIdentifier()


def doc(text: str) -> Document:
    return Document("d", "https://x.org", "", "", text)


def step(**options) -> LanguageStep:
    built = LanguageStep(LanguageOptions(**options))
    built.setup()
    return built


def test_simplified_and_traditional_chinese_are_both_zh(identifier, shared_data):
    for name in ("zh_gsdsimp_wikipedia.dev.txt", "zh_pud_news_wiki.txt"):
        lines = (shared_data / "text" / name).read_text(encoding="utf-8").splitlines()[:200]
        codes = [ranked[0][0] for ranked in identifier.predict(lines)]
        assert codes.count("zh") / len(codes) > 0.95, name


def test_agreement_with_cld2_on_tatoeba(identifier, shared_data):
    rows = list(csv.DictReader((shared_data / "lid_eval" / "tatoeba_long.txt").open(encoding="utf-8"), delimiter="\t"))
    predicted = identifier.predict([row["text"] for row in rows])
    aliases = {"iw": "he", "jw": "jv"}
    agreed = sum(
        aliases.get(row["CLD2-code"].split("-")[0], row["CLD2-code"].split("-")[0]) == ranked[0][0]
        for row, ranked in zip(rows, predicted, strict=True)
    )
    assert agreed >= 400  # 407 of 462 measured (bench/lid_agreement.py)


def test_newlines_are_folded_and_scores_kept():
    kept = step(languages=("en",), top_k=2).judge(doc("The river rises\nafter the rain\nand floods the old town."))
    assert kept.reason is None
    assert kept.document.lang == "en" and kept.document.lang_score > 0.65
    assert "lid.en" in kept.document.scores and len([k for k in kept.document.scores if k.startswith("lid.")]) == 2


def test_other_language_and_low_confidence_are_reasons():
    english_only = step(languages=("en",))
    assert english_only.judge(doc("Le fleuve monte après la pluie et inonde la vieille ville.")).reason == (
        "other_language")
    strict = step(languages=("all",), threshold=0.999999)
    assert strict.judge(doc("ok ok 123")).reason == "low_confidence"
    anything = step(languages=("all",))
    verdict = anything.judge(doc("Der Fluss steigt nach dem Regen und überschwemmt die Altstadt."))
    assert verdict.reason is None and verdict.document.lang == "de"


@pytest.mark.parametrize(
    "options, message",
    [({"languages": ()}, "languages"), ({"threshold": 1.5}, "threshold"), ({"top_k": 0}, "top_k"),
     ({"model_path": "/nonexistent/lid.bin"}, "model_path")],
)
def test_options_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        LanguageOptions(**options)
