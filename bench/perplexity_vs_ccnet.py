"""How our KenLM perplexities order the 20 CCNet documents in shared/data, against CCNet's own.

    python bench/perplexity_vs_ccnet.py [--shared ../shared/data] [--order 4]

The model is trained offline (ccrefine train-kenlm's code) on the English reference text in
shared/data/text; CCNet used a 5-gram model on Wikipedia with SentencePiece tokens, so the Spearman rank
correlation is informative, not a target.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
from pathlib import Path

import kenlm
import numpy as np
from ccrefine.transforms.filters.perplexity import document_perplexity, train_kenlm

REFERENCE = ("en_ewt_web.dev.txt", "en_ewt_web.test.txt", "en_pud_news_wiki.txt", "wikitext2.valid.tokens.txt")


def spearman(a, b) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--order", type=int, default=4)
    args = parser.parse_args()
    model_path = Path(tempfile.mkdtemp()) / "en.arpa"
    texts = [(args.shared / "text" / name).read_text(encoding="utf-8") for name in REFERENCE]
    lines = train_kenlm(texts, "en", str(model_path), order=args.order)
    model = kenlm.Model(str(model_path))
    documents = [json.loads(line) for path in sorted((args.shared / "ccnet").glob("*.jsonl.gz"))
                 for line in gzip.open(path, "rt", encoding="utf-8")]
    ours = [document_perplexity(model, d["text"], "en") for d in documents]
    theirs = [d["metadata"]["perplexity"] for d in documents]
    print(f"{args.order}-gram on {lines} reference lines; {len(documents)} CCNet documents "
          f"(CCNet perplexity {min(theirs):.0f}-{max(theirs):.0f}, ours {min(ours):.0f}-{max(ours):.0f}); "
          f"Spearman rho = {spearman(ours, theirs):+.2f}")


if __name__ == "__main__":
    main()
