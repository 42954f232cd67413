"""Test corpora for the dedup benchmarks, made from the real English text in ../shared/data/text: base documents,
near-duplicates with known edits (word insertions, deletions, adjacent swaps, boilerplate added), and exact spans
planted across documents. Imported by bench/dedup_quality.py and bench/dedup_scale.py."""

from __future__ import annotations

import random
from pathlib import Path

from ccrefine.transforms.dedup.minhash import shingle_tokens

TEXT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "text"
ENGLISH = ["en_ewt_web.dev.txt", "en_ewt_web.test.txt", "en_pud_news_wiki.txt", "wikitext2.valid.tokens.txt",
           "wikitext2.test.tokens.txt", "tinyshakespeare.txt", "gutenberg_972_devils_dictionary.txt"]
EDITS = ("insert", "delete", "swap", "mixed", "boilerplate")
BOILERPLATE = ("Home | About us | Contact | Privacy policy | Terms of use | Subscribe to our newsletter for the "
               "latest news and offers. Copyright 2024 All rights reserved. Share on Facebook Share on Twitter")


def english_words() -> list[str]:
    return [word for name in ENGLISH for word in (TEXT / name).read_text(encoding="utf-8").split()]


def english_lines() -> list[str]:
    return [line.strip() for name in ENGLISH for line in (TEXT / name).read_text(encoding="utf-8").splitlines()
            if len(line.split()) >= 5]


def edit(words: list[str], kind: str, rate: float, vocabulary: list[str], rng: random.Random) -> list[str]:
    """A copy of `words` with about `rate` * len(words) edits of one kind (mixed: all three word edits)."""
    out = list(words)
    count = round(rate * len(words))
    if kind == "boilerplate":  # navigation text before and after, as scraped pages repeat it
        extra = BOILERPLATE.split()
        head = extra[: rng.randint(0, len(extra))]
        return head + out + extra[: max(0, count - len(head))]
    for _ in range(count):
        action = rng.choice(("insert", "delete", "swap")) if kind == "mixed" else kind
        if action == "insert" or len(out) < 3:
            out.insert(rng.randrange(len(out) + 1), rng.choice(vocabulary))
        elif action == "delete":
            del out[rng.randrange(len(out))]
        else:
            i = rng.randrange(len(out) - 1)
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def shingle_set(text: str, ngram: int = 5) -> set[tuple[str, ...]]:
    tokens = shingle_tokens(text, "en")
    width = min(ngram, len(tokens))
    return {tuple(tokens[i : i + width]) for i in range(len(tokens) - width + 1)}


def true_jaccard(first: str, second: str) -> float:
    a, b = shingle_set(first), shingle_set(second)
    return len(a & b) / len(a | b) if a or b else 1.0


def synthetic_document(lines: list[str], vocabulary: list[str], rng: random.Random, words: int = 500) -> str:
    """About `words` words of random real sentences with 10% of the words replaced, so that unrelated documents
    share sentences only rarely (as unrelated web pages do)."""
    picked: list[str] = []
    while len(picked) < words:
        picked.extend(rng.choice(lines).split())
    picked = picked[:words]
    for _ in range(words // 10):
        picked[rng.randrange(len(picked))] = rng.choice(vocabulary)
    return " ".join(picked)
