"""Agreement of ccrefine's language identification with CLD2 on the Tatoeba sentences in shared/data.

    python bench/lid_agreement.py [--data ../shared/data/lid_eval/tatoeba_long.txt]

CLD2's deprecated codes (iw, jw) are mapped to the current ones before comparing; `zh-Hant` counts as `zh`.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from pathlib import Path

from ccrefine.transforms.filters.language import LanguageIdentifier

CLD2_ALIASES = {"iw": "he", "jw": "jv"}


def reference_code(cld2_code: str) -> str:
    code = cld2_code.split("-")[0]
    return CLD2_ALIASES.get(code, code)


def agreement(path: Path) -> tuple[int, int, Counter]:
    rows = list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t"))
    predictions = LanguageIdentifier().predict([row["text"] for row in rows])
    disagreements: Counter = Counter()
    agreed = 0
    for row, ranked in zip(rows, predictions, strict=True):
        expected, got = reference_code(row["CLD2-code"]), ranked[0][0]
        if expected == got:
            agreed += 1
        else:
            disagreements[f"{expected}->{got}"] += 1
    return agreed, len(rows), disagreements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "lid_eval" / "tatoeba_long.txt"
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    started = time.perf_counter()
    agreed, total, disagreements = agreement(args.data)
    print(f"agreement with CLD2: {agreed}/{total} = {agreed / total:.1%} ({time.perf_counter() - started:.1f} s)")
    print("most common disagreements (CLD2->ours):", ", ".join(f"{k} {v}" for k, v in disagreements.most_common(10)))


if __name__ == "__main__":
    main()
